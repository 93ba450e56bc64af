"""Three tenants through Dagster at once, on the emulators (deploy/andsend_fleet).

One Andsend emulator with a workspace (and key) per tenant, a Salesforce emulator process per
tenant, one PostgreSQL store (a schema per tenant), ``dagster-daemon`` with deploy/dagster.yaml,
every tenant's job launched with ``dagster job launch``. Checked through the emulators' control
planes and the database, never through the fleet's own figures alone.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from deploy.andsend_fleet.local import LocalFleet, Org
from tests.reliability import checks
from tests.reliability.pipeline import Andsend, Salesforce, World

pytestmark = pytest.mark.fleet

NAMES = ["acme", "globex", "initech"]
REPO = Path(__file__).resolve().parents[2]


class WorkspaceAndsend(Andsend):
    """The reliability checks' Andsend client, for one workspace of the shared emulator."""

    workspace: str = ""

    def badges(self) -> list[dict[str, Any]]:
        return self.control("GET", f"badges?workspace={self.workspace}")["data"]


def world(fleet: LocalFleet, name: str) -> World:
    andsend = WorkspaceAndsend(fleet.andsend_url, Path(), None, None, fleet.key(name))  # type: ignore[arg-type]
    andsend.workspace = name
    org = fleet.orgs[name]
    return World(andsend, Salesforce(org.url, None, None, {}), external_ids=True)


@pytest.fixture
def fleet(tmp_path: Path, postgres_server: Any) -> Iterator[LocalFleet]:
    store = postgres_server.create_database("fleet_" + tmp_path.name[-12:].replace("-", "_").lower())
    fleet = LocalFleet(tmp_path, NAMES, prospects=40, store_url=store,
                       # an unreachable org fails after one retry of the step, a second apart
                       retries={"max_retries": 1, "delay_seconds": 1},
                       switches={"max_retries": 1, "batch_size_rows": 50})
    try:
        fleet.start_emulators()
        fleet.write_tenants()
        fleet.start_dagster()
        yield fleet
    finally:
        fleet.stop()


def _written(org: Org) -> int:
    return int(org.control("GET", "stats")["records_written"])


def test_three_tenants_concurrently_each_org_its_own_records_once(fleet: LocalFleet) -> None:
    before = {n: checks.baseline(world(fleet, n)) for n in NAMES}

    # Round 1: every tenant at once.
    first = fleet.round(NAMES)
    assert {n: r["status"] for n, r in first.runs.items()} == dict.fromkeys(NAMES, "SUCCESS"), first.runs
    keys = fleet.workspace_keys()
    for name in NAMES:
        run = first.runs[name]
        census = fleet.census(name, keys)
        assert census["duplicate_people"] == census["duplicate_tasks"] == 0, (name, census)
        assert census["foreign_records"] == 0, (name, census)
        assert census["own_prospects_missing"] == [], (name, census)
        checks.assert_exactly_once(world(fleet, name), fleet.tenant_dir(name) / "output", before[name])
        # The run's metadata in Dagster is what the org saw.
        meta = run["metadata"]
        assert meta["records_written"] == run["org_records_written"] > 0, (name, meta, run)
        assert meta["rejects"] == 0 and meta["ambiguous_matches"] >= 0
        assert run["tags"]["andsend-fleet/outcome"] == "succeeded"
        assert run["tags"]["andsend-fleet/org"] == f"emulator-{name}"

    # Each tenant's store in its own schema of the one database; nothing in public.
    with psycopg.connect(fleet.store_url or "") as conn:
        links = {n: conn.execute(f"SELECT count(*) FROM andsend_{n}.links").fetchone()[0] for n in NAMES}
        public = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
                              " AND table_name = 'links'").fetchone()[0]
    assert public == 0 and all(links[n] >= len(keys[n]["prospects"]) - 5 for n in NAMES), links
    # Each tenant's Meltano state under its own backend location and state id.
    for name in NAMES:
        assert list((fleet.work / "tenants" / "meltano-state" / name).rglob("*.json")), name

    # Round 2: new Andsend activity everywhere; initech's org is down; globex's org has used half its
    # daily allocation, all of this fleet's share (quota_share_percent: 50).
    new = {n: fleet.activity(n, new_purchases=4, new_touchpoints=8) for n in NAMES}
    down = fleet.orgs["initech"]
    written_before_outage = _written(down)
    down.stop()
    fleet.orgs["globex"].control("POST", "limits", {"daily_api_max": 15000, "daily_api_used": 7500})
    second = fleet.round(NAMES)
    assert second.runs["acme"]["status"] == "SUCCESS", second.runs
    failed = second.runs["initech"]
    assert failed["status"] == "FAILURE" and failed["step_retries"] == 1, failed  # transient: retried once
    assert failed["tags"]["andsend-fleet/outcome"] == "transient", failed["tags"]
    spent = second.runs["globex"]
    assert spent["status"] == "FAILURE" and spent["step_retries"] == 0, spent  # no retry
    assert spent["tags"]["andsend-fleet/outcome"] == "quota_exhausted" and "held for" in spent["failure"], spent
    assert spent["org_records_written"] == 0
    keys = fleet.workspace_keys()
    run = second.runs["acme"]
    census = fleet.census("acme", keys)
    assert census["duplicate_people"] == census["duplicate_tasks"] == census["foreign_records"] == 0
    assert census["own_prospects_missing"] == [], census
    checks.assert_exactly_once(world(fleet, "acme"), fleet.tenant_dir("acme") / "output", before["acme"])
    # Only the new work moved: one record per new purchase and per new touchpoint.
    expected = len(new["acme"]["new_purchases"]) + len(new["acme"]["new_touchpoints"])
    assert run["org_records_written"] == run["metadata"]["records_written"] == expected, run

    # The held tenant's schedule skips, naming the hold.
    schedule_says = _schedule_tick(fleet, "globex")
    assert "held for API quota" in schedule_says, schedule_says

    # initech's org is back, globex's allocation too (but its hold stands): initech catches up on
    # exactly what it missed, nothing twice; globex's run ends at once, writing nothing.
    down.start()
    fleet.orgs["globex"].control("POST", "limits", {"daily_api_used": 0})
    assert _written(down) == 0 and written_before_outage > 0
    third = fleet.round(["initech", "globex"])
    held = third.runs["globex"]
    assert held["status"] == "SUCCESS" and held["tags"]["andsend-fleet/outcome"] == "skipped_quota_hold", held
    assert held["org_records_written"] == 0 and held["org_api_requests"] == 0
    run = third.runs["initech"]
    assert run["status"] == "SUCCESS", run
    expected = len(new["initech"]["new_purchases"]) + len(new["initech"]["new_touchpoints"])
    assert run["org_records_written"] == run["metadata"]["records_written"] == expected, run
    census = fleet.census("initech", fleet.workspace_keys())
    assert census["duplicate_people"] == census["duplicate_tasks"] == census["foreign_records"] == 0
    assert census["own_prospects_missing"] == []
    checks.assert_exactly_once(world(fleet, "initech"), fleet.tenant_dir("initech") / "output", before["initech"])

    # One run per org: two runs of initech launched together run one after the other (the tag
    # concurrency limit of deploy/dagster.yaml), and the new touchpoints are written once.
    more = fleet.activity("initech", new_touchpoints=3)["new_touchpoints"]
    fleet.orgs["initech"].control("POST", "stats/reset")
    first_id, second_id = fleet.launch_runs(["initech", "initech"])
    records = _wait_records(fleet, [first_id, second_id])
    assert all(r.dagster_run.status.value == "SUCCESS" for r in records), [r.dagster_run.status for r in records]
    earlier, later = sorted(records, key=lambda r: r.start_time)
    assert earlier.end_time <= later.start_time, "two runs of one org overlapped"
    assert _written(fleet.orgs["initech"]) == len(more) == 3
    census = fleet.census("initech", fleet.workspace_keys())
    assert census["duplicate_tasks"] == 0 and census["own_touchpoints_in_org"] == census["tasks_with_touchpoint_id"]


def _wait_records(fleet: LocalFleet, run_ids: list[str], timeout: float = 600) -> list[Any]:
    instance = fleet.instance()
    deadline = time.monotonic() + timeout
    while True:
        records = [instance.get_run_record_by_id(rid) for rid in run_ids]
        if all(r is not None and r.dagster_run.is_finished for r in records):
            return records
        assert time.monotonic() < deadline, [r and r.dagster_run.status for r in records]
        time.sleep(0.5)


def _schedule_tick(fleet: LocalFleet, name: str) -> str:
    """Evaluate the tenant's schedule as the daemon would (in a process reading this fleet's file)."""
    code = ("from dagster import build_schedule_context\n"
            "from deploy.andsend_fleet.definitions import defs\n"
            f"result = defs.get_schedule_def('sync_{name}_schedule').evaluate_tick(build_schedule_context())\n"
            "print(result.skip_message or [r.tags for r in result.run_requests])\n")
    out = subprocess.run([sys.executable, "-c", code], env=fleet.dagster_env(), cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout
