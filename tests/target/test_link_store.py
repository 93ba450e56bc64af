"""The link store's one interface on both backends: SQLite (a file) and a real PostgreSQL server."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from target_salesforce_andsend.links import LinkStore, PostgresLinkStore, open_store

ORG_A = "00DA00000000001AAA"
ORG_B = "00DB00000000001AAA"


@pytest.fixture(params=["sqlite", "postgres"])
def make_store(request, tmp_path):
    """make_store(org) -> a store on the parametrised backend; every store opened is closed."""
    opened = []
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        config = {"state_store_url": url}
    else:
        config = {}

    def make(org=None):
        store = open_store(config, tmp_path / "out" / "links.sqlite", org)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def test_links_users_pending_and_meta_round_trip(make_store):
    store = make_store(ORG_A)
    store.put_links([{"prospect_id": "p1", "object": "Lead", "record_id": "00Q1", "email": "a@x.test"},
                     {"prospect_id": "p2", "object": "Contact", "record_id": "0031", "account_id": "0011"}])
    store.put_links([{"prospect_id": "p1", "object": "Contact", "record_id": "0032"}])  # email kept
    assert store.get_many(["p1", "p2", "p3"]) == {
        "p1": {"prospect_id": "p1", "object": "Contact", "record_id": "0032", "account_id": None, "email": "a@x.test"},
        "p2": {"prospect_id": "p2", "object": "Contact", "record_id": "0031", "account_id": "0011", "email": None},
    }
    assert store.count_links() == 2
    store.put_users({"u1": "ann@x.test"})
    assert store.users() == {"u1": "ann@x.test"}
    store.add_pending_touchpoints([{"id": "t1", "prospect_id": "p9", "body": "50% off"}, {"id": "t2"}])
    store.add_pending_touchpoints([{"id": "t1", "prospect_id": "p9", "body": "again"}])
    assert store.pending_count("touchpoint") == 2
    assert {t["id"]: t.get("body") for t in store.pending_touchpoints()} == {"t1": "again", "t2": None}
    store.remove_pending_touchpoints(["t1"])
    assert list(store.pending_list("touchpoint")) == ["t2"]
    assert store.get_meta("watermark") is None
    store.put_meta("watermark", "2026-01-01T00:00:00Z")
    store.put_meta("watermark", "2026-02-01T00:00:00Z")
    assert store.get_meta("watermark") == "2026-02-01T00:00:00Z"
    # Many ids at once (chunked statements)
    store.put_links([{"prospect_id": f"q{i}", "object": "Lead", "record_id": f"00Q{i}"} for i in range(1200)])
    assert len(store.get_many([f"q{i}" for i in range(1200)])) == 1200


def test_each_org_sees_only_its_own_links_and_parked_work(make_store):
    a = make_store(ORG_A)
    a.put_links([{"prospect_id": "p1", "object": "Lead", "record_id": "00QA"}])
    a.pending_put("create_intent", {"p2": {"object": "Lead", "LastName": "X"}})
    a.put_meta("k", "a")
    b = make_store(ORG_B)
    assert b.get_many(["p1"]) == {} and b.pending_count("create_intent") == 0 and b.get_meta("k") is None
    b.put_links([{"prospect_id": "p1", "object": "Contact", "record_id": "003B"}])
    assert a.get("p1")["record_id"] == "00QA" and b.get("p1")["record_id"] == "003B"


def test_org_switch_is_reported_and_carries_parked_touchpoints_only(make_store):
    a = make_store(ORG_A)
    assert a.org_switch("default") is None  # first run
    a.add_pending_touchpoints([{"id": "t1", "prospect_id": "p1"}])
    a.put_links([{"prospect_id": "p1", "object": "Lead", "record_id": "00QA"}])
    assert make_store(ORG_A).org_switch("default") is None
    b = make_store(ORG_B)
    assert b.org_switch("default") == ORG_A
    assert [t["id"] for t in b.pending_touchpoints()] == ["t1"]
    assert b.get_many(["p1"]) == {}
    assert b.org_switch("default") is None
    assert make_store(ORG_B).org_switch("other-pipeline") is None


def test_rows_written_before_sign_in_belong_to_the_first_org(make_store):
    early = make_store(None)
    early.pending_put("create_intent", {"p1": {"object": "Lead"}})
    early.put_links([{"prospect_id": "p2", "object": "Lead", "record_id": "00Q2"}])
    a = make_store(ORG_A)
    assert list(a.pending_list("create_intent")) == ["p1"] and a.get("p2")["record_id"] == "00Q2"
    assert make_store(ORG_B).get_many(["p2"]) == {}


def test_lease_is_exclusive_renewable_and_expires(make_store):
    store = make_store(ORG_A)
    assert store.lease_try("org/x", "h1", {"pid": 1}, ttl=30) is None
    held = store.lease_try("org/x", "h2", {"pid": 2}, ttl=30)
    assert held is not None and held["holder"] == "h1" and held["info"] == {"pid": 1}
    assert store.lease_try("org/x", "h1", {"pid": 1}, ttl=30) is None  # the holder may re-take
    assert store.lease_renew("org/x", "h1", ttl=30) and not store.lease_renew("org/x", "h2", ttl=30)
    assert store.lease_try("org/y", "h2", {}, ttl=30) is None  # another name is independent
    store.lease_release("org/x", "h2")  # not h2's: no effect
    assert store.lease_try("org/x", "h2", {}, ttl=30) is not None
    store.lease_release("org/x", "h1")
    assert store.lease_try("org/x", "h2", {}, ttl=0.2) is None
    import time

    time.sleep(0.3)  # h2 stopped renewing: expired
    assert store.lease_try("org/x", "h3", {}, ttl=30) is None
    assert not store.lease_renew("org/x", "h2", ttl=30)


def test_two_holders_racing_for_one_lease_one_wins(make_store):
    stores = [make_store(ORG_A) for _ in range(6)]
    wins = []
    barrier = threading.Barrier(len(stores))

    def race(i, s):
        barrier.wait()
        if s.lease_try("org/race", f"h{i}", {}, ttl=30) is None:
            wins.append(i)

    threads = [threading.Thread(target=race, args=(i, s)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1


def test_sqlite_store_of_an_earlier_version_is_migrated(tmp_path):
    path = tmp_path / "links.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE links (prospect_id TEXT PRIMARY KEY, object TEXT NOT NULL, record_id TEXT NOT NULL,
            account_id TEXT, email TEXT, updated_at TEXT NOT NULL);
        CREATE INDEX links_email ON links(email);
        CREATE TABLE andsend_users (user_id TEXT PRIMARY KEY, email TEXT NOT NULL, updated_at TEXT NOT NULL);
        CREATE TABLE pending (kind TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            PRIMARY KEY (kind, key));
        INSERT INTO links VALUES ('p1', 'Lead', '00Q1', NULL, 'a@x.test', '2026-01-01');
        INSERT INTO andsend_users VALUES ('u1', 'u@x.test', '2026-01-01');
        INSERT INTO pending VALUES ('touchpoint', 't1', '{"id": "t1"}', 0, '2026-01-01', '2026-01-01');
    """)
    conn.commit()
    conn.close()
    store = LinkStore(path, ORG_A)
    try:
        assert store.get("p1")["record_id"] == "00Q1"
        assert store.users() == {"u1": "u@x.test"}
        assert store.pending_touchpoints() == [{"id": "t1"}]
    finally:
        store.close()


def test_state_store_url_chooses_the_backend(tmp_path, postgres_url):
    store = open_store({"state_store_url": postgres_url}, tmp_path / "x.sqlite", ORG_A)
    try:
        assert isinstance(store, PostgresLinkStore) and "PostgreSQL 127.0.0.1" in store.describe()
        assert "postgres@" not in store.describe()
    finally:
        store.close()
    assert not (tmp_path / "x.sqlite").exists()
    other = open_store({"state_store_url": f"sqlite:///{tmp_path}/y.sqlite"}, tmp_path / "x.sqlite", ORG_A)
    other.close()
    assert (tmp_path / "y.sqlite").exists()
    with pytest.raises(ValueError, match="state_store_url"):
        open_store({"state_store_url": "mysql://x"}, tmp_path / "x.sqlite")
