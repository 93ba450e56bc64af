"""``andsend-emulators``: start the Salesforce or Andsend emulator, or write fixtures.

Each emulator contributes its own subcommands through ``add_commands(subparsers)``
in its ``cli`` module, so this file only wires them together.
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="andsend-emulators",
        description="Local emulators of the Salesforce REST API and the Andsend API (127.0.0.1, SQLite-backed).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    from emulators.andsend import cli as andsend_cli
    from emulators.salesforce import cli as salesforce_cli

    salesforce_cli.add_commands(sub)
    andsend_cli.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
