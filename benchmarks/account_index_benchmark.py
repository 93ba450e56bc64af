"""What the Account index (account_index.py) costs: calls, time and memory of its first and later runs.

    python benchmarks/account_index_benchmark.py [--accounts 10000,100000] [--modes auto,query,bulk]
        [--changes 200] [--bulk-delay-ms 2000] [--out-dir benchmarks/results]

For every org size: a Salesforce emulator (its own process) loaded with N Accounts (one in ten
named with diacritics, "Björk 7 AB"; half with a Website), then for each mode a first run of the
target (contact_account, one prospect "Bjork 7", no website: found only through the index) on a
fresh output dir, and, after ``--changes`` Accounts were changed (half renamed, half deleted) and as
many created, a later run on the same output dir. Printed per run: the index's refresh calls (the
report's ``account_index`` section), the Salesforce calls by kind (the emulator's count), wall
time, the target's peak RSS (its own, reaped with wait4), rows read and the link store's size. A
run with ``account_index: off`` gives the memory baseline.

Writes ``<out-dir>/account-index-<date>.json`` and ``.md``. Figures only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from _common import control, exe, run_measured, salesforce_login, start_emulator, stop  # noqa: E402

STAMP = "2026-01-01T00:00:00Z"
SCHEMA = json.loads((ROOT / "schemas" / "prospects.json").read_text(encoding="utf-8"))


def fixture(n: int) -> dict[str, Any]:
    accounts = []
    for i in range(n):
        name = f"Björk {i} AB" if i % 10 == 7 else f"Firma {i} GmbH"
        # Modified over 2025, as an org's Accounts are (the later run's changes come after).
        stamp = f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00.000+0000"
        row: dict[str, Any] = {"_ref": f"a{i}", "Name": name, "LastModifiedDate": stamp, "SystemModstamp": stamp}
        if i % 2:
            row["Website"] = f"https://www.firma{i}.test/"
        accounts.append(row)
    return {"records": {"Account": accounts}}


def singer(prospect_id: str, company: str) -> str:
    record = {"id": prospect_id, "status": "purchased", "purchased": True, "first_name": "Ann",
              "last_name": f"Lee {prospect_id}", "email": f"{prospect_id}@gmail.com", "company_name": company,
              "created_at": STAMP, "updated_at": STAMP}
    return "\n".join([json.dumps({"type": "SCHEMA", "stream": "prospects", "schema": SCHEMA, "key_properties": ["id"]}),
                      json.dumps({"type": "RECORD", "stream": "prospects", "record": record}, ensure_ascii=False),
                      json.dumps({"type": "STATE", "value": {"bookmarks": {"prospects": {"id": prospect_id}}}})]) + "\n"


def run_target(sf: str, workdir: Path, out_dir: Path, tag: str, prospect_id: str, company: str,
               **settings: Any) -> dict[str, Any]:
    cfg = workdir / f"{tag}.json"
    cfg.write_text(json.dumps({**salesforce_login(sf), "output_dir": str(out_dir), "object_mode": "contact_account",
                               "sync_crm_status": False, **settings}))
    source = workdir / f"{tag}.singer"
    source.write_text(singer(prospect_id, company), encoding="utf-8")
    control(sf, "POST", "stats/reset")
    with open(source, "rb") as stdin, open(workdir / f"{tag}.err", "wb") as err:
        measured = run_measured([exe("target-salesforce-andsend"), "--config", str(cfg)],
                                report=workdir / f"{tag}.rusage.json", stdin=stdin, stdout=subprocess.DEVNULL,
                                stderr=err)
    if measured.returncode:
        raise SystemExit(f"{tag} failed:\n" + (workdir / f"{tag}.err").read_text(errors="replace")[-3000:])
    report = json.loads((out_dir / "report.json").read_text())
    stats = control(sf, "GET", "stats")
    store = out_dir / "links.sqlite"
    return {"run": tag, "index": report.get("account_index") or {}, "calls": sum(stats["by_kind"].values()),
            "by_kind": {k: v for k, v in sorted(stats["by_kind"].items()) if v},
            "wall_s": round(measured.wall_s, 1), "cpu_s": round(measured.cpu_s, 1),
            "peak_rss_mib": round(measured.peak_rss_kib / 1024, 1),
            "store_mib": round(sum(p.stat().st_size for p in out_dir.glob("links.sqlite*")) / 2**20, 1)
            if store.exists() else 0.0}


def change_accounts(sf: str, n: int, changes: int) -> None:
    """Half of ``changes`` Accounts renamed, half deleted, ``changes`` created (sObject Collections)."""
    login = salesforce_login(sf)
    token = requests.post(f"{sf}/services/oauth2/token", data={
        "grant_type": "password", "client_id": login["client_id"], "client_secret": login["client_secret"],
        "username": login["username"], "password": login["password"] + login["security_token"]}, timeout=60).json()
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token['access_token']}"
    api = f"{token['instance_url']}/services/data/v60.0"
    soql = f"SELECT Id FROM Account ORDER BY Id LIMIT {int(changes)}"  # noqa: S608 - a number
    picked = s.get(f"{api}/query", params={"q": soql}).json()
    ids = [r["Id"] for r in picked["records"]]
    half = len(ids) // 2
    for i in range(0, half, 200):
        s.patch(f"{api}/composite/sobjects", json={"allOrNone": False, "records": [
            {"attributes": {"type": "Account"}, "Id": rid, "Name": f"Renamed {rid} Oy"}
            for rid in ids[i:min(half, i + 200)]]})
    for i in range(half, len(ids), 200):
        s.delete(f"{api}/composite/sobjects", params={"ids": ",".join(ids[i:i + 200]), "allOrNone": "false"})
    for i in range(0, changes, 200):
        s.post(f"{api}/composite/sobjects", json={"allOrNone": False, "records": [
            {"attributes": {"type": "Account"}, "Name": f"Nový {n + j} s.r.o."}
            for j in range(i, min(changes, i + 200))]})


def markdown(results: list[dict[str, Any]], changes: int, bulk_delay_ms: int) -> list[str]:
    lines = ["# Account index: calls, time and memory", "",
             "`benchmarks/account_index_benchmark.py`; one prospect per run (\"Bjork 7\", found only "
             f"through the index); later run after {changes} Accounts renamed or deleted and as many created; emulator "
             f"Bulk query jobs take {bulk_delay_ms} ms. Wall times on a shared, loaded machine; CPU seconds are "
             "the target process's own.", "",
             "| Accounts | run | index mode | refresh calls | all calls (by kind) | rows read | removed | "
             "wall s | target CPU s | target peak RSS MiB | store MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for entry in results:
        for run in entry["runs"]:
            idx = run["index"]
            lines.append(f"| {entry['accounts']:,} | {run['run']} | {idx.get('mode', 'off')} | "
                         f"{idx.get('refresh_calls', 0)} | {run['calls']} {run['by_kind']} | "
                         f"{idx.get('rows_read', 0):,} | "
                         f"{idx.get('removed', 0)} | {run['wall_s']} | {run['cpu_s']} | {run['peak_rss_mib']} | "
                         f"{run['store_mib']} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", default="10000,100000")
    ap.add_argument("--modes", default="auto,query,bulk")
    ap.add_argument("--changes", type=int, default=200)
    ap.add_argument("--bulk-delay-ms", type=int, default=2000, help="emulator: time a Bulk query job takes")
    ap.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    results: list[dict[str, Any]] = []
    for n in [int(x) for x in args.accounts.split(",")]:
        workdir = Path(tempfile.mkdtemp(prefix=f"account-index-{n}-"))
        (workdir / "fixture.json").write_text(json.dumps(fixture(n), ensure_ascii=False))
        proc, sf = start_emulator(["salesforce", "--port", "0", "--db", ":memory:", "--fixture",
                                   str(workdir / "fixture.json")])
        try:
            control(sf, "PUT", "settings", {"bulk_processing_delay_ms": args.bulk_delay_ms})
            entry: dict[str, Any] = {"accounts": n, "runs": []}
            baseline = run_target(sf, workdir, workdir / "off", "off", "p-off", "Bjork 7", account_index="off")
            entry["runs"].append(baseline)
            control(sf, "POST", "reset")
            modes = args.modes.split(",")
            for mode in modes:
                first = run_target(sf, workdir, workdir / mode, f"{mode}-first", f"p-{mode}", "Bjork 7",
                                   account_index=mode, bulk_poll_seconds=1)
                entry["runs"].append(first)
                print(f"[{n}] {mode} first: {first['index']} calls {first['calls']} rss {first['peak_rss_mib']} MiB",
                      flush=True)
                control(sf, "POST", "reset")  # back to the fixture for the next mode
            last = modes[-1]
            change_accounts(sf, n, args.changes)
            later = run_target(sf, workdir, workdir / last, f"{last}-later", f"p-{last}-2", "Bjork 17",
                               account_index=last)
            entry["runs"].append(later)
            print(f"[{n}] {last} later: {later['index']} calls {later['calls']}", flush=True)
            results.append(entry)
        finally:
            stop(proc)
            shutil.rmtree(workdir, ignore_errors=True)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    (out_dir / f"account-index-{day}.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    lines = markdown(results, args.changes, args.bulk_delay_ms)
    (out_dir / f"account-index-{day}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
