"""Console script `target-salesforce-andsend`.

* `connect ...`                 sign in to Salesforce and store a refresh token (connect.py)
* `mapping show|validate ...`   the catalog next to the org's describe data (mapping_cli.py)
* `plan --config F [--input F]` dry run from the command line: what a sync would create, link
                                and update, printed to stdout (this is not the Singer target)
* `setup [--port N] ...`        a local web page to connect, map fields and set the switches (setup/)
* `rejects list|replay|clear`   rejected records kept for retry in the state store (rejects_cli.py)
* anything else                 the Singer target itself (`--config`, `--input`, `--about`...),
                                whose stdout carries STATE only
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

PROG = "target-salesforce-andsend"
# Shown under the Singer target's own --help (click keeps "\b" paragraphs as written).
COMMANDS_HELP = f"""\b
Commands (each has its own --help):
  {PROG} connect --environment sandbox|production|<My Domain>
      sign in to Salesforce in the browser (OAuth + PKCE) and store the refresh token
  {PROG} mapping show|validate --config config.json
      the field-mapping catalog next to the org's fields; validate exits 1 if it does not fit
  {PROG} plan --config config.json --input data.singer
      dry run: what a sync would create, link and update (reads only)
  {PROG} rejects list|replay|clear --config config.json [--code CODE] [--role ROLE]
      rejected records kept for retry: list them with a hint, retry them in the next run, or forget them

\b
config.json is the target's settings as JSON, e.g.
  {{"domain": "test", "client_id": "...", "refresh_token": "...", "object_mode": "lead"}}
(--config ENV reads the TARGET_SALESFORCE_ANDSEND_* variables instead, as Meltano passes them)."""


def plan_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog=f"{PROG} plan",
                                     description="Plan a sync with reads only and print what it would do.")
    parser.add_argument("--config", action="append", default=[], help="target config JSON (repeatable)")
    parser.add_argument("--input", default="-", help="Singer messages (file; '-' = stdin)")
    parser.add_argument("--format", choices=["table", "json"], default="table")
    args = parser.parse_args(list(argv))

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from .mapping_cli import load_config

    config = load_config(args.config)
    stream = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")
    console = Console(width=200)
    try:
        report = run_plan(config, stream)
    finally:
        if stream is not sys.stdin:
            stream.close()
    if args.format == "json":
        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n")
    else:
        table = Table(title="Planned actions (dry run: nothing was written)")
        for col in ("Action", "Object", "Salesforce Id", "Via", "Prospects", "Fields"):
            table.add_column(col, overflow="fold")
        for action in report.get("plan", []):
            fields = ", ".join(f"{k}={v}" for k, v in (action.get("fields") or {}).items())
            where = action.get("record_id") or (
                f"(new, account {action['account_ref']})" if action.get("account_ref") else "(new)")
            cells = [action.get("kind", ""), action.get("object", ""), where, action.get("via") or "",
                     ", ".join(action.get("prospect_ids") or []), fields]
            table.add_row(*(escape(str(c)) for c in cells))
        console.print(table)
        console.print(_matches_table(report))
        buf = io.StringIO()
        for role, objects in sorted(report.get("counts", {}).items()):
            for obj, outcomes in sorted(objects.items()):
                buf.write(f"{role} / {obj}: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) + "\n")
        for role, reasons in sorted(report.get("skipped", {}).items()):
            buf.write(f"{role} skipped: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) + "\n")
        if report.get("owners"):
            buf.write("owners: " + ", ".join(f"{k} {v}" for k, v in sorted(report["owners"].items())) + "\n")
        if report.get("ambiguous_matches"):
            buf.write(f"ambiguous matches: {len(report['ambiguous_matches'])}\n")
        buf.write(f"Salesforce API calls (reads): {report.get('api_calls_total', 0)}\n")
        console.print(escape(buf.getvalue().rstrip()))
    return 0 if report.get("status") == "succeeded" else 1


def run_plan(config: dict[str, Any], stream: IO[str]) -> dict[str, Any]:
    """Run the target in dry run over Singer messages and return its report (what it would do)."""
    from .target import TargetSalesforceAndsend

    config = {**config, "dry_run": True}
    with tempfile.TemporaryDirectory(prefix="andsend-plan-") as tmp:
        if not config.get("report_path"):  # the target's own config, being built: before it is checked
            config["report_path"] = str(Path(tmp) / "plan.json")
        # The target never prints; keep it that way even if a library misbehaves.
        with contextlib.redirect_stdout(sys.stderr):
            target = TargetSalesforceAndsend(config=config, validate_config=True)
            target.listen(stream)
        return json.loads(target.settings.paths.report.read_text(encoding="utf-8"))
def _why(action: dict[str, Any]) -> tuple[str, str, str, str]:
    """(decision, Salesforce record, step, score) of one planned action, for the matches table."""
    score = action.get("score")
    shown = "" if score is None else f"{score:g}"
    obj = action.get("object", "")
    if action.get("kind") in ("link", "update"):
        return f"link {obj}" + (" (update)" if action["kind"] == "update" else ""), action.get("record_id", ""), \
            action.get("via", ""), shown
    if obj == "Contact" and action.get("account_id"):
        return "new Contact under Account", action["account_id"], action.get("account_via", ""), shown
    if obj == "Contact" and action.get("account_ref"):
        return "new Contact + new Account", f"(new: {action['account_ref']})", "no match", ""
    return f"new {obj}", "(new)", "no match", ""


def _matches_table(report: dict[str, Any]) -> Any:
    """Per prospect: which record it would link to and why (the step that decided, its score),
    then the near misses that led to a create (candidates the matcher turned down, with score)."""
    from rich.table import Table

    table = Table(title="Per prospect: linked record and why")
    for col in ("Prospect", "Decision", "Salesforce record", "Step", "Score"):
        table.add_column(col, overflow="fold")
    for action in report.get("plan", []):
        if action.get("object") == "Account" and action.get("kind") == "create":
            continue  # shown with the Contact that needs it
        decision = _why(action)
        for pid in action.get("prospect_ids") or []:
            table.add_row(*(escape_markup(str(c)) for c in (pid, *decision)))
    for entry in report.get("match_audit", []):
        if entry.get("outcome") == "near_miss":
            table.add_row(*(escape_markup(str(c)) for c in (
                entry.get("prospect_id") or entry.get("key"), f"near miss: {entry.get('reason')}",
                f"{entry.get('record_id')} {entry.get('account_name') or ''}".strip(), "not linked",
                entry.get("score"))))
    return table


def escape_markup(text: str) -> str:
    from rich.markup import escape

    return escape(text)


COMMANDS = ("connect", "mapping", "plan", "rejects")


def _command_first(args: list[str]) -> list[str]:
    """`meltano invoke target-salesforce-andsend mapping show` runs
    `target-salesforce-andsend --config <Meltano's file> mapping show`: move the command first
    and its config after it, so that form works like `mapping show --config <file>`."""
    configs: list[str] = []
    i = 0
    while i + 1 < len(args) and args[i] == "--config":
        configs += args[i : i + 2]
        i += 2
    if configs and i < len(args) and args[i] in COMMANDS:
        # connect takes its settings from the variables Meltano sets (it has no --config)
        return args[i:] if args[i] == "connect" else [*args[i:], *configs]
    return args


def _reported_failures() -> tuple[type[BaseException], ...]:
    from .catalog import CatalogError
    from .salesforce.errors import SalesforceError

    return (SalesforceError, CatalogError)


def main(argv: Sequence[str] | None = None) -> int | None:
    args = _command_first(list(sys.argv[1:] if argv is None else argv))
    command = args[0] if args else ""
    from .salesforce.redact import install_for_plugin

    # Before anything can log: the secrets of every --config file and TARGET_SALESFORCE_ANDSEND_*
    # variable are masked from the first line on, and http.client's wire debugging (which prints
    # to stdout, the STATE channel) goes to the redacted log instead.
    install_for_plugin(argv=args, env_prefix="TARGET_SALESFORCE_ANDSEND_")
    if command == "connect":
        from .connect import main as connect_main

        return connect_main(args[1:])
    if command == "mapping":
        from .mapping_cli import main as mapping_main

        return mapping_main(args[1:])
    if command == "plan":
        return plan_main(args[1:])
    if command == "rejects":
        from .rejects_cli import main as rejects_main

        return rejects_main(args[1:])
    if command == "setup":
        from .setup.main import main as setup_main

        return setup_main(args[1:])
    from .memory import limit_malloc_arenas
    from .target import SingerInputError, TargetSalesforceAndsend

    reported_failures = _reported_failures()

    limit_malloc_arenas()  # before the target's threads allocate (see memory.py)
    command = TargetSalesforceAndsend.cli
    command.epilog = COMMANDS_HELP
    try:
        return command(args=args, prog_name=PROG)
    except SingerInputError as exc:
        import logging

        logging.getLogger(PROG).error("%s", exc)
        logging.getLogger(PROG).debug("Traceback of the failure above:", exc_info=exc)
        return 1
    except reported_failures as exc:
        # The target already logged one ERROR line saying what failed and which setting to fix
        # (finish_run); the traceback helps only who debugs the target itself.
        import logging

        logging.getLogger(PROG).debug("Traceback of the failure above:", exc_info=exc)
        return 1


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
