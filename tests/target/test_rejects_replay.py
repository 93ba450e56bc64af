"""Rejected records stay retryable work (issue 14): kept in the state store with attempts and back-off,
retried by later runs when their cause can change, on demand after `rejects replay`, written exactly
once. Checked by querying the emulator and the store."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from target_salesforce_andsend.cli import main as cli_main
from target_salesforce_andsend.links import open_store
from target_salesforce_andsend.reject_hints import HINTS
from target_salesforce_andsend.settings import Settings
from tests.target._salesforce_support import control
from tests.target._target_support import live, messages, prospect, run_target, target_config

ORG = {
    "validation_rules": [{"name": "Lead_Title_Short", "object": "Lead", "error_field": "Title",
                          "message": "Keep the title short.", "rule": {"kind": "length", "field": "Title", "max": 20}}],
    "automation": [{"name": "LeadRouter", "object": "Lead", "when": {"field": "Company", "equals": "Trigger Fail AB"},
                    "message": "System.DmlException: Update failed."}],
}


def _input() -> list[str]:
    return messages("prospects", [
        prospect("p1"),
        prospect("p2", title="Chief Executive Officer and Founder of the Board"),
        prospect("p3", company_name="Trigger Fail AB", company_domain="triggerfail.test"),
        prospect("p4", first_name=None, last_name=None, email=None, phone=None),
    ])


def _leads(sf, pid: str) -> list[dict]:
    return [r for r in live(sf.records("Lead")) if r.get("Email") == f"{pid}@acme.test"]


def _store_rows(config: dict) -> dict[str, dict]:
    store = open_store(config, Settings.of(config).paths.links)
    try:
        return {r["key"]: r for r in store.rejects_query()}
    finally:
        store.close()


def _cli(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli_main(["rejects", *args]) == 0
    return out.getvalue()


def _config_file(tmp_path: Path, config: dict) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return str(path)


@pytest.fixture
def sf(sf_emulator_factory):
    return sf_emulator_factory(ORG)


def test_rejects_are_kept_with_hints_and_replayed_once_after_the_org_is_fixed(sf, tmp_path) -> None:
    config = target_config(sf, tmp_path)
    first = run_target(config, _input())
    by_key = {r["key"]: r for r in first.rejects}
    assert by_key["p2"]["error_code"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert by_key["p3"]["error_code"] == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
    assert all(r["hint"] and "\n" not in r["hint"] for r in first.rejects)
    assert by_key["p2"]["hint"] == HINTS["FIELD_CUSTOM_VALIDATION_EXCEPTION"].text
    assert len(_leads(sf, "p1")) == 1 and not _leads(sf, "p2") and not _leads(sf, "p3")

    rows = _store_rows(config)
    assert set(rows) == {"p2", "p3", "p4"}
    assert rows["p2"]["cause"] == "validation" and rows["p2"]["next_at"] and rows["p2"]["attempts"] == 1
    assert rows["p3"]["cause"] == "automation" and rows["p3"]["next_at"]
    assert rows["p4"]["cause"] == "input" and rows["p4"]["next_at"] is None  # bad input: not automatic
    assert rows["p2"]["record"]["title"].startswith("Chief")  # the record as the tap sent it

    # A run without input before the back-off is over retries nothing.
    run_target(config, messages("prospects", []))
    assert not _leads(sf, "p2")

    cfg = _config_file(tmp_path, config)
    listed = [json.loads(x) for x in _cli("list", "--config", cfg, "--format", "json").splitlines()]
    assert {r["key"] for r in listed} == {"p2", "p3", "p4"}
    only = [json.loads(x) for x in _cli("list", "--config", cfg, "--format", "json",
                                        "--code", "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY").splitlines()]
    assert [r["key"] for r in only] == ["p3"]

    # The admin fixes the org, then asks for a replay of what the fix concerns.
    control(sf, "POST", "org-rules/relax", json={"validation_rules": ["Lead_Title_Short"], "automation": True})
    assert "2 rejected" in _cli("replay", "--config", cfg, "--code", "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                                "--code", "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY")
    third = run_target(config, messages("prospects", []))
    assert len(_leads(sf, "p2")) == 1 and len(_leads(sf, "p3")) == 1
    assert third.report["rejects_retry"]["replayed_by_role"] == {"prospects": 2}
    assert set(_store_rows(config)) == {"p4"}
    lines = {(r["key"], r["run_id"]): r["status"] for r in third.rejects}
    assert all(status == "resolved" for (key, _), status in lines.items() if key in ("p2", "p3"))

    # Reruns (with the same input again, and without) never write them twice.
    run_target(config, _input())
    run_target(config, messages("prospects", []))
    assert [len(_leads(sf, p)) for p in ("p1", "p2", "p3")] == [1, 1, 1]

    assert "1 rejected record(s) cleared" in _cli("clear", "--config", cfg, "--role", "prospects")
    assert _store_rows(config) == {}


def test_due_rejects_are_retried_with_attempts_and_back_off(sf, tmp_path) -> None:
    config = target_config(sf, tmp_path, rejects_retry_backoff_minutes=0, rejects_retry_max_attempts=3)
    run_target(config, _input())
    run_target(config, messages("prospects", []))  # due at once: tried again, refused again
    rows = _store_rows(config)
    assert rows["p2"]["attempts"] == 2 and rows["p2"]["next_at"]
    assert rows["p4"]["attempts"] == 1  # bad input is not retried automatically
    report = run_target(config, messages("prospects", [])).report
    rows = _store_rows(config)
    assert rows["p2"]["attempts"] == 3 and rows["p2"]["next_at"] is None  # attempts spent: replay only
    assert report["rejects"] == 0 and report["rejects_retry"]["replay_reject_lines"] == 2
    run_target(config, messages("prospects", []))
    assert _store_rows(config)["p2"]["attempts"] == 3
    assert not _leads(sf, "p2")


def test_a_newer_version_from_the_tap_wins_over_the_kept_record(sf, tmp_path) -> None:
    config = target_config(sf, tmp_path, rejects_retry_backoff_minutes=0)
    run_target(config, _input())
    fixed = prospect("p2", title="CEO", updated_at="2026-01-02T00:00:00Z")
    run = run_target(config, messages("prospects", [fixed]))
    assert "p2" not in _store_rows(config)
    assert [r["Title"] for r in _leads(sf, "p2")] == ["CEO"]
    assert run.report["rejects_retry"].get("replayed_by_role", {}).get("prospects", 0) == 1  # p3 only, never p2


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_store_keeps_rejects_per_org_in_both_backends(backend, tmp_path, request) -> None:
    from target_salesforce_andsend.links import LinkStore, PostgresLinkStore

    def store(org: str):
        if backend == "postgres":
            return PostgresLinkStore(request.getfixturevalue("postgres_url") if org == "00DA" else url, org)
        return LinkStore(tmp_path / "links.sqlite", org)

    url = None
    a = store("00DA")
    url = getattr(a, "url", None)
    b = store("00DB")
    row = {"role": "prospects", "key": "p1", "object": "Lead", "error_code": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
           "cause": "validation", "message": "m", "hint": "h", "record": {"id": "p1", "title": "x"}, "attempts": 1,
           "first_at": "2026-01-01T00:00:00+00:00", "last_at": "2026-01-01T00:00:00+00:00",
           "next_at": "2026-01-01T01:00:00+00:00", "replay": False}
    a.rejects_put([row, {**row, "key": "p2", "error_code": "INVALID_EMAIL", "cause": "input", "next_at": None}])
    b.rejects_put([{**row, "attempts": 3}])
    assert [r["key"] for r in a.rejects_due("prospects", "2026-01-01T00:30:00+00:00")] == []
    assert [r["key"] for r in a.rejects_due("prospects", "2026-01-01T02:00:00+00:00")] == ["p1"]
    assert a.rejects_get("prospects", ["p1"])["p1"]["record"] == {"id": "p1", "title": "x"}
    assert b.rejects_get("prospects", ["p1"])["p1"]["attempts"] == 3  # per org
    assert len(a.rejects_query()) == 3 and len(a.rejects_query(org="00DA")) == 2
    assert a.rejects_request_replay(org="00DA", codes=["INVALID_EMAIL"]) == 1
    assert [r["key"] for r in a.rejects_due("prospects", "2026-01-01T00:00:00+00:00")] == ["p2"]
    a.rejects_delete("prospects", ["p2"])
    assert a.rejects_clear(role="prospects", org="00DB") == 1
    assert [(r["org_id"], r["key"]) for r in a.rejects_query()] == [("00DA", "p1")]
    a.close()
    b.close()


def test_a_rejected_touchpoint_is_replayed_into_exactly_one_task(sf_emulator_factory, tmp_path) -> None:
    from tests.target._activities_support import touchpoint

    sf = sf_emulator_factory({"automation": [{"name": "TaskRollup", "object": "Task", "message": "Rollup failed.",
                                              "when": {"field": "Subject", "matches": ".*tp_2.*"}}]})
    sf.seed({"records": {"Lead": [{"LastName": "L", "Company": "C", "Andsend_Prospect_Id__c": "p_1"}]}})
    config = target_config(sf, tmp_path)
    tps = [touchpoint("tp_1", "p_1"), touchpoint("tp_2", "p_1")]
    first = run_target(config, messages("touchpoints", tps))
    assert [(r["key"], r["error_code"]) for r in first.rejects] == [("tp_2", "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY")]
    assert set(_store_rows(config)) == {"tp_2"}

    control(sf, "POST", "org-rules/relax", json={"automation": ["TaskRollup"]})
    cfg = _config_file(tmp_path, config)
    assert "1 rejected" in _cli("replay", "--config", cfg, "--role", "touchpoints")
    replay = run_target(config, messages("touchpoints", []))  # no input: the replay alone writes it
    assert replay.report["rejects_retry"]["replayed_by_role"] == {"touchpoints": 1}
    assert sorted(t["Andsend_Touchpoint_Id__c"] for t in live(sf.records("Task"))) == ["tp_1", "tp_2"]
    run_target(config, messages("touchpoints", tps))  # the tap sends both again: no second Task
    assert sorted(t["Andsend_Touchpoint_Id__c"] for t in live(sf.records("Task"))) == ["tp_1", "tp_2"]
    assert _store_rows(config) == {}


def test_a_batch_that_fails_stores_no_outcome_of_its_records(sf, tmp_path) -> None:
    """Its records come again from the tap (STATE did not move): neither the one it wrote nor the one
    it refused changes what the store keeps."""
    config = target_config(sf, tmp_path)
    long_title = "Chief Executive Officer and Founder of the Board"
    run_target(config, messages("prospects", [prospect("p2", title=long_title)]))
    assert set(_store_rows(config)) == {"p2"}
    failed = run_target({**config, "reject_threshold": 0},
                        messages("prospects", [prospect("p2"), prospect("p9", title=long_title)]), expect_error=True)
    assert "reject_threshold" in str(failed.error)
    assert set(_store_rows(config)) == {"p2"}
