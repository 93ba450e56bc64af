"""Helpers shared by the benchmark scripts: emulator subprocesses, control-plane calls, and
running a CLI as a measured child process (wall time and its own peak RSS)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ANDSEND_API_KEY = "andsend-demo-key"


def exe(name: str) -> str:
    """A console script of this venv (tap-andsend, target-salesforce-andsend, andsend-emulators)."""
    return str(BIN / name)


def start_emulator(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    """``andsend-emulators <args>`` in its own process; returns it and the base URL it prints first."""
    proc = subprocess.Popen([exe("andsend-emulators"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    base_url = proc.stdout.readline().strip()
    if not base_url.startswith("http"):
        proc.kill()
        raise SystemExit(f"emulator did not start: {args} -> {base_url!r}")
    return proc, base_url


def process_cpu_seconds(pid: int) -> float:
    """user + system CPU of a running process (Linux /proc): an emulator's share of a run."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def control(base: str, method: str, path: str, body: object = None) -> Any:
    """A control-plane call (``/__emulator__/<path>``) of either emulator."""
    resp = requests.request(method, f"{base}/__emulator__/{path}", json=body, timeout=600)
    resp.raise_for_status()
    return resp.json()


def salesforce_login(base: str) -> dict[str, Any]:
    """Target settings that sign in to a Salesforce emulator as its built-in admin."""
    return {"login_url": base, "auth_flow": "password", "client_id": "emulator-client-id",
            "client_secret": "emulator-client-secret", "username": "admin@example.com",
            "password": "emulator", "security_token": "token"}


@dataclass
class Measured:
    wall_s: float
    peak_rss_kib: int   # the program's own high-water mark (see _MEASURE)
    cpu_s: float
    returncode: int


# The measured program is started by this tiny interpreter (no site, stdlib only), which reaps it
# with wait4 and writes its rusage to a file. Measuring from the benchmark process itself would be
# wrong: ru_maxrss survives exec, so a child forked from a benchmark holding 100 MB of records
# would report those 100 MB as its own peak.
_MEASURE = """
import json, os, sys
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[1], "w") as fh:
    json.dump({"maxrss_kib": ru.ru_maxrss, "cpu_s": ru.ru_utime + ru.ru_stime}, fh)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def measured_popen(cmd: list[str], report: Path, **popen: Any) -> subprocess.Popen[Any]:
    """Start ``cmd`` (absolute executable first) under the measuring helper."""
    return subprocess.Popen([sys.executable, "-S", "-c", _MEASURE, str(report), *cmd], **popen)


def measured_result(proc: subprocess.Popen[Any], report: Path, started: float) -> Measured:
    returncode = proc.wait()
    wall = time.perf_counter() - started
    try:
        usage = json.loads(report.read_text())
    except (OSError, ValueError):
        usage = {"maxrss_kib": 0, "cpu_s": 0.0}
    return Measured(wall, int(usage["maxrss_kib"]), float(usage["cpu_s"]), returncode)


def run_measured(cmd: list[str], *, report: Path, stdin: IO[Any] | None, stdout: IO[Any] | int | None,
                 stderr: IO[Any] | int | None = subprocess.DEVNULL) -> Measured:
    started = time.perf_counter()
    proc = measured_popen(cmd, report, stdin=stdin, stdout=stdout, stderr=stderr)
    return measured_result(proc, report, started)
