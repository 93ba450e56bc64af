"""Subcommands of `andsend-emulators` for the Andsend emulator: ``andsend`` and ``salesforce-fixture``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from emulators.andsend.generator import DEFAULT_NOW, GeneratorConfig


def _size_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seed", type=int, default=1, help="generator seed (same seed and sizes -> same data)"
    )
    parser.add_argument("--prospects", type=int, default=2000, help="number of prospects (default 2000)")
    parser.add_argument("--purchased-share", type=float, default=0.6, help="share of purchased prospects")
    parser.add_argument("--users", type=int, default=20, help="number of Andsend users (default 20)")
    parser.add_argument("--campaigns", type=int, default=8, help="number of campaigns (default 8)")
    parser.add_argument("--searches", type=int, default=10, help="number of saved searches (default 10)")
    parser.add_argument(
        "--results-per-search", type=int, default=40, help="mean results per search (default 40)"
    )
    parser.add_argument("--now", default=DEFAULT_NOW, help="generated data ends at this instant (RFC 3339)")


def config_from_args(args: argparse.Namespace) -> GeneratorConfig:
    return GeneratorConfig(
        seed=args.seed,
        prospects=args.prospects,
        purchased_share=args.purchased_share,
        users=args.users,
        campaigns=args.campaigns,
        searches=args.searches,
        results_per_search=args.results_per_search,
        now=args.now,
    )


def _serve(args: argparse.Namespace) -> int:
    from emulators.andsend.server import create_app
    from emulators.andsend.store import Store
    from emulators.serving import serve_forever

    existing = None
    if Path(args.db).exists():
        probe = Store(args.db)
        existing = probe.config()
        probe.close()
    config = config_from_args(args)
    if existing is not None and existing != config:
        print(
            f"andsend emulator: reusing {args.db} (generated with {existing.to_dict()}); size flags ignored",
            file=sys.stderr,
        )
    workspaces: dict[str, str] = {}
    for spec in args.workspace:
        name, sep, key = spec.partition("=")
        if not sep or not name or not key:
            print(f"andsend emulator: --workspace {spec!r}: expected NAME=KEY", file=sys.stderr)
            return 2
        workspaces[name] = key
    app = create_app(args.db, **config.to_dict(), api_key=args.api_key, workspaces=workspaces)
    serve_forever(app, port=args.port)
    return 0


def _fixture(args: argparse.Namespace) -> int:
    from emulators.andsend.sf_fixture import FixtureOptions, build_fixture

    fixture = build_fixture(
        config_from_args(args),
        FixtureOptions(
            overlap=args.overlap, users_present=args.users_present, omit_external_ids=args.omit_external_ids
        ),
    )
    if args.messy:
        from emulators.salesforce.messy_org import with_messy_org

        fixture = with_messy_org(fixture)
    text = json.dumps(fixture, ensure_ascii=False, indent=1)
    if args.out == "-":
        sys.stdout.write(text + "\n")
    else:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
        counts = {obj: len(rows) for obj, rows in fixture["records"].items()}
        print(f"wrote {args.out}: {len(fixture['users'])} users, {counts}", file=sys.stderr)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser(
        "andsend",
        help="serve the Andsend API emulator on 127.0.0.1 (prints its base URL first)",
        description="Serve schemas/andsend-api.openapi.yaml from SQLite. An existing --db is reused as is; "
        "a new one is filled by the deterministic generator.",
    )
    serve.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port)")
    serve.add_argument("--db", required=True, help="SQLite file (reused if it already holds data)")
    serve.add_argument("--api-key", default="andsend-demo-key", help="accepted Bearer key (default workspace)")
    serve.add_argument(
        "--workspace",
        action="append",
        default=[],
        metavar="NAME=KEY",
        help="one more workspace with its own data set (seeded from --seed and NAME, stored in "
        "<db>.<NAME>.sqlite) that only KEY sees; repeatable (control plane: ?workspace=NAME)",
    )
    _size_flags(serve)
    serve.set_defaults(handler=_serve)

    fixture = sub.add_parser(
        "salesforce-fixture",
        help="write a Salesforce emulator fixture that overlaps the generated Andsend data",
        description="Users for a share of Andsend users and existing Leads/Contacts/Accounts for a share of "
        "purchased prospects, in the Salesforce emulator's seed format (docs/DESIGN.md).",
    )
    _size_flags(fixture)
    fixture.add_argument(
        "--overlap", type=float, default=0.3, help="share of purchased prospects already in the org"
    )
    fixture.add_argument(
        "--users-present", type=float, default=0.75, help="share of Andsend users with a SF user"
    )
    fixture.add_argument(
        "--omit-external-ids",
        action="store_true",
        help="leave Andsend_Prospect_Id__c / Andsend_Touchpoint_Id__c out of the org's describe",
    )
    fixture.add_argument(
        "--messy",
        action="store_true",
        help="add emulators/salesforce/fixtures/messy.json (validation rules, record types, duplicate rules, "
        "field security, failing automation, sandbox, State and Country picklists)",
    )
    fixture.add_argument("--out", required=True, help="output file ('-' for stdout)")
    fixture.set_defaults(handler=_fixture)
