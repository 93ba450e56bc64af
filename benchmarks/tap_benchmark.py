"""tap-andsend throughput against the Andsend emulator, next to the plain-HTTP floor.

    python benchmarks/tap_benchmark.py [--prospects 20000] [--page-size 1000] [--repeat 3]

Starts the emulator as a subprocess (``andsend-emulators andsend --port 0 ...``, zero latency),
then measures, best of ``--repeat``:

* floor: the same prospects pages fetched with plain ``requests`` (JSON decoded, nothing else);
* tap: the ``tap-andsend`` CLI, prospects stream only, stdout to /dev/null, wall time of the
  whole process; the CLI's fixed start-up (a ``--about`` run) is reported too, and the rate
  without it.

Prints records/s for both and their ratio. Figures, never assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def start_emulator(db: Path, prospects: int, seed: int) -> tuple[subprocess.Popen[str], str]:
    cmd = [
        str(BIN / "andsend-emulators"),
        "andsend",
        "--port",
        "0",
        "--db",
        str(db),
        "--seed",
        str(seed),
        "--prospects",
        str(prospects),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    base_url = proc.stdout.readline().strip()
    if not base_url.startswith("http"):
        proc.kill()
        raise SystemExit(f"emulator did not start: {base_url!r}")
    return proc, base_url


def process_cpu_seconds(pid: int) -> float:
    """user+system CPU of a running process (Linux /proc), to compare work, not wall time."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def floor_run(base_url: str, api_key: str, page_size: int) -> tuple[int, float]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api_key}"
    count, cursor = 0, None
    started = time.perf_counter()
    while True:
        params: dict[str, object] = {"limit": page_size}
        if cursor:
            params["cursor"] = cursor
        body = session.get(f"{base_url}/v1/prospects", params=params, timeout=60).json()
        count += len(body["data"])
        cursor = body.get("next_cursor")
        if not cursor:
            return count, time.perf_counter() - started


def catalog_prospects_only(config_path: Path, workdir: Path) -> Path:
    out = subprocess.run(
        [str(BIN / "tap-andsend"), "--config", str(config_path), "--discover"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    catalog = json.loads(out)
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = entry["tap_stream_id"] == "prospects"
    path = workdir / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def tap_run(config_path: Path, catalog_path: Path) -> tuple[int, float]:
    """Wall time of the tap CLI; records counted from its metrics log (stdout goes to /dev/null)."""
    started = time.perf_counter()
    with open(os.devnull, "w") as devnull:
        proc = subprocess.run(
            [str(BIN / "tap-andsend"), "--config", str(config_path), "--catalog", str(catalog_path)],
            stdout=devnull,
            stderr=subprocess.PIPE,
            text=True,
            check=True,
        )
    elapsed = time.perf_counter() - started
    count = 0
    for line in proc.stderr.splitlines():
        if '"metric":"record_count"' in line and '"stream":"prospects"' in line:
            count += json.loads(line.split("METRIC: ", 1)[1])["value"]
    return count, elapsed


def startup_cpu_seconds() -> float:
    before = children_cpu_seconds()
    subprocess.run([str(BIN / "tap-andsend"), "--about"], capture_output=True, check=True)
    return children_cpu_seconds() - before


def startup_seconds() -> float:
    started = time.perf_counter()
    subprocess.run([str(BIN / "tap-andsend"), "--about"], capture_output=True, check=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prospects", type=int, default=20_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--api-key", default="andsend-demo-key")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        emulator, base_url = start_emulator(workdir / "andsend.db", args.prospects, args.seed)
        try:
            config = {"api_url": base_url, "api_key": args.api_key, "page_size": args.page_size}
            config_path = workdir / "config.json"
            config_path.write_text(json.dumps(config))
            catalog_path = catalog_prospects_only(config_path, workdir)
            floor_run(base_url, args.api_key, args.page_size)  # warm the emulator's caches
            # Interleaved, so drifting load on a shared machine hits both sides alike.
            floors, taps, startups = [], [], []
            cpu: dict[str, list[float]] = {
                "floor_client": [],
                "floor_server": [],
                "tap": [],
                "tap_server": [],
            }
            for _ in range(args.repeat):
                server0, client0 = process_cpu_seconds(emulator.pid), self_cpu_seconds()
                floors.append(floor_run(base_url, args.api_key, args.page_size))
                cpu["floor_server"].append(process_cpu_seconds(emulator.pid) - server0)
                cpu["floor_client"].append(self_cpu_seconds() - client0)
                server0, tap0 = process_cpu_seconds(emulator.pid), children_cpu_seconds()
                taps.append(tap_run(config_path, catalog_path))
                cpu["tap_server"].append(process_cpu_seconds(emulator.pid) - server0)
                cpu["tap"].append(children_cpu_seconds() - tap0)
                startups.append(startup_seconds())
            startup = min(startups)
            cpu_startup = startup_cpu_seconds()
        finally:
            emulator.terminate()
            emulator.wait(10)

    floor_n, floor_s = min(floors, key=lambda r: r[1])
    tap_n, tap_s = min(taps, key=lambda r: r[1])
    floor_rate = floor_n / floor_s
    tap_rate = tap_n / tap_s
    tap_sync_rate = tap_n / max(1e-9, tap_s - startup)
    print(f"prospects: {floor_n} (tap emitted {tap_n}), page_size {args.page_size}, best of {args.repeat}")
    print(f"floor  (plain requests, JSON decode only): {floor_s:7.2f} s  {floor_rate:10.0f} records/s")
    print(f"tap    (CLI to /dev/null, wall incl. start-up): {tap_s:7.2f} s  {tap_rate:10.0f} records/s")
    print(
        f"tap    (minus {startup:.2f} s CLI start-up): {tap_s - startup:7.2f} s  {tap_sync_rate:10.0f} records/s"
    )
    print(
        f"ratio floor/tap: {floor_rate / tap_rate:.2f}x wall, {floor_rate / tap_sync_rate:.2f}x excluding start-up"
    )
    # CPU seconds are what a busy shared machine does not distort: client + emulator work per run.
    fc, fs = min(cpu["floor_client"]), min(cpu["floor_server"])
    tc, ts = min(cpu["tap"]), min(cpu["tap_server"])
    print(f"cpu floor: client {fc:.2f} s + emulator {fs:.2f} s = {fc + fs:.2f} s")
    print(
        f"cpu tap:   tap {tc:.2f} s (start-up {cpu_startup:.2f} s) + emulator {ts:.2f} s = {tc + ts:.2f} s; "
        f"tap per record {(tc - cpu_startup) / max(1, tap_n) * 1e6:.0f} us"
    )
    print(
        f"cpu ratio tap/floor: {(tc + ts) / (fc + fs):.2f}x, "
        f"{(tc - cpu_startup + ts) / (fc + fs):.2f}x excluding start-up"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
