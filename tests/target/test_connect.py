"""`connect`: the OAuth web-server flow with PKCE, end to end against the emulator's consent form."""

from __future__ import annotations

import json
import shutil
import socket
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests

from target_salesforce_andsend import connect
from target_salesforce_andsend.salesforce.client import SalesforceClient
from target_salesforce_andsend.salesforce.soql import quote
from tests.target._salesforce_support import ADMIN, APP, play_browser

REPO = Path(__file__).resolve().parents[2]


class Browser:
    """Stands in for the person at the browser: signs in on the page `connect` opens."""

    def __init__(self, *, password: str, tamper_state: bool = False) -> None:
        self.password = password
        self.tamper_state = tamper_state
        self.urls: list[str] = []
        self.landing: requests.Response | None = None
        self.error: str | None = None
        self.thread: threading.Thread | None = None

    def open(self, url: str, *args: object, **kwargs: object) -> bool:
        self.urls.append(url)
        self.thread = threading.Thread(target=self._sign_in, args=(url,), daemon=True)
        self.thread.start()
        return True

    def _sign_in(self, url: str) -> None:
        if self.tamper_state:
            q = parse_qs(urlparse(url).query)
            self.landing = requests.get(q["redirect_uri"][0] + "?" + urlencode({"code": "x", "state": "forged"}),
                                        timeout=30)
            return
        try:
            self.landing = play_browser(url, username=ADMIN["username"], password=self.password)
        except requests.HTTPError as exc:  # the sign-in page refused (Salesforce shows an error page)
            self.error = exc.response.text


def _login_with(settings: dict, base_url: str) -> str:
    client = SalesforceClient({**settings, "login_url": base_url})
    assert client.auth.flow == "refresh_token"
    rows = client.query(f"SELECT Username FROM User WHERE Id = {quote(client.token.user_id)}")
    client.close()
    return rows[0]["Username"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _app_for_port(sf_emulator) -> tuple[str, int]:
    """A connected app whose one registered callback is a free local port (tests run in parallel,
    so only one of them can hold the documented default port)."""
    port = _free_port()
    client_id = f"connect-test-{port}"
    resp = requests.post(f"{sf_emulator.base_url}/__emulator__/seed", json={"apps": [{
        "client_id": client_id, "issue_refresh_tokens": True,
        "redirect_uris": [connect.callback_url(port)]}]}, timeout=30)
    resp.raise_for_status()
    return client_id, port


def test_connect_listens_on_the_documented_callback_by_default(sf_emulator, monkeypatch, capsys) -> None:
    """The default port is the callback URL the README has the admin register; the emulator's
    default connected app registers exactly that one, so a random port would fail here."""
    assert connect.build_parser().parse_args([]).port == connect.DEFAULT_PORT
    assert connect.callback_url(connect.DEFAULT_PORT) == "http://127.0.0.1:8710/oauth/callback"
    assert connect.callback_url(connect.DEFAULT_PORT) in (REPO / "README.md").read_text()
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", connect.DEFAULT_PORT)) == 0:
            pytest.skip(f"port {connect.DEFAULT_PORT} is in use on this machine")
    browser = Browser(password=ADMIN["password"] + ADMIN["security_token"])
    monkeypatch.setattr("webbrowser.open", browser.open)
    rc = connect.main(["--login-url", sf_emulator.base_url, "--client-id", APP["client_id"], "--print",
                       "--timeout", "60"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert parse_qs(urlparse(browser.urls[0]).query)["redirect_uri"] == [connect.callback_url(connect.DEFAULT_PORT)]
    settings = json.loads(out.out)
    assert _login_with({"client_id": settings["client_id"], "refresh_token": settings["refresh_token"]},
                       sf_emulator.base_url) == ADMIN["username"]


def test_a_callback_the_app_did_not_register_is_refused(sf_emulator, monkeypatch, capsys) -> None:
    """As in Salesforce: the sign-in page refuses a redirect_uri the connected app does not list."""
    browser = Browser(password=ADMIN["password"] + ADMIN["security_token"])
    monkeypatch.setattr("webbrowser.open", browser.open)
    rc = connect.main(["--login-url", sf_emulator.base_url, "--client-id", APP["client_id"], "--print",
                       "--port", str(_free_port()), "--timeout", "3"])
    out = capsys.readouterr()
    assert rc == 1 and "no sign-in within" in out.err
    assert browser.thread is not None
    browser.thread.join(30)
    assert browser.error is not None and "redirect_uri_mismatch" in browser.error


def test_connect_prints_a_working_refresh_token(sf_emulator, monkeypatch, capsys) -> None:
    client_id, port = _app_for_port(sf_emulator)
    browser = Browser(password=ADMIN["password"] + ADMIN["security_token"])
    monkeypatch.setattr("webbrowser.open", browser.open)
    rc = connect.main(["--environment", "sandbox", "--login-url", sf_emulator.base_url,
                       "--client-id", client_id, "--port", str(port), "--print", "--timeout", "60"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    query = parse_qs(urlparse(browser.urls[0]).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"] == [connect.callback_url(port)]
    assert browser.landing is not None and browser.landing.status_code == 200
    settings = json.loads(out.out)
    assert settings["client_id"] == client_id and settings["login_url"] == sf_emulator.base_url
    assert settings["refresh_token"] not in out.err  # shown only where asked (stdout), never in messages
    # the token works for a fresh login, exactly as a later run would use it
    assert _login_with({"client_id": settings["client_id"], "refresh_token": settings["refresh_token"]},
                       sf_emulator.base_url) == ADMIN["username"]


def test_connect_rejects_a_forged_state(sf_emulator, monkeypatch, capsys) -> None:
    browser = Browser(password="", tamper_state=True)
    monkeypatch.setattr("webbrowser.open", browser.open)
    rc = connect.main(["--login-url", sf_emulator.base_url, "--client-id", APP["client_id"], "--print",
                       "--port", "0", "--timeout", "30"])
    out = capsys.readouterr()
    assert rc == 1 and "state does not match" in out.err and out.out == ""
    assert sf_emulator.stats()["by_kind"].get("oauth", 0) == 0  # no code was exchanged


def test_connect_times_out_cleanly(sf_emulator, monkeypatch, capsys) -> None:
    rc = connect.main(["--login-url", sf_emulator.base_url, "--client-id", APP["client_id"], "--no-browser",
                       "--port", "0", "--timeout", "0.5", "--print"])
    out = capsys.readouterr()
    assert rc == 1 and "no sign-in within" in out.err
    assert "/services/oauth2/authorize?" in out.err  # --no-browser printed the URL to open


@pytest.mark.skipif(shutil.which("meltano") is None and not (REPO / ".venv/bin/meltano").exists(),
                    reason="meltano not installed")
def test_connect_stores_secrets_with_meltano(sf_emulator, monkeypatch, capsys, tmp_path) -> None:
    shutil.copy(REPO / "meltano.yml", tmp_path / "meltano.yml")
    monkeypatch.chdir(tmp_path)
    client_id, port = _app_for_port(sf_emulator)
    browser = Browser(password=ADMIN["password"] + ADMIN["security_token"])
    monkeypatch.setattr("webbrowser.open", browser.open)
    rc = connect.main(["--login-url", sf_emulator.base_url, "--client-id", client_id, "--timeout", "60",
                       "--port", str(port), "--meltano-env", "staging"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert out.out == ""  # nothing secret printed when Meltano stores it
    import yaml

    project = yaml.safe_load((tmp_path / "meltano.yml").read_text())
    staging = next(e for e in project["environments"] if e["name"] == "staging")
    loader = next(p for p in staging["config"]["plugins"]["loaders"] if p["name"] == "target-salesforce-andsend")
    assert loader["config"]["client_id"] == client_id
    assert loader["config"]["login_url"] == sf_emulator.base_url
    env = dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines() if "=" in line)
    refresh = env["TARGET_SALESFORCE_ANDSEND_REFRESH_TOKEN"].strip("'\"")
    assert refresh not in (tmp_path / "meltano.yml").read_text()  # the secret went to .env only
    assert client_id in (tmp_path / "meltano.yml").read_text()
    assert _login_with({"client_id": client_id, "refresh_token": refresh}, sf_emulator.base_url) == \
        ADMIN["username"]


@pytest.mark.parametrize(("environment", "host"), [
    ("sandbox", "https://test.salesforce.com"),
    ("production", "https://login.salesforce.com"),
    ("acme", "https://acme.my.salesforce.com"),
    ("acme--uat.sandbox.my.salesforce.com", "https://acme--uat.sandbox.my.salesforce.com"),
])
def test_environment_picks_the_login_host(environment, host, capsys) -> None:
    rc = connect.main(["--environment", environment, "--client-id", "cid", "--no-browser", "--timeout", "0.2"])
    err = capsys.readouterr().err
    assert rc == 1  # nobody signed in
    url = next(line.strip() for line in err.splitlines() if "/services/oauth2/authorize?" in line)
    assert url.startswith(f"{host}/services/oauth2/authorize?")
    q = parse_qs(urlparse(url).query)
    assert q["client_id"] == ["cid"] and q["response_type"] == ["code"] and "refresh_token" in q["scope"][0]
