"""Two overlapping pipelines on the emulators, and the duplicates they leave.

    python benchmarks/overlap.py [--prospects 300] [--latency-ms 80] [--jitter-ms 80] [--delay 0.3]
        [--scenarios shared,separate,postgres,loser] [--orgs ext,noext] [--mode lead|contact_account]
        [--out-dir benchmarks/results]

Each scenario, in an org with and one without the external-id fields (a fresh pair of emulators
each time; Salesforce latency `--latency-ms` + up to `--jitter-ms`, so writes are in flight), starts
two whole pipelines (`tap-andsend | target-salesforce-andsend`, as processes) `--delay` seconds
apart, as an hourly schedule whose next run starts while the last one still writes:

* `shared`: both runners share one output_dir (the SQLite store and its run lease);
* `separate`: each runner has its own output_dir (no common store: nothing can make them wait;
  only the external-id upserts keep the org clean);
* `postgres`: each runner its own output_dir, both on one PostgreSQL store (`state_store_url`;
  a throwaway server from Debian's binaries, as the tests use);
* `loser`: shared store with `lease_wait_seconds: 1`: the second run exits non-zero, writing nothing.

It prints, per scenario and org: both exit codes, the seconds a run waited for the lease,
duplicates by kind (people per e-mail and per Andsend id, Accounts per name, Tasks per touchpoint)
and the rejects of both runs by error code; writes `<out-dir>/overlap-<date>.json` and `.md`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emulators.andsend.generator import GeneratorConfig  # noqa: E402
from tests.reliability import checks  # noqa: E402
from tests.reliability.pipeline import (  # noqa: E402
    Pipeline,
    default_tap_config,
    default_target_config,
    run_overlapping,
    start_world,
)


def scenario(name: str, external_ids: bool, args: argparse.Namespace, pg: object | None) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"overlap-{name}-"))
    config = GeneratorConfig(seed=args.seed, prospects=args.prospects, users=8, campaigns=4, searches=3,
                             results_per_search=20)
    world = start_world(work, config, external_ids=external_ids)
    try:
        census = checks.org_census(world)
        extra: dict[str, object] = {"object_mode": args.mode, "batch_size_rows": 100}
        outs = ["out", "out"] if name in ("shared", "loser") else ["out-a", "out-b"]
        if name == "postgres":
            extra["state_store_url"] = pg.create_database(f"overlap_{'ext' if external_ids else 'noext'}")  # type: ignore[union-attr]
        if name == "loser":
            extra["lease_wait_seconds"] = 1
        pipelines = [Pipeline(work / f"work-{i}", default_tap_config(world, page_size=100),
                              default_target_config(world, work / out, **extra)) for i, out in enumerate(outs)]
        world.salesforce.faults(latency_ms=args.latency_ms, latency_jitter_ms=args.jitter_ms)
        runs = run_overlapping(pipelines, delay=args.delay)
        world.salesforce.faults()
        rejects: Counter[str] = Counter()
        for out in dict.fromkeys(outs):
            for r in checks.read_jsonl(work / out / "rejects.jsonl"):
                rejects[r["error_code"]] += 1
        waited = 0.0  # the longest lease wait in the runs' reports (whichever run waited)
        for out in dict.fromkeys(outs):
            try:
                report = json.loads((work / out / "report.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            waited = max(waited, (report.get("lease") or {}).get("waited_seconds") or 0.0)
        loser_said = next((line.split("| ")[-1] for line in runs[1].target_stderr.splitlines()
                           if "another run is writing" in line), None)
        return {
            "scenario": name, "org": "external ids" if external_ids else "no external ids",
            "exit_codes": [r.target_rc for r in runs], "seconds": [round(r.seconds, 1) for r in runs],
            "lease_waited_s": waited, "duplicates": checks.duplicates(world, census),
            "rejects": dict(rejects), "loser_message": loser_said,
            "tasks": len(world.salesforce.records("Task")),
            "people": len(checks.people(world)),
        }
    finally:
        world.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prospects", type=int, default=300)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--latency-ms", type=int, default=80)
    parser.add_argument("--jitter-ms", type=int, default=80)
    parser.add_argument("--delay", type=float, default=0.3)
    parser.add_argument("--mode", default="contact_account", choices=["lead", "contact_account"])
    parser.add_argument("--scenarios", default="shared,separate,postgres,loser")
    parser.add_argument("--orgs", default="ext,noext")
    parser.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    names = [s for s in args.scenarios.split(",") if s]
    pg = None
    if "postgres" in names:
        from tests.postgres_server import PostgresServer

        pg = PostgresServer().start()
    results = []
    try:
        for name in names:
            for org in args.orgs.split(","):
                result = scenario(name, org == "ext", args, pg)
                results.append(result)
                print(json.dumps(result), flush=True)
    finally:
        if pg is not None:
            pg.stop()
    lines = [f"# Overlapping pipelines ({date.today()}): {args.prospects} prospects, {args.mode} mode, "
             f"Salesforce latency {args.latency_ms}+{args.jitter_ms} ms, second run {args.delay} s later", "",
             "| scenario | org | exit codes | lease wait (s) | duplicate people (email / id) | duplicate Accounts "
             "| duplicate Tasks | rejects |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        d = r["duplicates"]
        lines.append(f"| {r['scenario']} | {r['org']} | {r['exit_codes']} | {r['lease_waited_s']} | "
                     f"{d['people_per_email']} / {d['people_per_prospect_id']} | {d['accounts_per_name']} | "
                     f"{d['tasks_per_touchpoint']} | {r['rejects'] or '-'} |")
    table = "\n".join(lines)
    print(table)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"overlap-{date.today()}"
    stem.with_suffix(".json").write_text(json.dumps({"args": vars(args), "results": results}, indent=2) + "\n")
    stem.with_suffix(".md").write_text(table + "\n")


if __name__ == "__main__":
    main()
