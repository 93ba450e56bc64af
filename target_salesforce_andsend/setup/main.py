"""Command line of `target-salesforce-andsend setup`: find the files, serve the page on 127.0.0.1."""

from __future__ import annotations

import argparse
import sys
import threading
import webbrowser
from collections.abc import Sequence
from pathlib import Path

DEFAULT_PORT = 8719
PROG = "target-salesforce-andsend setup"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Connect to Salesforce, map fields and set the switches in a local web page; Save writes the "
                    "mapping catalog and the plugin settings (meltano.yml, or a config JSON).")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help="port on 127.0.0.1 (default %(default)s; the connected app's callback URL must be "
                        "http://127.0.0.1:<port>/oauth/callback)")
    p.add_argument("--no-browser", action="store_true", help="print the page's address instead of opening a browser")
    p.add_argument("--project", type=Path, help="Meltano project directory (default: the one around the current "
                                                 "directory)")
    p.add_argument("--meltano-env", help="write the settings into this Meltano environment (default: the loader's "
                                         "own config, which every environment inherits)")
    p.add_argument("--config", type=Path, help="edit this target config JSON instead of a Meltano project")
    p.add_argument("--catalog", type=Path, help="the catalog file to write (default: the mapping_catalog setting, "
                                                "else mapping-catalog.yaml beside meltano.yml / the config JSON)")
    p.add_argument("--login-url", help="explicit login host URL for sign-in (e.g. a local emulator)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    try:
        import jinja2  # noqa: F401
        import ruamel.yaml  # noqa: F401
    except ImportError:
        sys.stderr.write("setup needs the [setup] extra: pip install 'andsend-salesforce-connectors[setup]'\n")
        return 2
    import uvicorn

    from ..connect import find_meltano_project
    from ..salesforce.redact import install as install_redaction
    from .app import SetupState, create_app
    from .workspace import Workspace, WorkspaceError

    install_redaction()
    if args.config is not None:
        workspace = Workspace(project=None, config_path=args.config.resolve(), meltano_env=None,
                              catalog_override=args.catalog)
    else:
        project = args.project.resolve() if args.project else find_meltano_project()
        if project is None or not (project / "meltano.yml").is_file():
            sys.stderr.write("setup: no meltano.yml here or above; use --project DIR or --config FILE\n")
            return 2
        workspace = Workspace(project=project, config_path=None, meltano_env=args.meltano_env,
                              catalog_override=args.catalog)
    state = SetupState(workspace=workspace, login_url=args.login_url)
    try:
        state.load()
    except WorkspaceError as exc:
        sys.stderr.write(f"setup: {exc}\n")
        return 1
    app = create_app(state)
    url = f"http://127.0.0.1:{args.port}/"
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning",
                                           access_log=False))
    sys.stderr.write(f"Setup page: {url}  (Ctrl+C to stop; nothing is written until you press Save)\n")
    if not args.no_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    server.run()
    if state.org is not None:
        state.org.close()
    return 0
