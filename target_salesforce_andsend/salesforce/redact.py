"""Keep secrets out of every log line.

Two layers: known secret *values* (every sensitive setting, every token we receive) are
replaced wherever they appear, in every spelling a log line can carry (as is, URL-encoded,
JSON-escaped, XML/HTML-escaped, base64, and as Python bytes reprs, which is how ``http.client``
wire debugging prints a request body), and *patterns* catch secrets we were never told about
(Bearer/Basic headers, ``access_token=...`` in URLs/forms/JSON, SOAP ``<password>`` and session
ids, PEM private keys).

Both plugins (``tap-andsend`` too) install this before anything logs: the console scripts and
the plugin constructors register the config's and the environment's secret settings first.

``install()`` wraps the process-wide LogRecord factory, so a record is redacted when it is
created, whichever logger or handler later sees it (singer_sdk, urllib3, requests, ours), and
also adds :class:`RedactingFilter` to the target's and singer_sdk's loggers for records built
by hand.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:
    from ..settings import Settings

MASK = "***"

#: Settings whose values are secret (DESIGN.md "Target settings", marked *).
SENSITIVE_SETTINGS = frozenset(
    {
        "client_secret",
        "refresh_token",
        "password",
        "security_token",
        "private_key",
        "access_token",
        "andsend_api_key",
        "api_key",  # tap-andsend
        "state_store_url",
    }
)

# Values shorter than this are not registered: masking "a" everywhere would wreck logs and
# such values are not real secrets anyway.
_MIN_SECRET_LEN = 4
_WHOLE_WORD_BELOW = 16
# A short value made of letters only ("token", the emulator's demo security token) is an ordinary
# word: masking it by value would turn "/services/oauth2/token" into "/services/oauth2/***". Such
# values are masked where they stand as a secret key's value (form, JSON, SOAP <password>), not
# by value. Real Salesforce passwords have at least 8 characters and security tokens 24-25.
_WORDLIKE_BELOW = 8


def spellings(value: str) -> set[str]:
    """Every way ``value`` can appear in a log line or a file the plugins write."""
    raw = value.encode("utf-8")
    out = {
        value,
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        html.escape(value, quote=True),   # &#x27; for '
        html.escape(value, quote=False),
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
        .replace("'", "&apos;"),
        repr(raw)[2:-1],                  # b'...' as http.client's debug output prints bodies
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    return {s for s in out if s}

_KEYS = (
    r"access_token|refresh_token|client_secret|password|security_token|assertion|code_verifier|"
    r"sessionId|session_id|private_key|andsend_api_key|api_key|code"
)
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.S),
     "-----BEGIN PRIVATE KEY-----" + MASK + "-----END PRIVATE KEY-----"),
    (re.compile(r"(?i)\b(Bearer|OAuth|Basic)(\s+)[^\s'\",;]+"), r"\1\2" + MASK),
    # form/query style: access_token=...&
    (re.compile(rf"(?i)\b({_KEYS})=([^&\s'\",;]+)"), r"\1=" + MASK),
    # JSON / repr style: "access_token": "..."  or 'access_token': '...'
    (re.compile(rf"(?i)([\"']({_KEYS})[\"']\s*:\s*)([\"'])(.*?)(?<!\\)\3"), r"\1\3" + MASK + r"\3"),
    # a number where a secret was expected ("security_token": 123456)
    (re.compile(rf"(?i)([\"']({_KEYS})[\"']\s*:\s*)(-?\d[\d.eE+\-]*)"), r"\1" + MASK),
    # SOAP: <sessionId>...</sessionId>, and the login() body's <password>...</password>
    (re.compile(r"(?i)(<(?:\w+:)?(?:sessionId|password)>)[^<]*(</)"), r"\1" + MASK + r"\2"),
    # the same element HTML-escaped (an error page quoting the request)
    (re.compile(r"(?i)(&lt;(?:\w+:)?(?:sessionId|password)&gt;).*?(&lt;/)"), r"\1" + MASK + r"\2"),
    # Salesforce access tokens / session ids: 00D<org id>!<opaque>
    (re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._\-]{20,}"), MASK),
]


class SecretRegistry:
    """Thread-safe set of literal secret values to mask."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._ordered: tuple[str, ...] = ()
        self._short_re: re.Pattern[str] | None = None

    def add(self, *values: Any) -> None:
        with self._lock:
            changed = False
            for value in values:
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    value = str(value)  # a numeric security token is as secret as a string one
                if isinstance(value, str):
                    candidates = {value, value.strip()}
                    # A PEM key is also masked line by line (tracebacks may split it).
                    if "\n" in value:
                        candidates.update(line.strip() for line in value.splitlines())
                    for c in candidates:
                        if len(c) < _MIN_SECRET_LEN or "-----" in c:
                            continue
                        if len(c) < _WORDLIKE_BELOW and c.isalpha():
                            continue  # an ordinary word: masked by the key patterns only
                        for form in spellings(c):
                            if len(form) >= _MIN_SECRET_LEN and form not in self._values:
                                self._values.add(form)
                                changed = True
            if changed:
                # Longest first so a secret containing another is masked whole.
                self._ordered = tuple(sorted(self._values, key=len, reverse=True))
                short = [v for v in self._ordered if len(v) < _WHOLE_WORD_BELOW]
                # Short secrets (a password like "emulator") are masked as whole words only, so
                # paths and words that merely contain them ("emulators/", the client id
                # "emulator-client-id") stay readable.
                self._short_re = (
                    re.compile("(?<![A-Za-z0-9_-])(?:" + "|".join(map(re.escape, short)) + ")(?![A-Za-z0-9_-])")
                    if short else None
                )

    def add_from_config(self, config: Settings | Mapping[str, Any]) -> None:
        self.add(*(_value(config, k) for k in SENSITIVE_SETTINGS))
        url = _value(config, "state_store_url")
        if isinstance(url, str) and "://" in url:
            from urllib.parse import urlsplit

            self.add(urlsplit(url).password)  # also where a driver message shows it alone

    def values(self) -> tuple[str, ...]:
        return self._ordered

    def mask(self, text: str) -> str:
        for value in self._ordered:
            if len(value) >= _WHOLE_WORD_BELOW and value in text:
                text = text.replace(value, MASK)
        short_re = self._short_re
        return short_re.sub(MASK, text) if short_re is not None else text

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._ordered = ()
            self._short_re = None


#: Process-wide registry: logging is process-wide too.
secrets = SecretRegistry()


def redact(text: str) -> str:
    """Mask every known secret value and every secret-looking pattern in ``text``."""
    if not text:
        return text
    # Patterns first: they need the key names intact ("access_token": ...), which a short
    # registered secret could otherwise have masked away.
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return secrets.mask(text)


def register_secrets(*values: Any) -> None:
    secrets.add(*values)


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Render the record's message and exception text now, redacted (idempotent)."""
    if getattr(record, "_andsend_redacted", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: keep the raw template, still redacted
        message = str(record.msg)
    record.msg = redact(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._andsend_redacted = True  # type: ignore[attr-defined]
    return record


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_install_lock = threading.Lock()
_installed = False
_FILTER = RedactingFilter()

DEFAULT_LOGGERS = ("target_salesforce_andsend", "target-salesforce-andsend", "tap_andsend", "tap-andsend",
                   "singer_sdk", "urllib3", "requests")


def _value(config: Settings | Mapping[str, Any], key: str) -> Any:
    # A raw mapping as well as Settings: a plugin's secrets are registered before its config is checked.
    return config.get(key) if isinstance(config, Mapping) else getattr(config, key, None)


def install(config: Settings | Mapping[str, Any] | None = None, *,
            loggers: Iterable[str] = DEFAULT_LOGGERS) -> None:
    """Register the config's secrets and make every log record in the process redacted."""
    global _installed
    if config:
        secrets.add_from_config(config)
        # A private key file's content is as secret as inline PEM text.
        path = _value(config, "private_key_path")
        if path:
            try:
                with open(os.path.expanduser(str(path)), encoding="utf-8") as fh:
                    secrets.add(fh.read())
            except OSError:
                pass  # auth.py reports an unreadable key file with a clear error later
    with _install_lock:
        if not _installed:
            previous = logging.getLogRecordFactory()

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                return redact_record(previous(*args, **kwargs))

            logging.setLogRecordFactory(factory)
            _route_http_debug_to_logging()
            _installed = True
        for name in loggers:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
            for handler in logger.handlers:
                if _FILTER not in handler.filters:
                    handler.addFilter(_FILTER)
        for handler in logging.getLogger().handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)


def _environment_secrets(env_prefix: str) -> list[str]:
    """Secret settings given as environment variables (``TAP_ANDSEND_API_KEY``, ...)."""
    return [value for key, value in os.environ.items()
            if key.startswith(env_prefix) and key[len(env_prefix):].lower() in SENSITIVE_SETTINGS]


def _config_files(argv: Iterable[str]) -> list[str]:
    args = list(argv)
    files = []
    for i, arg in enumerate(args):
        if arg == "--config" and i + 1 < len(args):
            files.append(args[i + 1])
        elif arg.startswith("--config="):
            files.append(arg.split("=", 1)[1])
    return [f for f in files if f != "ENV"]


def install_for_plugin(config: Any = None, *, argv: Iterable[str] = (), env_prefix: str,
                       loggers: Iterable[str] = DEFAULT_LOGGERS) -> None:
    """Install redaction for a plugin before it logs anything (its config validation included):
    the secret settings of ``config`` (a dict, a path or a list of paths), of the ``--config``
    files in ``argv`` and of the ``<env_prefix><SETTING>`` environment variables."""
    paths: list[Any] = list(_config_files(argv))
    if isinstance(config, (str, os.PathLike)):
        paths.append(config)
    elif isinstance(config, list):
        paths.extend(config)
    documents: list[Mapping[str, Any]] = [config] if isinstance(config, Mapping) else []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                document = json.load(fh)
        except (OSError, ValueError):
            continue  # the plugin itself reports an unreadable config
        if isinstance(document, Mapping):
            documents.append(document)
    secrets.add(*_environment_secrets(env_prefix))
    install(None, loggers=loggers)
    for document in documents:
        install(document, loggers=loggers)


def _route_http_debug_to_logging() -> None:
    """``http.client`` wire debugging (``debuglevel``) prints headers, bearer tokens included, to
    stdout, which for a Singer target is the STATE channel. Send it to a logger instead, where
    it is redacted like everything else."""
    import http.client

    wire = logging.getLogger("http.client")

    def _print(*args: Any, **_kwargs: Any) -> None:
        wire.debug(" ".join(str(a) for a in args))

    http.client.print = _print  # type: ignore[attr-defined]


def masked(value: Any) -> str:
    """How a secret shows in a repr: present or not, never its content."""
    return MASK if value else "None"
