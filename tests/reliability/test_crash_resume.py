"""Crash and resume: the pipeline SIGKILLed at seeded random points, then resumed.

Each cycle: (new Andsend activity after the first), one run killed at a kill point (the target or
the tap, chosen by watching what was relayed or the emulators' counters), then a rerun from the
last committed STATE that must complete, then the exactly-once invariants (checks.py) on the
emulators' data. Two orgs: one with the external-id fields (lead mode), one without them
(contact_account mode, matched by e-mail, Accounts by domain/name).

A few Andsend records are broken on purpose before the first run, so the rejects file has
something to account for: a prospect whose e-mail the target refuses before any call, one whose
e-mail the org's describe says is not an e-mail, and a touchpoint without a valid execution time.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulators.andsend.generator import GeneratorConfig
from tests.reliability import checks
from tests.reliability.pipeline import (
    KillPoint,
    Pipeline,
    Relay,
    World,
    andsend_path_at_least,
    default_tap_config,
    default_target_config,
    records_relayed_at_least,
    sf_kinds_at_least,
    sf_rows_at_least,
    start_world,
)

pytestmark = pytest.mark.e2e  # runs the CLIs as subprocesses

SIZES = GeneratorConfig(seed=5, prospects=150, users=8, campaigns=3, searches=3, results_per_search=15)
ACTIVITY = {"new_purchases": 10, "edited_prospects": 4, "new_touchpoints": 24, "new_search_results": 12}


@dataclass
class Work:
    """How much of each kind a run has to do (to pick reachable kill points)."""

    prospects: int
    touchpoints: int
    results: int
    first: bool  # the first (full) sync, else an incremental run after ACTIVITY
    object_mode: str


# A factory returns None where its kill point may not be reachable in this run.
KillFactory = Callable[[World, random.Random, Work], "KillPoint | None"]


def _rows(obj: str) -> KillFactory:
    """After K new rows of a person object (the mode's) or of Task."""

    def make(world: World, rng: random.Random, work: Work) -> KillPoint | None:
        if obj == "Task":
            k = rng.randint(1, max(1, work.touchpoints // 2))
        else:
            created = {"lead": "Lead", "contact_account": "Contact"}[work.object_mode]
            sobject = "Account" if obj == "Account" and work.object_mode == "contact_account" else created
            if sobject == "Account" and not work.first:
                return None  # new purchases need not bring new companies
            # Incremental runs: most new purchases are new people, but some match existing ones.
            k = rng.randint(1, max(1, work.prospects // 3)) if work.first else rng.randint(1, 2)
            base = len(world.salesforce.records(sobject, live=False))
            return KillPoint(
                f"target after {k} new {sobject} rows", "target", sf_rows_at_least(world, sobject, base + k)
            )
        base = len(world.salesforce.records("Task", live=False))
        return KillPoint(
            f"target after {k} new Task rows", "target", sf_rows_at_least(world, "Task", base + k)
        )

    return make


def _calls(kinds: tuple[str, ...], most: int, label: str, *, first_only: bool = False) -> KillFactory:
    def make(world: World, rng: random.Random, work: Work) -> KillPoint | None:
        if first_only and not work.first:
            return None
        k = rng.randint(1, most)
        return KillPoint(f"target after {k} {label} calls", "target", sf_kinds_at_least(world, kinds, k))

    return make


def _badge_put(world: World, rng: random.Random, work: Work) -> KillPoint:
    return KillPoint(
        "target after its first badge write-back",
        "target",
        andsend_path_at_least(world, "/v1/search-results/badges", 1),
    )


def _relayed(stream: str, victim: str) -> KillFactory:
    def make(world: World, rng: random.Random, work: Work) -> KillPoint:
        total = {
            "prospects": work.prospects,
            "touchpoints": work.touchpoints,
            "search_results": work.results,
        }[stream]
        n = rng.randint(1, max(1, total - 1))
        return KillPoint(f"{victim} after {n} {stream} relayed", victim, records_relayed_at_least(stream, n))

    return make


def _after_input_then_tasks(world: World, rng: random.Random, work: Work) -> KillPoint:
    """The tap has finished (all input relayed) and the target has written its first Task."""
    base = len(world.salesforce.records("Task", live=False))
    tasks = sf_rows_at_least(world, "Task", base + 1)

    def condition(relay: Relay) -> bool:
        return relay.records.get("touchpoints", 0) >= work.touchpoints and tasks(relay)

    return KillPoint("target after end of input and its first Task", "target", condition)


# Rotation of kill points: prospect work, touchpoint work, badge work, both processes.
KILLS: list[KillFactory] = [
    _rows("person"),  # mid prospect creates (Leads or Contacts)
    _relayed("touchpoints", "tap"),  # tap dies mid touchpoints
    _rows("Task"),  # mid Task writes
    _badge_put,  # after a badge PUT
    _relayed("prospects", "tap"),  # tap dies mid prospects
    _calls(("query",), 3, "query"),  # during matching
    _relayed("touchpoints", "target"),  # target dies while reading touchpoints
    _calls(("collections_update",), 1, "update", first_only=True),  # mid prospect updates
    _relayed("search_results", "tap"),  # tap dies mid search results
    _after_input_then_tasks,  # end of input, Tasks being written
    _rows("Account"),  # mid Account creates (lead mode: Leads)
    _relayed("prospects", "target"),  # target dies while reading prospects
]


def _break_some_records(world: World) -> dict[str, str]:
    """Broken records (by Andsend id) and the error code each must be rejected with."""
    a = world.andsend
    purchased = sorted(a.list("prospects", purchased="true"), key=lambda p: p["id"])
    with_email = [p for p in purchased if p.get("email")]
    a.edit("prospects", with_email[0]["id"], email="not-an-address")  # refused by the target itself
    a.edit("prospects", with_email[1]["id"], email="ann..lee@acme.test")  # refused by Salesforce
    tp = sorted(a.list("touchpoints"), key=lambda t: t["id"])[0]
    a.edit("touchpoints", tp["id"], executed_at="yesterday")  # not a time: rejected
    return {
        with_email[0]["id"]: "INVALID_EMAIL",
        with_email[1]["id"]: "INVALID_VALUE",
        tp["id"]: "INVALID_TOUCHPOINT",
    }


def _work(world: World, pipeline: Pipeline, *, first: bool, object_mode: str) -> Work:
    """What the next run will read, from the Andsend API and the state (updated_since = bookmark)."""
    bookmarks = (pipeline.state or {}).get("bookmarks", {})

    def count(resource: str, stream: str, **params: str) -> int:
        since = (bookmarks.get(stream) or {}).get("replication_key_value")
        extra = {"updated_since": since} if since else {}
        return len(world.andsend.list(resource, **params, **extra))

    # Touchpoints that will become new Tasks: the state is held back to the oldest parked
    # touchpoint, so the tap also re-sends ones already written (state_holdback.py).
    since = (bookmarks.get("touchpoints") or {}).get("replication_key_value")
    done = {checks.task_key(t, world.external_ids) for t in world.salesforce.records("Task")}
    new_tps = [tp for tp in world.andsend.list("touchpoints", **({"updated_since": since} if since else {}))
               if tp["id"] not in done]
    return Work(
        count("prospects", "prospects", purchased="true"),
        len(new_tps),
        count("search-results", "search_results"),
        first,
        object_mode,
    )


def crash_cycles(
    tmp_path: Path, *, external_ids: bool, object_mode: str, cycles: int, seed: int, template_dir: Path
) -> list[str]:
    rng = random.Random(seed)
    world = start_world(tmp_path, SIZES, external_ids=external_ids, template_dir=template_dir)
    fired: list[str] = []
    try:
        broken = _break_some_records(world)
        before = checks.baseline(world)
        pipeline = Pipeline(
            tmp_path / "work",
            default_tap_config(world),
            default_target_config(world, tmp_path / "out", object_mode=object_mode),
        )
        offset = rng.randrange(len(KILLS))
        step = 0
        for cycle in range(cycles):
            if cycle:
                world.andsend.activity(**ACTIVITY)
            world.salesforce.control("POST", "stats/reset")
            world.andsend.control("POST", "stats/reset")
            work = _work(world, pipeline, first=cycle == 0, object_mode=object_mode)
            kill = None
            while kill is None:  # the next kill point in the rotation that this run can reach
                kill = KILLS[(offset + step) % len(KILLS)](world, rng, work)
                step += 1
            # A little latency on both APIs keeps the processes alive between their steps, so a
            # kill point late in a short incremental run is still met by a running process.
            world.salesforce.faults(latency_ms=20)
            world.andsend.faults(latency_ms=50)
            killed = pipeline.run(kill)
            world.salesforce.faults()
            world.andsend.faults()
            assert kill.fired, (
                f"cycle {cycle}: kill point '{kill.name}' was never reached\n{killed.describe()}"
            )
            victim_rc = killed.tap_rc if kill.victim == "tap" else killed.target_rc
            assert victim_rc == -9, killed.describe()
            fired.append(kill.name)
            rerun = pipeline.run()
            assert rerun.ok, f"cycle {cycle}: the rerun after '{kill.name}' failed\n{rerun.describe()}"
            assert rerun.states, "a completed run commits its state"
            checks.assert_exactly_once(world, pipeline.out_dir, before)
        # The broken records are accounted for: rejected with their reasons.
        rejects = checks.read_jsonl(pipeline.out_dir / "rejects.jsonl")
        codes = {(r["key"], r["error_code"]) for r in rejects}
        assert set(broken.items()) <= codes, codes
    finally:
        world.stop()
    return fired


@pytest.mark.parametrize(
    ("external_ids", "object_mode"),
    [(True, "lead"), (False, "contact_account")],
    ids=["external-ids-lead", "email-contact-account"],
)
def test_killed_runs_resume_with_nothing_lost_or_duplicated(
    tmp_path, template_dir, external_ids, object_mode
):
    fired = crash_cycles(
        tmp_path,
        external_ids=external_ids,
        object_mode=object_mode,
        cycles=6,
        seed=1 if external_ids else 2,
        template_dir=template_dir,
    )
    assert len(set(fired)) == 6, fired


@pytest.mark.slow
@pytest.mark.parametrize(
    ("external_ids", "object_mode"),
    [(True, "lead"), (False, "contact_account"), (True, "contact_account"), (False, "lead")],
)
@pytest.mark.parametrize("seed", [11, 12])
def test_crash_soak(tmp_path, template_dir, external_ids, object_mode, seed):
    """Every kill point in the rotation, twice over the seeds, in all four org/mode combinations."""
    fired = crash_cycles(
        tmp_path,
        external_ids=external_ids,
        object_mode=object_mode,
        cycles=len(KILLS),
        seed=seed,
        template_dir=template_dir,
    )
    assert len(fired) == len(KILLS)


@pytest.mark.parametrize("external_ids", [True, False], ids=["external-ids", "email-only"])
def test_prospect_bought_without_email_that_gets_one_later_stays_one_person(
    tmp_path, template_dir, external_ids
):
    """Andsend finds an address for someone bought without one; in an org without the external-id
    field only the link store knows the record created for them, and must still be used."""
    world = start_world(tmp_path, SIZES, external_ids=external_ids, template_dir=template_dir)
    try:
        before = checks.baseline(world)
        pipeline = Pipeline(
            tmp_path / "work",
            default_tap_config(world),
            default_target_config(world, tmp_path / "out", object_mode="lead"),
        )
        assert pipeline.run().ok
        placed = world.salesforce.fixture["_andsend"]["prospects"]
        no_email = sorted(
            p["id"]
            for p in world.andsend.list("prospects", purchased="true")
            if not p.get("email") and p["id"] not in placed
        )
        assert no_email, "the data set has prospects bought without an e-mail"
        for i, pid in enumerate(no_email):
            world.andsend.edit("prospects", pid, email=f"found.later{i}@corpus-late.test")
        run = pipeline.run()
        assert run.ok, run.describe()
        checks.assert_exactly_once(world, pipeline.out_dir, before)
        leads = [
            r
            for r in world.salesforce.records("Lead")
            if (r.get("Email") or "").endswith("@corpus-late.test")
        ]
        assert len(leads) == len(no_email), "each got its e-mail on the record created for it, no new record"
    finally:
        world.stop()


def test_create_interrupted_before_its_link_was_stored_is_adopted_not_repeated(tmp_path, template_dir):
    """The one crash point a signal cannot reliably hit: Salesforce created the Lead of a prospect
    without e-mail (org without external ids) and the target died before it stored the link.
    That state is built here from what the target leaves behind (its create intent in the link
    store, the record in the org); the next run must adopt the record, not create a second."""
    from target_salesforce_andsend.links import open_store
    from tests.postgres_server import with_test_store

    world = start_world(tmp_path, SIZES, external_ids=False, template_dir=template_dir)
    try:
        pipeline = Pipeline(
            tmp_path / "work",
            default_tap_config(world),
            default_target_config(world, tmp_path / "out", object_mode="lead"),
        )
        placed = world.salesforce.fixture["_andsend"]["prospects"]
        p = next(
            p
            for p in sorted(world.andsend.list("prospects", purchased="true"), key=lambda p: p["id"])
            if not p.get("email") and p["id"] not in placed
        )
        fields = {"LastName": p["last_name"], "FirstName": p["first_name"], "Company": p["company_name"]}
        world.salesforce.control("POST", "seed", {"records": {"Lead": [{**fields, "LeadSource": "Andsend"}]}})
        (tmp_path / "out").mkdir()
        store = open_store(with_test_store({}), tmp_path / "out" / "links.sqlite")  # the store the target uses
        store.pending_put("create_intent", {p["id"]: {"object": "Lead", **fields}})
        store.close()
        before = checks.baseline(world)
        run = pipeline.run()
        assert run.ok, run.describe()
        same = [
            r
            for r in world.salesforce.records("Lead")
            if r["LastName"] == p["last_name"] and r.get("FirstName") == p["first_name"]
        ]
        assert len(same) == 1, f"{len(same)} Leads for {p['id']}"
        checks.assert_exactly_once(world, pipeline.out_dir, before)
    finally:
        world.stop()
