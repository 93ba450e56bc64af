"""Getting a Salesforce session: every OAuth flow the target supports.

Flows (setting ``auth_flow``; ``auto`` picks from what is set, most durable first):

* ``refresh_token``      -- refresh token + client id (+ secret): what ``connect`` stores.
* ``jwt``                -- JWT bearer: RS256 assertion signed with ``private_key``/``private_key_path``.
* ``client_credentials`` -- client id/secret of a connected app with a run-as user (My Domain hosts only).
* ``password``           -- username + password + security token (OAuth password grant).
* ``access_token``       -- a ready session (``access_token`` + ``instance_url``); cannot be renewed
                            unless a refresh token is also set.

``login_url`` (e.g. the emulator's base URL) wins over ``domain``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import requests

from .errors import AuthenticationError, ConfigurationError
from .redact import masked, register_secrets
from .token_rotation import store_rotated, token_from_file

if TYPE_CHECKING:
    from ..settings import Settings

log = logging.getLogger("target_salesforce_andsend.salesforce.auth")

FLOWS = ("refresh_token", "jwt", "client_credentials", "password", "access_token")
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME_SECONDS = 170  # Salesforce accepts at most 3 minutes

PRODUCTION_LOGIN = "https://login.salesforce.com"
SANDBOX_LOGIN = "https://test.salesforce.com"


UNREACHABLE_HINT = " (check the login_url or domain setting, and the network)"

def resolve_login_url(domain: str | None = None, login_url: str | None = None) -> str:
    """``login`` -> production, ``test`` -> sandbox, ``acme`` -> ``https://acme.my.salesforce.com``,
    a host or URL as given; an explicit ``login_url`` wins."""
    if login_url:
        url = login_url.strip().rstrip("/")
        return url if "://" in url else f"https://{url}"
    d = (domain or "login").strip().rstrip("/")
    low = d.lower()
    if low in ("login", "production", "prod", "login.salesforce.com"):
        return PRODUCTION_LOGIN
    if low in ("test", "sandbox", "test.salesforce.com"):
        return SANDBOX_LOGIN
    if "://" in d:
        return d
    if "." not in d:
        return f"https://{d}.my.salesforce.com"
    return f"https://{d}"


def is_generic_login_host(url: str) -> bool:
    host = url.split("://", 1)[-1].split("/", 1)[0].lower()
    return host in ("login.salesforce.com", "test.salesforce.com")


def _settings(config: Settings | Mapping[str, Any]) -> Settings:
    from ..settings import Settings  # here: settings.py imports this package's errors

    return Settings.of(config)


def _set(config: Settings, key: str) -> bool:
    return config.is_set(key)


def choose_flow(config: Settings | Mapping[str, Any]) -> str:
    """The flow named by ``auth_flow``, or for ``auto`` the first one whose settings are present."""
    config = _settings(config)
    flow = config.auth_flow  # one of auto and FLOWS (Settings checks)
    if flow != "auto":
        return flow
    if _set(config, "refresh_token") and _set(config, "client_id"):
        return "refresh_token"
    if (_set(config, "private_key") or _set(config, "private_key_path")) and _set(config, "username"):
        return "jwt"
    if _set(config, "username") and _set(config, "password"):
        return "password"
    if _set(config, "access_token"):
        return "access_token"
    if _set(config, "client_id") and _set(config, "client_secret"):
        return "client_credentials"
    raise ConfigurationError(
        "No Salesforce credentials configured. Set one of: refresh_token + client_id "
        "(run `target-salesforce-andsend connect`), private_key/private_key_path + username + client_id (JWT), "
        "username + password (+ security_token) + client_id, client_id + client_secret (client credentials, "
        "My Domain only), or access_token + instance_url."
    )


REQUIRED: dict[str, tuple[str, ...]] = {
    "refresh_token": ("refresh_token", "client_id"),
    "jwt": ("client_id", "username"),
    # without client_id the password flow falls back to the SOAP login() call
    "password": ("username", "password"),
    "client_credentials": ("client_id", "client_secret"),
    "access_token": ("access_token", "instance_url"),
}


@dataclass
class Token:
    """A Salesforce session. ``repr`` never shows the token."""

    access_token: str = field(repr=False)
    instance_url: str
    id_url: str | None = None
    issued_at: float = field(default_factory=time.time)
    refresh_token: str | None = field(default=None, repr=False)
    flow: str = ""

    def __repr__(self) -> str:
        return (f"Token(flow={self.flow!r}, instance_url={self.instance_url!r}, "
                f"access_token={masked(self.access_token)}, refresh_token={masked(self.refresh_token)})")

    @property
    def org_id(self) -> str | None:
        parts = (self.id_url or "").rstrip("/").split("/")
        return parts[-2] if len(parts) >= 2 and parts[-2].startswith("00D") else None

    @property
    def user_id(self) -> str | None:
        parts = (self.id_url or "").rstrip("/").split("/")
        return parts[-1] if parts and parts[-1].startswith("005") else None


class Authenticator:
    """Obtains and renews sessions for one configuration. Thread-safe."""

    def __init__(self, config: Settings | Mapping[str, Any], *, session: requests.Session | None = None,
                 timeout: float | None = None) -> None:
        config = _settings(config)
        stored = token_from_file(config)
        if stored:
            config = replace(config, refresh_token=stored)  # the file holds the latest (rotated) token
        self._config = config  # replaced (not changed) when Salesforce rotates the refresh token
        self.flow = choose_flow(config)
        self.login_url = resolve_login_url(config.domain, config.login_url)
        self.timeout = float(timeout or config.request_timeout)
        self._session = session or requests.Session()
        self._lock = threading.Lock()
        register_secrets(config.client_secret, config.refresh_token, config.password, config.security_token,
                         config.private_key, config.access_token)
        if _set(config, "password") and _set(config, "security_token"):
            register_secrets(f"{config.password}{config.security_token}")  # what is actually sent
        missing = [k for k in REQUIRED[self.flow] if not _set(config, k)]
        if self.flow == "jwt" and not (_set(config, "private_key") or _set(config, "private_key_path")):
            missing.append("private_key or private_key_path")
        if missing:
            raise ConfigurationError(
                f"auth_flow {self.flow!r} needs these settings, which are not set: {', '.join(missing)}"
            )
        if self.flow == "client_credentials" and not config.login_url and is_generic_login_host(self.login_url):
            raise ConfigurationError(
                "The client credentials flow only works on your org's My Domain host: set domain to "
                "e.g. 'acme.my.salesforce.com' (login.salesforce.com / test.salesforce.com refuse it)."
            )
        self.soap = self.flow == "password" and not _set(config, "client_id")
        explicit = config.auth_flow != "auto"
        how = "set explicitly" if explicit else "chosen automatically from the settings present"
        log.info("Salesforce auth flow: %s%s (%s); login host %s", self.flow,
                 " via SOAP login(), as no client_id is set" if self.soap else "", how, self.login_url)

    def __repr__(self) -> str:
        return f"Authenticator(flow={self.flow!r}, login_url={self.login_url!r})"

    @property
    def login_kind(self) -> str:
        """The call kind a login is counted under (as the emulator's ``by_kind``)."""
        return "soap_login" if self.soap else "oauth"

    @property
    def token_url(self) -> str:
        return f"{self.login_url}/services/oauth2/token"

    @property
    def jwt_audience(self) -> str:
        """The JWT ``aud``: the login host, except that My Domain hosts are not audiences
        (Salesforce wants login.salesforce.com, or test.salesforce.com for sandboxes, there).
        ``jwt_audience`` overrides (e.g. an Experience Cloud site URL)."""
        if _set(self._config, "jwt_audience"):
            return str(self._config.jwt_audience).rstrip("/")
        host = self.login_url.split("://", 1)[-1].split("/", 1)[0].lower()
        if host.endswith(".sandbox.my.salesforce.com"):
            return SANDBOX_LOGIN
        if host.endswith(".my.salesforce.com"):
            return PRODUCTION_LOGIN
        return self.login_url

    @property
    def can_renew(self) -> bool:
        """Whether a 401 can be answered by logging in again."""
        if self.flow == "access_token":
            return _set(self._config, "refresh_token") and _set(self._config, "client_id")
        return True

    def authenticate(self) -> Token:
        """Log in with the configured flow (one OAuth call; none for ``access_token``)."""
        with self._lock:
            if self.flow == "access_token":
                return Token(
                    access_token=str(self._config.access_token),
                    instance_url=str(self._config.instance_url).rstrip("/"),
                    flow="access_token",
                )
            return self._grant(self.flow)

    def renew(self) -> Token:
        """A fresh session after the old one was refused (401)."""
        with self._lock:
            if self.flow == "access_token":
                if not self.can_renew:
                    raise AuthenticationError(
                        "The Salesforce session (access_token) expired or was revoked and cannot be renewed: "
                        "set refresh_token + client_id, or another auth flow.",
                        flow="access_token", error="INVALID_SESSION_ID",
                    )
                return self._grant("refresh_token")
            return self._grant(self.flow)

    # -- grants ---------------------------------------------------------------------------------

    def _grant_body(self, flow: str) -> tuple[dict[str, str], tuple[str, str] | None]:
        c = self._config
        if flow == "refresh_token":
            body = {"grant_type": "refresh_token", "refresh_token": str(c.refresh_token), "client_id": str(c.client_id)}
            if c.client_secret:
                body["client_secret"] = c.client_secret
            return body, None
        if flow == "password":
            body = {
                "grant_type": "password",
                "client_id": str(c.client_id),
                "username": str(c.username),
                "password": f"{c.password}{c.security_token or ''}",
            }
            if c.client_secret:
                body["client_secret"] = c.client_secret
            return body, None
        if flow == "jwt":
            return {"grant_type": JWT_GRANT, "assertion": self._jwt_assertion()}, None
        if flow == "client_credentials":
            # HTTP Basic keeps the secret out of the body; Salesforce accepts either.
            return {"grant_type": "client_credentials"}, (str(c.client_id), str(c.client_secret))
        raise ConfigurationError(f"unsupported auth flow {flow!r}")

    def _private_key(self) -> str:
        c = self._config
        if c.private_key:
            key = c.private_key
            # Settings stored in .env often carry literal "\n" sequences instead of newlines.
            return key.replace("\\n", "\n") if "\\n" in key and "\n" not in key else key
        path = str(c.private_key_file)
        try:
            with open(path, encoding="utf-8") as fh:
                key = fh.read()
        except OSError as exc:
            raise ConfigurationError(f"private_key_path {path!r} cannot be read: {exc.strerror}") from None
        register_secrets(key)
        return key

    def _jwt_assertion(self) -> str:
        import jwt  # PyJWT; imported lazily so other flows do not pay for cryptography

        now = int(time.time())
        claims = {
            "iss": self._config.client_id,
            "sub": self._config.username,
            "aud": self.jwt_audience,
            "exp": now + JWT_LIFETIME_SECONDS,
        }
        try:
            assertion = jwt.encode(claims, self._private_key(), algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            # Never echo the key: only say what kind of problem it is.
            raise ConfigurationError(
                f"private key could not sign the JWT assertion (is it an RSA private key in PEM form?): "
                f"{type(exc).__name__}"
            ) from None
        register_secrets(assertion)
        return assertion

    def _grant(self, flow: str) -> Token:
        if flow == "password" and self.soap:
            return self._soap_login()
        body, basic = self._grant_body(flow)
        try:
            resp = self._session.post(self.token_url, data=body, auth=basic, timeout=self.timeout,
                                      headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise AuthenticationError(
                f"Salesforce login ({flow}) could not reach {self.token_url}: {type(exc).__name__}"
                f"{UNREACHABLE_HINT}",
                flow=flow,
            ) from None
        try:
            payload = resp.json()
        except ValueError:
            payload = {}
        if resp.status_code != 200 or not isinstance(payload, dict) or "access_token" not in payload:
            error = payload.get("error") if isinstance(payload, dict) else None
            description = payload.get("error_description") if isinstance(payload, dict) else None
            raise AuthenticationError(
                f"Salesforce login ({flow} flow at {self.login_url}) failed: HTTP {resp.status_code}"
                f" {error or 'unexpected response'}: {description or ''}".rstrip(": ")
                + _hint(flow, error, description),
                error=error, description=description, flow=flow, status=resp.status_code,
            )
        register_secrets(payload.get("access_token"), payload.get("refresh_token"))
        rotated = payload.get("refresh_token")
        if flow == "refresh_token" and rotated and rotated != self._config.refresh_token:
            # Refresh-token rotation is on for this connected app: the old token is spent, so the
            # rest of this run uses the new one, stored where the old one came from first
            # (token_rotation.py); with nowhere to store it the run stops here, before any write.
            old = self._config.refresh_token
            self._config = replace(self._config, refresh_token=rotated)
            where = store_rotated(self._config, old, rotated)
            log.warning("Salesforce rotated the refresh token; the new one is stored in %s", where)
        token = Token(
            access_token=payload["access_token"],
            instance_url=str(payload.get("instance_url") or self._config.instance_url
                             or self.login_url).rstrip("/"),
            id_url=payload.get("id"),
            refresh_token=payload.get("refresh_token"),
            flow=flow,
        )
        log.debug("Salesforce login (%s) succeeded; instance %s", flow, token.instance_url)
        return token


    def _soap_login(self) -> Token:
        """Partner SOAP ``login()``: username + password + security token, no connected app needed."""
        from xml.sax.saxutils import escape

        c = self._config
        version = c.api_version
        envelope = (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:urn="urn:partner.soap.sforce.com"><env:Body><urn:login>'
            f"<urn:username>{escape(str(c.username))}</urn:username>"
            f"<urn:password>{escape(str(c.password) + str(c.security_token or ''))}</urn:password>"
            "</urn:login></env:Body></env:Envelope>"
        )
        url = f"{self.login_url}/services/Soap/u/{version}"
        try:
            resp = self._session.post(url, data=envelope.encode("utf-8"), timeout=self.timeout,
                                      headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "login"})
        except requests.RequestException as exc:
            raise AuthenticationError(f"Salesforce SOAP login could not reach {url}: {type(exc).__name__}"
                                      f"{UNREACHABLE_HINT}", flow="password") from None
        fields = _soap_fields(resp.text)
        if resp.status_code != 200 or not fields.get("sessionId"):
            code = fields.get("exceptionCode") or fields.get("faultcode") or f"HTTP {resp.status_code}"
            message = fields.get("exceptionMessage") or fields.get("faultstring") or ""
            raise AuthenticationError(
                f"Salesforce SOAP login at {self.login_url} failed: {code}: {message}"
                " (check username, password and security_token; the token is appended to the password)",
                error=code, description=message, flow="password", status=resp.status_code,
            )
        register_secrets(fields["sessionId"])
        server = fields.get("serverUrl", "")
        instance = "/".join(server.split("/", 3)[:3]) if "://" in server else self.login_url
        org, user = fields.get("organizationId"), fields.get("userId")
        return Token(
            access_token=fields["sessionId"],
            instance_url=instance,
            id_url=f"{self.login_url}/id/{org}/{user}" if org and user else None,
            flow="password",
        )


def _soap_fields(xml_text: str) -> dict[str, str]:
    """Leaf elements of a SOAP response by local name (first occurrence)."""
    import xml.etree.ElementTree as ET

    out: dict[str, str] = {}
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError:
        return out
    for el in root.iter():
        name = el.tag.rsplit("}", 1)[-1]
        if len(el) == 0 and name not in out:
            out[name] = (el.text or "").strip()
    return out


def _hint(flow: str, error: str | None, description: str | None) -> str:
    d = (description or "").lower()
    if error == "invalid_grant" and flow == "refresh_token":
        return " (the refresh token is expired or revoked: run `target-salesforce-andsend connect` again)"
    if error == "invalid_grant" and flow == "password" and "authentication failure" in d:
        return " (check username, password and security_token; the token is appended to the password)"
    if error == "invalid_grant" and flow == "jwt":
        return " (check that the connected app holds the matching certificate and the user is pre-authorized)"
    if error in ("invalid_client_id", "invalid_client", "invalid_client_credentials"):
        return " (check client_id / client_secret)"
    return ""
