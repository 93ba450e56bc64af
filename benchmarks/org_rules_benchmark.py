"""Messy-org benchmark: what duplicate rules, record types and State/Country picklists cost in API calls.

The data of `target_prospects_benchmark.py` (30% of the prospects already in Salesforce: 10% as Leads,
20% as Contacts) in lead mode, three ways:

* plain: the default org;
* messy: the org's standard duplicate rules (new Leads against Leads and Contacts by e-mail),
  two Lead record types (the catalog names Outbound), State and Country picklists;
* messy, rules only: the same org with `match_order` external_id, lead_email, so the existing
  Contacts are found only by Salesforce's duplicate rule (a refused create, then a link).

Printed: API calls by kind for a first run and an identical rerun, and the outcomes. Results go to
benchmarks/results/org-rules-<date>.json and .md.

Usage: .venv/bin/python benchmarks/org_rules_benchmark.py [--prospects 1000] [--out-dir benchmarks/results]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.target_prospects_benchmark import build_data, run_target  # noqa: E402
from emulators.salesforce.server import create_app  # noqa: E402
from emulators.serving import serve_in_thread  # noqa: E402
from target_salesforce_andsend.catalog import default_catalog_document  # noqa: E402

MESSY = {
    "org": {"state_country_picklists": True},
    "duplicate_rules": [{"name": "Standard_Lead_Duplicate_Rule", "object": "Lead", "action": "alert",
                         "match": [{"object": "Lead", "fields": ["Email"]},
                                   {"object": "Contact", "fields": ["Email"]}]}],
    "record_types": {"Lead": [
        {"developer_name": "Inbound", "default": True,
         "picklists": {"LeadSource": {"values": ["Web", "Other"], "default": "Web"}}},
        {"developer_name": "Outbound", "picklists": {"LeadSource": {"values": ["Purchased List", "Andsend"]}}}]},
}
SCENARIOS = {
    "plain": ({}, {}),
    "messy": (MESSY, {}),
    "messy, rules only": (MESSY, {"match_order": ["external_id", "lead_email"]}),
}


def bench(name: str, n: int, workdir: Path) -> dict[str, Any]:
    extra_fixture, extra_config = SCENARIOS[name]
    fixture, lines = build_data(n)
    fixture.update(extra_fixture)
    catalog = default_catalog_document("lead")
    if extra_fixture:
        catalog["record_types"] = {"Lead": "Outbound"}
    app = create_app(":memory:", fixture)
    server = serve_in_thread(app)
    slug = name.replace(" ", "-").replace(",", "")
    try:
        base = server.base_url
        input_path = workdir / f"input-{slug}.singer"
        input_path.write_text("\n".join(lines) + "\n")
        config = {"login_url": base, "client_id": "emulator-client-id", "client_secret": "emulator-client-secret",
                  "username": "admin@example.com", "password": "emulator", "security_token": "token",
                  "auth_flow": "password", "object_mode": "lead", "mapping_catalog_inline": catalog,
                  "output_dir": str(workdir / f"out-{slug}"), **extra_config}
        config_path = workdir / f"config-{slug}.json"
        config_path.write_text(json.dumps(config))
        requests.post(f"{base}/__emulator__/stats/reset", timeout=30).raise_for_status()
        run_target(config_path, input_path)
        stats = requests.get(f"{base}/__emulator__/stats", timeout=30).json()
        report = json.loads((Path(config["output_dir"]) / "report.json").read_text())
        requests.post(f"{base}/__emulator__/stats/reset", timeout=30).raise_for_status()
        run_target(config_path, input_path)
        stats2 = requests.get(f"{base}/__emulator__/stats", timeout=30).json()
        leads = requests.get(f"{base}/__emulator__/records/Lead", timeout=30).json()
        return {"scenario": name, "calls": stats["api_requests"], "by_kind": stats["by_kind"],
                "subrequests": stats.get("composite_subrequests", {}),
                "counts": report["counts"].get("prospects", {}), "rejects": report["rejects"],
                "rerun_calls": stats2["api_requests"], "rerun_by_kind": stats2["by_kind"],
                "leads": len([lead for lead in (leads if isinstance(leads, list) else leads.get("records", []))
                              if not lead.get("IsDeleted")])}
    finally:
        server.stop()
        app.state.emulator.store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prospects", type=int, default=1000)
    parser.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="andsend-org-rules-") as tmp:
        results = [bench(name, args.prospects, Path(tmp)) for name in SCENARIOS]
    title = (f"# Messy-org benchmark: {args.prospects} prospects, lead mode, 30% already in Salesforce "
             "(10% as Leads, 20% as Contacts)")
    rows = ["| scenario | calls | by kind | rerun calls | Leads in the org | outcomes | rejects |",
            "|---|---|---|---|---|---|---|"]
    for r in results:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(r["by_kind"].items()) if k not in ("oauth", "versions"))
        outcomes = "; ".join(f"{obj}: " + ", ".join(f"{k} {v}" for k, v in sorted(o.items()))
                             for obj, o in sorted(r["counts"].items()))
        rows.append(f"| {r['scenario']} | {r['calls']} | {kinds} | {r['rerun_calls']} | {r['leads']} | {outcomes} | "
                    f"{r['rejects']} |")
    text = "\n".join([title, "", *rows, ""])
    print(text)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"org-rules-{dt.date.today().isoformat()}"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    stem.with_suffix(".md").write_text(text)


if __name__ == "__main__":
    main()
