"""`target-salesforce-andsend rejects list|replay|clear`: the rejected records kept as retryable work
in the state store (rejects_replay.py), for an admin who fixed the org (or the data).

* `list`    what is kept: per record its error code, cause, attempts, next automatic try and the hint
* `replay`  the next run retries the matching records first thing after its input, whatever their
            back-off or cause (the run holds the lease and the catalog: a replay is never a second,
            unguarded writer)
* `clear`   forget the matching records (they are not retried again; the rejects file keeps them)

Filters: `--role`, `--code` (repeatable), `--key` (repeatable), `--org` (the Salesforce org id; all
orgs by default). Only the state store is read; nothing is sent to Salesforce.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

PROG = "target-salesforce-andsend rejects"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Rejected records kept for retry: list, replay, clear.")
    sub = parser.add_subparsers(dest="action", required=True)
    for action, text in (("list", "show the kept records with their error code, attempts and hint"),
                         ("replay", "retry the matching records in the next run, whatever their back-off"),
                         ("clear", "forget the matching records (needs a filter or --all)")):
        p = sub.add_parser(action, help=text, description=text)
        p.add_argument("--config", action="append", default=[], help="target config JSON (repeatable; ENV = "
                       "the TARGET_SALESFORCE_ANDSEND_* variables)")
        p.add_argument("--role", choices=["prospects", "touchpoints"])
        p.add_argument("--code", action="append", default=[], help="error code, e.g. FIELD_CUSTOM_VALIDATION_EXCEPTION")
        p.add_argument("--key", action="append", default=[], help="record key (prospect or touchpoint id)")
        p.add_argument("--org", help="Salesforce org id (default: every org in the store)")
        if action == "list":
            p.add_argument("--format", choices=["table", "json"], default="table")
        if action == "clear":
            p.add_argument("--all", action="store_true", help="clear every kept record")
    return parser


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    from .links import open_store
    from .mapping_cli import load_config
    from .settings import Settings

    settings = Settings.from_config(load_config(args.config))
    filters: dict[str, Any] = {"org": args.org, "role": args.role, "codes": args.code, "keys": args.key}
    store = open_store(settings, settings.paths.links)
    try:
        if args.action == "list":
            rows = store.rejects_query(**filters)
            _print_list(rows, args.format)
            return 0
        if args.action == "replay":
            n = store.rejects_request_replay(**filters)
            sys.stdout.write(f"{n} rejected record(s) will be retried by the next run.\n")
            return 0
        if not (args.all or args.role or args.code or args.key or args.org):
            sys.stderr.write("clear needs a filter (--role, --code, --key, --org) or --all\n")
            return 2
        n = store.rejects_clear(**filters)
        sys.stdout.write(f"{n} rejected record(s) cleared; they will not be retried.\n")
        return 0
    finally:
        store.close()


def _next_try(row: dict[str, Any]) -> str:
    if row["replay"]:
        return "next run (replay asked)"
    return row["next_at"] or "on `rejects replay` only"


def _print_list(rows: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        for row in rows:
            sys.stdout.write(json.dumps({**row, "next_try": _next_try(row)}, ensure_ascii=False, default=str) + "\n")
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(width=200)
    table = Table(title=f"Rejected records kept for retry ({len(rows)})")
    for col in ("Org", "Role", "Key", "Object", "Error code", "Cause", "Attempts", "Next try", "Message", "Hint"):
        table.add_column(col, overflow="fold")
    for r in rows:
        cells = (r["org_id"], r["role"], r["key"], r["object"] or "", r["error_code"], r["cause"], r["attempts"],
                 _next_try(r), r["message"] or "", r["hint"] or "")
        table.add_row(*(escape(str(c)) for c in cells))
    console.print(table)
    by_code = Counter((r["role"], r["error_code"]) for r in rows)
    for (role, code), n in sorted(by_code.items()):
        console.print(escape(f"{role} {code}: {n}"))
