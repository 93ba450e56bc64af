"""The tenants file: which orgs the fleet syncs, how, and where each tenant's secrets are.

The file holds no secret value. Every credential is a reference, resolved in the worker when the
tenant runs: ``{env: NAME}`` (an environment variable, which is how Kubernetes secrets, Dagster+
environment variables and ECS/Nomad secret stores reach a process) or ``{file: /path}`` (a mounted
secret file). A literal where a secret belongs is refused when the file is loaded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

NAME = re.compile(r"[a-z][a-z0-9_]{0,47}")
# Target settings that are secrets: only references are accepted for them.
SECRET_SETTINGS = frozenset({"client_secret", "refresh_token", "password", "security_token", "private_key",
                             "access_token"})
# Salesforce settings a tenant may give (literal or reference); secrets among them must be references.
CREDENTIAL_SETTINGS = frozenset({"auth_flow", "client_id", "username", "private_key_path", "jwt_audience",
                                 "instance_url", *SECRET_SETTINGS})
# Non-secret target settings a tenant may switch (everything the fleet does not own itself). Settings
# meltano.yml declares `kind: decimal` are left out: Meltano 4.4 casts such a value given as a
# variable to Decimal and then fails to write the plugin's JSON config ("Object of type Decimal is not
# JSON serializable"); set those in the fleet's Meltano environment instead.
SWITCHES = frozenset({
    "object_mode", "sync_prospects", "sync_activities", "sync_crm_status", "include_message_content",
    "match_order", "match_email_fields", "owner_fallback", "fallback_owner_email", "stream_roles", "dry_run",
    "quota_max_calls_per_run", "max_concurrency", "bulk_threshold", "max_retries", "reject_threshold",
    "crm_status_fields", "crm_status_lookback_seconds", "batch_size_rows", "api_version",
    "mapping_catalog_inline",
})
# Tap settings a tenant may give.
TAP_SETTINGS = frozenset({"start_date", "page_size", "purchased_only", "request_timeout", "max_retries"})
ENVIRONMENTS = {"production": "login", "sandbox": "test"}
# The Meltano project beside deploy/ (this repository's meltano.yml), unless the file names another.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class FleetConfigError(ValueError):
    """The tenants file is wrong; the message says where."""


class MissingSecret(RuntimeError):
    """A secret reference that does not resolve (the message names the reference, never a value)."""


@dataclass(frozen=True)
class SecretRef:
    kind: str  # "env" or "file"
    name: str

    def resolve(self, environ: Mapping[str, str] | None = None) -> str:
        if self.kind == "env":
            value = (os.environ if environ is None else environ).get(self.name)
            if not value:
                raise MissingSecret(f"environment variable {self.name} is not set")
            return value
        try:
            value = Path(self.name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise MissingSecret(f"secret file {self.name}: {exc.strerror or exc}") from None
        if not value:
            raise MissingSecret(f"secret file {self.name} is empty")
        return value

    def describe(self) -> str:
        return f"{self.kind}:{self.name}"


Value = str | SecretRef


@dataclass(frozen=True)
class Retries:
    max_retries: int = 3
    delay_seconds: float = 60.0


@dataclass(frozen=True)
class Tenant:
    name: str
    org: str                         # the one-run-per-org key (Dagster tag); tenants on one org share it
    andsend_api_url: str
    andsend_api_key: SecretRef
    salesforce: dict[str, Value]     # target settings: domain or login_url, auth_flow, credentials
    schedule: str
    timezone: str = "UTC"
    catalog: str | None = None       # mapping_catalog file
    switches: dict[str, Any] = field(default_factory=dict)
    tap: dict[str, Any] = field(default_factory=dict)
    quota_share_percent: int | None = None  # quota_max_daily_percent: this tenant's share of its org's allocation
    enabled: bool = True


@dataclass(frozen=True)
class Fleet:
    tenants: tuple[Tenant, ...]
    meltano_project: Path            # directory of meltano.yml
    environment: str                 # Meltano environment every tenant runs in
    output_root: Path                # <output_root>/<tenant>/: output, Meltano system dir, logs
    state_backend: str               # Meltano state backend URI prefix; + /<tenant>
    state_store_url: SecretRef | None  # PostgreSQL store; each tenant in its own schema
    retries: Retries = Retries()
    quota_hold_seconds: float = 3600.0
    meltano_timeout_seconds: float = 6 * 3600.0

    def tenant(self, name: str) -> Tenant:
        for tenant in self.tenants:
            if tenant.name == name:
                return tenant
        raise KeyError(name)

    def tenant_dir(self, tenant: Tenant) -> Path:
        return self.output_root / tenant.name


def _ref(value: Any, where: str, *, secret: bool) -> Value:
    if isinstance(value, Mapping):
        if len(value) != 1 or next(iter(value)) not in ("env", "file"):
            raise FleetConfigError(f"{where}: a reference is {{env: NAME}} or {{file: /path}}")
        kind, name = next(iter(value.items()))
        if not isinstance(name, str) or not name:
            raise FleetConfigError(f"{where}: {kind} reference needs a name")
        return SecretRef(kind, name)
    if secret:
        raise FleetConfigError(f"{where}: secrets are references ({{env: NAME}} or {{file: /path}}), "
                               "never values in the tenants file")
    if not isinstance(value, str | int | float | bool):
        raise FleetConfigError(f"{where}: expected a value or a reference")
    return str(value)


def _salesforce(raw: Any, where: str) -> dict[str, Value]:
    if not isinstance(raw, Mapping):
        raise FleetConfigError(f"{where}: expected a mapping")
    settings: dict[str, Value] = {}
    env = raw.get("environment", "production")
    if env in ENVIRONMENTS:
        settings["domain"] = ENVIRONMENTS[env]
    elif env == "my_domain":
        if not raw.get("my_domain"):
            raise FleetConfigError(f"{where}.my_domain: the org's My Domain host, e.g. acme.my.salesforce.com")
        settings["domain"] = str(raw["my_domain"])
    elif env == "custom":
        if not raw.get("login_url"):
            raise FleetConfigError(f"{where}.login_url: required for environment custom")
        settings["login_url"] = str(raw["login_url"])
    else:
        raise FleetConfigError(f"{where}.environment: production, sandbox, my_domain or custom, not {env!r}")
    unknown = set(raw) - {"environment", "my_domain", "login_url", "credentials"}
    if unknown:
        raise FleetConfigError(f"{where}: unknown keys {sorted(unknown)}")
    creds = raw.get("credentials") or {}
    if not isinstance(creds, Mapping):
        raise FleetConfigError(f"{where}.credentials: expected a mapping")
    for key, value in creds.items():
        if key not in CREDENTIAL_SETTINGS:
            raise FleetConfigError(f"{where}.credentials.{key}: not a credential setting "
                                   f"({', '.join(sorted(CREDENTIAL_SETTINGS))})")
        settings[key] = _ref(value, f"{where}.credentials.{key}", secret=key in SECRET_SETTINGS)
    return settings


def _tenant(raw: Any, i: int, defaults: Mapping[str, Any]) -> Tenant:
    where = f"tenants[{i}]"
    if not isinstance(raw, Mapping):
        raise FleetConfigError(f"{where}: expected a mapping")
    name = raw.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise FleetConfigError(f"{where}.name: lower-case letters, digits and _ (a Dagster, schema and state "
                               f"id name), starting with a letter; got {name!r}")
    where = f"tenant {name}"
    known = {"name", "org", "andsend", "salesforce", "schedule", "timezone", "catalog", "switches", "tap",
             "quota_share_percent", "enabled"}
    unknown = set(raw) - known
    if unknown:
        raise FleetConfigError(f"{where}: unknown keys {sorted(unknown)}")
    andsend = raw.get("andsend") or {}
    if not isinstance(andsend, Mapping) or not andsend.get("api_url") or "api_key" not in andsend:
        raise FleetConfigError(f"{where}.andsend: api_url and api_key ({{env: NAME}} or {{file: /path}})")
    api_key = _ref(andsend["api_key"], f"{where}.andsend.api_key", secret=True)
    assert isinstance(api_key, SecretRef)
    switches = dict(raw.get("switches") or {})
    bad = set(switches) - SWITCHES
    if bad:
        raise FleetConfigError(f"{where}.switches: {sorted(bad)} cannot be set per tenant "
                               "(secrets go in salesforce.credentials; paths and the store are the fleet's)")
    tap = dict(raw.get("tap") or {})
    bad = set(tap) - TAP_SETTINGS
    if bad:
        raise FleetConfigError(f"{where}.tap: unknown settings {sorted(bad)}")
    share = raw.get("quota_share_percent", defaults.get("quota_share_percent"))
    if share is not None and not (isinstance(share, int) and not isinstance(share, bool) and 0 < share <= 100):
        raise FleetConfigError(f"{where}.quota_share_percent: a whole percentage, 1 to 100")
    schedule = raw.get("schedule", defaults.get("schedule", "0 * * * *"))
    if not isinstance(schedule, str) or len(schedule.split()) != 5:
        raise FleetConfigError(f"{where}.schedule: a five-field cron expression, e.g. '15 * * * *'")
    org = str(raw.get("org") or name)
    return Tenant(
        name=name,
        org=org,
        andsend_api_url=str(andsend["api_url"]),
        andsend_api_key=api_key,
        salesforce=_salesforce(raw.get("salesforce"), f"{where}.salesforce"),
        schedule=schedule,
        timezone=str(raw.get("timezone", defaults.get("timezone", "UTC"))),
        catalog=str(raw["catalog"]) if raw.get("catalog") else None,
        switches=switches,
        tap=tap,
        quota_share_percent=share,
        enabled=bool(raw.get("enabled", True)),
    )


def parse_fleet(data: Any, base_dir: Path) -> Fleet:
    """A fleet from the tenants file's data; relative paths are relative to ``base_dir``."""
    if not isinstance(data, Mapping) or not isinstance(data.get("tenants"), list):
        raise FleetConfigError("the tenants file needs a 'tenants:' list (and optionally 'fleet:' settings)")
    settings = data.get("fleet") or {}
    if not isinstance(settings, Mapping):
        raise FleetConfigError("fleet: expected a mapping")
    unknown = set(settings) - {"meltano_project", "environment", "output_root", "state_backend", "state_store",
                               "retries", "quota_hold_seconds", "meltano_timeout_seconds", "defaults"}
    if unknown:
        raise FleetConfigError(f"fleet: unknown keys {sorted(unknown)}")
    defaults = settings.get("defaults") or {}
    tenants = tuple(_tenant(raw, i, defaults) for i, raw in enumerate(data["tenants"]))
    names = [t.name for t in tenants]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise FleetConfigError(f"tenant names must be unique: {dupes}")

    def path(value: Any, default: str) -> Path:
        p = Path(str(value or default)).expanduser()
        return p if p.is_absolute() else (base_dir / p).resolve()

    output_root = path(settings.get("output_root"), "fleet-output")
    backend = str(settings.get("state_backend") or (output_root / "meltano-state").as_uri()).rstrip("/")
    if not backend.startswith(("file://", "s3://", "gs://", "azure://")):
        raise FleetConfigError("fleet.state_backend: a Meltano state backend URI prefix (file://, s3://, gs://, "
                               "azure://); each tenant gets <prefix>/<tenant>")
    store = settings.get("state_store")
    store_ref = _ref(store, "fleet.state_store", secret=True) if store else None
    assert store_ref is None or isinstance(store_ref, SecretRef)
    retries = settings.get("retries") or {}
    return Fleet(
        tenants=tenants,
        meltano_project=path(settings.get("meltano_project"), str(PROJECT_ROOT)),
        environment=str(settings.get("environment") or "fleet"),
        output_root=output_root,
        state_backend=backend,
        state_store_url=store_ref,
        retries=Retries(int(retries.get("max_retries", 3)), float(retries.get("delay_seconds", 60))),
        quota_hold_seconds=float(settings.get("quota_hold_seconds", 3600)),
        meltano_timeout_seconds=float(settings.get("meltano_timeout_seconds", 6 * 3600)),
    )


def load_fleet(path: str | Path) -> Fleet:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise FleetConfigError(f"{path}: {exc}") from None
    return parse_fleet(data, path.parent)
