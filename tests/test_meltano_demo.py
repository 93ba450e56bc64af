"""scripts/demo.py, the README's first command, run as a user runs it (small data).

Checks that it finishes, that the data it leaves behind is really in the Salesforce
emulator's SQLite file, and that it stops the emulators it started, also when it is
terminated halfway.
"""

from __future__ import annotations

import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.test_interop_fixtures.processes import clean_env

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "scripts" / "demo.py"
SMALL = ["--prospects", "60", "--seed", "5", "--new-purchases", "4", "--new-touchpoints", "6"]


def emulator_ports(output: str) -> list[int]:
    return [int(p) for p in re.findall(r"emulator\s+http://127\.0\.0\.1:(\d+)", output)]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_demo_runs_twice_summarises_and_leaves_inspectable_data(tmp_path: Path) -> None:
    out = tmp_path / "demo-output"
    proc = subprocess.run(
        [sys.executable, str(DEMO), *SMALL, "--out", str(out)],
        capture_output=True, text=True, timeout=600, env=clean_env(COLUMNS="140"), cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    text = proc.stdout
    assert "Run 2 (after new activity)" in text and "Salesforce org (read back from the emulator)" in text
    assert "dev:tap-andsend-to-target-salesforce-andsend" in text
    ports = emulator_ports(text)
    assert len(ports) == 2 and not any(port_open(p) for p in ports), "the demo left an emulator running"

    db = sqlite3.connect(out / "salesforce.sqlite")
    try:
        linked = db.execute(
            "SELECT (SELECT COUNT(*) FROM Lead WHERE Andsend_Prospect_Id__c IS NOT NULL)"
            " + (SELECT COUNT(*) FROM Contact WHERE Andsend_Prospect_Id__c IS NOT NULL)"
        ).fetchone()[0]
        tasks = db.execute("SELECT COUNT(*) FROM Task WHERE Status = 'Completed'").fetchone()[0]
    finally:
        db.close()
    assert linked > 0 and tasks > 0
    for name in (
        "report-run-1.json",
        "report-run-2.json",
        "logs/meltano-run-1.log",
        "logs/meltano-run-2.log",
    ):
        assert (out / name).is_file(), name
    # The summary's second column is the second run: far less work than the first.
    row = re.search(r"Leads created\s*│\s*(\d+)\s*│\s*(\d+)", text)
    assert row and 0 < int(row.group(2)) < int(row.group(1)), text[-3000:]


def test_demo_stops_its_emulators_when_terminated(tmp_path: Path) -> None:
    out = tmp_path / "demo-output"
    proc = subprocess.Popen(
        [sys.executable, str(DEMO), *SMALL, "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=clean_env(COLUMNS="140"), cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + 120
    while "Run 1:" not in seen and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
    assert "Run 1:" in seen, seen
    ports = emulator_ports(seen)
    assert len(ports) == 2 and all(port_open(p) for p in ports)
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, seen + rest
    assert "emulators stopped" in rest
    assert not any(port_open(p) for p in ports), "an emulator outlived the demo"
