"""Salesforce emulator throughput: single small SOQL queries per second and Collections-create records/s.

The emulator runs as a separate process (``andsend-emulators salesforce``) on 127.0.0.1; the client is a
keep-alive ``requests.Session`` in this process. Prints the figures; never asserts on them.

    .venv/bin/python benchmarks/emulator_benchmark.py [--queries 3000] [--batches 50] [--db :memory:]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import requests


def start(db: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "emulators.cli", "salesforce", "--port", "0", "--db", db],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to separate server cost from machine load."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--queries", type=int, default=3000)
    ap.add_argument("--batches", type=int, default=50, help="200-record Collections creates")
    ap.add_argument("--db", default=":memory:")
    args = ap.parse_args()
    proc, base = start(args.db)
    try:
        token = requests.post(f"{base}/services/oauth2/token", data={
            "grant_type": "password", "client_id": "emulator-client-id", "client_secret": "emulator-client-secret",
            "username": "admin@example.com", "password": "emulatortoken"}, timeout=30).json()["access_token"]
        s = requests.Session()
        s.trust_env = False  # 127.0.0.1 needs no proxy lookup per request (requests does it otherwise)
        s.headers["Authorization"] = f"Bearer {token}"
        api = f"{base}/services/data/v60.0"

        # Collections create: 200-record batches of Leads with an email and an external id each.
        n = 0
        cpu0, ccpu0 = cpu_seconds(proc.pid), time.process_time()
        start_t = time.perf_counter()
        for b in range(args.batches):
            records = [{"attributes": {"type": "Lead"}, "LastName": f"Lead {b}-{i}", "Company": f"Co {b}",
                        "Email": f"lead{b}.{i}@example.org", "Andsend_Prospect_Id__c": f"pr_{b:04d}{i:04d}"}
                       for i in range(200)]
            res = s.post(f"{api}/composite/sobjects", json={"allOrNone": False, "records": records}, timeout=60).json()
            n += sum(1 for r in res if r["success"])
        create_s = time.perf_counter() - start_t
        create_cpu = cpu_seconds(proc.pid) - cpu0
        create_client = time.process_time() - ccpu0
        assert n == args.batches * 200, n

        # Single small queries on an indexed, case-insensitive Email match.
        cpu0, ccpu0 = cpu_seconds(proc.pid), time.process_time()
        start_t = time.perf_counter()
        for q in range(args.queries):
            b, i = q % args.batches, q % 200
            soql = f"SELECT Id, Email, OwnerId FROM Lead WHERE Email = 'LEAD{b}.{i}@example.org'"  # noqa: S608 - fixed benchmark literal
            r = s.get(f"{api}/query", params={"q": soql}, timeout=30)
            assert r.status_code == 200 and r.json()["totalSize"] == 1, r.text
        query_s = time.perf_counter() - start_t
        query_cpu = cpu_seconds(proc.pid) - cpu0
        query_client = time.process_time() - ccpu0

        print(f"collections create: {n} records in {create_s:.2f} s = {n / create_s:,.0f} records/s "
              f"({args.batches / create_s:.1f} requests/s of 200)")
        print(f"single queries:     {args.queries} in {query_s:.2f} s = {args.queries / query_s:,.0f} requests/s "
              f"({1000 * query_s / args.queries:.2f} ms each)")
        print(f"server CPU:         {1e6 * create_cpu / n:.0f} us per created record "
              f"(= {n / create_cpu:,.0f} records/s per core); {1000 * query_cpu / args.queries:.2f} ms per query "
              f"(= {args.queries / query_cpu:,.0f} queries/s per core)")
        print(f"client CPU:         {1e6 * create_client / n:.0f} us per record; "
              f"{1000 * query_client / args.queries:.2f} ms per query (requests library)")
        seq = args.queries / (query_cpu + query_client)
        print(f"sequential estimate on an idle machine (server + client CPU per call): {seq:,.0f} queries/s, "
              f"{n / (create_cpu + create_client):,.0f} records/s")
        load = os.getloadavg()[0]
        print(f"machine: {os.cpu_count()} cores, load average {load:.2f} (other work on the machine lowers the "
              "wall-clock figures)")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
