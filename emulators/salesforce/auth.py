"""OAuth 2.0 and SOAP login for the Salesforce emulator (reference §2).

Grants: password, refresh_token, JWT bearer (RS256, checked against the connected app's public key),
client_credentials (My Domain hosts only), authorization_code with PKCE (S256) from the
``/services/oauth2/authorize`` login form. Access tokens expire after ``token_ttl_seconds`` of emulator
clock time and can be revoked one by one or all at once. Secrets are never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlparse

import jwt

from emulators.salesforce.store import Store

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com")


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass
class Session:
    token: str
    user_id: str
    client_id: str | None
    expires_at: float


class Auth:
    def __init__(self, store: Store, org_id: str, clock: Callable[[], float], ttl: Callable[[], int]) -> None:
        self.store = store
        self.sandbox = False  # set by the emulator from the fixture's org options
        self.org_id = org_id
        self.clock = clock  # emulator clock, epoch seconds
        self.ttl = ttl
        self._lock = threading.Lock()
        self._access: dict[str, Session] = {}
        self._codes: dict[str, dict[str, Any]] = {}
        with store.lock:
            store.conn.execute(
                "CREATE TABLE IF NOT EXISTS _credentials "
                "(user_id TEXT PRIMARY KEY, password TEXT, security_token TEXT)")
            store.conn.execute("CREATE TABLE IF NOT EXISTS _apps (client_id TEXT PRIMARY KEY, config TEXT)")
            store.conn.execute(
                "CREATE TABLE IF NOT EXISTS _tokens (token TEXT PRIMARY KEY, kind TEXT, user_id TEXT, "
                "client_id TEXT, expires_at REAL, revoked INTEGER DEFAULT 0)")
            for token, user_id, client_id, expires_at in store.conn.execute(
                "SELECT token, user_id, client_id, expires_at FROM _tokens WHERE kind = 'access' AND revoked = 0"
            ):
                self._access[token] = Session(token, user_id, client_id, expires_at)

    # ---- configuration ------------------------------------------------------------------------
    def set_credentials(self, user_id: str, password: str | None, security_token: str | None) -> None:
        with self.store.lock:
            self.store.conn.execute(
                "INSERT OR REPLACE INTO _credentials (user_id, password, security_token) VALUES (?, ?, ?)",
                (user_id, password, security_token or ""),
            )

    def set_app(self, app: dict[str, Any]) -> None:
        import json

        with self.store.lock:
            self.store.conn.execute("INSERT OR REPLACE INTO _apps (client_id, config) VALUES (?, ?)",
                                    (app["client_id"], json.dumps(app)))

    def app(self, client_id: str | None) -> dict[str, Any] | None:
        import json

        if not client_id:
            return None
        with self.store.lock:
            row = self.store.conn.execute("SELECT config FROM _apps WHERE client_id = ?", (client_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def clear_config(self) -> None:
        with self.store.lock:
            self.store.conn.execute("DELETE FROM _credentials")
            self.store.conn.execute("DELETE FROM _apps")

    # ---- tokens -------------------------------------------------------------------------------
    def _new_token(self) -> str:
        return f"{self.org_id[:15]}!{secrets.token_urlsafe(72)}"

    def issue_access(self, user_id: str, client_id: str | None) -> str:
        token = self._new_token()
        session = Session(token, user_id, client_id, self.clock() + self.ttl())
        with self._lock:
            self._access[token] = session
        with self.store.lock:
            self.store.conn.execute(
                "INSERT INTO _tokens (token, kind, user_id, client_id, expires_at) VALUES (?, 'access', ?, ?, ?)",
                (token, user_id, client_id, session.expires_at))
        return token

    def issue_refresh(self, user_id: str, client_id: str) -> str:
        token = "5Aep" + secrets.token_urlsafe(60)
        with self.store.lock:
            self.store.conn.execute(
                "INSERT INTO _tokens (token, kind, user_id, client_id, expires_at) VALUES (?, 'refresh', ?, ?, NULL)",
                (token, user_id, client_id))
        return token

    def revoke_refresh(self, token: str) -> None:
        with self.store.lock:
            self.store.conn.execute("UPDATE _tokens SET revoked = 1 WHERE token = ? AND kind = 'refresh'", (token,))

    def check(self, token: str) -> Session | None:
        session = self._access.get(token)
        if session is None:
            return None
        if session.expires_at <= self.clock():
            self.revoke(token)
            return None
        if not self._user_active(session.user_id):
            return None
        return session

    def revoke(self, token: str) -> bool:
        with self._lock:
            found = self._access.pop(token, None) is not None
        with self.store.lock:
            cur = self.store.conn.execute("UPDATE _tokens SET revoked = 1 WHERE token = ? AND revoked = 0", (token,))
        return found or cur.rowcount > 0

    def revoke_all_access(self) -> None:
        with self._lock:
            self._access.clear()
        with self.store.lock:
            self.store.conn.execute("UPDATE _tokens SET revoked = 1 WHERE kind = 'access'")

    # ---- users --------------------------------------------------------------------------------
    def _user_by_username(self, username: str) -> tuple[str, bool, str | None, str] | None:
        with self.store.lock:
            row = self.store.conn.execute(
                'SELECT u.Id, u.IsActive, c.password, COALESCE(c.security_token, \'\') FROM "User" u '
                "LEFT JOIN _credentials c ON c.user_id = u.Id WHERE u.Username = ? COLLATE NOCASE AND u.IsDeleted = 0",
                (username,),
            ).fetchone()
        return (row[0], bool(row[1]), row[2], row[3]) if row else None

    def _user_active(self, user_id: str) -> bool:
        with self.store.lock:
            row = self.store.conn.execute('SELECT IsActive FROM "User" WHERE Id = ?', (user_id,)).fetchone()
        return bool(row and row[0])

    def check_password(self, username: str, password: str) -> str:
        """Username + password (with the security token appended, unless the user has none) -> user id."""
        user = self._user_by_username(username or "")
        if user is None or user[2] is None:
            raise OAuthError("invalid_grant", "authentication failure")
        user_id, active, pw, token = user
        ok = hmac.compare_digest(password, pw + token) or (not token and hmac.compare_digest(password, pw))
        if not ok:
            raise OAuthError("invalid_grant", "authentication failure")
        if not active:
            raise OAuthError("inactive_user", "User is inactive")
        return user_id

    def _client(self, client_id: str | None, client_secret: str | None, *, secret_required: bool) -> dict[str, Any]:
        app = self.app(client_id)
        if app is None:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if secret_required or client_secret is not None:
            if not client_secret or not hmac.compare_digest(client_secret, app.get("client_secret", "")):
                raise OAuthError("invalid_client", "invalid client credentials")
        return app

    # ---- token endpoint -----------------------------------------------------------------------
    def token(self, form: dict[str, str], *, authorization: str | None, host: str, login_url: str,
              instance_url: str) -> dict[str, Any]:
        grant = form.get("grant_type", "")
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:]).decode()
                client_id, _, client_secret = decoded.partition(":")
            except ValueError:
                raise OAuthError("invalid_client", "invalid client credentials") from None
        refresh: str | None = None
        if grant == "password":
            app = self._client(client_id, client_secret, secret_required=True)
            user_id = self.check_password(form.get("username", ""), form.get("password", ""))
        elif grant == "refresh_token":
            app = self._client(client_id, client_secret, secret_required=False)
            with self.store.lock:
                row = self.store.conn.execute(
                    "SELECT user_id, client_id FROM _tokens WHERE token = ? AND kind = 'refresh' AND revoked = 0",
                    (form.get("refresh_token", ""),)).fetchone()
            if row is None or row[1] != app["client_id"]:
                raise OAuthError("invalid_grant", "expired access/refresh token")
            user_id = row[0]
            if not self._user_active(user_id):
                raise OAuthError("inactive_user", "User is inactive")
            if app.get("rotate_refresh_tokens"):
                # Refresh-token rotation (connected app setting): the used token is spent and a new
                # one comes back with the access token.
                self.revoke_refresh(form.get("refresh_token", ""))
                refresh = self.issue_refresh(user_id, app["client_id"])
        elif grant == JWT_GRANT:
            user_id, app = self._jwt(form.get("assertion", ""), login_url, instance_url)
        elif grant == "client_credentials":
            if host.split(":")[0].lower() in LOGIN_HOSTS:
                raise OAuthError("invalid_grant", "request not supported on this domain")
            app = self._client(client_id, client_secret, secret_required=True)
            run_as = app.get("run_as") or app.get("client_credentials_user")
            user_id = self._user_by_username(run_as)[0] if run_as and self._user_by_username(run_as) else ""
            if not user_id:
                user_id = self._first_active_user()
            if not user_id:
                raise OAuthError("invalid_grant", "no client credentials user enabled")
        elif grant == "authorization_code":
            user_id, app = self._redeem_code(form, client_id, client_secret)
            if app.get("issue_refresh_tokens", True):
                refresh = self.issue_refresh(user_id, app["client_id"])
        else:
            raise OAuthError("unsupported_grant_type", "grant type not supported")
        access = self.issue_access(user_id, app["client_id"] if app else None)
        issued_at = str(int(self.clock() * 1000))
        ident = f"{login_url}/id/{self.org_id}/{user_id}"
        body: dict[str, Any] = {"access_token": access, "instance_url": instance_url, "id": ident,
                                "token_type": "Bearer", "issued_at": issued_at}
        if grant != JWT_GRANT:
            secret = (app or {}).get("client_secret", "")
            body["signature"] = base64.b64encode(
                hmac.new(secret.encode(), (ident + issued_at).encode(), hashlib.sha256).digest()).decode()
        body["scope"] = "refresh_token api" if refresh else "api"
        if refresh:
            body["refresh_token"] = refresh
        return body

    def _first_active_user(self) -> str:
        with self.store.lock:
            row = self.store.conn.execute(
                'SELECT Id FROM "User" WHERE IsActive = 1 AND IsDeleted = 0 ORDER BY _rowid LIMIT 1').fetchone()
        return row[0] if row else ""

    def _jwt(self, assertion: str, login_url: str, instance_url: str) -> tuple[str, dict[str, Any]]:
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        if header.get("alg") != "RS256":
            raise OAuthError("invalid_grant", "invalid assertion")
        app = self.app(claims.get("iss"))
        if app is None:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        key = app.get("jwt_public_key_pem")
        if not key:
            raise OAuthError("invalid_grant", "invalid assertion")  # no certificate uploaded for this app
        audiences = {"https://login.salesforce.com", "https://test.salesforce.com", login_url, instance_url}
        aud = claims.get("aud")
        if isinstance(aud, list):
            aud = aud[0] if aud else None
        if (aud or "").rstrip("/") not in audiences:
            raise OAuthError("invalid_grant", "audience is invalid")
        try:
            jwt.decode(assertion, key, algorithms=["RS256"], options={"verify_aud": False, "require": ["exp"]},
                       leeway=0)
        except jwt.ExpiredSignatureError:
            raise OAuthError("invalid_grant", "expired authorization code") from None
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        user = self._user_by_username(claims.get("sub") or "")
        if user is None:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")
        if not user[1]:
            raise OAuthError("inactive_user", "User is inactive")
        return user[0], app

    # ---- authorization code + PKCE ------------------------------------------------------------
    def authorize_form(self, params: dict[str, str], error: str | None = None) -> str:
        app = self.app(params.get("client_id"))
        if app is None:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if params.get("response_type") != "code":
            raise OAuthError("unsupported_response_type", "response type not supported")
        if not params.get("redirect_uri"):
            raise OAuthError("redirect_uri_mismatch", "redirect_uri must match configuration")
        allowed = app.get("redirect_uris")
        if allowed and params["redirect_uri"] not in allowed:
            raise OAuthError("redirect_uri_mismatch", "redirect_uri must match configuration")
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items() if k in ("client_id", "redirect_uri", "state", "code_challenge",
                                                  "code_challenge_method", "scope", "response_type")
        )
        err = f'<p class="error">{html.escape(error)}</p>' if error else ""
        return (
            "<!DOCTYPE html><html><head><title>Login | Salesforce (emulator)</title></head><body>"
            f"<h1>Log in to allow access</h1>{err}"
            '<form method="POST" action="/services/oauth2/authorize">'
            f"{hidden}"
            '<label>Username <input name="username" autocomplete="username"></label>'
            '<label>Password <input name="password" type="password"></label>'
            '<button type="submit" name="approve" value="Allow">Allow</button>'
            "</form></body></html>"
        )

    def authorize_submit(self, form: dict[str, str]) -> str:
        """Check the login form, store a one-time code, return the redirect URL."""
        self.authorize_form(form)  # re-validates client and redirect URI
        user_id = self.check_password(form.get("username", ""), form.get("password", ""))
        method = form.get("code_challenge_method") or ("S256" if form.get("code_challenge") else "")
        if form.get("code_challenge") and method != "S256":
            raise OAuthError("invalid_request", "code_challenge_method must be S256")
        code = "aPrx" + secrets.token_urlsafe(40)
        with self._lock:
            now = time.monotonic()
            self._codes = {c: v for c, v in self._codes.items() if v["expires"] > now}
            self._codes[code] = {"user_id": user_id, "client_id": form["client_id"],
                                 "redirect_uri": form["redirect_uri"], "challenge": form.get("code_challenge"),
                                 "expires": now + 900}
        query = {"code": code}
        if form.get("state"):
            query["state"] = form["state"]
        sep = "&" if urlparse(form["redirect_uri"]).query else "?"
        return form["redirect_uri"] + sep + urlencode(query)

    def _redeem_code(self, form: dict[str, str], client_id: str | None,
                     client_secret: str | None) -> tuple[str, dict[str, Any]]:
        with self._lock:
            entry = self._codes.pop(form.get("code", ""), None)
        if entry is None or entry["expires"] < time.monotonic():
            raise OAuthError("invalid_grant", "invalid authorization code")
        if entry["client_id"] != client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if form.get("redirect_uri") != entry["redirect_uri"]:
            raise OAuthError("redirect_uri_mismatch", "redirect_uri must match configuration")
        app = self._client(client_id, client_secret, secret_required=not entry["challenge"])
        if entry["challenge"]:
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if not verifier or not hmac.compare_digest(digest, entry["challenge"]):
                raise OAuthError("invalid_grant", "invalid code verifier")
        return entry["user_id"], app

    # ---- SOAP login ---------------------------------------------------------------------------
    def soap_call(self, body: bytes, version: str, instance_url: str) -> tuple[int, str]:
        """The partner SOAP endpoint: ``login`` and ``logout`` (the calls REST clients make there)."""
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return 500, soap_fault("soapenv:Client", "INVALID_LOGIN", "Invalid request")
        operation = next((el.tag.rsplit("}", 1)[-1] for b in root.iter() if b.tag.rsplit("}", 1)[-1] == "Body"
                          for el in b), None)
        if operation == "logout":
            return self.soap_logout(root)
        return self.soap_login(root, version, instance_url)

    def soap_logout(self, root: ET.Element) -> tuple[int, str]:
        """``logout()``: ends the session named by the SessionHeader; an unknown or ended session is
        ``INVALID_SESSION_ID`` (SOAP API Developer Guide, logout())."""
        session_id = next(((el.text or "").strip() for el in root.iter()
                           if el.tag.rsplit("}", 1)[-1] == "sessionId"), "")
        if not session_id or self.check(session_id) is None:
            return 500, soap_fault("sf:INVALID_SESSION_ID", "INVALID_SESSION_ID",
                                   "Invalid Session ID found in SessionHeader: Illegal Session",
                                   kind="UnexpectedErrorFault")
        self.revoke(session_id)
        return 200, (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns="urn:partner.soap.sforce.com"><soapenv:Body><logoutResponse/></soapenv:Body></soapenv:Envelope>'
        )

    def soap_login(self, root: ET.Element, version: str, instance_url: str) -> tuple[int, str]:
        username = password = None
        for el in root.iter():
            tag = el.tag.rsplit("}", 1)[-1]
            if tag == "username":
                username = (el.text or "").strip()
            elif tag == "password":
                password = el.text or ""
        try:
            user_id = self.check_password(username or "", password or "")
        except OAuthError as exc:
            code = "INVALID_LOGIN" if exc.error == "invalid_grant" else "INACTIVE_USER"
            msg = ("Invalid username, password, security token; or user locked out."
                   if code == "INVALID_LOGIN" else "The user is inactive.")
            return 500, soap_fault("sf:INVALID_LOGIN" if code == "INVALID_LOGIN" else "sf:INACTIVE_USER", code, msg)
        token = self.issue_access(user_id, None)
        server = f"{instance_url}/services/Soap/u/{version}/{self.org_id[:15]}"
        meta = f"{instance_url}/services/Soap/m/{version}/{self.org_id[:15]}"
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            "<soapenv:Body><loginResponse><result>"
            f"<metadataServerUrl>{meta}</metadataServerUrl><passwordExpired>false</passwordExpired>"
            f"<sandbox>{'true' if self.sandbox else 'false'}</sandbox><serverUrl>{server}</serverUrl>"
            f"<sessionId>{token}</sessionId>"
            f"<userId>{user_id}</userId><userInfo><organizationId>{self.org_id}</organizationId>"
            f"<userId>{user_id}</userId><userName>{html.escape(username or '')}</userName></userInfo>"
            "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return 200, xml


def soap_fault(faultcode: str, code: str, message: str, *, kind: str = "LoginFault") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<soapenv:Body><soapenv:Fault><faultcode>{faultcode}</faultcode>"
        f"<faultstring>{code}: {html.escape(message)}</faultstring><detail>"
        f'<sf:{kind} xsi:type="sf:{kind}"><sf:exceptionCode>{code}</sf:exceptionCode>'
        f"<sf:exceptionMessage>{html.escape(message)}</sf:exceptionMessage></sf:{kind}>"
        "</detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
