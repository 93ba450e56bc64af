"""Faults injected at the emulators, separately and together: the end state must be the clean run's.

One clean run on a fresh pair of emulators gives the reference end state (checks.end_state: every
Lead, Contact, Account and Task with ids replaced by natural keys, and every badge, in Andsend
and in the badges file) and the rejects. Each scenario then runs the same data on a fresh pair
with faults switched on (Salesforce 503s, per-record UNABLE_TO_LOCK_ROW, token revocation,
latency spikes, Andsend 429s with Retry-After, the daily quota running out mid-run) and must end
in the same state, with the exactly-once invariants holding. A quota stop must be clean: non-zero
exit, a message naming the limit, no STATE; then the quota is reset through the control plane and
the next run completes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from emulators.andsend.generator import GeneratorConfig
from tests.reliability import checks
from tests.reliability.pipeline import Pipeline, World, default_tap_config, default_target_config, start_world

pytestmark = pytest.mark.e2e  # runs the CLIs as subprocesses

SIZES = GeneratorConfig(seed=9, prospects=120, users=8, campaigns=3, searches=3, results_per_search=15)


@dataclass
class Outcome:
    state: set[tuple]
    rejects: set[tuple[str, str]]
    runs: list[Any] = field(default_factory=list)
    sf_stats: dict[str, Any] = field(default_factory=dict)
    andsend_stats: dict[str, Any] = field(default_factory=dict)


def _rejects(out_dir: Path) -> set[tuple[str, str]]:
    return {(r["key"], r["error_code"]) for r in checks.read_jsonl(out_dir / "rejects.jsonl")}


def _world(tmp_path: Path, template_dir: Path) -> tuple[World, Pipeline]:
    world = start_world(tmp_path, SIZES, external_ids=True, template_dir=template_dir)
    pipeline = Pipeline(
        tmp_path / "work",
        default_tap_config(world),
        default_target_config(world, tmp_path / "out", object_mode="contact_account"),
    )
    pipeline.keep_input = True  # the relayed Singer input stays next to the logs, for a post-mortem
    return world, pipeline


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, template_dir: Path) -> Outcome:
    tmp = tmp_path_factory.mktemp("clean")
    world, pipeline = _world(tmp, template_dir)
    try:
        before = checks.baseline(world)
        run = pipeline.run()
        assert run.ok, run.describe()
        checks.assert_exactly_once(world, pipeline.out_dir, before)
        return Outcome(checks.end_state(world, pipeline.out_dir), _rejects(pipeline.out_dir), [run])
    finally:
        world.stop()


def run_faulted(
    tmp_path: Path,
    template_dir: Path,
    *,
    salesforce: dict[str, Any] | None = None,
    andsend: dict[str, Any] | None = None,
    quota_after: int | None = None,
) -> Outcome:
    world, pipeline = _world(tmp_path, template_dir)
    try:
        before = checks.baseline(world)
        if andsend:
            world.andsend.faults(**andsend)
        sf_faults = dict(salesforce or {})
        if quota_after is not None:
            sf_faults["limit_exceeded_after"] = quota_after
        if sf_faults:
            world.salesforce.faults(random_seed=3, **sf_faults)
        runs = [pipeline.run()]
        if quota_after is not None:
            stopped = runs[0]
            assert stopped.target_rc not in (0, None), (
                f"the quota stop must fail the run\n{stopped.describe()}"
            )
            assert stopped.states == [], "no STATE may be committed by a run the quota stopped"
            # One clear ERROR line: what happened, the usage, and that the next run resumes.
            errors = [line for line in stopped.target_stderr.splitlines() if "| ERROR" in line]
            assert any(
                "REQUEST_LIMIT_EXCEEDED" in e
                and "daily API limit is exhausted" in e
                and "next run resumes" in e
                for e in errors
            ), stopped.describe()
            report = stopped.report()
            assert report["status"] == "failed" and "REQUEST_LIMIT_EXCEEDED" in report["error"], report[
                "error"
            ]
            # The quota resets (a new day): limits back to zero usage, the limit fault cleared.
            sf_faults.pop("limit_exceeded_after")
            world.salesforce.faults()
            if sf_faults:
                world.salesforce.faults(random_seed=4, **sf_faults)
            world.salesforce.control("PUT", "limits", {"daily_api_used": 0})
            runs.append(pipeline.run())
        assert runs[-1].ok, runs[-1].describe()
        outcome = Outcome(
            checks.end_state(world, pipeline.out_dir),
            _rejects(pipeline.out_dir),
            runs,
            world.salesforce.stats(),
            world.andsend.stats(),
        )
        world.salesforce.faults()
        world.andsend.faults()
        checks.assert_exactly_once(world, pipeline.out_dir, before)
        return outcome
    finally:
        world.stop()


def assert_same(clean: Outcome, faulted: Outcome) -> None:
    assert faulted.state == clean.state, checks.diff(clean.state, faulted.state)
    assert faulted.rejects == clean.rejects


SCENARIOS: dict[str, dict[str, Any]] = {
    "salesforce-503": {"salesforce": {"error_503_rate": 0.1}},
    "unable-to-lock-row": {"salesforce": {"lock_row_rate": 0.1}},
    "token-revocation": {"salesforce": {"revoke_tokens_every": 5}},  # a run makes few calls now (Composite)
    "latency-spikes": {
        "salesforce": {"latency_ms": 5, "latency_jitter_ms": 250},
        "andsend": {"latency_ms": 5, "latency_jitter_ms": 150, "random_seed": 5},
    },
    "andsend-429": {"andsend": {"rate_429": 0.3, "retry_after_seconds": 1, "random_seed": 6}},
    "quota-runs-out": {"quota_after": None},  # half the clean run's calls: the quota runs out mid-run
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_fault_alone_ends_like_a_clean_run(
    name: str, clean: Outcome, tmp_path: Path, template_dir: Path
) -> None:
    params = dict(SCENARIOS[name])
    if name == "quota-runs-out":
        # The clean run's calls change whenever the target gets more frugal (or reads more back at
        # its end): half of them stops this run in the middle of its writes, before any STATE.
        params["quota_after"] = max(5, clean.runs[0].report()["api_calls_total"] // 2)
    faulted = run_faulted(tmp_path, template_dir, **params)
    assert_same(clean, faulted)
    by_kind: Counter[str] = Counter(faulted.sf_stats.get("by_kind", {}))
    if name == "token-revocation":
        assert by_kind["oauth"] >= 3, "tokens were revoked and renewed several times"
    if name == "andsend-429":
        assert faulted.andsend_stats["by_status"].get("429", 0) >= 2, faulted.andsend_stats
    if name == "quota-runs-out":
        assert len(faulted.runs) == 2


def test_all_faults_together_end_like_a_clean_run(clean: Outcome, tmp_path: Path, template_dir: Path) -> None:
    faulted = run_faulted(
        tmp_path,
        template_dir,
        salesforce={
            "error_503_rate": 0.1,
            "lock_row_rate": 0.1,
            "revoke_tokens_every": 15,
            "latency_ms": 2,
            "latency_jitter_ms": 150,
        },
        andsend={"rate_429": 0.15, "retry_after_seconds": 1, "latency_jitter_ms": 80, "random_seed": 8},
        quota_after=30,
    )
    assert_same(clean, faulted)
