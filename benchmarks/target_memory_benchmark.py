"""The target alone, fed a captured tap output, with its memory sampled through the run.

    python benchmarks/target_memory_benchmark.py --n 100000 --workdir /tmp/mem-100k [--runs 1]
        [--sample-s 0.5] [--out benchmarks/results/x.json] [--setting NAME=JSON ...]

The first use of a ``--workdir`` builds what ``pipeline_benchmark.py`` builds for the same N and
seed (the Salesforce fixture, the Andsend emulator's database) and captures the tap's output to
``tap-output.singer``; later uses reuse them, so runs of different code read the same input. Each
run gets a newly started Salesforce emulator (the fixture, zero latency) and reports the
target's counted calls by kind, its own peak RSS (``ru_maxrss``, reaped with ``wait4``), its CPU
seconds, and its RSS sampled every ``--sample-s`` from ``/proc`` with the last log line at that
moment (which phase the run was in). Figures only; nothing is written unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import (
    ANDSEND_API_KEY,
    exe,
    measured_popen,
    measured_result,
    process_cpu_seconds,
    start_emulator,
    stop,
)
from pipeline_benchmark import (
    STREAMS,
    discover_catalog,
    fresh_org,
    generator_flags,
    mib,
    read_singer,
    setting,
    sf_figures,
    target_config,
)


def prepare(workdir: Path, n: int, seed: int) -> tuple[list[str], dict[str, int]]:
    """Fixture, Andsend database and captured tap output (built once per workdir)."""
    workdir.mkdir(parents=True, exist_ok=True)
    flags = generator_flags(n, seed)
    fixture = workdir / "sf-fixture.json"
    if not fixture.exists():
        subprocess.run([exe("andsend-emulators"), "salesforce-fixture", *flags, "--overlap", "0.3",
                        "--out", str(fixture)], check=True, stderr=subprocess.DEVNULL)
    andsend_args = ["andsend", "--port", "0", "--db", str(workdir / "andsend.sqlite"), *flags]
    captured = workdir / "tap-output.singer"
    counts_path = workdir / "counts.json"
    if not captured.exists():
        proc, andsend = start_emulator(andsend_args)
        try:
            tap_cfg = workdir / "tap.json"
            tap_cfg.write_text(json.dumps({"api_url": andsend, "api_key": ANDSEND_API_KEY, "purchased_only": True,
                                           "page_size": 1000}))
            catalog = discover_catalog(tap_cfg, workdir)
            partial = captured.with_suffix(".partial")
            with open(partial, "wb") as fh:
                subprocess.run([exe("tap-andsend"), "--config", str(tap_cfg), "--catalog", str(catalog)],
                               stdout=fh, stderr=subprocess.DEVNULL, check=True)
            partial.rename(captured)
        finally:
            stop(proc)
        records = read_singer(captured)
        counts_path.write_text(json.dumps({s: len(records.get(s, [])) for s in STREAMS}))
        del records
    return andsend_args, json.loads(counts_path.read_text())


def _child_pid(helper: int) -> int | None:
    try:
        kids = Path(f"/proc/{helper}/task/{helper}/children").read_text().split()
        return int(kids[0]) if kids else None
    except (OSError, ValueError):
        return None


def _rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _last_line(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 4096))
            lines = fh.read().decode(errors="replace").strip().splitlines()
        return lines[-1][-160:] if lines else ""
    except OSError:
        return ""


def run_once(workdir: Path, tag: str, andsend_args: list[str], extra: dict[str, Any], sample_s: float,
             total: int, target_cmd: list[str]) -> dict[str, Any]:
    andsend_proc, andsend = start_emulator(andsend_args)
    sf_proc, sf = start_emulator(["salesforce", "--port", "0", "--db", ":memory:", "--fixture",
                                  str(workdir / "sf-fixture.json")])
    try:
        fresh_org(sf, 0)
        run_dir = workdir / tag
        cfg = workdir / f"{tag}.json"
        cfg.write_text(json.dumps(target_config(sf, andsend, run_dir, extra)))
        err_path = workdir / f"{tag}.err"
        cpu0 = process_cpu_seconds(sf_proc.pid)
        samples: list[tuple[float, int, str]] = []
        with open(workdir / "tap-output.singer", "rb") as stdin, open(err_path, "wb") as err, \
                open(workdir / f"{tag}.state", "wb") as out:
            started = time.perf_counter()
            helper = measured_popen([*target_cmd, "--config", str(cfg)],
                                    workdir / f"{tag}.rusage.json", stdin=stdin, stdout=out, stderr=err)
            done = threading.Event()

            def sample() -> None:
                pid = None
                while not done.wait(sample_s):
                    pid = pid or _child_pid(helper.pid)
                    rss = _rss_kib(pid) if pid else None
                    if rss:
                        samples.append((round(time.perf_counter() - started, 1), rss, _last_line(err_path)))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            measured = measured_result(helper, workdir / f"{tag}.rusage.json", started)
            done.set()
            sampler.join()
        if measured.returncode:
            raise SystemExit(f"{tag} failed ({measured.returncode}):\n" + err_path.read_text(errors="replace")[-3000:])
        figures = sf_figures(sf, total, measured.wall_s)
        figures["sf_emulator_cpu_s"] = round(process_cpu_seconds(sf_proc.pid) - cpu0, 2)
    finally:
        stop(sf_proc)
        stop(andsend_proc)
    # The highest sample per 10 s window: the shape of the run, phase by phase.
    windows: dict[int, tuple[float, int, str]] = {}
    for t, rss, line in samples:
        w = int(t // 10)
        if w not in windows or rss > windows[w][1]:
            windows[w] = (t, rss, line)
    return {"tag": tag, "peak_rss_mib": mib(measured.peak_rss_kib), "cpu_s": round(measured.cpu_s, 2),
            "wall_s": round(measured.wall_s, 1), "calls": figures["calls"], "counted": figures["counted"],
            "by_kind": figures["by_kind"], "composite_subrequests": figures["composite_subrequests"],
            "sf_emulator_cpu_s": figures["sf_emulator_cpu_s"],
            "rss_by_10s": [{"t": t, "rss_mib": mib(rss), "log": line} for t, rss, line in
                           (windows[w] for w in sorted(windows))]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", required=True, help="kept between uses: the captured input is reused")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--tag", default="alone")
    ap.add_argument("--sample-s", type=float, default=0.5)
    ap.add_argument("--setting", type=setting, action="append", default=[], metavar="NAME=JSON")
    ap.add_argument("--out", default=None, help="JSON file for the figures")
    ap.add_argument("--target-cmd", default=None,
                    help="the target's command line before --config, as a JSON list (default: the console script)")
    ap.add_argument("--quiet", action="store_true", help="do not print the RSS timeline")
    args = ap.parse_args(argv)
    workdir = Path(args.workdir)
    andsend_args, counts = prepare(workdir, args.n, args.seed)
    total = sum(counts[s] for s in ("prospects", "touchpoints", "search_results"))
    print(f"[N={args.n}] input: {counts}", flush=True)
    runs = []
    for i in range(args.runs):
        r = run_once(workdir, f"{args.tag}-{i}", andsend_args, dict(args.setting), args.sample_s, total,
                     json.loads(args.target_cmd) if args.target_cmd else [exe("target-salesforce-andsend")])
        runs.append(r)
        if not args.quiet:
            for s in r["rss_by_10s"]:
                print(f"  {s['t']:>7} s {s['rss_mib']:>7} MiB  {s['log']}")
        print(f"[N={args.n}] {r['tag']}: counted {r['counted']} ({r['by_kind']}), peak {r['peak_rss_mib']} MiB, "
              f"CPU {r['cpu_s']} s, wall {r['wall_s']} s", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"n": args.n, "seed": args.seed, "input": counts, "runs": runs},
                                             indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
