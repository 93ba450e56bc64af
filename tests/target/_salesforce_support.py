"""Shared helpers for the Salesforce-layer tests (tests/target/test_salesforce_*.py)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import requests

ADMIN = {"username": "admin@example.com", "password": "emulator", "security_token": "token"}
APP = {"client_id": "emulator-client-id", "client_secret": "emulator-client-secret"}


def password_config(emulator: Any, **extra: Any) -> dict[str, Any]:
    """Settings for the password flow against the emulator, with fast retries."""
    config: dict[str, Any] = {
        "login_url": emulator.base_url,
        **APP,
        **ADMIN,
        "auth_flow": "password",
        "retry_backoff_seconds": 0.01,
        "max_retries": 6,
        "request_timeout": 30,
        "bulk_poll_seconds": 0.05,
    }
    config.update(extra)
    return config


def control(emulator: Any, method: str, path: str, **kwargs: Any) -> requests.Response:
    resp = requests.request(method, f"{emulator.base_url}/__emulator__/{path.lstrip('/')}", timeout=30, **kwargs)
    resp.raise_for_status()
    return resp


def play_browser(authorize_url: str, *, username: str, password: str) -> requests.Response:
    """Do what a person does in the browser: open the login page, submit the form, follow the redirect."""
    session = requests.Session()
    page = session.get(authorize_url, timeout=30)
    page.raise_for_status()
    action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
    assert action, "authorize page has no form"
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    fields = {k: _unescape(v) for k, v in fields.items()}
    fields.update({"username": username, "password": password, "approve": "Allow"})
    resp = session.post(urljoin(authorize_url, action.group(1)), data=fields, allow_redirects=False, timeout=30)
    assert resp.status_code in (301, 302, 303, 307), f"login form answered {resp.status_code}: {resp.text[:200]}"
    return session.get(resp.headers["Location"], timeout=30)


def authorization_code(emulator: Any, redirect_uri: str, **params: str) -> str:
    """Run the consent form against a redirect URI nobody listens on and return the code."""
    session = requests.Session()
    query = {"response_type": "code", "client_id": APP["client_id"], "redirect_uri": redirect_uri, **params}
    page = session.get(f"{emulator.base_url}/services/oauth2/authorize", params=query, timeout=30)
    page.raise_for_status()
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    fields = {k: _unescape(v) for k, v in fields.items()}
    fields.update({"username": ADMIN["username"], "password": ADMIN["password"] + ADMIN["security_token"]})
    resp = session.post(f"{emulator.base_url}/services/oauth2/authorize", data=fields, allow_redirects=False,
                        timeout=30)
    assert resp.status_code in (301, 302, 303, 307), resp.text[:300]
    return parse_qs(urlparse(resp.headers["Location"]).query)["code"][0]


def refresh_token_for(emulator: Any) -> str:
    """A refresh token for the admin user, obtained the way `connect` would (authorization code)."""
    redirect = "http://127.0.0.1:8710/oauth/callback"  # registered; nobody needs to listen
    code = authorization_code(emulator, redirect)
    resp = requests.post(f"{emulator.base_url}/services/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect, **APP}, timeout=30)
    resp.raise_for_status()
    return resp.json()["refresh_token"]


def _unescape(value: str) -> str:
    import html

    return html.unescape(value)
