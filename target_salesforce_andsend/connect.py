"""`target-salesforce-andsend connect`: sign in to Salesforce in the browser and keep the refresh token.

OAuth 2.0 web-server flow with PKCE (S256): a one-shot HTTP server on 127.0.0.1 receives the
redirect, the ``state`` is checked, the code is exchanged with the ``code_verifier``, the new
refresh token is tried once, and then stored where Meltano keeps secrets
(``meltano config set``: sensitive settings go to ``.env``) or, outside a Meltano project or
with ``--print``, printed for you to store. The token never reaches a log line or a command line.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import webbrowser
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import requests

from .salesforce.auth import Authenticator, Token, resolve_login_url
from .salesforce.errors import SalesforceError
from .salesforce.redact import install as install_redaction
from .salesforce.redact import register_secrets

PLUGIN = "target-salesforce-andsend"
CALLBACK_PATH = "/oauth/callback"
# The connected app's callback URL must match the redirect exactly (Salesforce answers
# redirect_uri_mismatch otherwise), so the port is fixed and documented, not picked at random.
DEFAULT_PORT = 8710
DEFAULT_SCOPE = "api refresh_token"


class ConnectError(Exception):
    pass


def _err(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43..128
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def domain_setting(environment: str) -> str:
    env = environment.strip().lower()
    if env in ("sandbox", "test"):
        return "test"
    if env in ("production", "prod", "login"):
        return "login"
    return environment.strip()


class _Callback:
    """What the redirect brought back (filled by the handler thread)."""

    def __init__(self) -> None:
        self.params: dict[str, str] | None = None
        self.done = threading.Event()


def _handler(callback: _Callback) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path != CALLBACK_PATH:
                self.send_error(404)
                return
            params = {k: v[0] for k, v in parse_qs(url.query).items()}
            ok = "code" in params
            body = (
                "<!DOCTYPE html><html><body><h1>"
                + ("Connected to Salesforce." if ok else "Salesforce sign-in did not complete.")
                + "</h1><p>"
                + (html.escape(params.get("error_description", "")) if not ok else "")
                + "You can close this window and return to the terminal.</p></body></html>"
            ).encode()
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            if callback.params is None:
                callback.params = params
                callback.done.set()

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def find_meltano_project(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / "meltano.yml").is_file():
            return directory
    return None


def _meltano_command() -> list[str]:
    # The meltano beside this interpreter first (same venv), then the one on PATH.
    beside = Path(sys.executable).with_name("meltano")
    if beside.is_file():
        return [str(beside)]
    exe = shutil.which("meltano")
    if exe:
        return [exe]
    raise ConnectError("meltano is not installed here; run again with --print and store the settings yourself")


def store_in_meltano(project: Path, settings: dict[str, str], *, environment: str | None) -> None:
    """``meltano config set`` each setting; values travel on stdin, never on a command line."""
    base = _meltano_command()
    if environment:
        base += [f"--environment={environment}"]
    env = {**os.environ, "MELTANO_DISABLE_TRACKING": "true", "MELTANO_CLI_DISABLE_VERSION_CHECK": "true"}
    for name, value in settings.items():
        proc = subprocess.run(
            [*base, "config", "set", "--from-file", "-", PLUGIN, name],
            input=value, text=True, capture_output=True, cwd=project, env=env, timeout=300,
        )
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise ConnectError(f"meltano config set {name} failed: {' / '.join(tail)}")


def callback_url(port: int) -> str:
    """The redirect URI for a local port: what the admin registers as the connected app's callback URL."""
    return f"http://127.0.0.1:{port}{CALLBACK_PATH}"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{PLUGIN} connect",
        description="Sign in to Salesforce in your browser (OAuth with PKCE) and store the refresh token.",
    )
    p.add_argument("--environment", default="production",
                   help="sandbox, production, or your My Domain host (acme or acme.my.salesforce.com)")
    p.add_argument("--login-url", help="explicit login host URL (wins over --environment), e.g. a local emulator")
    p.add_argument("--client-id", default=os.environ.get("TARGET_SALESFORCE_ANDSEND_CLIENT_ID"),
                   help="the connected app's consumer key (default: $TARGET_SALESFORCE_ANDSEND_CLIENT_ID)")
    p.add_argument("--client-secret-env", default="TARGET_SALESFORCE_ANDSEND_CLIENT_SECRET",
                   help="environment variable holding the consumer secret, if the app requires it for the "
                        "web-server flow (default: %(default)s)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help="local port for the redirect (default %(default)s); the connected app's callback URL "
                        f"must be exactly {callback_url(DEFAULT_PORT)} (or the same with your port)")
    p.add_argument("--no-browser", action="store_true", help="print the sign-in URL instead of opening a browser")
    p.add_argument("--meltano-env", help="Meltano environment to store non-secret settings in")
    p.add_argument("--print", dest="print_only", action="store_true",
                   help="print the settings (refresh token included) as JSON on stdout instead of storing them")
    p.add_argument("--scope", default=DEFAULT_SCOPE, help="OAuth scopes (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the sign-in (default 300)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    install_redaction()
    if not args.client_id:
        _err("connect: --client-id (or $TARGET_SALESFORCE_ANDSEND_CLIENT_ID) is required: the connected app's "
             "consumer key")
        return 2
    client_secret = os.environ.get(args.client_secret_env) or None
    register_secrets(client_secret)
    domain = domain_setting(args.environment)
    login_url = resolve_login_url(domain, args.login_url)
    try:
        settings = run_flow(args, login_url=login_url, client_secret=client_secret)
    except (ConnectError, SalesforceError) as exc:
        _err(f"connect: {exc}")
        return 1
    if args.login_url:
        settings["login_url"] = login_url
    else:
        settings["domain"] = domain
    project = None if args.print_only else find_meltano_project()
    if project is None:
        if not args.print_only:
            _err("connect: not inside a Meltano project: printing the settings; keep refresh_token secret")
        sys.stdout.write(json.dumps(settings, indent=2) + "\n")
        sys.stdout.flush()
        return 0
    try:
        store_in_meltano(project, settings, environment=args.meltano_env)
    except (ConnectError, subprocess.TimeoutExpired) as exc:
        _err(f"connect: {exc}")
        return 1
    _err(f"connect: stored {', '.join(sorted(settings))} for {PLUGIN} in {project} "
         "(refresh_token in .env; keep that file out of version control)")
    return 0


def run_flow(args: argparse.Namespace, *, login_url: str, client_secret: str | None) -> dict[str, str]:
    verifier, challenge = pkce_pair()
    register_secrets(verifier)
    state = secrets.token_urlsafe(24)
    callback = _Callback()
    try:
        server = ThreadingHTTPServer(("127.0.0.1", args.port), _handler(callback))
    except OSError as exc:
        raise ConnectError(f"cannot listen on 127.0.0.1:{args.port} for the redirect ({exc.strerror}): stop what "
                           f"uses it, or pass --port N and register http://127.0.0.1:N{CALLBACK_PATH} "
                           "as a callback URL of the connected app") from None
    redirect_uri = callback_url(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        authorize_url = build_authorize_url(login_url, client_id=args.client_id, redirect_uri=redirect_uri,
                                            challenge=challenge, state=state, scope=args.scope)
        if args.no_browser or not webbrowser.open(authorize_url):
            _err(f"Open this URL in a browser to sign in to Salesforce:\n\n  {authorize_url}\n")
        else:
            _err(f"Opened your browser to sign in to Salesforce ({login_url}); waiting for the redirect to "
                 f"{redirect_uri} ...")
        if not callback.done.wait(args.timeout):
            raise ConnectError(f"no sign-in within {args.timeout:.0f}s")
    finally:
        server.shutdown()
        server.server_close()
    params = callback.params or {}
    if params.get("state") != state:
        raise ConnectError("the redirect's state does not match this sign-in (possible CSRF); nothing stored")
    if "error" in params:
        raise ConnectError(f"Salesforce refused: {params['error']}: {params.get('error_description', '')}")
    code = params.get("code")
    if not code:
        raise ConnectError("the redirect carried no authorization code")
    register_secrets(code)
    settings, check = exchange_code(login_url, client_id=args.client_id, client_secret=client_secret, code=code,
                                    redirect_uri=redirect_uri, verifier=verifier)
    _err(f"connect: signed in; instance {check.instance_url}")
    return settings


def build_authorize_url(login_url: str, *, client_id: str, redirect_uri: str, challenge: str, state: str,
                        scope: str = DEFAULT_SCOPE) -> str:
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
             "code_challenge": challenge, "code_challenge_method": "S256", "state": state, "scope": scope}
    return f"{login_url}/services/oauth2/authorize?{urlencode(query)}"


def exchange_code(login_url: str, *, client_id: str, client_secret: str | None, code: str, redirect_uri: str,
                  verifier: str) -> tuple[dict[str, str], Token]:
    """Authorization code + PKCE verifier -> the settings to store (client_id, refresh_token[, client_secret])
    and the session of a fresh login with that refresh token (which proves it works)."""
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": client_id, "code_verifier": verifier}
    if client_secret:
        body["client_secret"] = client_secret
    try:
        resp = requests.post(f"{login_url}/services/oauth2/token", data=body, timeout=60,
                             headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise ConnectError(f"could not reach {login_url}: {type(exc).__name__}") from None
    payload = resp.json() if resp.headers.get("Content-Type", "").startswith("application/json") else {}
    if resp.status_code != 200 or "access_token" not in payload:
        raise ConnectError(f"token exchange failed: HTTP {resp.status_code} {payload.get('error', '')}: "
                           f"{payload.get('error_description', '')}")
    register_secrets(payload.get("access_token"), payload.get("refresh_token"))
    refresh = payload.get("refresh_token")
    if not refresh:
        raise ConnectError("Salesforce issued no refresh token: give the connected app the 'refresh_token, "
                           "offline_access' scope and allow refresh tokens")
    # auth_flow "auto" picks refresh_token whenever refresh_token + client_id are set, and the token
    # response gives the instance URL on every login: neither needs storing.
    settings = {"client_id": client_id, "refresh_token": refresh}
    if client_secret:
        settings["client_secret"] = client_secret
    # Prove the stored token works before anyone relies on it (one OAuth call).
    check = Authenticator({**settings, "login_url": login_url, "auth_flow": "refresh_token"}).authenticate()
    return {k: v for k, v in settings.items() if v}, check


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
