"""Touchpoints -> Tasks and search results -> badges through the target, counted at the emulators.

    python benchmarks/target_activities_benchmark.py [--prospects 1000] [--touchpoints-per 3]
        [--results 1000] [--latency 0 100] [--variants ext noext] [--batch-size-rows 1000]

Starts both emulators as subprocesses (``andsend-emulators salesforce|andsend --port 0``), then,
for every latency and Task-external-id variant, runs the ``target-salesforce-andsend`` CLI three
times on a fresh org and output directory (the Salesforce stats are reset before each run):

1. prospects: 1,000 purchased prospects (setup; figures printed for reference);
2. touchpoints: 3 per prospect (email sent, LinkedIn connection request, email reply), 3,000 Tasks;
3. search results: 1,000 real results from the Andsend emulator (half of their people seeded in
   the org as Leads/Contacts/Accounts), badges to the file and written back to Andsend;
4. the touchpoints again (a tap replay): nothing may be written twice.

Per run: Salesforce calls by kind (`/__emulator__/stats` by_kind), the calls that do the work
(without the per-run session set-up: oauth, versions, limits, describe), Andsend write-back calls,
wall time of the CLI process, and the emulator's stored Task/badge counts as a check. Figures only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = {n: json.loads((ROOT / "schemas" / f"{n}.json").read_text())
           for n in ("prospects", "touchpoints", "search_results")}
SETUP_KINDS = {"oauth", "versions", "limits", "describe", "soap_login"}
API_KEY = "andsend-demo-key"
NO_TASK_EXT = {"describe": {"omit_fields": {"Task": ["Andsend_Touchpoint_Id__c"]}}}


def start(cmd: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    base_url = proc.stdout.readline().strip()
    if not base_url.startswith("http"):
        proc.kill()
        raise SystemExit(f"emulator did not start: {cmd} -> {base_url!r}")
    return proc, base_url


def control(base: str, method: str, path: str, body: object = None) -> dict:
    resp = requests.request(method, f"{base}/__emulator__/{path}", json=body, timeout=120)
    resp.raise_for_status()
    return resp.json()


def singer(stream: str, records: list[dict]) -> str:
    lines = [json.dumps({"type": "SCHEMA", "stream": stream, "schema": SCHEMAS[stream], "key_properties": ["id"]})]
    lines += [json.dumps({"type": "RECORD", "stream": stream, "record": r}) for r in records]
    lines.append(json.dumps({"type": "STATE", "value": {"bookmarks": {stream: {"n": len(records)}}}}))
    return "\n".join(lines) + "\n"


def make_prospects(n: int) -> list[dict]:
    stamp = "2026-01-01T00:00:00Z"
    return [{"id": f"bp_{i:05d}", "status": "purchased", "purchased": True, "first_name": "Pat",
             "last_name": f"Bench {i}", "email": f"pat.bench{i}@co{i % 97}.example",
             "company_name": f"Company {i % 97} GmbH", "company_domain": f"co{i % 97}.example",
             "title": "Head of Ops", "purchased_by_user_email": "admin@example.com",
             "created_at": stamp, "updated_at": stamp} for i in range(n)]


def make_touchpoints(prospects: list[dict], per: int) -> list[dict]:
    kinds = [("email", "email_sent"), ("linkedin", "linkedin_connection_request"), ("email", "email_reply"),
             ("linkedin", "linkedin_message")]
    out = []
    for i, p in enumerate(prospects):
        for j in range(per):
            channel, ttype = kinds[j % len(kinds)]
            at = f"2026-01-{1 + (i + j) % 28:02d}T{(9 + j) % 24:02d}:00:00Z"
            out.append({"id": f"btp_{i:05d}_{j}", "prospect_id": p["id"], "user_email": "admin@example.com",
                        "channel": channel, "type": ttype,
                        "subject": f"Idea for {p['company_name']}" if channel == "email" else None,
                        "body": f"Hi {p['first_name']},\n\nStep {j} of our conversation.\n\nBest",
                        "executed_at": at, "created_at": at, "updated_at": at})
    return out


def andsend_results(base: str, n: int) -> list[dict]:
    out, cursor = [], None
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {API_KEY}"
    while len(out) < n:
        params: dict[str, object] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = session.get(f"{base}/v1/search-results", params=params, timeout=120).json()
        out.extend(page["data"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return out[:n]


def seed_overlap(sf: str, results: list[dict]) -> None:
    """Half of the results' people exist: Leads by email, Contacts by prospect id, Accounts by domain."""
    leads, contacts, accounts, domains, seen = [], [], [], set(), set()
    for i, r in enumerate(results[: len(results) // 2]):
        if r.get("prospect_id") in seen:
            continue  # the same person appears in several searches
        seen.add(r.get("prospect_id"))
        if r.get("email") and i % 3 == 0:
            leads.append({"LastName": "Seed", "Company": "Seed", "Email": r["email"].upper()})
        elif r.get("prospect_id") and i % 3 == 1:
            contacts.append({"LastName": "Seed", "Andsend_Prospect_Id__c": r["prospect_id"]})
        elif r.get("company_domain") and r["company_domain"] not in domains:
            domains.add(r["company_domain"])
            accounts.append({"Name": r.get("company_name") or "Seed", "Website": "www." + r["company_domain"]})
    control(sf, "POST", "seed", {"records": {"Lead": leads, "Contact": contacts, "Account": accounts}})


def run_target(config: dict, text: str, workdir: Path) -> tuple[float, int]:
    cfg = workdir / "config.json"
    cfg.write_text(json.dumps(config))
    started = time.perf_counter()
    proc = subprocess.run([str(BIN / "target-salesforce-andsend"), "--config", str(cfg)], input=text.encode(),
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=3600)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"target failed ({proc.returncode}); rerun with stderr to see why")
    return elapsed, len([x for x in proc.stdout.decode().splitlines() if x.strip()])


def phase(name: str, sf: str, andsend: str, config: dict, text: str, workdir: Path) -> dict:
    control(sf, "POST", "stats/reset")
    control(andsend, "POST", "stats/reset")
    elapsed, states = run_target(config, text, workdir)
    by_kind = control(sf, "GET", "stats")["by_kind"]
    work = {k: v for k, v in by_kind.items() if k not in SETUP_KINDS and v}
    andsend_calls = control(andsend, "GET", "stats").get("by_path", {})
    return {"phase": name, "wall_s": round(elapsed, 2), "sf_calls": sum(by_kind.values()),
            "sf_work_calls": sum(work.values()), "work_by_kind": work,
            "setup_calls": sum(v for k, v in by_kind.items() if k in SETUP_KINDS),
            "andsend_calls": sum(v for p, v in andsend_calls.items() if "badges" in p), "state_lines": states}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prospects", type=int, default=1000)
    ap.add_argument("--touchpoints-per", type=int, default=3)
    ap.add_argument("--results", type=int, default=1000)
    ap.add_argument("--latency", type=int, nargs="+", default=[0, 100])
    ap.add_argument("--variants", nargs="+", default=["ext", "noext"], choices=["ext", "noext"])
    ap.add_argument("--batch-size-rows", type=int, default=None, help="target batch_size_rows (default: sink's)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="activities-bench-"))
    procs = []
    try:
        andsend_proc, andsend = start([str(BIN / "andsend-emulators"), "andsend", "--port", "0", "--db",
                                       str(tmp / "andsend.sqlite"), "--prospects", "3000", "--searches", "25",
                                       "--results-per-search", "60"])
        procs.append(andsend_proc)
        results = andsend_results(andsend, args.results)
        prospects = make_prospects(args.prospects)
        touchpoints = make_touchpoints(prospects, args.touchpoints_per)
        texts = {"prospects": singer("prospects", prospects), "touchpoints": singer("touchpoints", touchpoints),
                 "search_results": singer("search_results", results)}
        print(f"input: {len(prospects)} prospects, {len(touchpoints)} touchpoints, {len(results)} search results")
        for variant in args.variants:
            fixture = tmp / f"fixture-{variant}.json"
            fixture.write_text(json.dumps(NO_TASK_EXT if variant == "noext" else {}))
            sf_proc, sf = start([str(BIN / "andsend-emulators"), "salesforce", "--port", "0", "--db", ":memory:",
                                 "--fixture", str(fixture)])
            procs.append(sf_proc)
            for latency in args.latency:
                control(sf, "POST", "reset")
                seed_overlap(sf, results)
                control(andsend, "DELETE", "faults")
                if latency:
                    control(sf, "POST", "faults", {"latency_ms": latency})
                    control(andsend, "POST", "faults", {"latency_ms": latency})
                workdir = Path(tempfile.mkdtemp(prefix=f"{variant}-{latency}-", dir=tmp))
                config = {"login_url": sf, "auth_flow": "password", "client_id": "emulator-client-id",
                          "client_secret": "emulator-client-secret", "username": "admin@example.com",
                          "password": "emulator", "security_token": "token", "output_dir": str(workdir / "out"),
                          "andsend_api_url": andsend, "andsend_api_key": API_KEY}
                if args.batch_size_rows:
                    config["batch_size_rows"] = args.batch_size_rows
                rows = [phase(name, sf, andsend, config, text, workdir) for name, text in texts.items()]
                rows.append(phase("touchpoints again", sf, andsend, config, texts["touchpoints"], workdir))
                tasks = len([t for t in control(sf, "GET", "records/Task") if not t.get("IsDeleted")])
                badges = len(control(andsend, "GET", "badges")["data"])
                print(f"\n== Task external id: {'yes' if variant == 'ext' else 'no (Subject marker)'}, "
                      f"latency {latency} ms: {tasks} Tasks stored, {badges} badges stored at Andsend")
                for r in rows:
                    print(f"  {r['phase']:<17} wall {r['wall_s']:>7.2f} s | Salesforce calls {r['sf_calls']:>4} "
                          f"(work {r['sf_work_calls']:>3}, session set-up {r['setup_calls']:>2}) | "
                          f"Andsend badge calls {r['andsend_calls']} | {r['work_by_kind']}")
                control(sf, "DELETE", "faults")
            sf_proc.terminate()
            sf_proc.wait(timeout=30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=30)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
