"""The pipeline benchmark runs end to end at a tiny size and writes valid results (figures are
never asserted: this only keeps the script from rotting)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e  # runs the CLIs as subprocesses

ROOT = Path(__file__).resolve().parent.parent


def test_pipeline_benchmark_runs_and_writes_json(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "pipeline_benchmark.py"), "--n", "50", "--latency-ms", "0",
         "--naive-sample", "20", "--out-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    [json_path] = tmp_path.glob("pipeline-*.json")
    data = json.loads(json_path.read_text())
    [result] = data["results"]
    assert result["n"] == 50 and result["records"]["prospects"] > 0
    run = result["pipeline"][0]
    assert run["calls"] == sum(run["by_kind"].values()) > 0
    assert run["target_peak_rss_mib"] > 0 and result["floor"]["total"] > 0
    sample = result["naive"]["sample"]
    assert sample["measured_calls"] == sample["predicted_calls"]  # the per-record formula holds
    assert json_path.with_suffix(".md").read_text().startswith("# Pipeline benchmark")


def test_crm_status_benchmark_runs_and_writes_json(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "crm_status_benchmark.py"), "--sizes", "20",
                           "--out-dir", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    [json_path] = tmp_path.glob("crm-status-*.json")
    [result] = json.loads(json_path.read_text())
    assert result["changes"] == 20 and result["all_changed"]["statuses_sent"] == 20
    assert result["no_change"]["andsend_puts"] == 0 and result["first_run"]["salesforce_calls"] >= 1


def test_overlap_command_runs_and_reports_duplicates(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "overlap.py"), "--prospects", "30", "--latency-ms", "60",
         "--jitter-ms", "0", "--scenarios", "shared,loser", "--orgs", "noext", "--out-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    [json_path] = tmp_path.glob("overlap-*.json")
    shared, loser = json.loads(json_path.read_text())["results"]
    assert shared["exit_codes"] == [0, 0] and set(shared["duplicates"].values()) == {0}
    # Whether the two tiny runs really overlap depends on the machine's load: only the outcome's shape.
    assert set(loser["exit_codes"]) <= {0, 1} and set(loser["duplicates"].values()) == {0}
    assert json_path.with_suffix(".md").read_text().startswith("# Overlapping pipelines")
