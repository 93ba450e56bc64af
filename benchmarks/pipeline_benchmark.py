"""The whole pipeline, tap-andsend | target-salesforce-andsend, against both emulators, at scale.

    python benchmarks/pipeline_benchmark.py [--n 1000,10000] [--latency-ms 0,100] [--seed 1]
        [--naive-sample 200] [--out-dir benchmarks/results] [--batch-size-rows N]

For every N: ``andsend-emulators salesforce-fixture`` and ``andsend-emulators andsend`` with the
same generator flags (N purchased prospects, ~3N touchpoints, N search results; 30% of the
purchased people already in the org), both emulators in their own processes, then:

1. the tap alone, its output captured to a file (the input of steps 3 and 4);
2. the pipeline at each ``--latency-ms`` (Salesforce emulator latency): ``tap-andsend | target``
   as two processes joined by a pipe, on a fresh org (a newly started Salesforce emulator with the
   fixture) and output dir;
   Salesforce calls by kind (``/__emulator__/stats``), wall time, records/s, the target's peak
   RSS (its own ``ru_maxrss``, reaped with ``wait4``), and the effective concurrency of its
   Salesforce round trips: the sum of request durations over the time with at least one request
   in flight (how many round trips overlap while the target waits), and over the whole run
   (first request to last response, the target's own CPU time included);
3. the target alone fed the captured file (zero latency, a newly started Salesforce emulator):
   wall time and peak RSS;
4. baseline: a no-op singer-sdk target (``benchmarks/noop_target.py``) fed the same file;
5. baseline: one record at a time. Its calls are computed per record (a query per key and
   object, one owner query, one write) and measured for real on a sample (``--naive-sample``
   records through plain REST calls on a fresh org), which shows the formula holds;
6. the floor: the fewest calls Salesforce's limits allow for the same work, and measured calls /
   floor. The floor: 100,000 characters per SOQL statement, five statements per Composite call;
   200 records per Collections call, five Collections per Composite call (1,000 records a call),
   or a Bulk API 2.0 job (create, upload, close, one status read, successful results: five calls
   whatever its size) where that is fewer; sign-in and one Composite of every describe (its
   Sforce-Limit-Info header gives the daily figures /limits would). The previous floor (200
   records per call, a statement per call, sign-in, /limits and the describes) is kept beside it.
   "Counted" calls leave out what Salesforce does not count against the daily allocation (the
   OAuth sign-in).

Writes ``<out-dir>/pipeline-<date>.json`` and ``.md`` and prints the table. Figures only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import (
    ANDSEND_API_KEY,
    ROOT,
    control,
    exe,
    measured_popen,
    measured_result,
    process_cpu_seconds,
    run_measured,
    salesforce_login,
    start_emulator,
    stop,
)

from target_salesforce_andsend.normalize import (
    company_name_variants,
    normalize_company,
    normalize_domain,
    normalize_email,
    website_variants,
)
from target_salesforce_andsend.salesforce.quota import UNCOUNTED_KINDS
from target_salesforce_andsend.salesforce.soql import quote

STREAMS = ("users", "prospects", "search_results", "touchpoints")  # the target's roles
PURCHASED_SHARE = 0.6           # the generator's default mix of purchased / available prospects
RESULTS_PER_SEARCH = 40
COLLECTION_SIZE = 200            # records per sObject Collections call
SOQL_MAX_CHARS = 100_000         # characters per SOQL statement
SOQL_OVERHEAD_CHARS = 1_000      # SELECT list, FROM, WHERE and suffix of a lookup statement
ANDSEND_BADGES_PER_CALL = 1000
FIXED_FLOOR_200 = {"oauth": 1, "limits": 1, "composite (all describes)": 1}   # the previous floor
FIXED_FLOOR = {"oauth": 1, "composite (all describes; limits from its header)": 1}
HEAVY_PER_COMPOSITE = 5          # query or Collections subrequests per Composite call (API 43.0+)
BULK_JOB_CALLS = 5               # create, upload, close, one status read, successful results
CRM_STATUS_ROWS_PER_STATEMENT = 2000   # a query page: more rows would cost queryMore calls
# The target's batch sizes (sinks.py): the batch floor packs calls within a batch only.
BATCH_SIZES = {"prospects": 5000, "search_results": 5000, "touchpoints": 20_000}


# ---------------------------------------------------------------------------------- set-up


def generator_flags(n: int, seed: int) -> list[str]:
    """N purchased prospects (of N / 0.6), ~3N touchpoints (2-5 per purchase), N search results."""
    return ["--seed", str(seed), "--prospects", str(max(1, round(n / PURCHASED_SHARE))),
            "--purchased-share", str(PURCHASED_SHARE), "--searches", str(max(1, round(n / RESULTS_PER_SEARCH))),
            "--results-per-search", str(RESULTS_PER_SEARCH)]


def discover_catalog(tap_config: Path, workdir: Path) -> Path:
    out = subprocess.run([exe("tap-andsend"), "--config", str(tap_config), "--discover"], capture_output=True,
                         text=True, check=True).stdout
    catalog = json.loads(out)
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = entry["tap_stream_id"] in STREAMS
    path = workdir / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def read_singer(path: Path) -> dict[str, list[dict]]:
    records: dict[str, list[dict]] = defaultdict(list)
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.startswith('{"type":"RECORD"') or '"RECORD"' in line[:40]:
                msg = json.loads(line)
                if msg.get("type") == "RECORD":
                    records[msg["stream"]].append(msg["record"])
    return records


# ------------------------------------------------------------------------------- the runs


def target_config(sf: str, andsend: str, out_dir: Path, extra: dict[str, Any]) -> dict[str, Any]:
    return {**salesforce_login(sf), "output_dir": str(out_dir), "andsend_api_url": andsend,
            "andsend_api_key": ANDSEND_API_KEY, **extra}


def fresh_org(sf: str, latency_ms: int) -> None:
    control(sf, "POST", "reset")  # data back to the fixture; faults and stats cleared
    if latency_ms:
        control(sf, "POST", "faults", {"latency_ms": latency_ms})
    control(sf, "POST", "stats/reset")


def sf_figures(sf: str, records: int, wall_s: float) -> dict[str, Any]:
    stats = control(sf, "GET", "stats")
    by_kind = {k: v for k, v in sorted(stats["by_kind"].items()) if v}
    total = sum(by_kind.values())
    busy, span = stats.get("busy_seconds", 0.0), stats.get("span_seconds", 0.0)
    active = stats.get("active_seconds", 0.0)
    return {"calls": total, "counted": sum(v for k, v in by_kind.items() if k not in UNCOUNTED_KINDS),
            "api_requests": stats["api_requests"], "by_kind": by_kind,
            "composite_subrequests": {k: v for k, v in sorted((stats.get("composite_subrequests") or {}).items())},
            "calls_per_1000_records": round(1000 * total / max(1, records), 2),
            "records_written": stats.get("records_written"),
            "sf_busy_s": round(busy, 3), "sf_active_s": round(active, 3), "sf_span_s": round(span, 3),
            # Round trips in flight while the target waits on Salesforce (the aim's figure) ...
            "effective_concurrency": round(busy / active, 2) if active else None,
            # ... and averaged over the whole run, the target's own CPU time included.
            "concurrency_over_run": round(busy / span, 2) if span else None,
            "wall_s": round(wall_s, 2), "records_per_s": round(records / wall_s, 1) if wall_s else None}


def run_pipeline(tap_cmd: list[str], target_cmd: list[str], workdir: Path, tag: str) -> tuple[float, Any]:
    """tap | target as two processes and an OS pipe; (wall seconds, the target's Measured)."""
    with open(workdir / f"{tag}.tap.err", "wb") as tap_err, open(workdir / f"{tag}.target.err", "wb") as err, \
            open(workdir / f"{tag}.state", "wb") as out:
        started = time.perf_counter()
        tap = subprocess.Popen(tap_cmd, stdout=subprocess.PIPE, stderr=tap_err)
        target = measured_popen(target_cmd, workdir / f"{tag}.rusage.json", stdin=tap.stdout, stdout=out, stderr=err)
        assert tap.stdout is not None
        tap.stdout.close()  # the target owns the read end now
        measured = measured_result(target, workdir / f"{tag}.rusage.json", started)
        tap_rc = tap.wait()
        wall = time.perf_counter() - started
    if tap_rc or measured.returncode:
        raise SystemExit(f"{tag}: tap exit {tap_rc}, target exit {measured.returncode}; "
                         f"see {workdir / (tag + '.target.err')}:\n"
                         + (workdir / f"{tag}.target.err").read_text(errors="replace")[-3000:])
    return wall, measured


def run_from_file(cmd: list[str], input_path: Path, workdir: Path, tag: str) -> Any:
    with open(input_path, "rb") as stdin, open(workdir / f"{tag}.err", "wb") as err, \
            open(workdir / f"{tag}.state", "wb") as out:
        measured = run_measured(cmd, report=workdir / f"{tag}.rusage.json", stdin=stdin, stdout=out, stderr=err)
    if measured.returncode:
        raise SystemExit(f"{tag} failed ({measured.returncode}):\n"
                         + (workdir / f"{tag}.err").read_text(errors="replace")[-3000:])
    return measured


def mib(kib: int) -> float:
    return round(kib / 1024, 1)


# ------------------------------------------------------------------ one record at a time


def naive_calls(stream: str, record: dict) -> int:
    """Salesforce calls of the naive strategy for one record: one query per lookup key and object,
    one owner query, one write (a search result's write is its badge, an Andsend call)."""
    if stream == "prospects":
        keys = 1 + bool(record.get("email"))                       # prospect id, email
        return 2 * keys + bool(record.get("purchased_by_user_email")) + 1
    if stream == "touchpoints":
        return 2 + bool(record.get("user_email")) + 1              # person by prospect id; owner; upsert
    if stream == "search_results":
        keys = 1 + bool(record.get("email"))
        return 2 * keys + bool(record.get("company_domain")) + bool(record.get("company_name"))
    return 0                                                       # users: nothing to write


def naive_predicted(records: dict[str, list[dict]]) -> int:
    return 1 + sum(naive_calls(s, r) for s, rs in records.items() for r in rs)   # + sign-in


class NaiveSync:
    """The one-record-at-a-time integration, in plain REST calls (it exists to be counted)."""

    def __init__(self, sf: str):
        token = requests.post(f"{sf}/services/oauth2/token", data={
            "grant_type": "password", "client_id": "emulator-client-id", "client_secret": "emulator-client-secret",
            "username": "admin@example.com", "password": "emulatortoken"}, timeout=60).json()
        self.api = f"{token['instance_url']}/services/data/v60.0"
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {token['access_token']}"
        self.people: dict[str, tuple[str, str]] = {}

    def one(self, soql: str) -> dict | None:
        rows = self.s.get(f"{self.api}/query", params={"q": soql}, timeout=60).json().get("records") or []
        return rows[0] if rows else None

    def find_person(self, pid: str, email: str | None) -> tuple[str, str] | None:
        found = None
        for field, value in (("Andsend_Prospect_Id__c", pid), ("Email", email)):
            if not value:
                continue
            for obj in ("Contact", "Lead"):
                row = self.one(f"SELECT Id FROM {obj} WHERE {field} = {quote(value)} LIMIT 1")  # noqa: S608
                found = found or ((obj, row["Id"]) if row else None)
        return found

    def owner(self, email: str | None) -> str | None:
        if not email:
            return None
        row = self.one(f"SELECT Id FROM User WHERE Email = {quote(email)} AND IsActive = true LIMIT 1")  # noqa: S608
        return row["Id"] if row else None

    def prospect(self, p: dict) -> None:
        person = self.find_person(p["id"], p.get("email"))
        owner = self.owner(p.get("purchased_by_user_email"))
        if person:
            obj, rid = person
            self.s.patch(f"{self.api}/sobjects/{obj}/{rid}", json={"Title": p.get("title")}, timeout=60)
        else:
            body = {"LastName": p.get("last_name") or "[not provided]", "FirstName": p.get("first_name"),
                    "Company": p.get("company_name") or "[not provided]", "Email": p.get("email"),
                    "Andsend_Prospect_Id__c": p["id"], **({"OwnerId": owner} if owner else {})}
            rid = self.s.post(f"{self.api}/sobjects/Lead", json=body, timeout=60).json().get("id")
            person = ("Lead", rid)
        self.people[p["id"]] = person

    def touchpoint(self, t: dict) -> None:
        who = None
        for obj in ("Contact", "Lead"):
            row = self.one(f"SELECT Id FROM {obj} WHERE Andsend_Prospect_Id__c = {quote(t['prospect_id'])} LIMIT 1")  # noqa: S608
            who = who or (row["Id"] if row else None)
        owner = self.owner(t.get("user_email"))
        body = {"Subject": f"{t.get('channel')}: {t.get('type')}", "Status": "Completed",
                "ActivityDate": str(t.get("executed_at"))[:10], **({"WhoId": who} if who else {}),
                **({"OwnerId": owner} if owner else {})}
        self.s.patch(f"{self.api}/sobjects/Task/Andsend_Touchpoint_Id__c/{t['id']}", json=body, timeout=60)

    def search_result(self, r: dict) -> None:
        self.find_person(r["prospect_id"], r.get("email"))
        if r.get("company_domain"):
            self.one(f"SELECT Id FROM Account WHERE Website = {quote(r['company_domain'])} LIMIT 1")  # noqa: S608
        if r.get("company_name"):
            self.one(f"SELECT Id FROM Account WHERE Name = {quote(r['company_name'])} LIMIT 1")  # noqa: S608


def naive_sample(records: dict[str, list[dict]], size: int) -> dict[str, list[dict]]:
    """About ``size`` records: a quarter prospects, their touchpoints, the rest search results."""
    prospects = records.get("prospects", [])[: max(1, size // 4)]
    ids = {p["id"] for p in prospects}
    tps = [t for t in records.get("touchpoints", []) if t["prospect_id"] in ids][: size // 2]
    results = records.get("search_results", [])[: max(0, size - len(prospects) - len(tps))]
    return {"prospects": prospects, "touchpoints": tps, "search_results": results}


def measure_naive(sf: str, sample: dict[str, list[dict]]) -> dict[str, Any]:
    fresh_org(sf, 0)
    sync = NaiveSync(sf)
    started = time.perf_counter()
    for p in sample["prospects"]:
        sync.prospect(p)
    for t in sample["touchpoints"]:
        sync.touchpoint(t)
    for r in sample["search_results"]:
        sync.search_result(r)
    wall = time.perf_counter() - started
    stats = control(sf, "GET", "stats")
    by_kind = {k: v for k, v in sorted(stats["by_kind"].items()) if v}
    n = sum(len(v) for v in sample.values())
    return {"records": {k: len(v) for k, v in sample.items()}, "predicted_calls": naive_predicted(sample),
            "measured_calls": sum(by_kind.values()), "by_kind": by_kind, "wall_s": round(wall, 2),
            "records_per_s": round(n / wall, 1) if wall else None}


# ------------------------------------------------------------------------------- the floor


def in_statements(values: Iterable[str]) -> int:
    """SOQL statements an IN list of these values needs at 100,000 characters a statement."""
    chars = sum(len(quote(v)) + 1 for v in dict.fromkeys(v for v in values if v))
    return math.ceil(chars / (SOQL_MAX_CHARS - SOQL_OVERHEAD_CHARS)) if chars else 0


def crm_status_statements(report: dict[str, Any]) -> int:
    """The run's CRM-status read (sync_crm_status, at the end of every run): every linked Lead and
    Contact read by Id, a query page (2,000 rows) a statement."""
    counts = (report.get("counts") or {}).get("crm_status") or {}
    return sum(math.ceil(int((counts.get(obj) or {}).get("read") or 0) / CRM_STATUS_ROWS_PER_STATEMENT)
               for obj in ("Lead", "Contact"))


def account_spellings(results: list[dict], field: str) -> Iterable[str]:
    """The Account lookup values of these search results: the usual spellings of each company's
    website or name, once per spelling regardless of letter case (SOQL compares them so)."""
    if field == "Website":
        domains = {normalize_domain(r.get("company_domain") or r.get("company_website")) for r in results}
        values = (v for d in domains if d for v in website_variants(d))
    else:
        values = (v for r in results if r.get("company_name") and normalize_company(r["company_name"])
                  for v in company_name_variants(r["company_name"], r.get("company_country")))
    return {v.lower(): v for v in values}.values()


def floor_calls(records: dict[str, list[dict]], report: dict[str, Any], badges: list[dict]) -> dict[str, Any]:
    """Fewest Salesforce calls for the work the target did (lead mode), from Salesforce's limits.

    Writes: ceil(records / 200) per object and operation (the run's created/updated counts).
    Lookups: per lookup step, ceil(characters of its distinct quoted keys / 99,000).
    * prospects: Contact and Lead by e-mail or prospect id (one statement list per object);
      owners: User by the purchasing and touchpoint users' e-mails;
    * touchpoints: their people were linked moments before (no lookup); Task by touchpoint id
      (the target never overwrites a Task that exists);
    * search results: Contact and Lead by e-mail or prospect id; Account by website spellings and
      by company-name variants only for results no person matched (from the badges).
    * CRM status (end of run): every linked Lead and Contact by Id, 2,000 rows a statement.
    Fixed: sign-in, /limits, one Composite carrying every describe.
    """
    prospects = records.get("prospects", [])
    tps = records.get("touchpoints", [])
    results = records.get("search_results", [])
    lookups: dict[str, int] = {}
    person_keys = [normalize_email(p.get("email")) or "" for p in prospects] + [p["id"] for p in prospects]
    lookups["prospects: Contact by email/id"] = in_statements(person_keys)
    lookups["prospects: Lead by email/id"] = in_statements(person_keys)
    owners = [normalize_email(p.get("purchased_by_user_email")) for p in prospects]
    owners += [normalize_email(t.get("user_email")) for t in tps]
    lookups["owners: User by email"] = in_statements(e for e in owners if e)
    lookups["touchpoints: Task by touchpoint id"] = in_statements(t["id"] for t in tps)
    result_keys = ([normalize_email(r.get("email")) or "" for r in results]
                   + [r.get("prospect_id") or "" for r in results])
    lookups["search results: Contact by email/id"] = in_statements(result_keys)
    lookups["search results: Lead by email/id"] = in_statements(result_keys)
    person_found = {(b.get("search_id"), b.get("result_id")) for b in badges
                    if b.get("object_type") in ("Lead", "Contact")}
    rest = [r for r in results if (r.get("search_id"), r.get("id")) not in person_found]
    lookups["search results: Account by website"] = in_statements(account_spellings(rest, "Website"))
    lookups["search results: Account by name"] = in_statements(account_spellings(rest, "Name"))
    lookups["CRM status: Lead and Contact by Id"] = crm_status_statements(report)
    writes: dict[str, int] = {}
    for role, objects in (report.get("counts") or {}).items():
        for obj, outcomes in objects.items():
            for outcome in ("created", "updated"):
                n = int(outcomes.get(outcome) or 0)
                if n and obj in ("Lead", "Contact", "Account", "Task"):
                    op = "upsert" if obj == "Task" else ("create" if outcome == "created" else "update")
                    key = f"{role}: {obj} {op}"
                    writes[key] = writes.get(key, 0) + n
    old_writes = {k: math.ceil(n / COLLECTION_SIZE) for k, n in writes.items()}
    old_total = sum(FIXED_FLOOR_200.values()) + sum(lookups.values()) + sum(old_writes.values())
    # Bulk where one job costs fewer calls than the write's share of Composite calls.
    bulk = {k: BULK_JOB_CALLS for k, n in writes.items()
            if math.ceil(math.ceil(n / COLLECTION_SIZE) / HEAVY_PER_COMPOSITE) > BULK_JOB_CALLS}
    chunks = sum(math.ceil(n / COLLECTION_SIZE) for k, n in writes.items() if k not in bulk)
    write_calls = {**{f"{k} (Bulk 2.0)": v for k, v in bulk.items()},
                   "Collections via Composite": math.ceil(chunks / HEAVY_PER_COMPOSITE)}
    lookup_calls = math.ceil(sum(lookups.values()) / HEAVY_PER_COMPOSITE)
    total = sum(FIXED_FLOOR.values()) + lookup_calls + sum(write_calls.values())
    return {"total": total, "counted": total - FIXED_FLOOR["oauth"], "fixed": FIXED_FLOOR,
            "lookup_statements": lookups, "lookup_calls": lookup_calls, "writes": write_calls,
            "records_written": writes,
            "old": {"total": old_total, "fixed": FIXED_FLOOR_200, "lookups": lookups, "writes": old_writes},
            "andsend_badge_calls": math.ceil(len(results) / ANDSEND_BADGES_PER_CALL)}


def batch_write_calls(chunks: list[int]) -> int:
    """Fewest calls for one batch's writes (Collections chunks of 200 per write): the chunks five
    to a Composite call, with the biggest writes as Bulk jobs where that is fewer."""
    chunks = sorted((c for c in chunks if c), reverse=True)
    return min(j * BULK_JOB_CALLS + math.ceil(sum(chunks[j:]) / HEAVY_PER_COMPOSITE) for j in range(len(chunks) + 1))


def run_writes(report: dict[str, Any]) -> dict[str, dict[str, int]]:
    """role -> "Object op" -> records the run created or updated (the report's counts)."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for role, objects in (report.get("counts") or {}).items():
        for obj, outcomes in objects.items():
            for outcome in ("created", "updated"):
                n = int(outcomes.get(outcome) or 0)
                if n and obj in ("Lead", "Contact", "Account", "Task"):
                    out[role][f"{obj} {outcome}"] = n
    return out


def batch_floor(records: dict[str, list[dict]], report: dict[str, Any], badges: list[dict]) -> dict[str, Any]:
    """The fewest calls for the same work by a connector that keeps this one's correctness contract:
    a batch is acknowledged (STATE) only after its writes, and memory is bounded, so calls are
    packed within a batch (``BATCH_SIZES``, in input order), never across batches. Per batch: its
    lookup statements five to a Composite call (the Account lookups of search results no person
    matched counted in the same calls, as if sent speculatively), then its writes (Collections five
    to a Composite, or Bulk jobs where fewer). A role's writes are spread over its batches in
    proportion to their records (the report has run totals only). Owners are looked up once per
    e-mail, and every lookup value once in the run (as if every read were remembered across
    batches; the target remembers search results' lookups); touchpoints' people were linked by
    their prospects batch.
    Fixed calls and the CRM-status read as in the whole-run floor."""
    writes = run_writes(report)
    person_found = {(b.get("search_id"), b.get("result_id")) for b in badges
                    if b.get("object_type") in ("Lead", "Contact")}
    seen: dict[str, set[str]] = defaultdict(set)  # values looked up by an earlier batch, per step

    def fresh(step: str, values: Iterable[str | None]) -> list[str]:
        new = [v for v in dict.fromkeys(values) if v and v not in seen[step]]
        seen[step].update(new)
        return new

    per_role: dict[str, dict[str, int]] = {}
    for role, size in BATCH_SIZES.items():
        rows = records.get(role, [])
        total = len(rows)
        calls = lookup = write = 0
        for start in range(0, total, size):
            batch = rows[start:start + size]
            share = len(batch) / total
            statements = 0
            if role == "prospects":
                keys = [normalize_email(p.get("email")) for p in batch] + [p["id"] for p in batch]
                statements += 2 * in_statements(fresh("prospects: person", keys))
                owners = [normalize_email(p.get("purchased_by_user_email")) for p in batch]
            elif role == "touchpoints":
                statements += in_statements(t["id"] for t in batch)
                owners = [normalize_email(t.get("user_email")) for t in batch]
            else:
                keys = [normalize_email(r.get("email")) for r in batch] + [r.get("prospect_id") for r in batch]
                statements += 2 * in_statements(fresh("search results: person", keys))
                rest = [r for r in batch if (r.get("search_id"), r.get("id")) not in person_found]
                statements += in_statements(fresh("Website", (v.lower() for v in account_spellings(rest, "Website"))))
                statements += in_statements(fresh("Name", (v.lower() for v in account_spellings(rest, "Name"))))
                owners = []
            statements += in_statements(fresh("owners", owners))
            chunks = [math.ceil(n * share / COLLECTION_SIZE) for n in writes.get(role, {}).values()]
            batch_lookup = math.ceil(statements / HEAVY_PER_COMPOSITE)
            batch_write = batch_write_calls(chunks)
            lookup += batch_lookup
            write += batch_write
            calls += batch_lookup + batch_write
        per_role[role] = {"batches": math.ceil(total / size), "lookup_calls": lookup, "write_calls": write,
                          "calls": calls}
    crm = math.ceil(crm_status_statements(report) / HEAVY_PER_COMPOSITE)
    total = sum(FIXED_FLOOR.values()) + sum(r["calls"] for r in per_role.values()) + crm
    return {"total": total, "counted": total - FIXED_FLOOR["oauth"], "batch_sizes": BATCH_SIZES,
            "roles": per_role, "crm_status_calls": crm}


# -------------------------------------------------------------------------------- per N


def bench_n(n: int, args: argparse.Namespace, latencies: list[int]) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"pipeline-bench-{n}-"))
    procs: list[subprocess.Popen[Any]] = []
    out: dict[str, Any] = {"n": n}
    try:
        flags = generator_flags(n, args.seed)
        t0 = time.perf_counter()
        subprocess.run([exe("andsend-emulators"), "salesforce-fixture", *flags, "--overlap", "0.3",
                        "--out", str(workdir / "sf-fixture.json")], check=True, stderr=subprocess.DEVNULL)
        t1 = time.perf_counter()
        andsend_proc, andsend = start_emulator(["andsend", "--port", "0", "--db", str(workdir / "andsend.sqlite"),
                                                *flags])
        procs.append(andsend_proc)
        t2 = time.perf_counter()
        sf_args = ["salesforce", "--port", "0", "--db", ":memory:", "--fixture", str(workdir / "sf-fixture.json")]
        sf_proc, sf = start_emulator(sf_args)
        procs.append(sf_proc)

        def fresh_sf() -> tuple[subprocess.Popen[Any], str]:
            # Every measured run gets a newly started Salesforce emulator loaded with the same
            # fixture: one that served earlier runs needed more CPU for the same work.
            stop(procs.pop())
            proc, url = start_emulator(sf_args)
            procs.append(proc)
            return proc, url

        t3 = time.perf_counter()
        out["setup_s"] = {"salesforce_fixture": round(t1 - t0, 1), "andsend_emulator": round(t2 - t1, 1),
                          "salesforce_emulator": round(t3 - t2, 1)}
        print(f"[N={n}] emulators up ({out['setup_s']})", flush=True)

        tap_cfg = workdir / "tap.json"
        tap_cfg.write_text(json.dumps({"api_url": andsend, "api_key": ANDSEND_API_KEY, "purchased_only": True,
                                       "page_size": 1000}))
        catalog = discover_catalog(tap_cfg, workdir)
        tap_cmd = [exe("tap-andsend"), "--config", str(tap_cfg), "--catalog", str(catalog)]
        captured = workdir / "tap-output.singer"
        with open(captured, "wb") as fh:
            tap = run_measured(tap_cmd, report=workdir / "tap.rusage.json", stdin=None, stdout=fh)
        records = read_singer(captured)
        counts = {s: len(records.get(s, [])) for s in STREAMS}
        total = sum(counts[s] for s in ("prospects", "touchpoints", "search_results"))
        out["records"] = {**counts, "total_synced": total}
        out["tap_alone"] = {"wall_s": round(tap.wall_s, 2), "records_per_s": round(total / tap.wall_s, 1),
                            "peak_rss_mib": mib(tap.peak_rss_kib)}
        print(f"[N={n}] tap: {counts} in {tap.wall_s:.1f} s", flush=True)

        extra: dict[str, Any] = dict(args.setting)
        if args.batch_size_rows:
            extra["batch_size_rows"] = args.batch_size_rows
        target_exe = exe("target-salesforce-andsend")
        out["pipeline"] = []
        report: dict[str, Any] = {}
        badges: list[dict] = []
        for latency in latencies:
            tag = f"pipeline-{latency}ms"
            sf_proc, sf = fresh_sf()
            fresh_org(sf, latency)
            run_dir = workdir / tag
            cfg = workdir / f"{tag}.json"
            cfg.write_text(json.dumps(target_config(sf, andsend, run_dir, extra)))
            cpu0 = process_cpu_seconds(sf_proc.pid)
            wall, target = run_pipeline(tap_cmd, [target_exe, "--config", str(cfg)], workdir, tag)
            figures = sf_figures(sf, total, wall)
            figures["sf_emulator_cpu_s"] = round(process_cpu_seconds(sf_proc.pid) - cpu0, 2)
            control(sf, "DELETE", "faults")
            rep = json.loads((run_dir / "report.json").read_text())
            figures.update({"latency_ms": latency, "target_peak_rss_mib": mib(target.peak_rss_kib),
                            "target_cpu_s": round(target.cpu_s, 2), "report_counts": rep.get("counts"),
                            "rejects": rep.get("rejects_total")})
            out["pipeline"].append(figures)
            if not report:
                report = rep
                badges_file = run_dir / "badges.jsonl"
                badges = [json.loads(x) for x in badges_file.read_text().splitlines() if x.strip()] \
                    if badges_file.exists() else []
            print(f"[N={n}] pipeline @{latency} ms: {figures['calls']} calls, {wall:.1f} s, "
                  f"peak {figures['target_peak_rss_mib']} MiB, concurrency {figures['effective_concurrency']}",
                  flush=True)

        # The target alone and the no-op target, from the captured tap output, at zero latency;
        # --pairs K runs the pair K times (wall times on a shared machine move between runs) and
        # reports the median ratio, the first pair's details.
        pairs: list[dict[str, Any]] = []
        for i in range(max(1, args.pairs)):
            sf_proc, sf = fresh_sf()
            fresh_org(sf, 0)
            cfg = workdir / "alone.json"
            cfg.write_text(json.dumps(target_config(sf, andsend, workdir / f"alone-{i}", extra)))
            cpu0 = process_cpu_seconds(sf_proc.pid)
            alone = run_from_file([target_exe, "--config", str(cfg)], captured, workdir, "target-alone")
            alone_sf = sf_figures(sf, total, alone.wall_s)
            alone_sf["sf_emulator_cpu_s"] = round(process_cpu_seconds(sf_proc.pid) - cpu0, 2)
            noop_cfg = workdir / "noop.json"
            noop_cfg.write_text(json.dumps({k: v for k, v in extra.items() if k == "batch_size_rows"}))
            noop = run_from_file([sys.executable, str(Path(__file__).with_name("noop_target.py")), "--config",
                                  str(noop_cfg)], captured, workdir, "noop")
            pairs.append({"target_alone_s": round(alone.wall_s, 2), "noop_s": round(noop.wall_s, 2),
                          "ratio": round(alone.wall_s / noop.wall_s, 2),
                          "target_peak_rss_mib": mib(alone.peak_rss_kib)})
            if i == 0:
                out["target_alone"] = {**alone_sf, "peak_rss_mib": mib(alone.peak_rss_kib),
                                       "cpu_s": round(alone.cpu_s, 2)}
                out["noop_target"] = {"wall_s": round(noop.wall_s, 2), "records_per_s": round(total / noop.wall_s, 1),
                                      "peak_rss_mib": mib(noop.peak_rss_kib), "cpu_s": round(noop.cpu_s, 2)}
            print(f"[N={n}] target alone {alone.wall_s:.1f} s ({mib(alone.peak_rss_kib)} MiB), "
                  f"no-op {noop.wall_s:.1f} s", flush=True)
        out["target_vs_noop"] = round(statistics.median(p["ratio"] for p in pairs), 2)
        if len(pairs) > 1:
            out["target_vs_noop_pairs"] = pairs

        # One record at a time: the formula for all records, and a measured sample.
        sample = naive_sample(records, args.naive_sample)
        measured = measure_naive(sf, sample)
        predicted_all = naive_predicted({s: records.get(s, []) for s in ("prospects", "touchpoints",
                                                                          "search_results")})
        out["naive"] = {"formula": "per prospect 2 x (1 + has email) lookups + 1 owner + 1 write; per "
                                   "touchpoint 2 lookups + 1 owner + 1 write; per search result 2 x (1 + has "
                                   "email) + has domain + has company lookups; + 1 sign-in",
                        "predicted_calls": predicted_all,
                        "calls_per_1000_records": round(1000 * predicted_all / max(1, total), 1),
                        "andsend_badge_calls": counts["search_results"], "sample": measured}
        print(f"[N={n}] one-at-a-time: {predicted_all} calls predicted; sample {measured['measured_calls']} "
              f"measured vs {measured['predicted_calls']} predicted", flush=True)

        floor = floor_calls(records, report, badges)
        out["floor"] = floor
        out["batch_floor"] = batch_floor(records, report, badges)
        base = out["pipeline"][0]
        out["calls_vs_floor"] = round(base["calls"] / floor["total"], 2) if floor["total"] else None
        out["calls_vs_old_floor"] = round(base["calls"] / floor["old"]["total"], 2) if floor["old"]["total"] else None
        out["calls_vs_batch_floor"] = round(base["calls"] / out["batch_floor"]["total"], 2)
        out["floor_per_1000_records"] = round(1000 * floor["total"] / max(1, total), 2)
        return out
    finally:
        for proc in procs:
            stop(proc)
        if args.keep:
            print(f"[N={n}] work files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


# ------------------------------------------------------------------------------- output


def markdown(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [f"# Pipeline benchmark, {meta['date']}", "",
             f"`{meta['command']}` on {meta['machine']}.", "",
             "| N | records | latency | calls | counted | calls / 1k rec | floor | calls / floor | "
             "batch floor | calls / batch floor | old floor (200 / call) | calls / old floor | one-at-a-time calls | "
             "pipeline wall s | rec/s | target alone s | no-op target s | target / no-op | target peak MiB | "
             "SF concurrency in flight | over run |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        for p in r["pipeline"]:
            first = p is r["pipeline"][0]
            old = r["floor"]["old"]["total"]
            lines.append(
                f"| {r['n']:,} | {r['records']['total_synced']:,} | {p['latency_ms']} ms | {p['calls']:,} | "
                f"{p.get('counted', '-')} | {p['calls_per_1000_records']} | {r['floor']['total']:,} | "
                f"{round(p['calls'] / r['floor']['total'], 2) if r['floor']['total'] else '-'} | "
                f"{r['batch_floor']['total']:,} | {round(p['calls'] / r['batch_floor']['total'], 2)} | {old:,} | "
                f"{round(p['calls'] / old, 2) if old else '-'} | "
                f"{r['naive']['predicted_calls']:,} | {p['wall_s']} | {p['records_per_s']} | "
                f"{r['target_alone']['wall_s'] if first else ''} | {r['noop_target']['wall_s'] if first else ''} | "
                f"{r['target_vs_noop'] if first else ''} | {p['target_peak_rss_mib']} | "
                f"{p['effective_concurrency']} | {p.get('concurrency_over_run')} |")
    repeated = [r for r in results if r.get("target_vs_noop_pairs")]
    if repeated:
        lines += ["", "Target alone / no-op target, every pair (the table shows the first pair's times and "
                  "the median ratio):", ""]
        for r in repeated:
            lines.append(f"- N={r['n']:,}: " + "; ".join(
                f"{p['target_alone_s']} s / {p['noop_s']} s = {p['ratio']} (peak {p['target_peak_rss_mib']} MiB)"
                for p in r["target_vs_noop_pairs"]))
    lines += ["", "Calls by kind (first latency), and the subrequests the Composite calls carried:", ""]
    for r in results:
        kinds = ", ".join(f"{k} {v}" for k, v in r["pipeline"][0]["by_kind"].items())
        subs = ", ".join(f"{k} {v}" for k, v in (r["pipeline"][0].get("composite_subrequests") or {}).items())
        lines.append(f"- N={r['n']:,}: {kinds} (subrequests: {subs or 'none'})")
    lines += ["", "Floor (Salesforce limits: 5 statements or 5 Collections of 200 per Composite call, Bulk 2.0 "
              "where a job is fewer calls):", ""]
    for r in results:
        f = r["floor"]
        lines.append(f"- N={r['n']:,}: {f['total']} = fixed {sum(f['fixed'].values())} + lookups "
                     f"{f['lookup_calls']} ({sum(f['lookup_statements'].values())} statements) + writes "
                     f"{sum(f['writes'].values())} {json.dumps(f['writes'])}")
    lines += ["", "Batch floor (the same limits, calls packed within each batch only: a batch is acknowledged "
              "after its writes; batch sizes " + json.dumps(BATCH_SIZES) + "):", ""]
    for r in results:
        f = r["batch_floor"]
        lines.append(f"- N={r['n']:,}: {f['total']} = fixed {sum(FIXED_FLOOR.values())} + CRM status "
                     f"{f['crm_status_calls']} + " + ", ".join(
                         f"{role} {v['calls']} ({v['batches']} batches: lookups {v['lookup_calls']}, writes "
                         f"{v['write_calls']})" for role, v in f["roles"].items()))
    lines += ["", "Old floor (200 records per call, a statement per call):", ""]
    for r in results:
        f = r["floor"]["old"]
        lines.append(f"- N={r['n']:,}: {f['total']} = fixed {sum(f['fixed'].values())} + lookups "
                     f"{sum(f['lookups'].values())} {json.dumps(f['lookups'])} + writes "
                     f"{sum(f['writes'].values())} {json.dumps(f['writes'])}")
    lines += ["", "One record at a time, measured on a sample:", ""]
    for r in results:
        s = r["naive"]["sample"]
        lines.append(f"- N={r['n']:,}: sample {json.dumps(s['records'])}: {s['measured_calls']} calls measured, "
                     f"{s['predicted_calls']} by the formula ({json.dumps(s['by_kind'])})")
    return "\n".join(lines) + "\n"


def print_table(results: list[dict[str, Any]]) -> None:
    print(f"\n{'N':>8} {'records':>8} {'lat':>5} {'calls':>6} {'counted':>7} {'/1k':>6} {'floor':>6} {'x floor':>7} "
          f"{'batch fl':>8} {'x b.fl':>6} "
          f"{'naive':>8} {'wall s':>7} {'rec/s':>7} {'alone s':>7} {'noop s':>7} {'x noop':>6} {'MiB':>6} "
          f"{'conc':>5}")
    for r in results:
        for p in r["pipeline"]:
            print(f"{r['n']:>8} {r['records']['total_synced']:>8} {p['latency_ms']:>5} {p['calls']:>6} "
                  f"{p['counted']:>7} "
                  f"{p['calls_per_1000_records']:>6} {r['floor']['total']:>6} "
                  f"{p['calls'] / max(1, r['floor']['total']):>7.2f} {r['batch_floor']['total']:>8} "
                  f"{p['calls'] / max(1, r['batch_floor']['total']):>6.2f} {r['naive']['predicted_calls']:>8} "
                  f"{p['wall_s']:>7} {p['records_per_s']:>7} {r['target_alone']['wall_s']:>7} "
                  f"{r['noop_target']['wall_s']:>7} {r['target_vs_noop']:>6} {p['target_peak_rss_mib']:>6} "
                  f"{p['effective_concurrency'] or '-':>5}")


def setting(text: str) -> tuple[str, Any]:
    name, _, value = text.partition("=")
    try:
        return name.strip(), json.loads(value)
    except ValueError:
        return name.strip(), value


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.replace(" ", ",").split(",") if x]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int_list, default=[1000, 10000],
                    help="purchased prospects per run, comma-separated (default 1000,10000)")
    ap.add_argument("--latency-ms", type=int_list, default=[0, 100],
                    help="Salesforce emulator latency per pipeline run, comma-separated (default 0,100)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--naive-sample", type=int, default=200, help="records synced one at a time, for real")
    ap.add_argument("--batch-size-rows", type=int, default=None, help="target batch_size_rows (default: its own)")
    ap.add_argument("--setting", type=setting, action="append", default=[], metavar="NAME=JSON",
                    help="an extra target setting, e.g. max_concurrency=8 (repeatable)")
    ap.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--keep", action="store_true", help="keep the work files (emulator DBs, tap output, logs)")
    ap.add_argument("--pairs", type=int, default=1,
                    help="runs of the target alone / no-op target pair per N (the median ratio is reported)")
    args = ap.parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    started = time.perf_counter()
    results = [bench_n(n, args, args.latency_ms) for n in args.n]
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    meta = {"date": date, "command": "python benchmarks/pipeline_benchmark.py " + " ".join(sys.argv[1:] if argv is None
                                                                                          else argv),
            "machine": f"{platform.machine()} {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
                       f"Python {platform.python_version()}",
            "duration_s": round(time.perf_counter() - started, 1)}
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"pipeline-{date}.json"
    json_path.write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    (out_dir / f"pipeline-{date}.md").write_text(markdown(results, meta))
    print_table(results)
    print(f"\nwritten {json_path} and {json_path.with_suffix('.md')} ({meta['duration_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
