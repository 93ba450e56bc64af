"""Three tenants through Dagster at once, on the emulators (deploy/andsend_fleet).

One Andsend emulator with a workspace (and key) per tenant, a Salesforce emulator process per
tenant, one PostgreSQL store (a schema per tenant), ``dagster-daemon`` with deploy/dagster.yaml,
every tenant's job launched with ``dagster job launch``. Checked through the emulators' control
planes and the database, never through the fleet's own figures alone.
"""

from __future__ import annotations

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

    # Round 2: new Andsend activity everywhere, and initech's org is down.
    new = {n: fleet.activity(n, new_purchases=4, new_touchpoints=8) for n in NAMES}
    down = fleet.orgs["initech"]
    written_before_outage = _written(down)
    down.stop()
    second = fleet.round(NAMES)
    assert second.runs["acme"]["status"] == second.runs["globex"]["status"] == "SUCCESS", second.runs
    failed = second.runs["initech"]
    assert failed["status"] == "FAILURE" and failed["step_retries"] == 1, failed  # transient: retried once
    assert failed["tags"]["andsend-fleet/outcome"] == "transient", failed["tags"]
    keys = fleet.workspace_keys()
    for name in ("acme", "globex"):
        run = second.runs[name]
        census = fleet.census(name, keys)
        assert census["duplicate_people"] == census["duplicate_tasks"] == census["foreign_records"] == 0
        assert census["own_prospects_missing"] == [], (name, census)
        checks.assert_exactly_once(world(fleet, name), fleet.tenant_dir(name) / "output", before[name])
        # Only the new work moved: one record per new purchase and per new touchpoint.
        expected = len(new[name]["new_purchases"]) + len(new[name]["new_touchpoints"])
        assert run["org_records_written"] == run["metadata"]["records_written"] == expected, (name, run)

    # The org is back: initech catches up on exactly what it missed, nothing twice.
    down.start()
    assert _written(down) == 0 and written_before_outage > 0
    third = fleet.round(["initech"])
    run = third.runs["initech"]
    assert run["status"] == "SUCCESS", run
    expected = len(new["initech"]["new_purchases"]) + len(new["initech"]["new_touchpoints"])
    assert run["org_records_written"] == run["metadata"]["records_written"] == expected, run
    census = fleet.census("initech", fleet.workspace_keys())
    assert census["duplicate_people"] == census["duplicate_tasks"] == census["foreign_records"] == 0
    assert census["own_prospects_missing"] == []
    checks.assert_exactly_once(world(fleet, "initech"), fleet.tenant_dir("initech") / "output", before["initech"])
