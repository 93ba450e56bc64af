"""SOQL compiler throughput: compile-only and compile+execute against the emulator's real store.

Prints queries per second for the query shapes the target sends (batched ``Email IN (...)`` lookups,
owner lookups, relationship + ORDER BY, COUNT()). Every statement is made unique (a distinct literal or
LIMIT) so the parse cache never hides the parser's cost; a second figure shows the cached (repeated text) rate.

    .venv/bin/python benchmarks/soql_benchmark.py [--rows 20000] [--seconds 2]
"""

# ruff: noqa: S608 -- the benchmark builds SOQL statements (not SQL) from generated constants
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import datetime, timezone

from emulators.salesforce import soql
from emulators.salesforce.ids import make_id
from emulators.salesforce.registry import DescribeRegistry
from emulators.salesforce.store import Store

NOW = datetime(2026, 3, 18, 15, 30, tzinfo=timezone.utc)


def build_store(rows: int) -> Store:
    store = Store(":memory:", DescribeRegistry())
    stamp = "2026-03-01T00:00:00.000+0000"
    user = make_id("005", 1)
    store.insert("User", {"Id": user, "Username": "ann@acme.test", "Email": "ann@acme.test", "LastName": "Lee",
                          "IsActive": 1, "IsDeleted": 0, "CreatedDate": stamp})
    with store.transaction():
        for i in range(rows):
            store.insert("Lead", {
                "Id": make_id("00Q", i + 1), "IsDeleted": 0, "OwnerId": user, "LastName": f"Name{i}",
                "Company": f"Company {i % 997}", "Email": f"user{i}@example{i % 50}.com",
                "Status": "Open - Not Contacted", "IsConverted": 0, "CreatedDate": stamp,
            })
    return store


def rate(label: str, make_query: Callable[[int], str], run: Callable[[str], object], seconds: float) -> None:
    # CPU time is the figure to compare across runs; wall-clock rates drop when the machine is busy.
    n = 0
    start, cpu0 = time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        run(make_query(n))
        n += 1
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
    print(f"  {label:<44} {n / cpu:>9,.0f} /s per CPU-second  {cpu / n * 1000:>7.3f} ms CPU"
          f"  ({n / elapsed:,.0f} /s wall)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000, help="Lead rows in the store (default 20,000)")
    ap.add_argument("--seconds", type=float, default=2.0, help="seconds per measurement")
    args = ap.parse_args()

    store = build_store(args.rows)
    lookup = store.registry.lookup

    def in200(n: int) -> str:
        emails = ", ".join(f"'user{(n * 200 + k) % args.rows}@example{(n * 200 + k) % args.rows % 50}.com'"
                           for k in range(200))
        return f"SELECT Id, Email, OwnerId, IsConverted FROM Lead WHERE Email IN ({emails}) LIMIT {1000 + n}"

    def in200_unicode(n: int) -> str:
        return in200(n).replace("IN (", "IN ('jürgen.müller@bäcker.de', ", 1)

    shapes: dict[str, Callable[[int], str]] = {
        "simple  (Email = ... AND IsConverted = false)":
            lambda n: f"SELECT Id FROM Lead WHERE Email = 'user{n}@x.com' AND IsConverted = false",
        "IN list of 200 emails": in200,
        "IN list of 200 emails, one non-ASCII": in200_unicode,
        "Owner.Email + LIKE + ORDER BY + LIMIT":
            lambda n: f"SELECT Id, Owner.Email FROM Lead WHERE Company LIKE 'Company {n % 997}%' "
                      f"ORDER BY LastName DESC NULLS LAST LIMIT {50 + n}",
        "COUNT() with relative date":
            lambda n: f"SELECT COUNT() FROM Lead WHERE CreatedDate = LAST_N_DAYS:{n + 30}",
    }

    def compile_only(text: str) -> object:
        return soql.compile_query(text, lookup, now=NOW)

    def compile_execute(text: str) -> object:
        cq = soql.compile_query(text, lookup, now=NOW)
        rows = store.conn.execute(cq.sql, cq.params).fetchall()
        if not cq.is_count:
            return [cq.shape(r, api_version="60.0") for r in rows]
        return rows

    compile_only("SELECT Id FROM Lead")  # build the LALR parser once, outside the measurements
    print(f"SOQL compiler, {args.rows:,} Lead rows, {args.seconds:g}s per figure")
    print("compile only (unique statements, parse cache missed):")
    for label, make in shapes.items():
        rate(label, make, compile_only, args.seconds)
    print("compile only (same statement repeated, parse cache hit):")
    for label, make in shapes.items():
        text = make(1)
        rate(label, lambda _n, t=text: t, compile_only, args.seconds)
    print("compile + execute + shape (unique statements):")
    for label, make in shapes.items():
        rate(label, make, compile_execute, args.seconds)
    store.close()


if __name__ == "__main__":
    main()
