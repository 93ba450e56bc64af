"""Writes through an org's automation (issue 14): a call the automation fails as a whole on a governor
limit is split down to the records that fail alone; children of one parent share a call; lock and
limit failures lower the calls in flight. Checked by querying the emulator."""

from __future__ import annotations

import uuid

from target_salesforce_andsend.salesforce.client import SalesforceClient
from target_salesforce_andsend.salesforce.contention import ConcurrencyGovernor, chunk_by_parent
from target_salesforce_andsend.salesforce.writer import Write, Writer
from tests.target._salesforce_support import password_config

AUTOMATION = {
    "automation": [
        {"name": "ContactScoringFlow", "object": "Contact", "cpu_limit_batch": 30},
        {"name": "TaskRollup", "object": "Task", "cpu_limit_batch": 45},
        {"name": "LeadRouter", "object": "Lead", "when": {"field": "Company", "equals": "Trigger Fail AB"},
         "message": "System.DmlException: Update failed. UNABLE_TO_LOCK_ROW"},
    ],
}


def _writer(sf, **extra) -> Writer:
    return Writer(SalesforceClient(password_config(sf, **extra)))


def _live(sf, obj: str, field: str, value: str) -> list[dict]:
    return [r for r in sf.records(obj) if r.get(field) == value and not r.get("IsDeleted")]


def _calls(sf, kind: str) -> int:
    stats = sf.stats()
    return stats["by_kind"].get(kind, 0) + stats["composite_subrequests"].get(kind, 0)


def test_cpu_limit_failure_is_split_until_every_record_is_written(sf_emulator_factory) -> None:
    sf = sf_emulator_factory(AUTOMATION)
    refs = sf.seed({"records": {"Account": [{"_ref": f"a{i}", "Name": f"Acme {i}"} for i in range(4)]}})
    writer = _writer(sf)
    tag = uuid.uuid4().hex[:12]
    records = [{"LastName": f"C{i}", "Department": tag, "AccountId": refs[f"a{i % 4}"]} for i in range(230)]
    results = writer.create("Contact", records)
    assert all(r.success for r in results), {r.error_message for r in results if not r.success}
    stored = _live(sf, "Contact", "Department", tag)
    assert sorted(r["LastName"] for r in stored) == sorted(f"C{i}" for i in range(230))  # each exactly once
    assert {r.id for r in results} == {r["Id"] for r in stored}
    figures = writer.figures()
    assert figures["split_resends"] >= 230 and figures["chunk_size_caps"]["Contact"] <= 30
    assert figures["backoffs"] >= 1 and figures["lowest_concurrency"] < figures["max_concurrency"]
    # Learned for the run: the next write of Contacts starts at the size the automation got through.
    before = _calls(sf, "collections_create")
    more = writer.create("Contact", [{"LastName": f"D{i}", "Department": tag} for i in range(25)])
    assert all(r.success for r in more) and _calls(sf, "collections_create") == before + 1


def test_a_record_the_automation_refuses_alone_fails_with_its_message_and_the_rest_are_written(
        sf_emulator_factory) -> None:
    sf = sf_emulator_factory(AUTOMATION)
    writer = _writer(sf)
    tag = uuid.uuid4().hex[:12]
    records = [{"LastName": f"L{i}", "Company": "Trigger Fail AB" if i in (3, 90) else tag, "Title": tag}
               for i in range(120)]
    results = writer.create("Lead", records)
    failed = [i for i, r in enumerate(results) if not r.success]
    assert failed == [3, 90]
    assert results[3].error_code == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
    assert "LeadRouter" in (results[3].error_message or "")
    assert len(_live(sf, "Lead", "Title", tag)) == 118
    assert writer.figures()["split_resends"] == 0  # a per-record refusal is not a batch failure


def test_tasks_of_one_person_share_a_call_and_a_cpu_limit_on_tasks_is_split(sf_emulator_factory) -> None:
    sf = sf_emulator_factory(AUTOMATION)
    refs = sf.seed({"records": {"Lead": [{"_ref": f"l{i}", "LastName": f"P{i}", "Company": "X"} for i in range(3)]}})
    writer = _writer(sf)
    tag = uuid.uuid4().hex[:12]
    tasks = [{"Subject": f"{tag} {i}", "WhoId": refs[f"l{i % 3}"], "Status": "Completed"} for i in range(150)]
    results = writer.create("Task", tasks)
    assert all(r.success for r in results)
    stored = [r for r in sf.records("Task") if str(r.get("Subject", "")).startswith(tag)]
    assert len(stored) == 150 and len({r["Subject"] for r in stored}) == 150


def test_lock_contention_lowers_concurrency_and_every_record_lands_once(sf_emulator_factory) -> None:
    sf = sf_emulator_factory()
    sf.faults(lock_row_rate=0.3, random_seed=3)
    writer = _writer(sf, max_retries=10)
    tag = uuid.uuid4().hex[:12]
    outcomes = writer.write_together([
        Write("create", "Lead", [{"LastName": f"K{i}", "Company": tag} for i in range(600)]),
        Write("create", "Account", [{"Name": f"{tag} {i}"} for i in range(400)]),
    ])
    assert all(isinstance(o, list) and all(r.success for r in o) for o in outcomes)
    assert len(_live(sf, "Lead", "Company", tag)) == 600
    assert len([r for r in sf.records("Account") if str(r.get("Name", "")).startswith(tag)]) == 400
    assert writer.figures()["backoffs"] >= 1


def test_chunk_by_parent_keeps_children_of_one_parent_together() -> None:
    records = [{"AccountId": f"001{i % 7:012d}AAA"} for i in range(700)] + [{"LastName": "no parent"}] * 30
    chunks = chunk_by_parent("Contact", records, list(range(len(records))), 200)
    assert sorted(i for c in chunks for i in c) == list(range(730))
    assert all(len(c) <= 200 for c in chunks)
    where: dict[str, set[int]] = {}
    for n, chunk in enumerate(chunks):
        for i in chunk:
            if "AccountId" in records[i]:
                where.setdefault(records[i]["AccountId"], set()).add(n)
    assert all(len(calls) == 1 for calls in where.values())  # 100 children each: one call per parent
    # Objects without a parent keep their order in plain chunks.
    plain = chunk_by_parent("Lead", records, list(range(450)), 200)
    assert [len(c) for c in plain] == [200, 200, 50] and plain[0][0] == 0


def test_concurrency_governor_halves_and_recovers() -> None:
    gov = ConcurrencyGovernor(8, calm_calls=2)
    gov.contended("UNABLE_TO_LOCK_ROW")
    gov.contended("UNABLE_TO_LOCK_ROW")
    assert gov.limit == 2 and gov.lowest == 2
    for _ in range(4):
        gov.calm()
    assert gov.limit == 4 and gov.figures()["backoffs"] == 2


def test_emulator_parent_lock_contention_between_calls(sf_emulator_factory) -> None:
    sf = sf_emulator_factory()
    refs = sf.seed({"records": {"Account": [{"_ref": "a", "Name": "Acme"}, {"_ref": "b", "Name": "Beta"}]}})
    sf.faults(parent_lock_ms=5000)
    client = SalesforceClient(password_config(sf))

    def create(rows: list[dict]) -> list[dict]:
        body = {"allOrNone": False, "records": [{"attributes": {"type": "Contact"}, **r} for r in rows]}
        return client.request("POST", "composite/sobjects", kind="collections_create", json=body).json()

    first = create([{"LastName": "A1", "AccountId": refs["a"]}, {"LastName": "A2", "AccountId": refs["a"]}])
    assert all(r["success"] for r in first)  # one call: its own records never block each other
    second = create([{"LastName": "A3", "AccountId": refs["a"]}, {"LastName": "B1", "AccountId": refs["b"]},
                     {"LastName": "free"}])
    assert [r["success"] for r in second] == [False, True, True]
    assert second[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert sorted(r["LastName"] for r in _live(sf, "Contact", "Department", None)) == ["A1", "A2", "B1", "free"]


def test_grouping_by_parent_avoids_contention_and_a_held_parent_is_retried(sf_emulator_factory) -> None:
    sf = sf_emulator_factory()
    refs = sf.seed({"records": {"Account": [{"_ref": f"a{i}", "Name": f"Acme {i}"} for i in range(4)]}})
    sf.faults(parent_lock_ms=1500)
    writer = _writer(sf, retry_backoff_seconds=0.5, max_concurrency=4)
    tag = uuid.uuid4().hex[:12]
    # 400 Contacts, parents interleaved: in input order every call of 200 would touch all four.
    rows = [{"LastName": f"C{i}", "Department": tag, "AccountId": refs[f"a{i % 4}"]} for i in range(400)]
    results = writer.create("Contact", rows)
    assert all(r.success for r in results) and writer.figures()["backoffs"] == 0
    # Right after, more children of a parent the last call still holds: refused, retried, written.
    more = writer.create("Contact", [{"LastName": f"M{i}", "Department": tag, "AccountId": refs["a0"]}
                                     for i in range(5)] + [{"LastName": "M-b", "Department": tag,
                                                            "AccountId": refs["a1"]}])
    assert all(r.success for r in more)
    assert writer.figures()["backoffs"] >= 1
    assert len(_live(sf, "Contact", "Department", tag)) == 406


def test_bulk_rows_failed_on_a_cpu_limit_go_back_through_smaller_collections(sf_emulator_factory) -> None:
    sf = sf_emulator_factory(AUTOMATION)
    writer = _writer(sf, bulk_threshold=60)
    tag = uuid.uuid4().hex[:12]
    results = writer.create("Contact", [{"LastName": f"B{i}", "Department": tag} for i in range(80)])
    assert all(r.success for r in results), {r.error_message for r in results if not r.success}
    assert len(_live(sf, "Contact", "Department", tag)) == 80
    stats = sf.stats()["by_kind"]
    assert stats.get("bulk_create_job") == 1  # tried as a Bulk job once, then Collections
    assert writer.figures()["chunk_size_caps"]["Contact"] <= 30
