"""Writer against the emulator: collections of 200, per-record retries, alignment, headers, Bulk 2.0."""

from __future__ import annotations

import uuid

import pytest

from target_salesforce_andsend.salesforce.bulk import BulkIngest
from target_salesforce_andsend.salesforce.client import SalesforceClient
from target_salesforce_andsend.salesforce.writer import Writer
from tests.target._salesforce_support import control, password_config


@pytest.fixture
def sf(sf_emulator):
    sf_emulator.reset()
    return sf_emulator


def _rows(sf, obj: str, tag: str, field: str = "Company") -> list[dict]:
    return [r for r in sf.records(obj) if r.get(field) == tag and not r.get("IsDeleted")]


def _collections(sf, op: str = "create") -> int:
    """Collections calls of ``op``: alone or as subrequests of Composite calls."""
    stats = sf.stats()
    return stats["by_kind"].get(f"collections_{op}", 0) + stats["composite_subrequests"].get(f"collections_{op}", 0)


def _writer(sf, **extra) -> tuple[SalesforceClient, Writer]:
    client = SalesforceClient(password_config(sf, **extra))
    return client, Writer(client)


def test_create_450_is_one_composite_of_three_collections_and_results_align(sf) -> None:
    client, writer = _writer(sf)
    tag = uuid.uuid4().hex
    records = [{"LastName": f"L{i}", "Company": tag, "Email": f"p{i}@x.example"} for i in range(450)]
    records[7] = {"Company": tag, "Email": "nolastname@x.example"}  # REQUIRED_FIELD_MISSING
    control(sf, "POST", "stats/reset")
    results = writer.create("Lead", records)
    assert len(results) == 450
    stats = sf.stats()
    assert stats["by_kind"].get("composite") == 1 and "collections_create" not in stats["by_kind"]  # one call ...
    assert stats["composite_subrequests"] == {"collections_create": 3}  # ... carrying three collections
    assert not results[7].success and results[7].error_code == "REQUIRED_FIELD_MISSING"
    assert "LastName" in results[7].errors[0]["fields"]
    stored = {r["Id"]: r for r in _rows(sf, "Lead", tag)}
    assert len(stored) == 449
    for i, (rec, res) in enumerate(zip(records, results, strict=True)):
        if i == 7:
            continue
        assert res.success and stored[res.id]["LastName"] == rec["LastName"]


def test_update_and_upsert_via_collections(sf) -> None:
    client, writer = _writer(sf)
    tag = uuid.uuid4().hex
    created = writer.create("Lead", [{"LastName": f"U{i}", "Company": tag} for i in range(5)])
    updates = [{"Id": r.id, "Title": f"T{i}"} for i, r in enumerate(created)]
    updates.append({"Id": "00Q000000000000AAA", "Title": "ghost"})
    results = writer.update("Lead", updates)
    assert [r.success for r in results] == [True] * 5 + [False]
    stored = {r["Id"]: r for r in _rows(sf, "Lead", tag)}
    assert [stored[r.id]["Title"] for r in created] == [f"T{i}" for i in range(5)]

    upserts = [{"Andsend_Prospect_Id__c": f"{tag}-{i}", "LastName": f"X{i}", "Company": tag} for i in range(3)]
    first = writer.upsert("Lead", "Andsend_Prospect_Id__c", upserts)
    assert [r.created for r in first] == [True, True, True]
    upserts[1]["LastName"] = "Changed"
    second = writer.upsert("Lead", "Andsend_Prospect_Id__c", upserts)
    assert [r.created for r in second] == [False, False, False]
    assert [r.id for r in second] == [r.id for r in first]
    by_ext = {r["Andsend_Prospect_Id__c"]: r for r in _rows(sf, "Lead", tag) if r.get("Andsend_Prospect_Id__c")}
    assert len(by_ext) == 3 and by_ext[f"{tag}-1"]["LastName"] == "Changed"
    assert sf.stats()["by_kind"].get("collections_upsert") == 2


def test_lock_row_failures_are_retried_and_every_record_written_once(sf) -> None:
    sf.faults(lock_row_rate=0.3, random_seed=11)
    client, writer = _writer(sf, max_retries=10)
    tag = uuid.uuid4().hex
    records = [{"LastName": f"K{i}", "Company": tag} for i in range(500)]
    results = writer.create("Lead", records)
    assert all(r.success for r in results), [r.errors for r in results if not r.success][:3]
    stored = _rows(sf, "Lead", tag)
    assert sorted(r["LastName"] for r in stored) == sorted(r["LastName"] for r in records)
    assert len({r.id for r in results}) == 500
    assert _collections(sf) > 3  # the locked ones went again


def test_headers_pass_through_duplicate_rule(sf) -> None:
    sf.seed({"duplicate_rules": [{"object": "Lead", "field": "Email", "action": "alert"}]})
    client, writer = _writer(sf)
    tag = uuid.uuid4().hex
    writer.create("Lead", [{"LastName": "A", "Company": tag, "Email": f"{tag}@dup.example"}])
    dup = [{"LastName": "B", "Company": tag, "Email": f"{tag}@DUP.example"}]
    refused = writer.create("Lead", dup)
    assert not refused[0].success and refused[0].error_code == "DUPLICATES_DETECTED"
    allowed = writer.create("Lead", dup, headers={"Sforce-Duplicate-Rule-Header": "allowSave=true"})
    assert allowed[0].success
    assert len(_rows(sf, "Lead", tag)) == 2


def test_bulk_path_above_threshold_maps_failed_rows_back(sf) -> None:
    control(sf, "PUT", "settings", json={"bulk_processing_delay_ms": 150})
    client, writer = _writer(sf, bulk_threshold=100)
    tag = uuid.uuid4().hex
    records = [{"LastName": f"B{i}", "Company": tag, "Email": f"b{i}@bulk.example",
                "Description": "line one\nline, \"two\""} for i in range(250)]
    bad = {3, 77, 200}
    for i in bad:
        records[i] = {"LastName": None, "Company": tag, "Email": f"b{i}@bulk.example", "Description": "x"}
    records[120] = dict(records[121])  # identical rows are interchangeable
    results = writer.create("Lead", records)
    kinds = sf.stats()["by_kind"]
    assert kinds.get("bulk_create_job") == 1 and kinds.get("bulk_upload") == 1 and kinds.get("bulk_close") == 1
    assert kinds.get("bulk_status", 0) >= 1 and kinds.get("collections_create", 0) == 0
    stored = {r["Id"]: r for r in _rows(sf, "Lead", tag)}
    assert len(stored) == 247
    for i, (rec, res) in enumerate(zip(records, results, strict=True)):
        if i in bad:
            assert not res.success and res.error_code == "REQUIRED_FIELD_MISSING", res
            assert "LastName" in res.errors[0]["fields"]
        else:
            assert res.success and res.created is True
            assert stored[res.id]["LastName"] == rec["LastName"]
            assert stored[res.id]["Description"] == rec["Description"]
    assert len({r.id for r in results if r.success}) == 247


def test_headers_bulk_cannot_honour_keep_the_write_on_collections(sf) -> None:
    client, writer = _writer(sf, bulk_threshold=10)
    tag = uuid.uuid4().hex
    rows = [{"LastName": f"H{i}", "Company": tag} for i in range(30)]
    writer.create("Lead", rows[:15], headers={"Sforce-Auto-Assign": "TRUE"})
    writer.create("Lead", rows[15:], headers={"Sforce-Auto-Assign": "FALSE"})
    kinds = sf.stats()["by_kind"]
    assert kinds.get("collections_create") == 1 and kinds.get("bulk_create_job") == 1
    assert len(_rows(sf, "Lead", tag)) == 30


def test_bulk_upsert_and_update(sf) -> None:
    client, writer = _writer(sf, bulk_threshold=50)
    tag = uuid.uuid4().hex
    rows = [{"Andsend_Prospect_Id__c": f"{tag}-{i}", "LastName": f"V{i}", "Company": tag} for i in range(60)]
    first = writer.upsert("Lead", "Andsend_Prospect_Id__c", rows)
    assert all(r.success and r.created for r in first)
    rows[5]["LastName"] = "Five"
    second = writer.upsert("Lead", "Andsend_Prospect_Id__c", rows)
    assert all(r.success and r.created is False for r in second)
    assert [r.id for r in second] == [r.id for r in first]
    updated = writer.update("Lead", [{"Id": r.id, "Title": f"bulk{i}"} for i, r in enumerate(first)])
    assert all(r.success for r in updated)
    stored = {r["Id"]: r for r in _rows(sf, "Lead", tag)}
    assert len(stored) == 60
    assert stored[first[5].id]["LastName"] == "Five"
    assert all(stored[r.id]["Title"] == f"bulk{i}" for i, r in enumerate(first))
    assert sf.stats()["by_kind"].get("bulk_create_job") == 3


def test_concurrent_writes_survive_mixed_faults_exactly_once(sf) -> None:
    sf.faults(error_503_rate=0.1, lock_row_rate=0.1, revoke_tokens_every=4, latency_ms=2, random_seed=5)
    client, writer = _writer(sf, max_concurrency=4, max_retries=10)
    tag = uuid.uuid4().hex
    records = [{"LastName": f"M{i:04d}", "Company": tag} for i in range(1000)]
    results = writer.create("Lead", records)
    sf.faults()
    assert all(r.success for r in results)
    stored = _rows(sf, "Lead", tag)
    assert sorted(r["LastName"] for r in stored) == [f"M{i:04d}" for i in range(1000)]
    by_id = {r["Id"]: r["LastName"] for r in stored}
    assert [by_id[r.id] for r in results] == [r["LastName"] for r in records]
    assert client.calls["oauth"] >= 2


def test_a_create_that_timed_out_is_not_resent(sf) -> None:
    """A read timeout leaves a create's outcome unknown: resending could duplicate, so the writer
    raises (the batch fails, STATE stays) and Salesforce holds each record at most once."""
    import time

    from target_salesforce_andsend.salesforce.errors import TransportError

    client, writer = _writer(sf, request_timeout=0.3, max_retries=4)
    client.connect()
    sf.faults(latency_ms=900)
    tag = uuid.uuid4().hex
    with pytest.raises(TransportError, match="not resent") as err:
        writer.create("Lead", [{"LastName": f"T{i}", "Company": tag} for i in range(5)])
    assert err.value.partial_results == [None] * 5
    sf.faults()
    assert client.calls["collections_create"] == 1  # sent once, never again
    time.sleep(1.0)  # let the server finish whatever it does with the abandoned request
    names = [r["LastName"] for r in _rows(sf, "Lead", tag)]
    # Real Salesforce may still apply it (5 rows); the emulator drops a request whose client left
    # (0 rows). Either way, never twice.
    assert sorted(names) in ([], [f"T{i}" for i in range(5)])
    # reads are safe to repeat: the same timeout on a query is retried
    sf.faults(latency_ms=900)
    with pytest.raises(TransportError, match="ReadTimeout"):
        client.query("SELECT Id FROM User")
    assert client.calls["query"] == 5


def test_bulk_under_faults_writes_every_row_exactly_once(sf) -> None:
    sf.faults(error_503_rate=0.15, lock_row_rate=0.2, random_seed=9)
    client, writer = _writer(sf, bulk_threshold=50, max_retries=10)
    tag = uuid.uuid4().hex
    records = [{"LastName": f"F{i:03d}", "Company": tag} for i in range(300)]
    results = writer.create("Lead", records)
    sf.faults()
    assert all(r.success for r in results), [r.errors for r in results if not r.success][:3]
    kinds = sf.stats()["by_kind"]
    # locked rows came back as failed rows and went again (as a smaller bulk job or a collection)
    assert kinds.get("bulk_create_job", 0) + kinds.get("collections_create", 0) >= 2, kinds
    stored = _rows(sf, "Lead", tag)
    assert sorted(r["LastName"] for r in stored) == [f"F{i:03d}" for i in range(300)]
    by_id = {r["Id"]: r["LastName"] for r in stored}
    assert [by_id[r.id] for r in results] == [r["LastName"] for r in records]


def test_a_record_that_makes_salesforce_refuse_its_whole_collection_is_isolated(sf) -> None:
    client, writer = _writer(sf)
    tag = uuid.uuid4().hex
    records = [{"LastName": f"G{i:03d}", "Company": tag, "NumberOfEmployees": i} for i in range(200)]
    records[37]["NumberOfEmployees"] = "lots"   # cannot be parsed: the whole call is refused (400)
    records[150]["NumberOfEmployees"] = "many"
    results = writer.create("Lead", records)
    bad = [i for i, r in enumerate(results) if not r.success]
    assert bad == [37, 150]
    assert results[37].error_code == "JSON_PARSER_ERROR" and "lots" in results[37].error_message
    stored = _rows(sf, "Lead", tag)
    assert len(stored) == 198
    assert {r["LastName"] for r in stored} == {f"G{i:03d}" for i in range(200)} - {"G037", "G150"}
    assert _collections(sf) <= 1 + 40


def test_an_unknown_column_refuses_exactly_the_records_carrying_it(sf) -> None:
    client, writer = _writer(sf)
    tag = uuid.uuid4().hex
    records = [{"LastName": f"N{i}", "Company": tag, "Not_A_Field__c": "x"} for i in range(400)]
    results = writer.create("Lead", records)  # every record: no splitting, one call per chunk
    assert all(not r.success and r.error_code == "INVALID_FIELD" for r in results)
    assert _collections(sf) == 2 and sf.stats()["by_kind"].get("composite") == 1
    assert _rows(sf, "Lead", tag) == []
    mixed = [{"LastName": f"O{i}", "Company": tag, **({"not_a_field__C": "x"} if i % 3 == 0 else {})}
             for i in range(200)]
    results = writer.create("Lead", mixed)
    assert [not r.success for r in results] == [i % 3 == 0 for i in range(200)]
    assert _collections(sf) == 4  # the refused call and one resend of the clean ones
    assert len(_rows(sf, "Lead", tag)) == 133


def test_systemic_refusals_cost_a_bounded_number_of_calls(sf) -> None:
    client, writer = _writer(sf)
    tag = uuid.uuid4().hex
    records = [{"LastName": f"S{i}", "Company": tag, "NumberOfEmployees": f"n{i}"} for i in range(600)]
    results = writer.create("Lead", records)
    assert all(not r.success and r.error_code == "JSON_PARSER_ERROR" for r in results)
    assert _collections(sf) <= 3 + 40  # per write, not per chunk
    assert _rows(sf, "Lead", tag) == []


@pytest.mark.parametrize("path", ["collections", "bulk"])
def test_typed_values_arrive_as_salesforce_stores_them(sf, path) -> None:
    from datetime import date, datetime, timedelta, timezone
    from decimal import Decimal

    sf.seed({"describe": {"add_fields": {"Lead": [{"name": "Last_Touch__c", "type": "datetime", "label": "Last Touch"},
                                                   {"name": "Next_Step__c", "type": "date", "label": "Next Step"}]}}})
    client, writer = _writer(sf, bulk_threshold=3 if path == "bulk" else 10_000)
    tag = uuid.uuid4().hex
    when = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone(timedelta(hours=2)))
    rows = [{"LastName": f"Typed{i}", "Company": tag, "HasOptedOutOfEmail": i % 2 == 0,
             "NumberOfEmployees": 10 + i, "Last_Touch__c": when, "Next_Step__c": date(2026, 3, 4 + i),
             "Title": None} for i in range(4)]
    results = writer.create("Lead", rows)
    assert all(r.success for r in results), [r.errors for r in results]
    stored = {r["LastName"]: r for r in _rows(sf, "Lead", tag)}
    for i in range(4):
        s = stored[f"Typed{i}"]
        assert s["HasOptedOutOfEmail"] in (i % 2 == 0, int(i % 2 == 0))
        assert s["NumberOfEmployees"] == 10 + i
        # UTC, to the second (the emulator stores .000 where Salesforce would keep .678)
        assert s["Last_Touch__c"].startswith("2026-01-02T01:04:05.") and s["Last_Touch__c"].endswith("+0000")
        assert s["Next_Step__c"] == f"2026-03-0{4 + i}"
        assert s["Title"] is None
    accounts = writer.create("Account", [{"Name": f"{tag}-{i}", "AnnualRevenue": Decimal("1234.50")} for i in range(4)])
    assert all(a.success for a in accounts)
    revenue = {r["AnnualRevenue"] for r in sf.records("Account") if str(r.get("Name", "")).startswith(tag)}
    assert revenue == {1234.5}


def test_write_together_shares_composite_calls_and_keeps_each_outcome(sf) -> None:
    """A create, an update, an upsert and a write Salesforce refuses: their chunks travel in one
    Composite call (one round trip, one counted call), each outcome kept, the refusal not hiding
    the rest."""
    from target_salesforce_andsend.salesforce.writer import Write

    client, writer = _writer(sf, max_retries=0)
    tag = uuid.uuid4().hex
    existing = writer.create("Lead", [{"LastName": "Old", "Company": tag}])[0]
    sf.faults(latency_ms=300)
    control(sf, "POST", "stats/reset")
    with client.quota.batch(10, "test"):
        outcomes = writer.write_together([
            Write("create", "Lead", [{"LastName": f"N{i}", "Company": tag} for i in range(3)]),
            Write("update", "Lead", [{"Id": existing.id, "Title": "Updated"}]),
            Write("upsert", "Lead", [{"Andsend_Prospect_Id__c": f"{tag}-u", "LastName": "U", "Company": tag}],
                  "Andsend_Prospect_Id__c"),
            Write("upsert", "Lead", [{"LastName": "X", "Company": tag}], "No_Such_Field__c"),
        ])
    stats = sf.stats()
    sf.faults()
    created, updated, upserted, refused = outcomes
    assert [r.success for r in created] == [True] * 3 and updated[0].success and upserted[0].created is True
    assert isinstance(refused, Exception) or not refused[0].success
    rows = _rows(sf, "Lead", tag)
    assert sorted(r["LastName"] for r in rows) == ["N0", "N1", "N2", "Old", "U"]
    assert next(r for r in rows if r["Id"] == existing.id)["Title"] == "Updated"
    assert stats["by_kind"] == {"composite": 1}, stats
    assert stats["composite_subrequests"] == {"collections_create": 1, "collections_update": 1,
                                              "collections_upsert": 2}, stats


def test_write_together_of_many_chunks_fills_composites_of_five(sf) -> None:
    """1,300 creates of two objects and 300 updates: 9 chunks of 200 in two Composite calls (5 + 4),
    every record written once and its result mapped back in order."""
    from target_salesforce_andsend.salesforce.writer import Write

    client, writer = _writer(sf)
    tag = uuid.uuid4().hex
    old = writer.create("Lead", [{"LastName": f"O{i}", "Company": tag} for i in range(300)])
    leads = [{"LastName": f"L{i:04d}", "Company": tag} for i in range(900)]
    accounts = [{"Name": f"{tag}-{i:03d}"} for i in range(400)]
    updates = [{"Id": r.id, "Title": f"T{i}"} for i, r in enumerate(old)]
    control(sf, "POST", "stats/reset")
    made_leads, made_accounts, updated = writer.write_together([
        Write("create", "Lead", leads), Write("create", "Account", accounts), Write("update", "Lead", updates)])
    stats = sf.stats()
    assert stats["by_kind"] == {"composite": 2}, stats
    assert stats["composite_subrequests"] == {"collections_create": 7, "collections_update": 2}, stats
    by_id = {r["Id"]: r for r in _rows(sf, "Lead", tag)}
    assert [by_id[r.id]["LastName"] for r in made_leads] == [r["LastName"] for r in leads]
    assert [by_id[r.id]["Title"] for r in updated] == [f"T{i}" for i in range(300)]
    names = {r["Id"]: r["Name"] for r in sf.records("Account")}
    assert [names[r.id] for r in made_accounts] == [a["Name"] for a in accounts]


def test_a_throttled_subrequest_is_sent_again_alone_and_nothing_is_written_twice(sf) -> None:
    sf.faults(subrequest_503_rate=0.4, random_seed=3)
    client, writer = _writer(sf, retry_backoff_seconds=0.01)
    tag = uuid.uuid4().hex
    records = [{"LastName": f"R{i:04d}", "Company": tag} for i in range(1000)]
    results = writer.create("Lead", records)
    sf.faults()
    assert all(r.success for r in results), [r.errors for r in results if not r.success][:3]
    stats = sf.stats()
    # some of the five subrequests were refused (503) and went again as Collections calls alone
    assert stats["by_kind"].get("composite") == 1 and stats["by_kind"].get("collections_create", 0) >= 1, stats
    stored = _rows(sf, "Lead", tag)
    assert sorted(r["LastName"] for r in stored) == [f"R{i:04d}" for i in range(1000)]
    by_id = {r["Id"]: r["LastName"] for r in stored}
    assert [by_id[r.id] for r in results] == [r["LastName"] for r in records]


def test_a_composite_of_creates_that_timed_out_is_not_resent(sf) -> None:
    from target_salesforce_andsend.salesforce.errors import TransportError

    client, writer = _writer(sf, request_timeout=0.3, max_retries=4)
    client.connect()
    sf.faults(latency_ms=900)
    tag = uuid.uuid4().hex
    with pytest.raises(TransportError, match="not resent") as err:
        writer.create("Lead", [{"LastName": f"T{i}", "Company": tag} for i in range(450)])
    sf.faults()
    assert err.value.partial_results == [None] * 450
    assert client.calls["composite"] == 1  # sent once, never again


def test_a_refused_subrequest_is_isolated_without_holding_back_the_others(sf) -> None:
    client, writer = _writer(sf)
    tag = uuid.uuid4().hex
    records = [{"LastName": f"V{i:03d}", "Company": tag, "NumberOfEmployees": i} for i in range(600)]
    records[450]["NumberOfEmployees"] = "lots"  # its whole collection (the third) is refused
    control(sf, "POST", "stats/reset")
    results = writer.create("Lead", records)
    assert [i for i, r in enumerate(results) if not r.success] == [450]
    assert results[450].error_code == "JSON_PARSER_ERROR"
    stored = _rows(sf, "Lead", tag)
    assert len(stored) == 599
    stats = sf.stats()
    assert stats["by_kind"]["composite"] == 1 and stats["by_kind"]["collections_create"] <= 2 * 8


def test_a_failed_composite_fails_each_write_it_carried_with_its_own_partial_results(sf) -> None:
    from target_salesforce_andsend.salesforce.errors import TransportError
    from target_salesforce_andsend.salesforce.writer import Write

    client, writer = _writer(sf, request_timeout=0.3, max_retries=2)
    client.connect()
    sf.faults(latency_ms=900)
    tag = uuid.uuid4().hex
    with client.quota.batch(5, "test"):
        leads, accounts = writer.write_together([
            Write("create", "Lead", [{"LastName": f"P{i}", "Company": tag} for i in range(300)]),
            Write("create", "Account", [{"Name": f"{tag}-{i}"} for i in range(200)])])
    sf.faults()
    assert isinstance(leads, TransportError) and isinstance(accounts, TransportError)
    assert leads is not accounts
    assert leads.partial_results == [None] * 300 and accounts.partial_results == [None] * 200
    assert client.calls["composite"] == 1  # one call carried both, and it was not resent


def test_bulk_upsert_results_map_back_by_external_id_alone(sf) -> None:
    # Rows identical but for their external id, failures among them: each result goes back to the
    # record whose key it echoes (no copy of the rows is kept for a keyed job).
    client = SalesforceClient(password_config(sf))
    tag = uuid.uuid4().hex
    records = [{"Andsend_Prospect_Id__c": f"{tag}-{i}", "LastName": "Same", "Company": tag,
                "Description": "line one\nline, \"two\""} for i in range(120)]
    bad = {7, 64, 119}
    for i in bad:
        records[i] = {**records[i], "LastName": None}
    results = BulkIngest(client).write("upsert", "Lead", records, external_id_field="Andsend_Prospect_Id__c")
    stored = {r["Id"]: r for r in _rows(sf, "Lead", tag)}
    assert len(stored) == 117
    for i, (rec, res) in enumerate(zip(records, results, strict=True)):
        if i in bad:
            assert not res.success and res.error_code == "REQUIRED_FIELD_MISSING", (i, res)
        else:
            assert res.success and res.created is True, (i, res)
            assert stored[res.id]["Andsend_Prospect_Id__c"] == rec["Andsend_Prospect_Id__c"]


def test_bulk_upload_over_the_size_limit_is_split_into_jobs_and_results_align(sf) -> None:
    client = SalesforceClient(password_config(sf))
    bulk = BulkIngest(client)
    bulk.max_upload_bytes = 3_000  # about 50 rows a file
    tag = uuid.uuid4().hex
    records = [{"LastName": f"S{i:03d}", "Company": tag, "Title": "x" * 20} for i in range(180)]
    results = bulk.write("insert", "Lead", records)
    jobs = sf.stats()["by_kind"].get("bulk_create_job")
    assert jobs is not None and 3 <= jobs <= 5, jobs
    stored = {r["Id"]: r["LastName"] for r in _rows(sf, "Lead", tag)}
    assert len(stored) == 180
    assert [stored[r.id] for r in results] == [r["LastName"] for r in records]


def test_bulk_status_reads_follow_the_jobs_own_pace(sf) -> None:
    bulk = BulkIngest(SalesforceClient(password_config(sf)))
    # Half of 20,000 rows in 4 s: the next read when the rest should be done (10 % over).
    assert bulk._next_wait(4.0, 20_000, 10_000, 4.0) == pytest.approx(4.4)
    # Nothing processed yet (queued), or no count: twice the last wait, at most 30 s.
    assert bulk._next_wait(4.0, 20_000, 0, 4.0) == 8.0
    assert bulk._next_wait(20.0, 20_000, None, 24.0) == 30.0
    # A slow job's measured pace: one read near its end, up to two minutes on.
    assert bulk._next_wait(4.0, 20_000, 1_000, 10.0) == 120.0
    assert bulk._next_wait(4.0, 20_000, 5_000, 10.0) == pytest.approx(33.0)
    # Almost done: never sooner than the poll interval.
    assert bulk._next_wait(8.0, 20_000, 19_999, 8.0) == bulk.poll_interval


def test_a_later_bulk_job_is_read_once_at_the_pace_the_first_showed(sf) -> None:
    """Each status read is a counted call: the run's first job is read as it goes; a later job's
    first read waits as long as that pace says it takes, so one read finds it done."""
    control(sf, "PUT", "settings", json={"bulk_processing_delay_ms": 800})
    bulk = BulkIngest(SalesforceClient(password_config(sf)), poll_interval=0.05)
    tag = f"pace-{uuid.uuid4().hex[:8]}"
    records = [{"LastName": f"P{i}", "Company": tag} for i in range(20)]
    sf.reset_stats()
    assert all(r.success for r in bulk.write("insert", "Lead", records))
    first_reads = sf.stats()["by_kind"]["bulk_status"]
    assert first_reads > 1 and bulk.rows_per_second
    assert bulk._first_wait(20) == pytest.approx(1.1 * 20 / bulk.rows_per_second) and bulk._first_wait(20) > 0.8
    sf.reset_stats()
    assert all(r.success for r in bulk.write("insert", "Lead", [{**r, "LastName": r["LastName"] + "b"}
                                                                   for r in records]))
    assert sf.stats()["by_kind"]["bulk_status"] == 1
