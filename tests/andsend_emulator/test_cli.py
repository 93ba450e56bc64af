"""`andsend-emulators andsend` as a process: base URL on the first line, serves, keeps its data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.e2e  # runs the CLIs as subprocesses

AUTH = {"Authorization": "Bearer andsend-demo-key"}


def start(db: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulators.cli", "andsend", "--port", "0", "--db", str(db), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()
    return proc, first


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_prints_base_url_first_serves_and_reuses_its_db(tmp_path):
    db = tmp_path / "andsend.sqlite"
    proc, url = start(db, "--seed", "9", "--prospects", "150", "--api-key", "k-123")
    try:
        assert url.startswith("http://127.0.0.1:") and int(url.rsplit(":", 1)[1]) > 0
        assert requests.get(f"{url}/v1/users", headers=AUTH, timeout=10).status_code == 401
        key = {"Authorization": "Bearer k-123"}
        prospects = requests.get(
            f"{url}/v1/prospects", params={"limit": 1000}, headers=key, timeout=10
        ).json()
        assert len(prospects["data"]) == 150
        bought = requests.post(f"{url}/__emulator__/activity", json={"new_purchases": 2}, timeout=10).json()
    finally:
        stop(proc)
    # Restart on the same file with other size flags: the data (and the purchases) survive.
    proc, url = start(db, "--seed", "1", "--prospects", "999")
    try:
        after = requests.get(f"{url}/v1/prospects", params={"limit": 1000}, headers=AUTH, timeout=10).json()
        assert len(after["data"]) == 150
        ids = {p["id"]: p for p in after["data"]}
        assert all(ids[pid]["purchased"] for pid in bought["new_purchases"])
        config = requests.get(f"{url}/__emulator__/config", timeout=10).json()
        assert config["config"]["seed"] == 9
    finally:
        stop(proc)
    assert "reusing" in (proc.stderr.read() if proc.stderr else "")


def test_same_seed_in_two_processes_serves_identical_data(tmp_path):
    pages = []
    for name in ("a.sqlite", "b.sqlite"):
        proc, url = start(tmp_path / name, "--seed", "4", "--prospects", "120")
        try:
            pages.append(
                requests.get(f"{url}/v1/touchpoints", params={"limit": 1000}, headers=AUTH, timeout=10).json()
            )
        finally:
            stop(proc)
    assert pages[0] == pages[1] and pages[0]["data"]
