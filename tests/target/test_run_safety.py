"""Safe wherever it is scheduled (in-process target runs against the Salesforce emulator):
the run lease, STATE held back for parked touchpoints (SQLite and PostgreSQL stores, with the
store lost between runs), another org behind the same settings, refresh-token rotation."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from target_salesforce_andsend.links import open_store
from tests.conftest import SalesforceEmulator, _start_salesforce
from tests.postgres_server import TEST_STORE_URL_VAR, with_test_store
from tests.target._target_support import messages, prospect, run_target, target_config

ORG = "00D5g0000000001EAA"  # the emulator's default org
STAMP_TP = "2026-01-05T10:15:00Z"


def touchpoint(tid: str, pid: str, updated_at: str) -> dict:
    return {"id": tid, "prospect_id": pid, "campaign_id": "cmp_1", "user_id": "usr_1", "channel": "email",
            "type": "email_sent", "subject": f"Subject {tid}", "body": "Hello", "executed_at": updated_at,
            "created_at": updated_at, "updated_at": updated_at}


def tp_state(value: str) -> dict:
    return {"bookmarks": {"touchpoints": {"replication_key": "updated_at", "replication_key_value": value}}}


def live(sf: SalesforceEmulator, sobject: str) -> list[dict]:
    return [r for r in sf.records(sobject) if not r.get("IsDeleted")]


@pytest.fixture(params=["sqlite", "postgres"])
def store_config(request) -> dict:
    url = os.environ.get(TEST_STORE_URL_VAR)
    if url:  # the whole suite runs on PostgreSQL (tests/postgres_server.py)
        return {"state_store_url": url}
    if request.param == "postgres":
        return {"state_store_url": request.getfixturevalue("postgres_url")}
    return {}


# -- STATE never acknowledges parked work --------------------------------------------------------


def test_state_is_held_back_for_parked_touchpoints_and_survives_a_lost_store(sf_emulator, tmp_path, store_config):
    config = target_config(sf_emulator, tmp_path, **store_config)
    tps = [touchpoint("tp_1", "p_later", "2026-01-03T00:00:00Z"), touchpoint("tp_2", "p_known", "2026-01-04T00:00:00Z"),
           touchpoint("tp_3", "p_later", "2026-01-06T00:00:00Z")]
    sf_emulator.seed({"records": {"Lead": [{"LastName": "Known", "Company": "C",
                                             "Andsend_Prospect_Id__c": "p_known"}]}})
    run1 = run_target(config, messages("touchpoints", tps, state=tp_state("2026-01-06T00:00:00Z")))
    # tp_1 and tp_3 wait for their person: the tap must send them again, from tp_1 on.
    assert run1.states[-1]["bookmarks"]["touchpoints"]["replication_key_value"] == "2026-01-03T00:00:00Z"
    assert run1.report["state"]["held_back"]["touchpoints"] == {
        "bookmark": "2026-01-06T00:00:00Z", "emitted": "2026-01-03T00:00:00Z", "parked": 2}
    assert len(live(sf_emulator, "Task")) == 1

    # A fresh runner: the SQLite store is gone with output_dir (PostgreSQL keeps it; both must hold).
    shutil.rmtree(tmp_path / "out")
    lines = messages("prospects", [prospect("p_later", email="later@acme.test")])
    lines += messages("touchpoints", tps, state=tp_state("2026-01-06T00:00:00Z"))  # resent from the held bookmark
    run2 = run_target(config, lines)
    tasks = live(sf_emulator, "Task")
    assert len(tasks) == 3 and len({t["Andsend_Touchpoint_Id__c"] for t in tasks}) == 3
    assert run2.states[-1]["bookmarks"]["touchpoints"]["replication_key_value"] == "2026-01-06T00:00:00Z"
    assert "held_back" not in run2.report.get("state", {})
    # and once more: nothing doubled
    run_target(config, messages("touchpoints", tps, state=tp_state("2026-01-06T00:00:00Z")))
    assert len(live(sf_emulator, "Task")) == 3


def test_touchpoints_parked_too_long_stop_holding_the_state(sf_emulator, tmp_path):
    config = target_config(sf_emulator, tmp_path, parked_max_days=0.0001)
    run_target(config, messages("touchpoints", [touchpoint("tp_1", "p_never", "2026-01-03T00:00:00Z")],
                                state=tp_state("2026-01-05T00:00:00Z")))
    import time

    time.sleep(10)  # parked_max_days=0.0001 is 8.6 s
    run = run_target(config, messages("touchpoints", [touchpoint("tp_2", "p_never", "2026-01-04T00:00:00Z")],
                                      state=tp_state("2026-01-05T00:00:00Z")))
    # tp_2 (just parked) holds the bookmark; tp_1 (parked too long) no longer does, and is counted.
    assert run.states[-1]["bookmarks"]["touchpoints"]["replication_key_value"] == "2026-01-04T00:00:00Z"
    assert run.report["state"]["parked_released"] == 1
    assert run.report["activities"]["pending_touchpoints"] == 2  # both still parked and retried


# -- the run lease -------------------------------------------------------------------------------


def test_a_second_run_waits_then_exits_clearly_without_writing(sf_emulator, tmp_path, store_config):
    config = target_config(sf_emulator, tmp_path, lease_wait_seconds=1.5, **store_config)
    holder = open_store(store_config, tmp_path / "out" / "links.sqlite", ORG)
    try:
        assert holder.lease_try(f"org:{ORG}/pipeline:default", "other-host:1:x", {"host": "other-host", "pid": 1},
                                ttl=60) is None
        run = run_target(config, messages("prospects", [prospect("p1")]), expect_error=True)
    finally:
        holder.close()
    assert "another run is writing to this Salesforce org" in str(run.error)
    assert "other-host" in str(run.error)
    assert run.stdout == ""  # no STATE
    assert live(sf_emulator, "Lead") == []
    assert run.report["status"] == "failed" and "LeaseBusy" in run.report["error"]


def test_a_dead_holders_lease_expires_and_the_next_run_takes_it(sf_emulator, tmp_path, store_config):
    config = target_config(sf_emulator, tmp_path, lease_wait_seconds=30, **store_config)
    holder = open_store(store_config, tmp_path / "out" / "links.sqlite", ORG)
    holder.lease_try(f"org:{ORG}/pipeline:default", "dead:1:x", {"host": "dead", "pid": 1}, ttl=2)
    holder.close()
    run = run_target(config, messages("prospects", [prospect("p1")]))
    assert len(live(sf_emulator, "Lead")) == 1
    lease = run.report["lease"]
    assert lease["waited_for"] == {"host": "dead", "pid": 1} and 0 < lease["waited_seconds"] < 10
    # released at the end: the next run takes it at once
    run2 = run_target(config, messages("prospects", [prospect("p2")]))
    assert run2.report["lease"]["waited_seconds"] < 1 and "waited_for" not in run2.report["lease"]


def test_another_pipeline_has_its_own_lease(sf_emulator, tmp_path):
    holder = open_store(with_test_store({}), tmp_path / "out" / "links.sqlite", ORG)
    holder.lease_try(f"org:{ORG}/pipeline:default", "busy:1:x", {"host": "busy", "pid": 1}, ttl=60)
    holder.close()
    run = run_target(target_config(sf_emulator, tmp_path, pipeline_id="eu"), messages("prospects", [prospect("p1")]))
    assert run.report["lease"]["name"] == f"org:{ORG}/pipeline:eu" and len(live(sf_emulator, "Lead")) == 1


# -- another org behind the same settings (a refreshed sandbox) ----------------------------------


def test_signing_in_to_another_org_never_reuses_its_ids(sf_emulator, tmp_path, store_config):
    config = target_config(sf_emulator, tmp_path, **store_config)
    tps = [touchpoint("tp_1", "p1", "2026-01-03T00:00:00Z")]
    run_target(config, messages("prospects", [prospect("p1", email=None)]) + messages("touchpoints", tps))
    assert len(live(sf_emulator, "Lead")) == 1 and len(live(sf_emulator, "Task")) == 1

    app, server = _start_salesforce({"org": {"id": "00D5g0000000002EAA"}})  # the refreshed sandbox
    sandbox = SalesforceEmulator(server.base_url, app)
    try:
        config2 = {**config, "login_url": sandbox.base_url}
        tps2 = [*tps, touchpoint("tp_2", "p1", "2026-01-04T00:00:00Z")]
        run = run_target(config2, messages("prospects", [prospect("p1", email=None)]) + messages("touchpoints", tps2))
        assert run.report["org"] == {"org_id": "00D5g0000000002EAA", "previous_org_id": ORG}
        assert any("last run wrote to org " + ORG in n for n in run.report["notes"])
        assert run.rejects == []
        leads = live(sandbox, "Lead")
        assert len(leads) == 1 and {t["WhoId"] for t in live(sandbox, "Task")} == {leads[0]["Id"]}
        assert len(live(sandbox, "Task")) == 2
        run_target(config2, messages("prospects", [prospect("p1", email=None)]) + messages("touchpoints", tps2))
        assert len(live(sandbox, "Lead")) == 1 and len(live(sandbox, "Task")) == 2  # exactly once
        assert len(live(sf_emulator, "Task")) == 1  # the old org untouched
    finally:
        server.stop()
        app.state.emulator.store.close()


# -- refresh-token rotation ----------------------------------------------------------------------

ROTATING_APP = {"client_id": "rot-app", "client_secret": "rot-secret", "issue_refresh_tokens": True,
                "rotate_refresh_tokens": True}


@pytest.fixture
def rotating_sf():
    app, server = _start_salesforce({"apps": [ROTATING_APP]})
    try:
        yield SalesforceEmulator(server.base_url, app)
    finally:
        server.stop()
        app.state.emulator.store.close()


def _refresh_token(sf: SalesforceEmulator) -> str:
    emu = sf.state
    with emu.store.lock:
        (user_id,) = emu.store.conn.execute('SELECT Id FROM "User" WHERE Username = ?', (sf.username,)).fetchone()
    return emu.auth.issue_refresh(user_id, ROTATING_APP["client_id"])


def _refresh_config(sf: SalesforceEmulator, tmp_path, **extra) -> dict:
    return {"login_url": sf.base_url, "client_id": "rot-app", "client_secret": "rot-secret",
            "auth_flow": "refresh_token", "output_dir": str(tmp_path / "out"), "retry_backoff_seconds": 0.01,
            **extra}


def test_rotated_refresh_token_is_stored_in_the_configured_file(rotating_sf, tmp_path):
    token_file = tmp_path / "secrets" / "sf_refresh_token"
    token_file.parent.mkdir()
    token_file.write_text(_refresh_token(rotating_sf) + "\n")
    config = _refresh_config(rotating_sf, tmp_path, refresh_token_file=str(token_file))
    seen = [token_file.read_text().strip()]
    for pid in ("p1", "p2", "p3"):
        run_target(config, messages("prospects", [prospect(pid)]))
        seen.append(token_file.read_text().strip())
    assert len(set(seen)) == 4, "every run got (and stored) a new token"
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    assert len(live(rotating_sf, "Lead")) == 3
    assert seen[-1] not in (tmp_path / "out" / "report.json").read_text()


def test_rotated_refresh_token_is_stored_in_meltanos_env(rotating_sf, tmp_path, monkeypatch):
    old = _refresh_token(rotating_sf)
    env = tmp_path / "project" / ".env"
    env.parent.mkdir()
    env.write_text(f"TAP_ANDSEND_API_KEY='k'\nTARGET_SALESFORCE_ANDSEND_REFRESH_TOKEN='{old}'\nOTHER=1\n")
    monkeypatch.setenv("MELTANO_PROJECT_ROOT", str(env.parent))
    monkeypatch.setenv("TARGET_SALESFORCE_ANDSEND_REFRESH_TOKEN", old)
    run_target(_refresh_config(rotating_sf, tmp_path, refresh_token=old), messages("prospects", [prospect("p1")]))
    lines = env.read_text().splitlines()
    assert lines[0] == "TAP_ANDSEND_API_KEY='k'" and lines[2] == "OTHER=1"
    new = lines[1].split("=", 1)[1].strip("'")
    assert new != old and new.startswith("5Aep")
    monkeypatch.setenv("TARGET_SALESFORCE_ANDSEND_REFRESH_TOKEN", new)  # what Meltano passes next time
    run_target(_refresh_config(rotating_sf, tmp_path, refresh_token=new), messages("prospects", [prospect("p2")]))
    assert len(live(rotating_sf, "Lead")) == 2


def test_rotated_refresh_token_with_nowhere_to_go_fails_before_writing(rotating_sf, tmp_path, monkeypatch):
    monkeypatch.delenv("MELTANO_PROJECT_ROOT", raising=False)
    config = _refresh_config(rotating_sf, tmp_path, refresh_token=_refresh_token(rotating_sf))
    run = run_target(config, messages("prospects", [prospect("p1")]), expect_error=True)
    assert "rotated the refresh token" in str(run.error) and "refresh_token_file" in str(run.error)
    assert live(rotating_sf, "Lead") == [] and run.stdout == ""
    assert json.loads((tmp_path / "out" / "report.json").read_text())["status"] == "failed"
