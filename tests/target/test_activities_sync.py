"""Touchpoints -> Tasks against the Salesforce emulator, with and without the Task external id.

Every check reads the emulator's stored rows (`/__emulator__/records/Task`), not return values.
"""

from __future__ import annotations

import json
import os

import pytest

from target_salesforce_andsend import activities
from tests.postgres_server import TEST_STORE_URL_VAR
from tests.target._activities_support import (  # noqa: F401 (fixtures)
    NO_TASK_EXTERNAL_ID,
    USERS,
    make_run,
    records,
    seed,
    servers,
    sf,
    sf_control,
    start_sf,
    stats,
    touchpoint,
)


def people(server) -> dict[str, str]:
    """p_contact: Contact with Account; p_lead: Lead; both carry the Andsend prospect id."""
    return seed(server, {"records": {
        "Account": [{"_ref": "acct", "Name": "Acme GmbH", "Website": "https://acme.de"}],
        "Contact": [{"_ref": "con", "LastName": "Lee", "Email": "ann@acme.de", "AccountId": "@acct",
                     "Andsend_Prospect_Id__c": "p_contact"}],
        "Lead": [{"_ref": "lead", "LastName": "Kim", "Company": "Beta", "Email": "kim@beta.io",
                  "Andsend_Prospect_Id__c": "p_lead"}],
    }})


def user_ids(server) -> dict[str, str]:
    return {u["Username"]: u["Id"] for u in records(server, "User")}


def all_text(rows: list[dict]) -> str:
    return json.dumps(rows, ensure_ascii=False)


def test_task_fields_per_channel_in_contact_account_mode(sf, tmp_path):
    refs = people(sf)
    run = make_run(sf, tmp_path, object_mode="contact_account")
    email = touchpoint("tp_e1", "p_contact", subject="Quick question", body="Hi Ann,\n\nAre you hiring?")
    li = touchpoint("tp_l1", "p_contact", channel="linkedin", type="linkedin_connection_request", subject=None,
                    body="Let's connect", executed_at="2026-02-01T23:59:59+00:00")
    activities.process_batch(run, [email, li])
    tasks = {t["TaskSubtype"]: t for t in records(sf, "Task")}
    assert set(tasks) == {"Email", "LinkedIn"}
    e, link = tasks["Email"], tasks["LinkedIn"]
    ann = user_ids(sf)["ann@acme.test"]
    for t in (e, link):
        assert t["Status"] == "Completed" and t["IsClosed"] in (True, 1)
        assert t["WhoId"] == refs["con"] and t["WhatId"] == refs["acct"]
        assert t["OwnerId"] == ann
    assert e["ActivityDate"] == "2026-01-05" and link["ActivityDate"] == "2026-02-01"
    assert e["Description"] == "Executed via Andsend at 2026-01-05T10:15:00Z\n\nHi Ann,\n\nAre you hiring?"
    if sf.variant == "ext":
        assert e["Subject"] == "Email: Quick question" and e["Andsend_Touchpoint_Id__c"] == "tp_e1"
        assert link["Subject"] == "LinkedIn: Connection request"
    else:
        assert e["Subject"] == "Email: Quick question [andsend:tp_e1]"
        assert link["Subject"] == "LinkedIn: Connection request [andsend:tp_l1]"
    assert run.report.get("touchpoints", "Task", "created") == 2


def test_lead_who_never_has_what_id(sf, tmp_path):
    refs = people(sf)
    run = make_run(sf, tmp_path, object_mode="contact_account")
    activities.process_batch(run, [touchpoint("tp_1", "p_lead")])
    (task,) = records(sf, "Task")
    assert task["WhoId"] == refs["lead"] and task["WhatId"] is None


def test_lead_mode_sets_no_what_id_even_for_contacts(sf, tmp_path):
    refs = people(sf)
    run = make_run(sf, tmp_path, object_mode="lead")
    activities.process_batch(run, [touchpoint("tp_1", "p_contact")])
    (task,) = records(sf, "Task")
    assert task["WhoId"] == refs["con"] and task["WhatId"] is None


@pytest.mark.parametrize("sync_activities", [True, False])
@pytest.mark.parametrize("include_content", [True, False])
def test_switches(sf, tmp_path, sync_activities, include_content):
    people(sf)
    run = make_run(sf, tmp_path, sync_activities=sync_activities, include_message_content=include_content)
    secret_subject, secret_body = "Confidential pricing offer", "The secret body: 42% discount"
    tps = [touchpoint("tp_1", "p_contact", subject=secret_subject, body=secret_body),
           touchpoint("tp_2", "p_lead", channel="linkedin", type="linkedin_inmail", subject=secret_subject,
                      body=secret_body)]
    sf_control(sf, "POST", "stats/reset")
    activities.process_batch(run, tps)
    tasks = records(sf, "Task")
    if not sync_activities:
        assert tasks == []
        assert run.report.as_dict()["skipped"]["touchpoints"] == {"sync_activities_off": 2}
        assert stats(sf)["api_requests"] == 0
        return
    assert len(tasks) == 2
    text = all_text(tasks)
    if include_content:
        assert secret_subject in text and secret_body in text
    else:
        assert "Confidential" not in text and "secret" not in text and "42%" not in text
        subjects = sorted(t["Subject"].split(" [andsend:")[0] for t in tasks)
        assert subjects == ["Email: Sent", "LinkedIn: InMail"]


def test_owner_resolution_and_fallbacks(sf, tmp_path):
    people(sf)
    ids = user_ids(sf)
    tps = [
        touchpoint("tp_active", "p_lead", user_email="ANN.OWNER@acme.test"),  # case differs
        touchpoint("tp_inactive", "p_lead", user_email="bob@acme.test"),
        touchpoint("tp_unknown", "p_lead", user_email="nobody@acme.test"),
        touchpoint("tp_by_user_id", "p_lead", user_email=None, user_id="usr_ann"),
    ]
    run = make_run(sf, tmp_path / "a")
    run.remember_users({"usr_ann": "ann.owner@acme.test"})
    activities.process_batch(run, tps)
    owners = {t["Subject"]: t["OwnerId"] for t in records(sf, "Task")}
    by_tp = {tid: next(o for subject, o in owners.items() if f"line {tid}" in subject)
             for tid in ("tp_active", "tp_inactive", "tp_unknown", "tp_by_user_id")}
    admin = ids["admin@example.com"]
    assert by_tp == {"tp_active": ids["ann@acme.test"], "tp_inactive": admin, "tp_unknown": admin,
                     "tp_by_user_id": ids["ann@acme.test"]}

    sf_control(sf, "POST", "reset")
    people(sf)
    run = make_run(sf, tmp_path / "b", owner_fallback="user", fallback_owner_email="carl@acme.test")
    activities.process_batch(run, tps)
    owners = sorted(t["OwnerId"] for t in records(sf, "Task"))
    if os.environ.get(TEST_STORE_URL_VAR):  # one PostgreSQL store for both output dirs: usr_ann is known
        assert owners == sorted([ids["ann@acme.test"]] * 2 + [ids["carl@acme.test"]] * 2)
        return
    # a fresh output dir: usr_ann's email is unknown to this run, so it falls back too
    assert owners == sorted([ids["ann@acme.test"]] + [ids["carl@acme.test"]] * 3)


def test_rerun_creates_no_duplicates(sf, tmp_path):
    people(sf)
    tps = [touchpoint(f"tp_{i}", "p_contact" if i % 2 else "p_lead") for i in range(5)]
    for _ in range(3):
        run = make_run(sf, tmp_path)  # a fresh run each time, as a rerun of the same input
        activities.process_batch(run, tps)
    tasks = records(sf, "Task")
    assert len(tasks) == 5
    if sf.variant == "ext":
        assert sorted(t["Andsend_Touchpoint_Id__c"] for t in tasks) == [f"tp_{i}" for i in range(5)]
    assert run.report.as_dict()["skipped"]["touchpoints"] == {"already_synced": 5}
    assert run.report.get("touchpoints", "Task", "created") == 0


def test_duplicates_within_one_batch_collapse(sf, tmp_path):
    people(sf)
    run = make_run(sf, tmp_path)
    tp = touchpoint("tp_dup", "p_lead")
    activities.process_batch(run, [tp, dict(tp, subject="edited")])
    (task,) = records(sf, "Task")
    assert task["Subject"].startswith("Email: edited")


def test_touchpoint_before_its_prospect_is_written_later_once(sf, tmp_path):
    run = make_run(sf, tmp_path)
    activities.process_batch(run, [touchpoint("tp_early", "p_contact")])
    assert records(sf, "Task") == []
    assert run.report.as_dict()["skipped"]["touchpoints"] == {"person_not_in_salesforce": 1}
    assert run.links.pending_count("touchpoint") == 1

    refs = people(sf)  # the prospect is now in Salesforce
    run2 = make_run(sf, tmp_path)
    activities.process_pending(run2)
    (task,) = records(sf, "Task")
    assert task["WhoId"] == refs["con"]
    assert run2.links.pending_count("touchpoint") == 0

    run3 = make_run(sf, tmp_path)  # nothing left to do, nothing duplicated
    activities.process_pending(run3)
    activities.process_batch(run3, [touchpoint("tp_early", "p_contact")])
    assert len(records(sf, "Task")) == 1


def test_person_found_via_link_store_and_email(sf, tmp_path):
    refs = seed(sf, {"records": {
        "Lead": [{"_ref": "l1", "LastName": "Noid", "Company": "X", "Email": "Mixed.Case@Example.org"}],
        "Contact": [{"_ref": "c1", "LastName": "Linked", "Email": "linked@example.org"}],
    }})
    run = make_run(sf, tmp_path)
    run.links.put_links([{"prospect_id": "p_linked", "object": "Contact", "record_id": refs["c1"]}])
    activities.process_batch(run, [
        touchpoint("tp_a", "p_linked"),
        touchpoint("tp_b", "p_by_email", prospect_email="mixed.case@EXAMPLE.org"),
    ])
    who = sorted(t["WhoId"] for t in records(sf, "Task"))
    assert who == sorted([refs["c1"], refs["l1"]])


def test_rejected_task_goes_to_rejects_file(sf, tmp_path):
    refs = people(sf)
    run = make_run(sf, tmp_path)
    # A link to a Contact that was deleted in Salesforce: the Task's WhoId is refused.
    sf_control(sf, "POST", "seed", json={"records": {"Contact": [{"_ref": "gone", "LastName": "Gone"}]}})
    gone = [c for c in records(sf, "Contact") if c["LastName"] == "Gone"][0]["Id"]
    assert run.client.request("DELETE", "/sobjects/Contact/" + gone, kind="sobject_delete").status_code == 204
    run.links.put_links([{"prospect_id": "p_gone", "object": "Contact", "record_id": gone}])
    activities.process_batch(run, [touchpoint("tp_ok", "p_lead"), touchpoint("tp_bad", "p_gone")])
    tasks = records(sf, "Task")
    assert [t["WhoId"] for t in tasks] == [refs["lead"]]
    lines = [json.loads(x) for x in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert [(r["role"], r["key"], r["object"]) for r in lines] == [("touchpoints", "tp_bad", "Task")]
    assert lines[0]["error_code"] and lines[0]["message"]
    assert run.report.get("touchpoints", "Task", "rejected") == 1


def test_long_body_cut_at_clean_boundary(sf, tmp_path):
    people(sf)
    run = make_run(sf, tmp_path)
    body = "\n\n".join(f"Paragraph {i}. " + "lorem ipsum dolor " * 40 for i in range(100))  # ~74k chars
    activities.process_batch(run, [touchpoint("tp_long", "p_lead", body=body, subject="x" * 400)])
    (task,) = records(sf, "Task")
    assert len(task["Description"]) <= 32_000
    assert task["Description"].endswith("\n[… truncated by Andsend]")
    assert task["Description"][: -len("\n[… truncated by Andsend]")].endswith("dolor")
    assert len(task["Subject"]) <= 255


def test_rerun_of_450_costs_two_queries_and_no_write(sf, tmp_path):
    people(sf)
    run = make_run(sf, tmp_path)
    tps = [touchpoint(f"tp_{i:04d}", "p_lead" if i % 2 else "p_contact") for i in range(450)]
    activities.process_batch(run, tps)  # warm: auth, describe
    assert len(records(sf, "Task")) == 450
    sf_control(sf, "POST", "stats/reset")
    activities.process_batch(make_run(sf, tmp_path), tps)
    by_kind = stats(sf)["by_kind"]
    assert by_kind.get("collections_upsert", 0) + by_kind.get("collections_create", 0) == 0
    # a new run: its describes (one Composite), one owner lookup and one existence check (people come
    # from the link store), no write
    assert by_kind.get("query", 0) + by_kind.get("composite", 0) == 3
    assert len(records(sf, "Task")) == 450


def test_first_batch_of_450_uses_three_collections_in_one_composite(sf, tmp_path):
    people(sf)
    run = make_run(sf, tmp_path)
    run.client.describe("Task")
    sf_control(sf, "POST", "stats/reset")
    activities.process_batch(run, [touchpoint(f"tp_{i:04d}", "p_lead") for i in range(450)])
    figures = stats(sf)
    kind = "collections_upsert" if sf.variant == "ext" else "collections_create"
    # the three collections of 200 travel in one Composite call
    assert figures["composite_subrequests"].get(kind) == 3 and kind not in figures["by_kind"]
    assert len(records(sf, "Task")) == 450


def test_subtype_falls_back_to_task_when_picklist_lacks_linkedin(tmp_path):
    server = start_sf({"describe": {"picklists": {"Task.TaskSubtype": ["Task", "Email", "Call"]}}})
    try:
        people(server)
        run = make_run(server, tmp_path)
        activities.process_batch(run, [
            touchpoint("tp_li", "p_lead", channel="linkedin", type="linkedin_message", subject=None),
            touchpoint("tp_em", "p_lead"),
        ])
        got = sorted(t["TaskSubtype"] for t in records(server, "Task"))
        assert got == ["Email", "Task"]
    finally:
        server.stop()


def test_bulk_path_is_exactly_once_too(sf, tmp_path):
    people(sf)
    tps = [touchpoint(f"tp_b{i:03d}", "p_lead" if i % 2 else "p_contact",
                      channel="linkedin" if i % 3 else "email", type="linkedin_message" if i % 3 else "email_sent")
           for i in range(30)]
    jobs = []
    for _ in range(2):
        sf_control(sf, "POST", "stats/reset")
        run = make_run(sf, tmp_path, bulk_threshold=10)
        activities.process_batch(run, tps)
        assert not (tmp_path / "rejects.jsonl").exists()
        jobs.append(stats(sf)["by_kind"].get("bulk_create_job", 0))
    tasks = records(sf, "Task")
    assert len(tasks) == 30
    assert sorted({t["TaskSubtype"] for t in tasks}) == ["Email", "LinkedIn"]
    assert jobs == [1, 0]  # written through Bulk 2.0, then nothing left to write


def test_dry_run_reads_only_and_reports_the_plan(sf, tmp_path):
    people(sf)
    run = make_run(sf, tmp_path, dry_run=True)
    activities.process_batch(run, [touchpoint("tp_1", "p_lead"), touchpoint("tp_2", "p_unknown")])
    assert records(sf, "Task") == []
    by_kind = stats(sf)["by_kind"]
    assert not any(k.startswith(("collections_", "sobject_create", "bulk_")) for k in by_kind)
    plan = run.report.as_dict()["plan"]
    assert [(a["kind"], a["object"], a["touchpoint_id"]) for a in plan] == [("create", "Task", "tp_1")]
    assert run.links.pending_count("touchpoint") == 0


def test_over_long_external_id_is_rejected_with_reason(servers, tmp_path):
    sf = servers["ext"]
    sf_control(sf, "POST", "reset")
    people(sf)
    run = make_run(sf, tmp_path)
    long_id = "tp_" + "x" * 80  # Andsend_Touchpoint_Id__c holds 64 characters
    activities.process_batch(run, [touchpoint(long_id, "p_lead"), touchpoint("tp_fine", "p_lead")])
    assert [t["Andsend_Touchpoint_Id__c"] for t in records(sf, "Task")] == ["tp_fine"]
    (reject,) = [json.loads(x) for x in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert reject["key"] == long_id and reject["error_code"] == "STRING_TOO_LONG"
    assert "Andsend_Touchpoint_Id__c" in reject["fields"]


def test_quota_stop_mid_batch_then_rerun_is_exactly_once(sf, tmp_path):
    from target_salesforce_andsend.salesforce.errors import QuotaExhausted

    people(sf)
    tps = [touchpoint(f"tp_q{i:03d}", "p_contact" if i % 2 else "p_lead") for i in range(600)]
    # the first batch costs a few counted calls (limits, the describe, lookups bundled in Composite
    # calls, a write), later ones 2: 6 stops it part-way
    run = make_run(sf, tmp_path, quota_max_calls_per_run=6)
    with pytest.raises(QuotaExhausted):
        for start in range(0, 600, 200):
            activities.process_batch(run, tps[start : start + 200])
    written = len(records(sf, "Task"))
    assert 0 < written < 600  # stopped part-way by our own governor
    rerun = make_run(sf, tmp_path)
    for start in range(0, 600, 200):
        activities.process_batch(rerun, tps[start : start + 200])
    assert len(records(sf, "Task")) == 600


def test_transient_faults_are_retried_without_duplicates(sf, tmp_path):
    people(sf)
    tps = [touchpoint(f"tp_f{i:03d}", "p_contact" if i % 2 else "p_lead") for i in range(420)]
    sf_control(sf, "POST", "faults", json={"error_503_rate": 0.25, "lock_row_rate": 0.1, "random_seed": 11})
    try:
        activities.process_batch(make_run(sf, tmp_path, max_retries=10), tps)
    finally:
        sf_control(sf, "DELETE", "faults")
    tasks = records(sf, "Task")
    assert len(tasks) == 420 and not (tmp_path / "rejects.jsonl").exists()
    assert len({t["Subject"] + str(t.get("Andsend_Touchpoint_Id__c")) for t in tasks}) == 420


def test_touchpoint_ids_differing_only_in_case_are_two_tasks(sf, tmp_path):
    """Andsend ids are case-sensitive, and so is the shipped Andsend_Touchpoint_Id__c (the
    emulator's default org matches salesforce-metadata/): tp_X_Case and tp_x_case are two Tasks."""
    people(sf)
    run = make_run(sf, tmp_path)
    activities.process_batch(run, [touchpoint("tp_X_Case", "p_lead", subject="First")])
    activities.process_batch(run, [touchpoint("tp_x_case", "p_lead", subject="Second")])
    tasks = records(sf, "Task")
    if sf.variant == "ext":
        by_id = {t["Andsend_Touchpoint_Id__c"]: t["Subject"] for t in tasks}
        assert by_id == {"tp_X_Case": "Email: First", "tp_x_case": "Email: Second"}
    else:  # the Subject marker, compared exactly
        assert sorted(t["Subject"] for t in tasks) == ["Email: First [andsend:tp_X_Case]",
                                                       "Email: Second [andsend:tp_x_case]"]
    rerun = make_run(sf, tmp_path)  # and a rerun finds each its own Task
    activities.process_batch(rerun, [touchpoint("tp_x_case", "p_lead", subject="Second"),
                                     touchpoint("tp_X_Case", "p_lead", subject="First")])
    assert len(records(sf, "Task")) == 2


def test_a_case_insensitive_task_external_id_refuses_the_case_twin(tmp_path):
    """An org that deployed the field case-insensitive cannot keep the two apart: the second is
    rejected with the reason (never overwriting the first's Task)."""
    field = {"name": "Andsend_Touchpoint_Id__c", "label": "Andsend Touchpoint ID", "type": "string", "length": 64,
             "custom": True, "nillable": True, "externalId": True, "unique": True, "caseSensitive": False,
             "idLookup": True}
    server = start_sf({"users": USERS, "describe": {"omit_fields": {"Task": ["Andsend_Touchpoint_Id__c"]},
                                                    "add_fields": {"Task": [field]}}})
    try:
        people(server)
        run = make_run(server, tmp_path)
        activities.process_batch(run, [touchpoint("tp_X_Case", "p_lead", subject="First"),
                                       touchpoint("tp_x_case", "p_lead", subject="Second")])
        activities.process_batch(run, [touchpoint("tp_X_CASE", "p_lead", subject="Third")])
        tasks = records(server, "Task")
        assert [(t["Andsend_Touchpoint_Id__c"], t["Subject"]) for t in tasks] == [("tp_X_Case", "Email: First")]
        rejects = [json.loads(x) for x in (tmp_path / "rejects.jsonl").read_text().splitlines()]
        assert {(r["key"], r["error_code"]) for r in rejects} == {
            ("tp_x_case", "TOUCHPOINT_ID_CASE_CONFLICT"), ("tp_X_CASE", "TOUCHPOINT_ID_CASE_CONFLICT")}
        assert "salesforce-metadata" in rejects[0]["message"]
    finally:
        server.stop()
