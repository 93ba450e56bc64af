"""No secret in any log or output file, with every debug channel on.

The pipeline runs four times against one pair of emulators, once per Salesforce sign-in flow
(password + security token + client secret, refresh token, JWT with an inline private key, a
ready access token), with the Andsend API key used by the tap and by the target's badge
write-back. Every log level is DEBUG: ``LOGLEVEL=DEBUG`` (the SDK's plugin loggers), a logging
config (``SINGER_SDK_LOG_CONFIG``) putting the root, ``urllib3``, ``requests`` and ``http.client``
loggers at DEBUG, and ``http.client`` wire debugging (``debuglevel=1``, switched on by a
``sitecustomize`` module) in both programs, which prints every request's headers and body with
``print()`` (so, unhandled, onto the Singer stdout). The password flow also runs as the SOAP
``login()`` (no client id), whose body carries the password and token as XML. The emulator
revokes its access tokens every few calls, so new tokens are issued (and logged about) mid-run.

Then every secret, every token the emulator issued, and their URL/JSON/XML-encoded, base64 and
bytes-repr spellings are looked for in both programs' stderr, the target's stdout, the report, rejects and badges files
and the link store.
"""

from __future__ import annotations

import json
import re
import sqlite3
from base64 import b64encode
from pathlib import Path
from urllib.parse import quote, quote_plus, urlencode
from xml.sax.saxutils import escape as xml_escape

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from emulators.andsend.generator import GeneratorConfig
from tests.reliability.pipeline import (
    Pipeline,
    base_env,
    default_tap_config,
    default_target_config,
    start_world,
)

pytestmark = pytest.mark.e2e  # runs the CLIs as subprocesses

SIZES = GeneratorConfig(seed=4, prospects=50, users=5, campaigns=2, searches=2, results_per_search=8)
ANDSEND_KEY = "ask_live_Zq8vKp3NfT6wR1yB"
USERNAME = "integration@secret-corp.test"
PASSWORD = "Pw-s3cret+/=&x%<>"  # every character that URL, JSON and XML escape differently
SECURITY_TOKEN = "TokS3cretXy9Q"
CLIENT_ID = "secret-corp-app"
CLIENT_SECRET = "Cl1ent-S3cret-Value-7f3e"

LOG_CONFIG = """\
version: 1
disable_existing_loggers: false
formatters:
  plain: {format: "%(asctime)s %(levelname)s %(name)s %(message)s"}
handlers:
  stderr: {class: logging.StreamHandler, stream: ext://sys.stderr, formatter: plain, level: DEBUG}
loggers:
  urllib3: {level: DEBUG}
  requests: {level: DEBUG}
  http.client: {level: DEBUG}
root: {level: DEBUG, handlers: [stderr]}
"""
SITECUSTOMIZE = "import http.client\nhttp.client.HTTPConnection.debuglevel = 1\n"


def _rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def _refresh_token(base_url: str) -> str:
    """A refresh token for the integration user, by the web-server flow (what `connect` does)."""
    redirect = "http://127.0.0.1:9/callback"
    session = requests.Session()
    query = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": redirect}
    page = session.get(f"{base_url}/services/oauth2/authorize", params=query, timeout=30)
    page.raise_for_status()
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    import html

    fields = {k: html.unescape(v) for k, v in fields.items()}
    fields.update({"username": USERNAME, "password": PASSWORD + SECURITY_TOKEN})
    resp = session.post(
        f"{base_url}/services/oauth2/authorize", data=fields, allow_redirects=False, timeout=30
    )
    assert resp.status_code in (301, 302, 303, 307), resp.text[:300]
    code = re.search(r"[?&]code=([^&]+)", resp.headers["Location"])
    assert code
    from urllib.parse import unquote

    token = requests.post(
        f"{base_url}/services/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": unquote(code.group(1)),
            "redirect_uri": redirect,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
        timeout=30,
    )
    token.raise_for_status()
    return token.json()["refresh_token"]


def _access_token(base_url: str) -> tuple[str, str]:
    resp = requests.post(
        f"{base_url}/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "username": USERNAME,
            "password": PASSWORD + SECURITY_TOKEN,
        },
        timeout=30,
    )
    resp.raise_for_status()
    body = resp.json()
    return body["access_token"], body["instance_url"]


def spellings(secret: str) -> set[str]:
    """The ways a secret could show up in text: as is, URL-encoded, JSON-escaped, XML-escaped,
    base64, as a bytes repr; for a PEM key, every line of its body."""
    out = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        urlencode({"x": secret})[2:],
        xml_escape(secret),
        xml_escape(secret, {'"': "&quot;", "'": "&apos;"}),
        b64encode(secret.encode()).decode(),
        repr(secret.encode())[2:-1],
    }
    if "PRIVATE KEY" in secret:
        out |= {line for line in secret.splitlines() if len(line) >= 16 and "PRIVATE KEY" not in line}
    return {s for s in out if len(s) >= 8}


def test_no_secret_in_any_log_or_output_with_debug_logging(tmp_path: Path, template_dir: Path) -> None:
    world = start_world(tmp_path, SIZES, template_dir=template_dir, api_key=ANDSEND_KEY)
    try:
        sf = world.salesforce
        private, public = _rsa_pair()
        sf.control(
            "POST",
            "seed",
            {
                "users": [
                    {
                        "Username": USERNAME,
                        "Email": USERNAME,
                        "LastName": "Integration",
                        "IsActive": True,
                        "password": PASSWORD,
                        "security_token": SECURITY_TOKEN,
                    }
                ],
                "apps": [
                    {
                        "client_id": CLIENT_ID,
                        "client_secret": CLIENT_SECRET,
                        "jwt_public_key_pem": public,
                        "issue_refresh_tokens": True,
                    }
                ],
            },
        )
        # One prospect the target must reject, so the rejects file exists and carries a record.
        purchased = sorted(world.andsend.list("prospects", purchased="true"), key=lambda p: p["id"])
        world.andsend.edit("prospects", purchased[0]["id"], email="broken@@address")
        refresh_token = _refresh_token(sf.base_url)

        site = tmp_path / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
        log_config = tmp_path / "logging.yaml"
        log_config.write_text(LOG_CONFIG, encoding="utf-8")
        # Wire debugging in both programs (the tap sends the Andsend key in its Authorization header).
        env = {**base_env(LOGLEVEL="DEBUG", SINGER_SDK_LOG_CONFIG=str(log_config)), "PYTHONPATH": str(site)}
        target_env = env

        base = default_target_config(world, tmp_path / "out")
        for key in ("client_id", "client_secret", "username", "password", "security_token"):
            base.pop(key)
        flows = {
            "password": {
                "auth_flow": "password",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "username": USERNAME,
                "password": PASSWORD,
                "security_token": SECURITY_TOKEN,
            },
            # No client id: the SOAP login(), whose XML body carries password + token.
            "soap": {
                "auth_flow": "password",
                "username": USERNAME,
                "password": PASSWORD,
                "security_token": SECURITY_TOKEN,
            },
            "refresh_token": {
                "auth_flow": "refresh_token",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "refresh_token": refresh_token,
            },
            "jwt": {"auth_flow": "jwt", "client_id": CLIENT_ID, "username": USERNAME, "private_key": private},
            "access_token": {"auth_flow": "access_token"},  # a token fetched right before its run (below)
        }
        access_token = ""
        pipeline = Pipeline(tmp_path / "work", default_tap_config(world), base, env=env)
        pipeline.keep_input = True
        outputs: list[str] = []
        for i, (flow, settings) in enumerate(flows.items()):
            if i:
                world.andsend.activity(new_purchases=3, new_touchpoints=6, new_search_results=3)
            # Renewable flows see their tokens revoked every few calls; a ready access token cannot be renewed.
            if flow == "access_token":
                sf.faults()
                access_token, instance_url = _access_token(sf.base_url)
                settings = {**settings, "access_token": access_token, "instance_url": instance_url}
            else:
                sf.faults(revoke_tokens_every=3)
            sf.control("POST", "stats/reset")
            pipeline.target_config = {**base, **settings}
            run = pipeline.run(target_env=target_env)
            assert run.ok, f"{flow}: {run.describe()}"
            # The target's stdout carries state documents only: wire debugging must not reach it.
            assert run.stdout.strip(), flow
            for line in run.stdout.splitlines():
                state = json.loads(line)  # a torn or foreign line would not parse
                assert isinstance(state, dict) and "bookmarks" in state, f"{flow}: not a state: {line[:80]}"
            if flow != "access_token":
                kind = "soap_login" if flow == "soap" else "oauth"
                assert sf.stats()["by_kind"].get(kind, 0) >= 2, f"{flow}: tokens were renewed mid-run"
            outputs += [run.tap_stderr, run.target_stderr, run.stdout]
        sf.faults()

        # The debug channels really were on (a run without them proves nothing).
        target_logs = "\n".join(r.target_stderr for r in pipeline.runs)
        tap_logs = "\n".join(r.tap_stderr for r in pipeline.runs)
        assert "DEBUG urllib3.connectionpool Starting new HTTP connection" in target_logs
        assert "DEBUG http.client send: b'POST /services/oauth2/token" in target_logs, (
            "wire debugging reached the log"
        )
        assert "Authorization: Bearer ***" in target_logs or "Authorization: ***" in target_logs
        assert "DEBUG urllib3.connectionpool" in tap_logs
        assert "send: b'GET /v1/" in tap_logs and "Authorization: Bearer ***" in tap_logs
        assert "<n1:password>***</n1:password>" in target_logs or "password>***<" in target_logs, "SOAP login ran"
        assert "/services/oauth2/token" in target_logs  # ordinary words are not masked

        out_dir = pipeline.out_dir
        for name in ("report.json", "rejects.jsonl", "badges.jsonl"):
            assert (out_dir / name).exists(), name
            outputs.append((out_dir / name).read_text(encoding="utf-8"))
        links = sqlite3.connect(out_dir / "links.sqlite")
        try:
            for (table,) in links.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
                outputs += [json.dumps(row, default=str) for row in links.execute(f"SELECT * FROM {table}")]
        finally:
            links.close()
        outputs += [
            p.read_text(encoding="utf-8", errors="replace")
            for p in out_dir.glob("*")
            if p.is_file() and p.suffix in (".json", ".jsonl", ".log", ".txt")
        ]

        emu = sf.app.state.emulator
        with emu.store.lock:
            issued = [t for (t,) in emu.store.conn.execute("SELECT token FROM _tokens").fetchall()]
        assert len(issued) >= 10, "tokens were issued over the runs"
        secrets = {
            "client_secret": CLIENT_SECRET,
            "password": PASSWORD,
            "security_token": SECURITY_TOKEN,
            "password+token": PASSWORD + SECURITY_TOKEN,
            "refresh_token": refresh_token,
            "private_key": private,
            "access_token (configured)": access_token,
            "andsend_api_key": ANDSEND_KEY,
        }
        secrets.update({f"issued token {i}": t for i, t in enumerate(issued)})
        text = "\n".join(outputs)
        leaks = sorted(
            {name for name, secret in secrets.items() for form in spellings(secret) if form in text}
        )
        assert not leaks, f"secrets in logs or output files: {leaks}"
    finally:
        world.stop()
