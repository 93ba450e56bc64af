"""Matcher and OwnerResolver against the emulator: batching, chunking and tie rules."""

from __future__ import annotations

import logging

from target_salesforce_andsend.context import build_run
from target_salesforce_andsend.matching import PersonKey
from tests.target._target_support import target_config


def _run(emulator, tmp_path, **extra):
    import uuid

    # Runs built here are never finished (their lease never released): each gets its own pipeline.
    extra.setdefault("pipeline_id", f"test-{uuid.uuid4().hex}")
    return build_run(target_config(emulator, tmp_path, **extra), logging.getLogger("test"))


def test_long_in_lists_are_split_and_still_match(sf_emulator, tmp_path):
    local = "x" * 30
    emails = [f"{local}{i}@d-{i}.test" for i in range(1500)]
    sf_emulator.seed({"records": {"Contact": [{"LastName": f"C{i}", "Email": e.upper() if i % 2 else e}
                                              for i, e in enumerate(emails[:1500:3])]}})
    run = _run(sf_emulator, tmp_path)
    sf_emulator.reset_stats()
    keys = [PersonKey(key=f"k{i}", prospect_id=f"pid-{i:05d}-{'y' * 30}", email=e) for i, e in enumerate(emails)]
    matches = run.matcher.match(keys, order=["external_id", "contact_email", "lead_email"])
    found = {k for k, m in matches.items() if m is not None}
    assert found == {f"k{i}" for i in range(0, 1500, 3)}
    assert all(matches[f"k{i}"].via == "contact_email" for i in range(0, 1500, 3))
    stats = sf_emulator.stats()
    statements = stats["composite_subrequests"].get("query", 0)
    assert 4 <= statements <= 8, stats  # 2 objects x a few statements, not one per record
    # ... sent five to a Composite call: one counted call per five statements
    assert stats["by_kind"] == {"composite": -(-statements // 5)}, stats


def test_ties_pick_latest_modified_then_smallest_id(sf_emulator, tmp_path):
    sf_emulator.clock("2025-01-01T00:00:00Z")
    refs = sf_emulator.seed({"records": {"Lead": [
        {"_ref": "a", "LastName": "A", "Company": "C", "Email": "tie@t.test"},
        {"_ref": "b", "LastName": "B", "Company": "C", "Email": "TIE@t.test"},
    ]}})
    run = _run(sf_emulator, tmp_path)
    m = run.matcher.match([PersonKey(key="k", email="tie@t.test")])["k"]
    assert m.record_id == min(refs["a"], refs["b"]) and sorted(m.candidates) == sorted(refs.values())
    sf_emulator.clock("2025-06-01T00:00:00Z")
    sf_emulator.seed({"records": {"Lead": [{"_ref": "c", "LastName": "Cc", "Company": "C", "Email": "tie@t.test"}]}})
    newest = next(r["Id"] for r in sf_emulator.records("Lead") if r["LastName"] == "Cc")
    sf_emulator.clock(None)
    assert run.matcher.match([PersonKey(key="k", email="tie@t.test")])["k"].record_id == newest


def test_owner_resolver_one_query_per_batch_and_cached(sf_emulator, tmp_path):
    refs = sf_emulator.seed({"users": [
        {"_ref": "a", "Username": "a@sf.test", "Email": "A@x.test", "LastName": "A", "IsActive": True},
        {"_ref": "i", "Username": "i@sf.test", "Email": "i@x.test", "LastName": "I", "IsActive": False},
        {"_ref": "i2", "Username": "i2@sf.test", "Email": "dup@x.test", "LastName": "I2", "IsActive": False},
        {"_ref": "a2", "Username": "a2@sf.test", "Email": "dup@x.test", "LastName": "A2", "IsActive": True},
    ]})
    run = _run(sf_emulator, tmp_path)
    sf_emulator.reset_stats()
    got = run.owners.resolve(["a@X.test", "i@x.test", "dup@x.test", "none@x.test", None, "bad"])
    assert got == {"a@x.test": refs["a"], "i@x.test": None, "dup@x.test": refs["a2"], "none@x.test": None}
    assert run.owners.status("i@x.test") == "inactive" and run.owners.status("none@x.test") == "not_found"
    assert sf_emulator.stats()["by_kind"] == {"query": 1}
    run.owners.resolve(["a@x.test", "none@x.test"])
    assert sf_emulator.stats()["by_kind"] == {"query": 1}, "answers are cached for the run"


def test_owner_resolver_asks_once_for_emails_two_batches_resolve_at_once(sf_emulator, tmp_path):
    """Two touchpoints batches are prepared at the same time: the second waits for the first's
    User lookup of the same new emails instead of sending its own."""
    import threading

    refs = sf_emulator.seed({"users": [{"_ref": "a", "Username": "a@sf.test", "Email": "a@x.test",
                                        "LastName": "A", "IsActive": True}]})
    run = _run(sf_emulator, tmp_path)
    sf_emulator.reset_stats()
    sf_emulator.faults(latency_ms=300)  # the first lookup is still in flight when the second starts
    start = threading.Barrier(2, timeout=10)
    got: list[dict] = []

    def resolve() -> None:
        start.wait()
        got.append(run.owners.resolve(["a@x.test", "none@x.test"]))

    threads = [threading.Thread(target=resolve) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    sf_emulator.faults()
    assert got == [{"a@x.test": refs["a"], "none@x.test": None}] * 2
    assert sf_emulator.stats()["by_kind"] == {"query": 1}


def test_owners_read_with_their_records_need_no_user_query(sf_emulator, tmp_path):
    """Badges read each found record's owner with it (``Owner.Name``, ``Owner.Email``): the owner
    names cost no User query; a queue (no User) is told apart by its Id."""
    refs = sf_emulator.seed({
        "users": [{"_ref": "o", "Username": "o@sf.test", "Email": "Owner@x.test", "FirstName": "Olga",
                   "LastName": "Owner", "IsActive": True}],
        "records": {"Lead": [{"_ref": "l", "LastName": "L", "Company": "C", "Email": "l@t.test", "OwnerId": "@o"}],
                    "Contact": [{"_ref": "c", "LastName": "C", "Email": "c@t.test"}]}})
    run = _run(sf_emulator, tmp_path)
    keys = [PersonKey(key="l", email="l@t.test"), PersonKey(key="c", email="c@t.test")]
    matches = run.matcher.match(keys, order=["contact_email", "lead_email"], remember=True, owner_names=True)
    assert matches["l"].record_id == refs["l"] and matches["c"].record_id == refs["c"]
    run.owners.note_owners([m.record for m in matches.values()] + [{"OwnerId": "00G000000000001AAA",
                                                                    "Owner": {"Name": "Queue", "Email": None}}])
    sf_emulator.reset_stats()
    owners = run.owners.users_by_id([m.record["OwnerId"] for m in matches.values()] + ["00G000000000001AAA"])
    assert sf_emulator.stats()["by_kind"] == {}
    assert owners[refs["o"]] == {"id": refs["o"], "name": "Olga Owner", "email": "Owner@x.test"}
    contact_owner = matches["c"].record["OwnerId"]  # the default owner: the integration user
    user = next(u for u in sf_emulator.records("User") if u["Id"] == contact_owner)
    assert owners[contact_owner] == {"id": contact_owner, "name": user["Name"], "email": user["Email"]}
    assert owners["00G000000000001AAA"] is None
    # Without owner_names no owner fields are read (prospects' matching): users_by_id asks.
    plain = run.matcher.match([PersonKey(key="l", email="l@t.test")], order=["lead_email"])
    assert "Owner" not in plain["l"].record


def test_remembered_companies_fit_however_many_spellings_they_have(sf_emulator, tmp_path):
    """The lookup memory keeps one answer per company and per domain, not per spelling sent: a
    second batch asking the same companies sends no Account statement even when the first batch's
    spellings (some thirty a name) are many more than the memory holds."""
    from target_salesforce_andsend.matching import LookupMemory
    from target_salesforce_andsend.normalize import company_name_variants

    refs = sf_emulator.seed({"records": {"Account": [
        {"_ref": "a", "Name": "Nordwind Logistik GmbH", "Website": "https://www.nordwind-logistik.test/"},
        {"_ref": "b", "Name": "ACME WIDGETS, INC."}]}})
    companies = [(f"Company Number {i} AG", f"company-{i}.test", "DE") for i in range(20)]
    companies += [("Nordwind Logistik", "nordwind-logistik.test", "DE"), ("Acme Widgets", None, "US")]

    def keys(tag: str) -> list[PersonKey]:
        return [PersonKey(key=f"{tag}{i}", company=name, domain=domain, country=country, domain_source="company")
                for i, (name, domain, country) in enumerate(companies)]

    run = _run(sf_emulator, tmp_path)
    run.matcher.memory = LookupMemory(max_values=3 * len(companies))
    spellings = sum(len(company_name_variants(name, country)) for name, _, country in companies)
    assert spellings > 3 * len(companies)  # per spelling, the first batch would evict itself
    order = ["account_domain", "account_name"]
    first = run.matcher.match(keys("a"), order=order, remember=True)
    assert first["a20"].record_id == refs["a"] and first["a21"].record_id == refs["b"]
    sf_emulator.reset_stats()
    second = run.matcher.match(keys("b"), order=order, remember=True)
    assert sf_emulator.stats()["by_kind"] == {}  # no call at all, so no Account statement
    assert {k[1:]: (m.record_id, m.via) for k, m in second.items() if m} == {
        k[1:]: (m.record_id, m.via) for k, m in first.items() if m}

    # The run's own writes make the answers stale: a company created since is found.
    run.matcher.forget()
    created = sf_emulator.seed({"records": {"Account": [{"_ref": "c", "Name": "Company Number 3 AG"}]}})
    third = run.matcher.match(keys("c"), order=order, remember=True)
    assert third["c3"].record_id == created["c"]


def test_an_answer_read_before_the_memory_was_cleared_is_not_remembered():
    from target_salesforce_andsend.matching import LookupMemory

    memory = LookupMemory()
    before = memory.generation
    memory.clear()  # the run wrote people or Accounts while the lookup was out
    memory.put("Account", "company", "Acme", [], before)
    assert memory.get("Account", "company", "Acme") is None
    memory.put("Account", "company", "Acme", [{"Id": "001A"}], memory.generation)
    assert memory.get("Account", "company", "Acme") == [{"Id": "001A"}]


def test_people_do_not_push_the_companies_out_of_the_memory():
    from target_salesforce_andsend.matching import LookupMemory

    memory = LookupMemory(max_values=2, max_people=2)
    memory.put("Account", "company", "Acme", [])
    memory.put("Account", "domain", "acme.test", [])
    for i in range(5):  # a batch's e-mails, rarely asked again
        memory.put("Lead", "email", f"p{i}@x.test", [])
    assert memory.get("Account", "company", "Acme") == [] and memory.get("Account", "domain", "acme.test") == []
    assert memory.get("Lead", "email", "p0@x.test") is None and memory.get("Lead", "email", "p4@x.test") == []
    assert len(memory) == 4
