"""Safe wherever it is scheduled: overlapping runs, killed lease holders, ephemeral runners.

Whole pipelines (tap and target as processes) against the emulators, checked on the emulators'
data (checks.py): two runs at once with 80-160 ms of Salesforce latency so writes are in flight,
sharing a store (the lease makes the second wait, or exit clearly) or not sharing one (separate
runners: the external-id upserts keep the org free of duplicates); a lease holder SIGKILLed; and
runners that start clean (output_dir deleted before every run) with the SQLite and the PostgreSQL
store, with touchpoints parked for their person and a kill mid-run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from emulators.andsend.generator import GeneratorConfig
from tests.reliability import checks
from tests.reliability.pipeline import (
    KillPoint,
    Pipeline,
    World,
    default_tap_config,
    default_target_config,
    run_overlapping,
    sf_rows_at_least,
    start_world,
)

pytestmark = pytest.mark.e2e  # runs the CLIs as subprocesses

SIZES = GeneratorConfig(seed=11, prospects=120, users=6, campaigns=3, searches=2, results_per_search=10)
ACTIVITY = {"new_purchases": 8, "edited_prospects": 3, "new_touchpoints": 20, "new_search_results": 6}
LATENCY = {"latency_ms": 80, "latency_jitter_ms": 80}
NO_DUPLICATES = {"people_per_email": 0, "people_per_prospect_id": 0, "accounts_per_name": 0,
                 "tasks_per_touchpoint": 0}


def _pipelines(world: World, tmp_path: Path, out_dirs: list[str], **target: object) -> list[Pipeline]:
    return [Pipeline(tmp_path / f"work-{i}", default_tap_config(world),
                     default_target_config(world, tmp_path / out, **target))
            for i, out in enumerate(out_dirs)]


def _touchpoints_before_their_prospect(world: World, n: int) -> list[str]:
    """Point n touchpoints at prospects nobody bought yet: they arrive before their person (parked
    with person_not_in_salesforce) until ``_purchase`` buys the prospects. Returns those ids."""
    available = sorted(p["id"] for p in world.andsend.list("prospects") if not p.get("purchased"))[:n]
    touchpoints = sorted(world.andsend.list("touchpoints"), key=lambda t: t["id"])[:n]
    for pid, tp in zip(available, touchpoints, strict=True):
        world.andsend.edit("touchpoints", tp["id"], prospect_id=pid)
    return available


def _purchase(world: World, prospect_ids: list[str]) -> None:
    buyer = sorted(u["id"] for u in world.andsend.list("users"))[0]
    for pid in prospect_ids:
        world.andsend.edit("prospects", pid, status="purchased", purchased=True, purchased_by_user_id=buyer,
                           purchased_at="2025-12-20T00:00:00.000Z")


def _rejects(out_dir: Path) -> list[dict]:
    return checks.read_jsonl(out_dir / "rejects.jsonl")


@pytest.mark.parametrize(
    ("external_ids", "object_mode", "store"),
    [(True, "contact_account", "sqlite"), (False, "lead", "postgres")],
    ids=["external-ids-sqlite", "no-external-ids-postgres"],
)
def test_two_overlapping_runs_sharing_a_store_write_everything_once(
        tmp_path, template_dir, request, external_ids, object_mode, store):
    """The second run starts 0.3 s after the first, waits for its lease, then finds everything
    written: 0 duplicates, no false rejects, both exit 0."""
    extra: dict[str, object] = {"object_mode": object_mode}
    if store == "postgres":
        extra["state_store_url"] = request.getfixturevalue("postgres_url")
    world = start_world(tmp_path, SIZES, external_ids=external_ids, template_dir=template_dir)
    try:
        census = checks.org_census(world)
        before = checks.baseline(world)
        # postgres: two runners with their own output_dir, one store; sqlite: one shared output_dir
        outs = ["out-a", "out-b"] if store == "postgres" else ["out", "out"]
        _with_latency(world)
        first, second = run_overlapping(_pipelines(world, tmp_path, outs, **extra), delay=0.3)
        world.salesforce.faults()
        assert first.ok and second.ok, first.describe() + second.describe()
        # The one that signed in later (not always the later start) waited for the lease.
        assert any("is held by another run" in r.target_stderr for r in (first, second))
        assert max(r.report()["lease"]["waited_seconds"] for r in (first, second)) > 0
        assert checks.duplicates(world, census) == NO_DUPLICATES
        for out in {tmp_path / o for o in outs}:
            assert not [r for r in _rejects(out) if r["error_code"] == "DUPLICATE_VALUE"]
        checks.assert_exactly_once(world, second.out_dir, before)
    finally:
        world.stop()


def _with_latency(world: World) -> None:
    world.salesforce.faults(**LATENCY)


def test_two_runners_without_a_shared_store_rely_on_the_external_ids(tmp_path, template_dir):
    """Separate runners, each with its own SQLite store (no common lease): people are upserted on
    Andsend_Prospect_Id__c, Accounts on Andsend_Account_Key__c, Tasks on Andsend_Touchpoint_Id__c,
    so writes racing in flight still leave one record each and no DUPLICATE_VALUE rejects."""
    world = start_world(tmp_path, SIZES, external_ids=True, template_dir=template_dir)
    try:
        census = checks.org_census(world)
        before = checks.baseline(world)
        _with_latency(world)
        first, second = run_overlapping(
            # state_store_url "": each its own SQLite store, also when the suite runs on PostgreSQL
            _pipelines(world, tmp_path, ["out-a", "out-b"], object_mode="contact_account", state_store_url=""),
            delay=0.3)
        world.salesforce.faults()
        assert first.ok and second.ok, first.describe() + second.describe()
        assert "held by another run" not in second.target_stderr  # they really ran at once
        assert checks.duplicates(world, census) == NO_DUPLICATES
        assert _rejects(tmp_path / "out-a") == [] and _rejects(tmp_path / "out-b") == []
        checks.assert_exactly_once(world, first.out_dir, before)
        accounts = world.salesforce.records("Account")
        keys = [a["Andsend_Account_Key__c"] for a in accounts if a.get("Andsend_Account_Key__c")]
        assert keys and len(keys) == len(set(keys))
    finally:
        world.stop()


def test_the_losing_run_exits_clearly_and_writes_nothing(tmp_path, template_dir):
    world = start_world(tmp_path, SIZES, external_ids=False, template_dir=template_dir)
    try:
        before = checks.baseline(world)
        _with_latency(world)
        pipelines = _pipelines(world, tmp_path, ["out", "out"], lease_wait_seconds=1)
        results = run_overlapping(pipelines, delay=0.3)
        # Whichever signed in first won (the later start may overtake the first while it starts).
        assert sorted(r.target_rc for r in results) == [0, 1], "".join(r.describe() for r in results)
        (loser, second) = next((p, r) for p, r in zip(pipelines, results, strict=True) if r.target_rc == 1)
        assert second.stdout == "", second.describe()
        assert "another run is writing to this Salesforce org" in second.target_stderr
        assert "Nothing was written" in second.target_stderr
        world.salesforce.faults()
        again = loser.run()  # the next scheduled run of the loser: finds everything written
        assert again.ok, again.describe()
        checks.assert_exactly_once(world, again.out_dir, before)
    finally:
        world.stop()


def test_a_lease_holder_killed_with_sigkill_frees_the_org_after_its_ttl(tmp_path, template_dir):
    world = start_world(tmp_path, SIZES, external_ids=False, template_dir=template_dir)
    try:
        before = checks.baseline(world)
        # A TTL longer than the rerun takes to start and sign in, so it really meets the dead lease.
        (pipeline,) = _pipelines(world, tmp_path, ["out"], lease_ttl_seconds=15)
        base = len(world.salesforce.records("Lead", live=False))
        kill = KillPoint("target after 5 new Leads", "target", sf_rows_at_least(world, "Lead", base + 5))
        killed = pipeline.run(kill)
        assert kill.fired and killed.target_rc == -9, killed.describe()
        rerun = pipeline.run()
        assert rerun.ok, rerun.describe()
        lease = rerun.report()["lease"]
        assert lease["waited_for"]["pid"] and lease["waited_seconds"] > 0.5, lease
        assert lease["waited_seconds"] < 16, lease  # expiry by heartbeat age, not lease_wait_seconds
        checks.assert_exactly_once(world, rerun.out_dir, before)
    finally:
        world.stop()


@pytest.mark.parametrize(
    ("external_ids", "store"),
    [(True, "sqlite"), (False, "postgres"), (True, "postgres")],
    ids=["external-ids-sqlite", "no-external-ids-postgres", "external-ids-postgres"],
)
def test_runners_that_start_clean_lose_and_double_nothing(tmp_path, template_dir, request, external_ids, store):
    """output_dir deleted before every run (only the Singer state carried, as a fresh container per
    run): the initial sync, then incremental runs with new activity, one of them killed mid-run.
    Touchpoints parked for their person are kept by the held-back state (and by the PostgreSQL
    store); merged prospects' Andsend ids are on their person in Salesforce."""
    extra: dict[str, object] = {"object_mode": "lead"}
    if store == "postgres":
        extra["state_store_url"] = request.getfixturevalue("postgres_url")
    world = start_world(tmp_path, SIZES, external_ids=external_ids, template_dir=template_dir)
    archive: list[str] = []  # rejects of every run, as a user would ship them off the runner
    try:
        census = checks.org_census(world)
        before = checks.baseline(world)
        (pipeline,) = _pipelines(world, tmp_path, ["out"], **extra)
        waiting = _touchpoints_before_their_prospect(world, 6)
        held_back = 0

        def fresh_run(kill: KillPoint | None = None):
            if pipeline.out_dir.exists():
                rejects = pipeline.out_dir / "rejects.jsonl"
                if rejects.exists():
                    archive.extend(rejects.read_text(encoding="utf-8").splitlines())
                shutil.rmtree(pipeline.out_dir)
            return pipeline.run(kill)

        first = fresh_run()
        assert first.ok, first.describe()
        held_back += bool(first.report().get("state", {}).get("held_back"))
        for cycle in range(4):
            world.andsend.activity(**ACTIVITY)
            if cycle in (0, 3):  # half of the waiting prospects bought now, half after the killed run
                _purchase(world, waiting[:3] if cycle == 0 else waiting[3:])
            if cycle == 2:
                world.salesforce.faults(latency_ms=20)
                base = len(world.salesforce.records("Task", live=False))
                kill = KillPoint("target after 3 new Tasks", "target", sf_rows_at_least(world, "Task", base + 3))
                killed = fresh_run(kill)
                world.salesforce.faults()
                assert kill.fired and killed.target_rc == -9, killed.describe()
            run = fresh_run()
            assert run.ok, f"cycle {cycle}\n{run.describe()}"
            held_back += bool(run.report().get("state", {}).get("held_back"))
        archive.extend((pipeline.out_dir / "rejects.jsonl").read_text(encoding="utf-8").splitlines()
                       if (pipeline.out_dir / "rejects.jsonl").exists() else [])
        (pipeline.out_dir / "rejects.jsonl").write_text("\n".join(archive) + ("\n" if archive else ""))
        assert held_back >= 2, "runs parked touchpoints and held the state back (the case under test)"
        tasks_on = {checks.task_key(t, world.external_ids) for t in world.salesforce.records("Task")}
        parked_then = [tp["id"] for tp in world.andsend.list("touchpoints") if tp["prospect_id"] in waiting]
        assert parked_then and set(parked_then) <= tasks_on, "every touchpoint that waited has its Task"
        assert checks.duplicates(world, census) == NO_DUPLICATES
        checks.assert_exactly_once(world, pipeline.out_dir, before, badges_file=False)
        last = run.report()
        assert not last.get("skips", {}).get("touchpoints", {}).get("person_not_in_salesforce") or \
            last["activities"]["pending_touchpoints"] > 0
    finally:
        world.stop()
