"""Subcommands of `andsend-emulators` for the Salesforce emulator."""

from __future__ import annotations

import argparse
import sys


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("salesforce", help="run the Salesforce REST API emulator on 127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="port (0 = a free one); the base URL is printed first")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--db", default=":memory:", help="SQLite file (WAL) or :memory:")
    p.add_argument("--fixture", default=None, help="JSON or YAML fixture (docs/DESIGN.md); loaded into a new DB")
    p.add_argument("--https", action="store_true", help="serve HTTPS with a generated self-signed certificate")
    p.add_argument("--describe-dir", default=None, help="directory of <Object>.json describe documents")
    p.add_argument("--instance-url", default=None, help="instance_url to hand out (default: the request's host)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from emulators.salesforce.server import create_app
    from emulators.serving import serve_forever

    app = create_app(args.db, args.fixture, https=args.https, describe_dir=args.describe_dir,
                     instance_url=args.instance_url)
    if args.fixture and not app.state.emulator.fixture_loaded:
        print(f"note: {args.db} already holds an org; --fixture {args.fixture} was not loaded", file=sys.stderr)
    cert, key = app.state.tls or (None, None)
    serve_forever(app, host=args.host, port=args.port, ssl_certfile=cert, ssl_keyfile=key)
    return 0
