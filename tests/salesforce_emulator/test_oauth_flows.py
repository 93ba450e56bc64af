"""OAuth edge cases: PKCE web-server flow, revoke, refresh tokens, JWT audience, token TTL."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

REDIRECT = "http://127.0.0.1:8710/oauth/callback"  # the default app's registered callback


def _authorize(base, verifier, *, password="emulatortoken", state="s1"):
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {"response_type": "code", "client_id": "emulator-client-id", "redirect_uri": REDIRECT, "state": state,
              "code_challenge": challenge, "code_challenge_method": "S256"}
    page = requests.get(f"{base}/services/oauth2/authorize", params=params, timeout=10)
    assert page.status_code == 200 and 'method="POST"' in page.text
    form = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    form.update(username="admin@example.com", password=password)
    return requests.post(f"{base}/services/oauth2/authorize", data=form, allow_redirects=False, timeout=10)


def _redeem(base, code, verifier, **extra):
    return requests.post(f"{base}/services/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "client_id": "emulator-client-id",
        "redirect_uri": REDIRECT, "code_verifier": verifier, **extra}, timeout=10)


def test_pkce_flow_and_failures(sf_emulator):
    base = sf_emulator.base_url
    bad = _authorize(base, "v" * 50, password="wrong")
    assert bad.status_code == 200 and "check your username" in bad.text  # form shown again
    r = _authorize(base, "v" * 50)
    assert r.status_code == 302 and r.headers["Location"].startswith(REDIRECT + "?")
    code = parse_qs(urlsplit(r.headers["Location"]).query)["code"][0]
    assert _redeem(base, code, "w" * 50).json()["error"] == "invalid_grant"  # wrong verifier burns the code
    assert _redeem(base, code, "v" * 50).json()["error"] == "invalid_grant"
    r = _authorize(base, "v" * 50)
    code = parse_qs(urlsplit(r.headers["Location"]).query)["code"][0]
    assert _redeem(base, code, "v" * 50, redirect_uri="http://evil/cb").json()["error"] == "redirect_uri_mismatch"
    r = _authorize(base, "v" * 50)
    code = parse_qs(urlsplit(r.headers["Location"]).query)["code"][0]
    body = _redeem(base, code, "v" * 50).json()
    assert body["refresh_token"] and body["access_token"] and body["scope"] == "refresh_token api"
    api = f"{base}/services/data/v60.0/limits"
    assert requests.get(api, headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=10).ok
    # Revoking the refresh token stops refreshes; revoking the access token stops calls.
    r = requests.post(f"{base}/services/oauth2/revoke", data={"token": body["access_token"]}, timeout=10)
    assert r.status_code == 200
    assert requests.get(api, headers={"Authorization": f"Bearer {body['access_token']}"},
                        timeout=10).status_code == 401
    refresh = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": "emulator-client-id"}
    assert requests.post(f"{base}/services/oauth2/token", data=refresh, timeout=10).status_code == 200
    requests.post(f"{base}/services/oauth2/revoke", data={"token": body["refresh_token"]}, timeout=10)
    r = requests.post(f"{base}/services/oauth2/token", data=refresh, timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = requests.post(f"{base}/services/oauth2/revoke", data={"token": "unknown"}, timeout=10)
    assert r.status_code == 400


def test_authorize_rejects_unknown_client(sf_emulator):
    r = requests.get(f"{sf_emulator.base_url}/services/oauth2/authorize", params={
        "response_type": "code", "client_id": "nope", "redirect_uri": REDIRECT}, timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "invalid_client_id"


def test_jwt_audience_expiry_and_inactive_user(sf_emulator):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    sf_emulator.seed({"apps": [{"client_id": "jwt", "client_secret": "x", "jwt_public_key_pem": pub}],
                      "users": [{"Username": "off@x.test", "Email": "off@x.test", "LastName": "Off",
                                 "IsActive": False}]})

    def grant(**claims):
        payload = {"iss": "jwt", "sub": "admin@example.com", "aud": "https://login.salesforce.com",
                   "exp": int(time.time()) + 180, **claims}
        return requests.post(f"{sf_emulator.base_url}/services/oauth2/token", data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": jwt.encode(payload, key, algorithm="RS256")}, timeout=10)

    r = grant()
    assert r.status_code == 200 and "refresh_token" not in r.json() and "signature" not in r.json()
    assert grant(aud="https://evil.example").json() == {"error": "invalid_grant",
                                                        "error_description": "audience is invalid"}
    assert grant(exp=int(time.time()) - 10).json()["error"] == "invalid_grant"
    assert grant(sub="off@x.test").json()["error"] == "inactive_user"
    assert grant(iss="unknown").json()["error"] == "invalid_client_id"


def test_token_ttl_setting(sf_emulator):
    sf_emulator.clock("2026-03-01T00:00:00Z")
    sf_emulator.settings(token_ttl_seconds=60)
    s = sf_emulator.session()
    api = f"{sf_emulator.api_url}/limits"
    assert s.get(api, timeout=10).status_code == 200
    sf_emulator.clock("2026-03-01T00:00:59Z")
    assert s.get(api, timeout=10).status_code == 200
    sf_emulator.clock("2026-03-01T00:01:00Z")
    assert s.get(api, timeout=10).status_code == 401


def test_identity_url(sf_emulator):
    body = requests.post(f"{sf_emulator.base_url}/services/oauth2/token", data={
        "grant_type": "password", "client_id": "emulator-client-id", "client_secret": "emulator-client-secret",
        "username": "admin@example.com", "password": "emulatortoken"}, timeout=10).json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    ident = requests.get(body["id"], headers=headers, timeout=10)
    assert ident.status_code == 200
    assert ident.json()["username"] == "admin@example.com" and ident.json()["active"] is True
    info = requests.get(f"{sf_emulator.base_url}/services/oauth2/userinfo", headers=headers, timeout=10).json()
    assert info["user_id"] == sf_emulator.state.default_user_id
    assert requests.get(body["id"], timeout=10).status_code == 403
