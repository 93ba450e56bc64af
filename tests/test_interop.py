"""Each connector works with Singer tools it has never met.

* tap-andsend -> a third-party-style JSON-lines target (tests/test_interop_fixtures/jsonl_target.py,
  standard library only; PyPI's target-jsonl cannot be installed next to singer-sdk 0.54, see
  that file), through a real pipe, first a full and then an incremental run.
* a "foreign" tap (tests/test_interop_fixtures/foreign_tap.singer: streams crm_people,
  outreach_events, search_hits, with fields of its own) -> target-salesforce-andsend, its
  streams given their roles by the ``stream_roles`` setting;
* a tap with its own field names (person_id, work_email, employer, ...) -> the target, renamed
  by the SDK's stream maps in the target's config.

Both check the result where it lands: the JSON-lines files against the Andsend emulator's
API, and the Salesforce emulator's records.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_interop_fixtures.processes import EmulatorProcess, clean_env, executable, records

pytestmark = pytest.mark.e2e  # runs the CLIs as subprocesses

FIXTURES = Path(__file__).parent / "test_interop_fixtures"
STREAMS = ("users", "campaigns", "prospects", "search_results", "touchpoints")
API_KEY = "andsend-demo-key"


# --- tap-andsend into a foreign target ------------------------------------------------------


@pytest.fixture(scope="module")
def andsend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    base = tmp_path_factory.mktemp("andsend")
    emulator = EmulatorProcess(
        ["andsend", "--port", "0", "--db", str(base / "andsend.sqlite"), "--seed", "3", "--prospects", "150",
         "--users", "6", "--campaigns", "3", "--searches", "3", "--results-per-search", "10"],
        base, "andsend",
    )  # fmt: skip
    yield emulator
    emulator.stop()


def list_all(andsend: EmulatorProcess, stream: str) -> list[dict[str, Any]]:
    path = "/v1/" + stream.replace("_", "-")
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        body = andsend.get(path, params=params, headers={"Authorization": f"Bearer {API_KEY}"}).json()
        rows += body["data"]
        cursor = body.get("next_cursor")
        if not cursor:
            return rows


def run_tap_into_jsonl(config: Path, dest: Path, state: Path | None = None) -> tuple[dict[str, Any], str]:
    tap_cmd = [executable("tap-andsend"), "--config", str(config)]
    if state is not None:
        tap_cmd += ["--state", str(state)]
    tap_log = dest.parent / f"{dest.name}-tap.log"
    with tap_log.open("wb") as log:
        tap = subprocess.Popen(tap_cmd, stdout=subprocess.PIPE, stderr=log, env=clean_env())
        target = subprocess.run(
            [sys.executable, str(FIXTURES / "jsonl_target.py"), str(dest)],
            stdin=tap.stdout, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert tap.stdout is not None
        tap.stdout.close()
        tap_rc = tap.wait(timeout=60)
    assert tap_rc == 0, tap_log.read_text()[-3000:]
    assert target.returncode == 0, target.stderr
    lines = target.stdout.strip().splitlines()
    assert len(lines) == 1, "the JSON-lines target echoes exactly the final STATE"
    return json.loads(lines[0]), tap_log.read_text()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_tap_feeds_a_third_party_jsonl_target_full_then_incremental(
    andsend: EmulatorProcess, tmp_path: Path
) -> None:
    config = tmp_path / "tap.json"
    config.write_text(json.dumps({"api_url": andsend.base_url, "api_key": API_KEY, "page_size": 40}))

    state, _ = run_tap_into_jsonl(config, tmp_path / "full")
    expected = {stream: list_all(andsend, stream) for stream in STREAMS}
    for stream in STREAMS:
        written = read_jsonl(tmp_path / "full" / f"{stream}.jsonl")
        assert expected[stream], f"the emulator has no {stream}: the test would prove nothing"
        assert sorted(r["id"] for r in written) == sorted(r["id"] for r in expected[stream]), stream
        by_id = {r["id"]: r for r in expected[stream]}
        assert all(r["updated_at"] == by_id[r["id"]]["updated_at"] for r in written), stream
    bookmarks = state["bookmarks"]
    assert set(STREAMS) <= set(bookmarks)
    assert bookmarks["prospects"]["replication_key_value"] == max(
        r["updated_at"] for r in expected["prospects"]
    )

    # New activity in Andsend, then a run from the saved state: only the changes move.
    before = {stream: {r["id"]: r["updated_at"] for r in expected[stream]} for stream in STREAMS}
    andsend.post("/__emulator__/activity", {"new_purchases": 7, "new_touchpoints": 11})
    after = {stream: {r["id"]: r["updated_at"] for r in list_all(andsend, stream)} for stream in STREAMS}
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps(state))
    state2, _ = run_tap_into_jsonl(config, tmp_path / "incremental", state=state_file)

    for stream in STREAMS:
        written = {r["id"] for r in read_jsonl(tmp_path / "incremental" / f"{stream}.jsonl")}
        changed = {i for i, ts in after[stream].items() if before[stream].get(i) != ts}
        # Bookmarks compare with >=, so records stamped exactly at the old bookmark come again.
        boundary = {i for i, ts in before[stream].items() if ts == bookmarks[stream]["replication_key_value"]}
        assert changed <= written, f"{stream}: changed records missing from the incremental run"
        assert written <= changed | boundary, (
            f"{stream}: unchanged records re-sent: {sorted(written - changed - boundary)[:5]}"
        )
    assert len({i for i, ts in after["prospects"].items() if before["prospects"].get(i) != ts}) == 7
    assert len(read_jsonl(tmp_path / "incremental" / "touchpoints.jsonl")) >= 11
    assert (
        state2["bookmarks"]["prospects"]["replication_key_value"]
        > bookmarks["prospects"]["replication_key_value"]
    )


# --- a foreign tap into target-salesforce-andsend -------------------------------------------

SEED = {
    "users": [
        {"_ref": "seller", "Username": "seller@customer.test", "Email": "seller@customer.test",
         "FirstName": "Sam", "LastName": "Seller", "IsActive": True},
    ],
    "records": {
        "Account": [{"_ref": "a1", "Name": "Nordlicht GmbH", "Website": "https://www.nordlicht.de"}],
        "Contact": [{"_ref": "c1", "FirstName": "Anna", "LastName": "Berg", "Email": "anna.berg@nordlicht.de",
                     "AccountId": "@a1"}],
        "Lead": [{"_ref": "l1", "FirstName": "Lars", "LastName": "Holm", "Email": "lars.holm@fjord.se",
                  "Company": "Fjord AB"}],
    },
}  # fmt: skip


@pytest.fixture
def salesforce(tmp_path: Path) -> Iterator[EmulatorProcess]:
    emulator = EmulatorProcess(
        ["salesforce", "--port", "0", "--db", str(tmp_path / "salesforce.sqlite")], tmp_path, "salesforce"
    )
    yield emulator
    emulator.stop()


def sf_rows(salesforce: EmulatorProcess, sobject: str) -> list[dict[str, Any]]:
    return [
        r
        for r in records(salesforce.get(f"/__emulator__/records/{sobject}").json())
        if not r.get("IsDeleted")
    ]


def run_target(config: Path, singer_file: Path) -> subprocess.CompletedProcess[str]:
    with singer_file.open() as stdin:
        return subprocess.run(
            [executable("target-salesforce-andsend"), "--config", str(config)],
            stdin=stdin, capture_output=True, text=True, timeout=300, env=clean_env(),
        )  # fmt: skip


def test_foreign_tap_streams_mapped_by_stream_roles(salesforce: EmulatorProcess, tmp_path: Path) -> None:
    refs = salesforce.post("/__emulator__/seed", SEED).json()["refs"]
    out = tmp_path / "target-output"
    config = tmp_path / "target.json"
    config.write_text(json.dumps({
        "login_url": salesforce.base_url, "auth_flow": "password",
        "client_id": "emulator-client-id", "client_secret": "emulator-client-secret",
        "username": "admin@example.com", "password": "emulator", "security_token": "token",
        "object_mode": "lead", "output_dir": str(out),
        "stream_roles": {"crm_people": "prospects", "outreach_events": "touchpoints", "search_hits": "search_results"},
    }))  # fmt: skip
    singer = FIXTURES / "foreign_tap.singer"

    run = run_target(config, singer)
    assert run.returncode == 0, run.stderr[-4000:]
    # stdout carries STATE only, and the last one is the foreign tap's final state.
    messages = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    assert messages and all(m.get("type") == "STATE" or set(m) == {"bookmarks"} for m in messages), run.stdout
    final_tap_state = [json.loads(line) for line in singer.read_text().splitlines()][-1]["value"]
    assert messages[-1].get("value", messages[-1]) == final_tap_state

    leads = {r["Id"]: r for r in sf_rows(salesforce, "Lead")}
    contacts = {r["Id"]: r for r in sf_rows(salesforce, "Contact")}
    by_prospect = {r["Andsend_Prospect_Id__c"]: r for r in [*leads.values(), *contacts.values()]
                   if r.get("Andsend_Prospect_Id__c")}  # fmt: skip
    # Existing people are linked, not duplicated.
    assert by_prospect["crm-p-1"]["Id"] == refs["c1"]
    assert by_prospect["crm-p-2"]["Id"] == refs["l1"]
    assert len(contacts) == 1 and sum(1 for r in leads.values() if r["Email"] == "lars.holm@fjord.se") == 1
    # New people become Leads; the seller owns the one they chose.
    new_3, new_4 = by_prospect["crm-p-3"], by_prospect["crm-p-4"]
    assert new_3["Id"] in leads and new_4["Id"] in leads
    assert (new_3["Email"], new_3["Company"], new_3["LastName"]) == (
        "mia.stein@kieselwerk.de",
        "Kieselwerk AG",
        "Stein",
    )
    assert new_3["OwnerId"] == refs["seller"]
    assert new_4["OwnerId"] != refs["seller"]
    assert len(leads) == 3

    # outreach_events became completed Tasks on the right people.
    tasks = {
        r["Andsend_Touchpoint_Id__c"]: r
        for r in sf_rows(salesforce, "Task")
        if r.get("Andsend_Touchpoint_Id__c")
    }
    assert set(tasks) == {"crm-t-1", "crm-t-2", "crm-t-3"}
    assert tasks["crm-t-1"]["WhoId"] == refs["c1"]
    assert tasks["crm-t-2"]["WhoId"] == new_3["Id"]
    assert tasks["crm-t-3"]["WhoId"] == refs["l1"]
    assert all(t["Status"] == "Completed" for t in tasks.values())

    # search_hits got CRM badges: only Anna is in Salesforce.
    badges = {b["result_id"]: b for b in read_jsonl(out / "badges.jsonl")}
    assert {k: b["exists"] for k, b in badges.items()} == {
        "crm-s-1": True,
        "crm-s-2": False,
        "crm-s-3": False,
    }

    # The same input again changes nothing: the target is idempotent.
    counts = {o: len(sf_rows(salesforce, o)) for o in ("Lead", "Contact", "Account", "Task")}
    again = run_target(config, singer)
    assert again.returncode == 0, again.stderr[-4000:]
    assert {o: len(sf_rows(salesforce, o)) for o in counts} == counts


def test_foreign_field_names_mapped_with_stream_maps(salesforce: EmulatorProcess, tmp_path: Path) -> None:
    """A tap with its own vocabulary (person_id, work_email, employer, ...) feeds the target with
    no code: the SDK's stream maps in the target's config rename the fields, stream_roles gives
    the stream its role."""
    refs = salesforce.post("/__emulator__/seed", {"users": SEED["users"]}).json()["refs"]
    schema = {"type": "object", "properties": {
        **{k: {"type": ["string", "null"]} for k in (
            "person_id", "given_name", "family_name", "work_email", "employer", "employer_domain", "owner_email",
            "modified")},
        "is_purchased": {"type": ["boolean", "null"]},
    }}  # fmt: skip
    people = [
        {"person_id": "x-1", "given_name": "Tom", "family_name": "Kurz", "work_email": "tom.kurz@alpenglas.at",
         "employer": "Alpenglas GmbH", "employer_domain": "alpenglas.at", "owner_email": "seller@customer.test",
         "is_purchased": True, "modified": "2026-03-01T00:00:00Z"},
        {"person_id": "x-2", "given_name": "Ida", "family_name": "Roth", "work_email": "ida.roth@kalk.ch",
         "employer": "Kalk AG", "employer_domain": "kalk.ch", "owner_email": "seller@customer.test",
         "is_purchased": False, "modified": "2026-03-01T00:00:00Z"},
    ]  # fmt: skip
    singer = tmp_path / "people_export.singer"
    messages = [
        {"type": "SCHEMA", "stream": "people_export", "schema": schema, "key_properties": ["person_id"]}
    ]
    messages += [{"type": "RECORD", "stream": "people_export", "record": r} for r in people]
    messages.append(
        {"type": "STATE", "value": {"bookmarks": {"people_export": {"modified": "2026-03-01T00:00:00Z"}}}}
    )
    singer.write_text("".join(json.dumps(m) + "\n" for m in messages))
    config = tmp_path / "target.json"
    config.write_text(json.dumps({
        "login_url": salesforce.base_url, "auth_flow": "password",
        "client_id": "emulator-client-id", "client_secret": "emulator-client-secret",
        "username": "admin@example.com", "password": "emulator", "security_token": "token",
        "object_mode": "lead", "output_dir": str(tmp_path / "out"),
        "stream_roles": {"people_export": "prospects"},
        "stream_maps": {"people_export": {
            "id": "person_id", "first_name": "given_name", "last_name": "family_name", "email": "work_email",
            "company_name": "employer", "company_domain": "employer_domain",
            "purchased_by_user_email": "owner_email", "purchased": "is_purchased",
            "status": "'purchased' if is_purchased else 'available'",
            "created_at": "modified", "updated_at": "modified",
            "__key_properties__": ["id"], "__else__": None,
        }},
    }))  # fmt: skip

    run = run_target(config, singer)
    assert run.returncode == 0, run.stderr[-4000:]
    leads = {r.get("Andsend_Prospect_Id__c"): r for r in sf_rows(salesforce, "Lead")}
    # Only the purchased person is synced, with the renamed fields in place and the seller as owner.
    assert set(leads) == {"x-1"}
    lead = leads["x-1"]
    assert (lead["FirstName"], lead["LastName"], lead["Email"], lead["Company"]) == (
        "Tom", "Kurz", "tom.kurz@alpenglas.at", "Alpenglas GmbH",
    )  # fmt: skip
    assert lead["OwnerId"] == refs["seller"]
