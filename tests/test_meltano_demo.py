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

import pytest

from tests.test_interop_fixtures.processes import clean_env

pytestmark = pytest.mark.e2e  # runs the CLIs as subprocesses

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

    # One definition of the call count: the target's and the emulator's agree, run by run.
    target_calls = re.search(r"\(target's count\)\s*│\s*(\d+)\s*│\s*(\d+)", text)
    emulator_calls = re.search(r"\(emulator's count\)\s*│\s*(\d+)\s*│\s*(\d+)", text)
    assert target_calls and emulator_calls and target_calls.groups() == emulator_calls.groups(), text[-3000:]
    # Human words only: no report keys in the summary.
    for internal in ("TaskOwner", "skipped_stream_ignored", "ignore / -", "integration_user"):
        assert internal not in text, internal
    # Progress counts every record the target read, not only prospects.
    log = (out / "logs" / "meltano-run-1.log").read_text()
    read = int(re.search(r"completed processing \d+ lines of input \(\d+ schemas, (\d+) records", log).group(1))
    progress = [int(n) for n in re.findall(r"Progress: (\d+) records", log)]
    assert progress and progress[-1] == read, (progress, read)
    check_inspect_hint(text, out)


def check_inspect_hint(text: str, out: Path) -> None:
    """The closing hint works as printed: the venv named, a free port (not the README's
    8701/8702), and a query that returns the Leads this demo synced."""
    from urllib.parse import unquote_plus

    import requests

    from tests.test_interop_fixtures.processes import EmulatorProcess

    hint = text[text.index("Inspect the synced"):]
    assert "source scripts/bootstrap.sh" in hint and "--port 0" in hint and "8702" not in hint
    soql = unquote_plus(re.search(r"query\?q=(\S+?)\"", hint).group(1))
    assert "FROM Lead WHERE Andsend_Prospect_Id__c != null" in soql
    sf = EmulatorProcess(["salesforce", "--port", "0", "--db", str(out / "salesforce.sqlite")], out, "inspect")
    try:
        token = requests.post(f"{sf.base_url}/services/oauth2/token", timeout=30, data={
            "grant_type": "password", "client_id": "emulator-client-id", "client_secret": "emulator-client-secret",
            "username": "admin@example.com", "password": "emulatortoken"}).json()["access_token"]
        rows = requests.get(f"{sf.base_url}/services/data/v60.0/query", params={"q": soql}, timeout=30,
                            headers={"Authorization": f"Bearer {token}"}).json()["records"]
        assert rows and all(r["Andsend_Prospect_Id__c"] for r in rows)
    finally:
        sf.stop()


def test_demo_help_works_outside_the_venv() -> None:
    """`python scripts/demo.py --help` with no site-packages at all (-S): the project's packages
    are imported only when the demo runs."""
    proc = subprocess.run([sys.executable, "-I", "-S", str(DEMO), "--help"], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "--object-mode" in proc.stdout


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
