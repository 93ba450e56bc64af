"""Prospect sync benchmark: 1,000 purchased prospects through target-salesforce-andsend.

The org (Salesforce emulator, in this process) already holds 30% of the prospects (half as
Leads, half as Contacts), 60% of their companies as Accounts (Website spelled in various ways)
and 15 of the 20 Andsend users as active Salesforce Users. The target runs as a subprocess
(`target-salesforce-andsend --config ... --input ...`), exactly as Meltano runs it.

Printed per mode (lead, contact_account) and emulator latency (0 ms, 100 ms): API calls counted by
the emulator (`by_kind`), wall time, the target process's peak RSS, and the calls of an
identical second run. A one-record-at-a-time sync needs at least 3 calls per prospect (look up,
look up owner, write): over 3,000.

Usage: .venv/bin/python benchmarks/target_prospects_benchmark.py [--prospects 1000] [--latency 0 100]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulators.salesforce.server import create_app  # noqa: E402
from emulators.serving import serve_in_thread  # noqa: E402

STAMP = "2026-01-01T00:00:00Z"
SCHEMAS = {n: json.loads((ROOT / "schemas" / f"{n}.json").read_text()) for n in ("prospects", "users")}


def build_data(n: int, seed: int = 7) -> tuple[dict, list[str]]:
    """(emulator fixture, Singer input lines)."""
    rng = random.Random(seed)
    users = [{"id": f"u-{i:02d}", "email": f"seller{i:02d}@andsend.test", "name": f"Seller {i}",
              "created_at": STAMP, "updated_at": STAMP} for i in range(20)]
    fixture: dict[str, Any] = {"users": [
        {"_ref": f"u{i}", "Username": f"seller{i:02d}@sf.test", "Email": f"Seller{i:02d}@Andsend.test",
         "LastName": f"Seller {i}", "IsActive": True} for i in range(15)
    ], "records": {"Account": [], "Lead": [], "Contact": []}}
    companies = [(f"Company {c} GmbH", f"company{c}.test") for c in range(max(1, n // 5))]
    spellings = ["https://www.{d}", "http://{d}/", "{d}", "www.{d}"]
    for c, (name, domain) in enumerate(companies):
        if c % 10 < 6:
            fixture["records"]["Account"].append({"_ref": f"a{c}", "Name": name,
                                                  "Website": rng.choice(spellings).format(d=domain)})
    prospects = []
    for i in range(n):
        c = rng.randrange(len(companies))
        name, domain = companies[c]
        user = users[i % 20]
        p = {"id": f"pr-{i:05d}", "status": "purchased", "purchased": True, "first_name": f"First{i}",
             "last_name": f"Last{i}", "email": f"person{i}@{domain}", "title": "Head of Sales",
             "company_name": name, "company_domain": domain, "phone": f"+49 30 {i:06d}",
             "linkedin_url": f"https://www.linkedin.com/in/person{i}", "city": "Berlin", "country": "Germany",
             "purchased_at": STAMP, "created_at": STAMP, "updated_at": STAMP}
        if i % 2:
            p["purchased_by_user_email"] = user["email"]
        else:
            p["purchased_by_user_id"] = user["id"]
        prospects.append(p)
        if i % 10 < 3:  # 30% already in Salesforce
            email = p["email"].upper() if i % 7 == 0 else p["email"]
            if i % 2:
                fixture["records"]["Lead"].append({"LastName": p["last_name"], "Company": name, "Email": email})
            else:
                rec = {"LastName": p["last_name"], "Email": email}
                if c % 10 < 6:
                    rec["AccountId"] = f"@a{c}"
                fixture["records"]["Contact"].append(rec)
    lines = [json.dumps({"type": "SCHEMA", "stream": "users", "schema": SCHEMAS["users"], "key_properties": ["id"]})]
    lines += [json.dumps({"type": "RECORD", "stream": "users", "record": u}) for u in users]
    lines.append(json.dumps({"type": "SCHEMA", "stream": "prospects", "schema": SCHEMAS["prospects"],
                             "key_properties": ["id"]}))
    lines += [json.dumps({"type": "RECORD", "stream": "prospects", "record": p}) for p in prospects]
    lines.append(json.dumps({"type": "STATE", "value": {"bookmarks": {"prospects": {"replication_key_value": STAMP}}}}))
    return fixture, lines


def run_target(config_path: Path, input_path: Path) -> tuple[float, int, str]:
    """(wall seconds, peak RSS KiB, stdout) of one target subprocess."""
    exe = Path(sys.executable).with_name("target-salesforce-andsend")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "target_salesforce_andsend.cli"]
    start = time.perf_counter()
    with open(input_path, "rb") as stdin, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([*cmd, "--config", str(config_path)], stdin=stdin, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode:
        raise SystemExit(f"target failed ({proc.returncode}):\n{stderr[-3000:]}")
    return wall, usage.ru_maxrss, stdout


def bench(mode: str, latency_ms: int, n: int, workdir: Path) -> dict[str, Any]:
    fixture, lines = build_data(n)
    app = create_app(":memory:", fixture)
    server = serve_in_thread(app)
    try:
        base = server.base_url
        input_path = workdir / f"input-{mode}-{latency_ms}.singer"
        input_path.write_text("\n".join(lines) + "\n")
        config = {"login_url": base, "client_id": "emulator-client-id", "client_secret": "emulator-client-secret",
                  "username": "admin@example.com", "password": "emulator", "security_token": "token",
                  "auth_flow": "password", "object_mode": mode,
                  "output_dir": str(workdir / f"out-{mode}-{latency_ms}")}
        config_path = workdir / f"config-{mode}-{latency_ms}.json"
        config_path.write_text(json.dumps(config))
        requests.post(f"{base}/__emulator__/faults", json={"latency_ms": latency_ms}, timeout=30).raise_for_status()
        requests.post(f"{base}/__emulator__/stats/reset", timeout=30).raise_for_status()
        wall, rss_kib, stdout = run_target(config_path, input_path)
        stats = requests.get(f"{base}/__emulator__/stats", timeout=30).json()
        report = json.loads((Path(config["output_dir"]) / "report.json").read_text())
        requests.post(f"{base}/__emulator__/stats/reset", timeout=30).raise_for_status()
        wall2, _, _ = run_target(config_path, input_path)
        stats2 = requests.get(f"{base}/__emulator__/stats", timeout=30).json()
        return {"mode": mode, "latency_ms": latency_ms, "calls": stats["api_requests"],
                "by_kind": stats["by_kind"], "wall_s": round(wall, 2), "peak_rss_mib": round(rss_kib / 1024, 1),
                "counts": report["counts"].get("prospects", {}), "owners": report["owners"],
                "state_lines": len(stdout.splitlines()),
                "rerun_calls": stats2["api_requests"], "rerun_by_kind": stats2["by_kind"],
                "rerun_wall_s": round(wall2, 2)}
    finally:
        server.stop()
        app.state.emulator.store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prospects", type=int, default=1000)
    parser.add_argument("--latency", type=int, nargs="+", default=[0, 100])
    parser.add_argument("--modes", nargs="+", default=["lead", "contact_account"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="andsend-bench-") as tmp:
        results = [bench(mode, lat, args.prospects, Path(tmp)) for mode in args.modes for lat in args.latency]
    print(f"target-salesforce-andsend prospects benchmark: {args.prospects} purchased prospects, "
          "30% already in Salesforce, 15 of 20 sellers are Salesforce users")
    print(f"{'mode':<16}{'latency':>8}{'calls':>7}{'wall s':>8}{'peak MiB':>10}{'rerun calls':>13}  by kind")
    for r in results:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(r["by_kind"].items()))
        print(f"{r['mode']:<16}{r['latency_ms']:>6}ms{r['calls']:>7}{r['wall_s']:>8}{r['peak_rss_mib']:>10}"
              f"{r['rerun_calls']:>13}  {kinds}")
    for r in results:
        if r["latency_ms"] == args.latency[0]:
            print(f"{r['mode']}: outcomes {json.dumps(r['counts'])}; owners {json.dumps(r['owners'])}; "
                  f"rerun {json.dumps(r['rerun_by_kind'])}")
    print("A one-record-at-a-time sync needs >= 3 calls per prospect: "
          f"> {3 * args.prospects} calls.")


if __name__ == "__main__":
    main()
