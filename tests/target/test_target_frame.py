"""The target frame: stream roles, drain order (people before their Tasks), batch size,
report/progress in the log, never on stdout."""

from __future__ import annotations

import json

import pytest

from target_salesforce_andsend.sinks import ProspectsSink
from target_salesforce_andsend.target import TargetSalesforceAndsend
from tests.target._target_support import STAMP, live, messages, prospect, run_target, target_config


def touchpoint(tid: str, pid: str, email: str) -> dict:
    return {"id": tid, "prospect_id": pid, "prospect_email": email, "channel": "email", "type": "email_sent",
            "subject": "Hello", "body": "Hi there", "executed_at": STAMP, "created_at": STAMP, "updated_at": STAMP}


def test_touchpoints_wait_for_their_prospects_even_when_they_come_first(sf_emulator, tmp_path):
    # Touchpoints arrive first and their sink fills up (batch_size_rows=2) before the prospects
    # sink drains: the target drains the prospects first, so every Task finds its Lead.
    people = [prospect(f"d-{i}", email=f"d{i}@drain.test") for i in range(3)]
    tps = [touchpoint(f"t-{i}", f"d-{i}", f"d{i}@drain.test") for i in range(3)]
    lines = messages("prospects", people)[:-1] + messages("touchpoints", tps)
    config = target_config(sf_emulator, tmp_path, batch_size_rows=2)
    run_target(config, lines)
    leads = {r["Andsend_Prospect_Id__c"]: r["Id"] for r in live(sf_emulator.records("Lead"))}
    tasks = live(sf_emulator.records("Task"))
    assert len(tasks) == 3 and {t["WhoId"] for t in tasks} == set(leads.values())


def test_stream_roles_route_foreign_stream_names(sf_emulator, tmp_path):
    lines = [line.replace('"stream": "prospects"', '"stream": "andsend-purchased"')
             for line in messages("prospects", [prospect("r-1")])]
    config = target_config(sf_emulator, tmp_path, stream_roles={"andsend-purchased": "prospects"})
    run_target(config, lines)
    assert [r["Andsend_Prospect_Id__c"] for r in live(sf_emulator.records("Lead"))] == ["r-1"]

    failed = run_target(target_config(sf_emulator, tmp_path), lines, expect_error=True)
    assert "map it in stream_roles" in str(failed.error)


def test_batch_size_default_and_setting(tmp_path):
    schema = json.loads(messages("prospects", [])[0])["schema"]
    target = TargetSalesforceAndsend(config={"output_dir": str(tmp_path)})
    sink = ProspectsSink(target, "prospects", schema, ["id"])
    assert sink.max_size == 5000
    target = TargetSalesforceAndsend(config={"output_dir": str(tmp_path), "batch_size_rows": 50})
    assert ProspectsSink(target, "prospects", schema, ["id"]).max_size == 50
    assert sink.include_sdc_metadata_properties is False


def test_report_summary_and_progress_go_to_the_log(sf_emulator, tmp_path, caplog):
    caplog.set_level("INFO")
    run = run_target(target_config(sf_emulator, tmp_path), messages("prospects", [prospect("l-1")]))
    text = caplog.text
    assert "prospects / Lead: created 1" in text and "Salesforce API calls:" in text
    assert "Progress: 1 records" in text
    assert run.stdout.count("\n") == 1  # the one STATE line


@pytest.mark.parametrize("secret", ["emulator", "emulator-client-secret"])
def test_secrets_never_logged(sf_emulator, tmp_path, caplog, secret):
    caplog.set_level("DEBUG")
    run_target(target_config(sf_emulator, tmp_path), messages("prospects", [prospect("s-1")]))
    report = (tmp_path / "out" / "report.json").read_text()
    assert secret + "token" not in caplog.text and f'"{secret}"' not in caplog.text
    assert secret not in report
