"""Settings: the target's configuration, typed, read once.

``Settings.from_config(config)`` turns the config dict (as the Singer SDK, a CLI or a script hands
it over) into one frozen object: every default applied once (the same defaults the config schema in
``target.py`` declares; ``tests/target/test_settings.py`` holds them equal), every enum checked
(``SettingsError`` names the setting and its allowed values) and every file path derived in one
place (``settings.paths``; ``~`` expanded on each). A value of ``None`` or ``""`` means "not set".

Modules take a ``Settings``; ``Settings.of(x)`` also accepts a raw mapping, for callers (scripts,
tests) that still hold one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .salesforce.errors import ConfigurationError

AUTH_FLOWS = ("auto", "refresh_token", "jwt", "password", "client_credentials", "access_token")
OBJECT_MODES = ("lead", "contact_account")
OWNER_FALLBACKS = ("assignment_rules", "integration_user", "user")
ACCOUNT_INDEX_MODES = ("auto", "query", "bulk", "off")
DUPLICATE_ACTIONS = ("link", "allow_save", "reject")
DUPLICATE_OBJECTS = ("Lead", "Contact", "Account")
DEFAULT_DUPLICATE_ACTION = "link"

# Settings the schema gives no default (it documents them as unset) but the code needs a value for.
# Each is applied here only; the test checks that this is the exact list of such settings.
UNSET_FALLBACKS: Mapping[str, Any] = MappingProxyType({
    "bulk_poll_seconds": 1.0,
    "bulk_timeout_seconds": 3600.0,
})

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class SettingsError(ConfigurationError, ValueError):
    """A setting holds a value the target cannot use; the message names the setting."""


def _secret() -> Any:
    return field(default=None, repr=False)


@dataclass(frozen=True)
class OutputPaths:
    """Every file the target writes, derived once from output_dir and the *_path settings."""

    output_dir: Path
    report: Path
    rejects: Path
    badges: Path
    crm_status: Path
    links: Path


@dataclass(frozen=True)
class Settings:
    # -- connection (salesforce/auth.py, salesforce/client.py) --
    auth_flow: str = "auto"
    client_id: str | None = None
    client_secret: str | None = _secret()
    refresh_token: str | None = _secret()
    username: str | None = None
    password: str | None = _secret()
    security_token: str | None = _secret()
    private_key: str | None = _secret()
    private_key_path: str | None = None
    jwt_audience: str | None = None
    access_token: str | None = _secret()
    instance_url: str | None = None
    domain: str = "login"
    login_url: str | None = None
    api_version: str = "60.0"
    request_timeout: float = 120.0
    # -- behaviour --
    mapping_catalog: str | None = None
    mapping_catalog_inline: Any = None
    object_mode: str | None = None
    sync_prospects: bool = True
    sync_activities: bool = True
    include_message_content: bool = True
    match_order: tuple[str, ...] | None = None
    owner_fallback: str = "assignment_rules"
    fallback_owner_email: str | None = None
    stream_roles: Mapping[str, str] | None = None
    validate_records: bool = False
    dry_run: bool = False
    # -- quota and writes --
    quota_max_daily_percent: float = 80
    quota_max_calls_per_run: int = 0
    # Short calls have no concurrency limit at Salesforce (only requests over 20 s count, 25 at once
    # in production); 8 keeps a batch's calls overlapping without crowding record locks.
    max_concurrency: int = 8
    # From this many records of one write, a Bulk 2.0 job (about six calls whatever its size, but
    # seconds of polling) costs fewer calls than Composite-bundled Collections (one call per 1,000).
    bulk_threshold: int = 10000
    max_retries: int = 5
    retry_backoff_seconds: float = 1.0
    bulk_poll_seconds: float = UNSET_FALLBACKS["bulk_poll_seconds"]
    bulk_timeout_seconds: float = UNSET_FALLBACKS["bulk_timeout_seconds"]
    # -- files --
    output_dir: str = "./output"
    rejects_path: str | None = None
    report_path: str | None = None
    badges_path: str | None = None
    reject_threshold: int = 100
    andsend_api_url: str | None = None
    andsend_api_key: str | None = _secret()
    # -- CRM status flowing back --
    sync_crm_status: bool = True
    crm_status_fields: tuple[str, ...] | None = None
    crm_status_path: str | None = None
    crm_status_lookback_seconds: float = 60
    # -- matching --
    match_email_fields: tuple[str, ...] | None = None
    account_index: str = "auto"
    # -- duplicate rules: object -> action, only the objects configured (see duplicate_action) --
    duplicate_rule_action: Mapping[str, str] | None = None
    # -- run safety --
    state_store_url: str | None = _secret()
    pipeline_id: str = "default"
    lease_wait_seconds: float = 300
    lease_ttl_seconds: float = 60
    parked_max_days: float = 30
    refresh_token_file: str | None = None
    # -- rejects kept as retryable work --
    rejects_retry: bool = True
    rejects_retry_backoff_minutes: float = 60
    rejects_retry_max_attempts: int = 8

    # -- building ----------------------------------------------------------------------------

    @classmethod
    def of(cls, config: Settings | Mapping[str, Any] | None) -> Settings:
        """``config`` as Settings (built from a raw mapping when it is one)."""
        if isinstance(config, Settings):
            return config
        return cls.from_config(config or {})

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = config.get(f.name)
            if raw is None or raw == "":
                continue  # the default
            values[f.name] = _COERCE.get(f.name, _as_str)(f.name, raw)
        settings = cls(**values)
        settings._validate()
        return settings

    def _validate(self) -> None:
        _one_of("auth_flow", self.auth_flow, AUTH_FLOWS)
        if self.object_mode is not None:
            _one_of("object_mode", self.object_mode, OBJECT_MODES)
        _one_of("owner_fallback", self.owner_fallback, OWNER_FALLBACKS)
        _one_of("account_index", self.account_index, ACCOUNT_INDEX_MODES)
        for obj, action in (self.duplicate_rule_action or {}).items():
            if obj not in DUPLICATE_OBJECTS:
                raise SettingsError(f"duplicate_rule_action: unknown object {obj!r} ({', '.join(DUPLICATE_OBJECTS)})")
            _one_of(f"duplicate_rule_action.{obj}", action, DUPLICATE_ACTIONS)

    # -- derived -----------------------------------------------------------------------------

    @property
    def paths(self) -> OutputPaths:
        out = _path(self.output_dir)
        return OutputPaths(
            output_dir=out,
            report=_path(self.report_path) if self.report_path else out / "report.json",
            rejects=_path(self.rejects_path) if self.rejects_path else out / "rejects.jsonl",
            badges=_path(self.badges_path) if self.badges_path else out / "badges.jsonl",
            crm_status=_path(self.crm_status_path) if self.crm_status_path else out / "crm_status.jsonl",
            links=out / "links.sqlite",
        )

    @property
    def mapping_catalog_file(self) -> Path | None:
        return _path(self.mapping_catalog) if self.mapping_catalog else None

    @property
    def private_key_file(self) -> Path | None:
        return _path(self.private_key_path) if self.private_key_path else None

    @property
    def refresh_token_path(self) -> Path | None:
        return _path(self.refresh_token_file) if self.refresh_token_file else None

    @property
    def writes_back_to_andsend(self) -> bool:
        """Andsend URL and key both set (badges and CRM statuses are written back)."""
        return bool(self.andsend_api_url and self.andsend_api_key)

    def duplicate_action(self, sobject: str) -> str:
        """What a create of ``sobject`` refused by a duplicate rule becomes (link by default)."""
        return (self.duplicate_rule_action or {}).get(sobject, DEFAULT_DUPLICATE_ACTION)

    def is_set(self, name: str) -> bool:
        """Whether a setting holds a value (not None, not empty)."""
        return getattr(self, name) not in (None, "")


def _path(value: str) -> Path:
    return Path(value).expanduser()


def _one_of(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _as_str(name: str, value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise SettingsError(f"{name} must be a string, not {type(value).__name__}")
    return str(value)


def _as_given(name: str, value: Any) -> Any:
    return value


def _as_choice(name: str, value: Any) -> str:
    return _as_str(name, value).strip().lower()


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise SettingsError(f"{name} must be true or false; got {value!r}")
    return bool(value)


def _as_float(name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be a number; got {value!r}") from None


def _as_int(name: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be a whole number; got {value!r}") from None


def _as_names(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise SettingsError(f"{name} must be a list of names; got {value!r}")
    return tuple(value)


def _as_mapping(name: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SettingsError(f"{name} must be an object; got {type(value).__name__}")
    return MappingProxyType(dict(value))


def _as_duplicate_actions(name: str, value: Any) -> Mapping[str, str]:
    # One value for every object, or an object of per-object values.
    pairs = value.items() if isinstance(value, Mapping) else ((obj, value) for obj in DUPLICATE_OBJECTS)
    return MappingProxyType({str(obj): str(action or DEFAULT_DUPLICATE_ACTION).strip().lower()
                             for obj, action in pairs})


def _as_api_version(name: str, value: Any) -> str:
    return _as_str(name, value).lstrip("vV")


_BOOLS = ("sync_prospects", "sync_activities", "include_message_content", "validate_records", "dry_run",
          "sync_crm_status", "rejects_retry")
_FLOATS = ("request_timeout", "quota_max_daily_percent", "retry_backoff_seconds", "bulk_poll_seconds",
           "bulk_timeout_seconds", "crm_status_lookback_seconds", "lease_wait_seconds", "lease_ttl_seconds",
           "parked_max_days", "rejects_retry_backoff_minutes")
_INTS = ("quota_max_calls_per_run", "max_concurrency", "bulk_threshold", "max_retries", "reject_threshold",
         "rejects_retry_max_attempts")
_COERCE: dict[str, Any] = {
    **dict.fromkeys(_BOOLS, _as_bool),
    **dict.fromkeys(_FLOATS, _as_float),
    **dict.fromkeys(_INTS, _as_int),
    **dict.fromkeys(("auth_flow", "object_mode", "owner_fallback", "account_index"), _as_choice),
    **dict.fromkeys(("match_order", "crm_status_fields", "match_email_fields"), _as_names),
    "stream_roles": _as_mapping,
    "mapping_catalog_inline": _as_given,  # catalog.py says what is wrong with a malformed one
    "duplicate_rule_action": _as_duplicate_actions,
    "api_version": _as_api_version,
}
