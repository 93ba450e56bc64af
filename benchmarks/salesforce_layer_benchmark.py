"""The target's Salesforce layer against the emulator: write throughput and calls per record
(Collections vs Bulk 2.0, with and without faults), and IN-list lookups (statements and calls).

The emulator runs as a separate process on 127.0.0.1 (as in production the API is remote).
Prints figures; never asserts on them.

    .venv/bin/python benchmarks/salesforce_layer_benchmark.py [--records 10000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import uuid

import requests

from target_salesforce_andsend.salesforce.client import SalesforceClient
from target_salesforce_andsend.salesforce.soql import chunked_in_queries, quote
from target_salesforce_andsend.salesforce.writer import Writer


def start() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "emulators.cli", "salesforce", "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def control(base: str, method: str, path: str, body: object = None) -> None:
    requests.request(method, f"{base}/__emulator__/{path}", json=body, timeout=60).raise_for_status()


def config(base: str, **extra: object) -> dict:
    return {"login_url": base, "client_id": "emulator-client-id", "client_secret": "emulator-client-secret",
            "username": "admin@example.com", "password": "emulator", "security_token": "token",
            "retry_backoff_seconds": 0.05, "max_retries": 8, "bulk_poll_seconds": 0.2, **extra}


def write_run(base: str, label: str, n: int, **extra: object) -> str:
    control(base, "POST", "stats/reset")
    client = SalesforceClient(config(base, **extra))
    writer = Writer(client)
    tag = uuid.uuid4().hex
    records = [{"LastName": f"Bench{i}", "Company": tag, "Email": f"b{i}.{tag[:6]}@bench.example"} for i in range(n)]
    client.connect()
    t0 = time.perf_counter()
    results = writer.create("Lead", records)
    dt = time.perf_counter() - t0
    ok = sum(r.success for r in results)
    calls = {k: v for k, v in sorted(client.calls_snapshot().items()) if v}
    writer.close()
    client.close()
    api = sum(v for k, v in calls.items() if k not in ("oauth", "limits"))
    return (f"{label:<44} {n:>6} rec  {dt:6.2f} s  {n / dt:8.0f} rec/s  ok {ok:>6}  "
            f"write calls {api:>4} ({api / n * 1000:5.1f}/1k)  {calls}")


def lookup_run(base: str, n: int) -> str:
    client = SalesforceClient(config(base))
    emails = [f"b{i}.{uuid.uuid4().hex[:6]}@nowhere.example" for i in range(n)]
    client.connect()
    t0 = time.perf_counter()
    statements = list(chunked_in_queries("SELECT Id, Email FROM Lead WHERE", "Email", emails,
                                         suffix=f" AND IsConverted = {quote(False)}"))
    found = sum(1 for s in statements for _ in client.query_all(s))
    dt = time.perf_counter() - t0
    calls = client.calls_snapshot()
    client.close()
    return (f"IN lookups of {n} emails: {len(statements)} statements (max {max(map(len, statements))} chars), "
            f"{calls.get('composite', 0)} composite + {calls.get('query', 0)} query calls, {found} found, {dt:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()
    proc, base = start()
    try:
        n, c = args.records, args.concurrency
        print(write_run(base, f"collections, concurrency {c}", n, max_concurrency=c, bulk_threshold=10**9))
        print(write_run(base, "collections, concurrency 1", n, max_concurrency=1, bulk_threshold=10**9))
        print(write_run(base, "bulk 2.0", n, bulk_threshold=1))
        control(base, "POST", "faults", {"error_503_rate": 0.05, "lock_row_rate": 0.05, "random_seed": 3})
        print(write_run(base, f"collections, 5% 503 + 5% lock, concurrency {c}", n, max_concurrency=c,
                        bulk_threshold=10**9))
        control(base, "DELETE", "faults")
        print(lookup_run(base, 20000))
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
