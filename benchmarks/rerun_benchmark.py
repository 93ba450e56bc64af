"""An identical rerun writes nothing: the target fed the same tap output twice, against one org.

    python benchmarks/rerun_benchmark.py [--n 10000] [--seed 1] [--mode contact_account] [--out-dir ...]

``andsend-emulators salesforce-fixture`` and ``andsend-emulators andsend`` with the pipeline
benchmark's generator flags (N purchased prospects, ~3N touchpoints, N search results; 30% of the
purchased people already in the org), the tap's output captured once, then the target run twice
from that file with one output dir (its link store) against one Salesforce emulator. Printed for
each run: Salesforce calls by kind, records the emulator wrote (``records_written``: every row a
create, update, upsert or delete touched) and the report's counts. The aim: the second run makes
no write call, writes no row, and its report counts no create or update.

Writes ``<out-dir>/rerun-<n>-<mode>-<date>.json`` and ``.md``. Figures only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from _common import ANDSEND_API_KEY, control, exe, start_emulator, stop  # noqa: E402
from pipeline_benchmark import (  # noqa: E402
    discover_catalog,
    generator_flags,
    read_singer,
    run_from_file,
    sf_figures,
    target_config,
)

# Call kinds that write (the emulator's names for DML endpoints; reads, describes, sign-in and
# Bulk query jobs are not writes). A Composite call is a write when one of its subrequests is.
WRITE_WORDS = ("create", "update", "upsert", "delete", "collections", "ingest", "bulk_job", "bulk1_job",
               "batch_upload", "patch", "post_sobject")


def write_calls(figures: dict[str, Any]) -> dict[str, int]:
    kinds = {**figures.get("by_kind", {}), **{f"composite/{k}": v for k, v in
                                               (figures.get("composite_subrequests") or {}).items()}}
    return {k: v for k, v in kinds.items() if v and any(w in k.lower() for w in WRITE_WORDS)}


def changes(counts: dict[str, Any]) -> dict[str, Any]:
    """The report's counts that say something changed in Salesforce (created, updated, linked...)."""
    out: dict[str, Any] = {}
    for role, by_object in (counts or {}).items():
        if not isinstance(by_object, dict):
            continue
        for obj, outcomes in by_object.items():
            if not isinstance(outcomes, dict):
                continue
            for outcome, n in outcomes.items():
                if n and any(w in outcome for w in ("created", "updated", "converted", "deleted")):
                    out[f"{role}/{obj}/{outcome}"] = n
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mode", default="contact_account", choices=("lead", "contact", "contact_account"))
    ap.add_argument("--setting", action="append", default=[], metavar="NAME=JSON")
    ap.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix=f"rerun-bench-{args.n}-"))
    procs: list[subprocess.Popen[Any]] = []
    result: dict[str, Any] = {"n": args.n, "seed": args.seed, "mode": args.mode, "runs": []}
    try:
        flags = generator_flags(args.n, args.seed)
        subprocess.run([exe("andsend-emulators"), "salesforce-fixture", *flags, "--overlap", "0.3",
                        "--out", str(workdir / "sf-fixture.json")], check=True, stderr=subprocess.DEVNULL)
        andsend_proc, andsend = start_emulator(["andsend", "--port", "0", "--db", str(workdir / "andsend.sqlite"),
                                                *flags])
        procs.append(andsend_proc)
        sf_proc, sf = start_emulator(["salesforce", "--port", "0", "--db", ":memory:", "--fixture",
                                      str(workdir / "sf-fixture.json")])
        procs.append(sf_proc)
        tap_cfg = workdir / "tap.json"
        tap_cfg.write_text(json.dumps({"api_url": andsend, "api_key": ANDSEND_API_KEY, "purchased_only": True,
                                       "page_size": 1000}))
        catalog = discover_catalog(tap_cfg, workdir)
        captured = workdir / "tap-output.singer"
        with open(captured, "wb") as fh:
            subprocess.run([exe("tap-andsend"), "--config", str(tap_cfg), "--catalog", str(catalog)],
                           stdout=fh, stderr=subprocess.DEVNULL, check=True)
        records = read_singer(captured)
        result["records"] = {s: len(v) for s, v in sorted(records.items())}
        print(f"[N={args.n}] tap output: {result['records']}", flush=True)
        extra = {"object_mode": args.mode}
        for item in args.setting:
            name, _, value = item.partition("=")
            extra[name] = json.loads(value)
        cfg = workdir / "target.json"
        cfg.write_text(json.dumps(target_config(sf, andsend, workdir / "out", extra)))
        total = sum(len(v) for v in records.values())
        for i in (1, 2):
            control(sf, "POST", "stats/reset")
            control(andsend, "POST", "stats/reset")
            measured = run_from_file([exe("target-salesforce-andsend"), "--config", str(cfg)], captured,
                                     workdir, f"run{i}")
            figures = sf_figures(sf, total, measured.wall_s)
            report = json.loads((workdir / "out" / "report.json").read_text())
            run = {"run": i, "calls": figures["calls"], "by_kind": figures["by_kind"],
                   "composite_subrequests": figures["composite_subrequests"],
                   "records_written": figures["records_written"], "write_calls": write_calls(figures),
                   "report_changes": changes(report.get("counts") or {}),
                   "report_counts": report.get("counts"),
                   # Andsend write-backs: search-result badges carry checked_at, so they are sent on
                   # every run; CRM statuses only when they changed.
                   "andsend_calls": {k: v for k, v in control(andsend, "GET", "stats")["by_path"].items()
                                     if "badges" in k or "crm-status" in k},
                   "wall_s": round(measured.wall_s, 1),
                   "target_cpu_s": round(measured.cpu_s, 1)}
            result["runs"].append(run)
            print(f"[N={args.n}] run {i}: {run['calls']} calls, {run['records_written']} rows written, "
                  f"write calls {run['write_calls']}, report changes {run['report_changes']}", flush=True)
    finally:
        for proc in reversed(procs):
            stop(proc)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"work files kept in {workdir}")
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    (out_dir / f"rerun-{args.n}-{args.mode}-{day}.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    lines = [f"# Identical rerun, N = {args.n:,} ({args.mode})", "",
             f"Tap output: {result.get('records')}. The target fed the same file twice, one output dir "
             "(link store), one Salesforce emulator (`benchmarks/rerun_benchmark.py`).", "",
             "| run | Salesforce calls | by kind | rows written | write calls | report: changes | "
             "Andsend write-backs |",
             "|---|---|---|---|---|---|---|"]
    for run in result["runs"]:
        lines.append(f"| {run['run']} | {run['calls']} | {run['by_kind']} | {run['records_written']} | "
                     f"{run['write_calls'] or 'none'} | {run['report_changes'] or 'none'} | {run['andsend_calls']} |")
    (out_dir / f"rerun-{args.n}-{args.mode}-{day}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
