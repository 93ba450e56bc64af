"""Touchpoints through the whole target: pending across runs, and a crash between write and STATE.

The crash test runs the target as a subprocess, lets its touchpoints sink fill up and drain (the
Tasks reach Salesforce) while stdin stays open, so no STATE has been emitted yet, then SIGKILLs it
and replays the same input: the emulator must hold exactly one Task per touchpoint, with and
without the Task external-id field.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.target._activities_support import (  # noqa: F401 (fixtures)
    NO_TASK_EXTERNAL_ID,
    USERS,
    records,
    seed,
    servers,
    sf,
    sf_control,
    start_sf,
    target_config,
    touchpoint,
)
from tests.target._target_support import messages, prospect, run_target

TARGET = str(Path(sys.executable).parent / "target-salesforce-andsend")


def test_touchpoints_before_their_prospect_are_written_on_a_later_run(sf, tmp_path):
    config = target_config(sf, tmp_path / "out")
    tps = [touchpoint("tp_1", "p_new"), touchpoint("tp_2", "p_new", channel="linkedin",
                                                   type="linkedin_connection_request", subject=None)]
    run1 = run_target(config, messages("touchpoints", tps))
    assert records(sf, "Task") == []
    assert run1.report["skipped"]["touchpoints"] == {"person_not_in_salesforce": 2}
    assert run1.states  # the touchpoints are parked in the link store, so STATE may move on

    run2 = run_target(config, messages("prospects", [prospect("p_new", email="new@acme.test")]))
    (lead,) = records(sf, "Lead")
    tasks = records(sf, "Task")
    assert len(tasks) == 2 and {t["WhoId"] for t in tasks} == {lead["Id"]}
    assert run2.report["activities"]["pending_touchpoints"] == 0

    run_target(config, messages("touchpoints", tps))  # the tap replays them: still one Task each
    run_target(config, messages("prospects", [prospect("p_new", email="new@acme.test")]))
    assert len(records(sf, "Task")) == 2


def test_switch_off_in_the_target_writes_nothing(sf, tmp_path):
    seed(sf, {"records": {"Lead": [{"LastName": "L", "Company": "C", "Andsend_Prospect_Id__c": "p_1"}]}})
    config = target_config(sf, tmp_path / "out", sync_activities=False)
    run = run_target(config, messages("touchpoints", [touchpoint("tp_1", "p_1")]))
    assert records(sf, "Task") == []
    assert run.report["skipped"]["touchpoints"] == {"sync_activities_off": 1}


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.mark.e2e
def test_crash_between_write_and_state_creates_no_duplicate(sf, tmp_path):
    n = 250  # two Collections calls
    seed(sf, {"records": {"Contact": [{"LastName": "Lee", "Email": "lee@acme.test",
                                       "Andsend_Prospect_Id__c": "p_crash"}]}})
    tps = [touchpoint(f"tp_{i:04d}", "p_crash") for i in range(n)]
    lines = messages("touchpoints", tps, state={"bookmarks": {"touchpoints": {"replication_key_value": "x"}}})
    # The killed run keeps its run lease until it expires: a short lease keeps the rerun's wait short.
    config = target_config(sf, tmp_path / "out", batch_size_rows=n, lease_ttl_seconds=3)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    proc = subprocess.Popen([TARGET, "--config", str(config_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        assert proc.stdin is not None
        proc.stdin.write(("\n".join(lines) + "\n").encode())
        proc.stdin.flush()  # stdin stays open: the sink drains because it is full, STATE waits
        _wait_for(lambda: len(records(sf, "Task")) == n)
        proc.kill()  # SIGKILL after the write, before STATE
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert out.decode().strip() == "", "no STATE may have left the killed run"
    assert len(records(sf, "Task")) == n

    rerun = subprocess.run([TARGET, "--config", str(config_path)], input=("\n".join(lines) + "\n").encode(),
                           capture_output=True, env=env, timeout=300, check=True)
    states = [json.loads(x) for x in rerun.stdout.decode().splitlines() if x.strip()]
    assert states and states[-1]["bookmarks"]["touchpoints"] == {"replication_key_value": "x"}
    tasks = records(sf, "Task")
    assert len(tasks) == n
    if "Andsend_Touchpoint_Id__c" in tasks[0]:
        assert len({t["Andsend_Touchpoint_Id__c"] for t in tasks}) == n
    else:
        assert len({t["Subject"] for t in tasks}) == n


def test_one_run_with_prospects_touchpoints_and_search_results(sf_emulator, andsend_emulator, tmp_path):
    """The streams interleaved in one input: prospects drain first, Tasks land on the new Contacts
    with their Accounts, and badges see the people this very run created."""
    from tests.target._activities_support import AndsendApi, andsend_results

    results = [r for r in andsend_results(AndsendApi(andsend_emulator.base_url, andsend_emulator.api_key), 200)
               if r.get("prospect_id")][:3]
    prospects = [prospect(r["prospect_id"], email=f"person{i}@corp{i}.example", company_name=f"Corp {i} AB",
                          company_domain=f"corp{i}.example") for i, r in enumerate(results[:2])]
    tps = [touchpoint(f"tp_{i}_{j}", p["id"], channel=ch, type=ty)
           for i, p in enumerate(prospects)
           for j, (ch, ty) in enumerate([("email", "email_sent"), ("linkedin", "linkedin_message")])]
    lines = []
    for stream, recs in (("touchpoints", tps), ("search_results", results), ("prospects", prospects)):
        lines += messages(stream, recs)[:-1]  # SCHEMA + RECORDs, touchpoints first on purpose
    lines.append(json.dumps({"type": "STATE", "value": {"bookmarks": {"all": 1}}}))
    config = target_config(sf_emulator, tmp_path / "out", object_mode="contact_account",
                           andsend_api_url=andsend_emulator.base_url, andsend_api_key=andsend_emulator.api_key)
    run = run_target(config, lines)
    contacts = {c["Andsend_Prospect_Id__c"]: c for c in records(sf_emulator, "Contact")}
    tasks = records(sf_emulator, "Task")
    assert len(tasks) == 4
    for t in tasks:
        contact = next(c for c in contacts.values() if c["Id"] == t["WhoId"])
        assert t["WhatId"] == contact["AccountId"] and t["WhatId"]
    badges = {b["result_id"]: b for b in andsend_emulator.badges()}
    assert [badges[r["id"]]["exists"] for r in results] == [True, True, False]
    assert badges[results[0]["id"]]["record_id"] == contacts[results[0]["prospect_id"]]["Id"]
    assert run.states[-1] == {"bookmarks": {"all": 1}}


def test_a_touchpoint_in_two_batches_prepared_at_once_is_one_task(sf, tmp_path):
    """Two touchpoints batches are prepared at the same time (two workers), but check for their
    Tasks and write them in input order: a touchpoint sent again in the next batch finds the Task
    the batch before wrote, with and without the Task external id."""
    seed(sf, {"records": {"Contact": [{"LastName": "Lee", "Email": "lee@acme.test",
                                       "Andsend_Prospect_Id__c": "p_twice"}]}})
    first = [touchpoint(f"tp_{i}", "p_twice") for i in range(4)]
    second = [dict(first[3], subject="sent again")] + [touchpoint(f"tp_{i}", "p_twice") for i in range(4, 7)]
    for attempt in range(3):  # whichever batch finishes preparing first
        config = target_config(sf, tmp_path / f"out{attempt}", batch_size_rows=4)
        run_target(config, messages("touchpoints", first + second))
        tasks = records(sf, "Task")
        assert len(tasks) == 7, attempt
        if sf.variant == "ext":
            assert sorted(t["Andsend_Touchpoint_Id__c"] for t in tasks) == [f"tp_{i}" for i in range(7)]


def test_touchpoints_with_extra_numeric_fields_are_written(sf, tmp_path):
    # A touchpoint waits in its batch as compact JSON: numbers the SDK parsed as Decimal (and
    # other extra fields) pass through, and the pending copy keeps them.
    seed(sf, {"records": {"Lead": [{"LastName": "L", "Company": "C", "Andsend_Prospect_Id__c": "p_1"}]}})
    config = target_config(sf, tmp_path / "out")
    tps = [touchpoint("tp_1", "p_1", score=1.25, opens=3, meta={"ratio": 0.5, "tags": ["a"]}),
           touchpoint("tp_2", "p_later", score=2.5)]
    run = run_target(config, messages("touchpoints", tps))
    (lead,) = records(sf, "Lead")
    assert [t["WhoId"] for t in records(sf, "Task")] == [lead["Id"]]
    assert run.report["skipped"]["touchpoints"] == {"person_not_in_salesforce": 1}
    run_target(config, messages("prospects", [prospect("p_later", email="later@acme.test")]))
    later = next(r for r in records(sf, "Lead") if r["Id"] != lead["Id"])
    assert sorted(t["WhoId"] for t in records(sf, "Task")) == sorted([lead["Id"], later["Id"]])
