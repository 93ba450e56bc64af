"""CRM-status benchmark: Salesforce and Andsend calls of the read-back for 100, 1,000 and 10,000 changes.

Per size N: N Leads in the org (Salesforce emulator, in this process), each linked to an Andsend
prospect (Andsend emulator with at least N prospects, in this process). Then four runs of the target
with no input (the read-back runs at the end of every run), each measured by the report's
``crm_status.salesforce_calls`` (the read-back's own calls) and the Andsend emulator's PUT count:

1. first run: every link is new, read by Id;
2. after an admin changed all N Leads (opted them out): the changed-records window;
3. nothing changed;
4. after an admin changed 1% of them.

The aim: at most 3 Salesforce calls per object per run up to 10,000 changes. Plain REST paging would
need one call per 2,000 rows (5 for 10,000) and Bulk API 2.0 a job create, at least one status poll
and one results call (3+) whatever the size.

Usage: .venv/bin/python benchmarks/crm_status_benchmark.py [--sizes 100 1000 10000] [--out-dir DIR]
Writes benchmarks/results/crm-status-<date>.json and .md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import ANDSEND_API_KEY, salesforce_login  # noqa: E402
from emulators.andsend.server import create_app as andsend_app  # noqa: E402
from emulators.salesforce.server import create_app as salesforce_app  # noqa: E402
from emulators.serving import serve_in_thread  # noqa: E402
from target_salesforce_andsend.links import LinkStore  # noqa: E402
from target_salesforce_andsend.target import TargetSalesforceAndsend  # noqa: E402


def control(base: str, method: str, path: str, body: Any = None) -> Any:
    resp = requests.request(method, f"{base}/__emulator__/{path}", json=body, timeout=600)
    resp.raise_for_status()
    return resp.json()


def run_target(config: dict) -> dict:
    with contextlib.redirect_stdout(io.StringIO()):
        TargetSalesforceAndsend(config=config).listen(io.StringIO(""))
    return json.loads((Path(config["output_dir"]) / "report.json").read_text())


def admin_update(base: str, ids: list[str], values: dict) -> None:
    """What an admin's mass update does: sObject Collections PATCH, 200 records a call."""
    token = requests.post(f"{base}/services/oauth2/token", data={
        "grant_type": "password", "client_id": "emulator-client-id", "client_secret": "emulator-client-secret",
        "username": "admin@example.com", "password": "emulatortoken"}, timeout=30).json()["access_token"]
    for start in range(0, len(ids), 200):
        records = [{"attributes": {"type": "Lead"}, "Id": i, **values} for i in ids[start:start + 200]]
        resp = requests.patch(f"{base}/services/data/v60.0/composite/sobjects", json={"allOrNone": True,
                              "records": records}, headers={"Authorization": f"Bearer {token}"}, timeout=600)
        resp.raise_for_status()


def one_size(n: int, prospect_ids: list[str], andsend_url: str) -> dict[str, Any]:
    app = salesforce_app(":memory:")
    server = serve_in_thread(app)
    try:
        refs = control(server.base_url, "POST", "seed", {"records": {"Lead": [
            {"_ref": f"l{i}", "LastName": f"Lee {i}", "Company": "Acme", "Email": f"p{i}@acme.test"}
            for i in range(n)]}})["refs"]
        lead_ids = [refs[f"l{i}"] for i in range(n)]
        with tempfile.TemporaryDirectory() as tmp:
            store = LinkStore(Path(tmp) / "links.sqlite")
            store.put_links({"prospect_id": pid, "object": "Lead", "record_id": lid}
                            for pid, lid in zip(prospect_ids, lead_ids, strict=False))
            store.close()
            config = {**salesforce_login(server.base_url), "output_dir": tmp, "andsend_api_url": andsend_url,
                      "andsend_api_key": ANDSEND_API_KEY, "crm_status_lookback_seconds": 0}
            out: dict[str, Any] = {"changes": n}
            for label, change in (("first_run", None), ("all_changed", lead_ids), ("no_change", []),
                                  ("one_percent_changed", lead_ids[: max(1, n // 100)])):
                if change:
                    time.sleep(1.1)  # a new second: SystemModstamp has whole seconds in the emulator
                    flag = label == "all_changed"
                    admin_update(server.base_url, change, {"HasOptedOutOfEmail": flag, "DoNotCall": not flag})
                control(andsend_url, "POST", "stats/reset")
                started = time.perf_counter()
                report = run_target(config)
                wall = time.perf_counter() - started
                puts = control(andsend_url, "GET", "stats")["by_path"].get("/v1/prospects/crm-status", 0)
                counts = report.get("counts", {}).get("crm_status", {})
                out[label] = {"salesforce_calls": report["crm_status"]["salesforce_calls"],
                              "rows_read": counts.get("Lead", {}).get("read", 0),
                              "statuses_sent": counts.get("status", {}).get("written_back", 0),
                              "andsend_puts": puts, "run_wall_s": round(wall, 2)}
            return out
    finally:
        server.stop()
        app.state.emulator.store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    biggest = max(args.sizes)
    with tempfile.TemporaryDirectory() as tmp:
        andsend = andsend_app(str(Path(tmp) / "andsend.sqlite"), prospects=biggest, searches=1, results_per_search=1)
        server = serve_in_thread(andsend)
        try:
            prospect_ids = [row[0] for row in andsend.state.emulator.store.conn.execute(
                "SELECT id FROM prospects ORDER BY id")][:biggest]
            results = [one_size(n, prospect_ids, server.base_url) for n in args.sizes]
        finally:
            server.stop()
    lines = ["| changes | run | Salesforce calls (Lead) | rows read | statuses sent | Andsend PUTs | wall s |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for r in results:
        for label in ("first_run", "all_changed", "no_change", "one_percent_changed"):
            m = r[label]
            lines.append(f"| {r['changes']:,} | {label.replace('_', ' ')} | {m['salesforce_calls']} | "
                         f"{m['rows_read']:,} | {m['statuses_sent']:,} | {m['andsend_puts']} | {m['run_wall_s']} |")
    table = "\n".join(lines)
    print(table)
    out_dir = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"crm-status-{date.today().isoformat()}"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    stem.with_suffix(".md").write_text(
        "# CRM-status read-back: calls per run (benchmarks/crm_status_benchmark.py)\n\n"
        "Salesforce calls are the read-back's own (sign-in and describes of the run not included); "
        "Andsend PUTs carry at most 1,000 statuses each.\n\n" + table + "\n")


if __name__ == "__main__":
    main()
