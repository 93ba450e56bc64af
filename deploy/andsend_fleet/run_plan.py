"""One tenant's Meltano run: the command, its environment and its paths (pure: no I/O but reading
secret references).

Each tenant gets its own Meltano state id (``--state-id-suffix <tenant>``), its own Meltano state
backend location (``<state_backend>/<tenant>``), its own Meltano system directory and ``.env``, its
own output directory (report, rejects, badges), its own schema in the PostgreSQL store, and its
``pipeline_id`` in the run lease. The Meltano process sees only the variables listed here: other
tenants' secrets in the worker's environment never reach it.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from .tenants import Fleet, MissingSecret, SecretRef, Tenant

TAP = "tap-andsend"
TARGET = "target-salesforce-andsend"
# The worker's variables a tenant's Meltano process may see (none is a tenant's setting or secret).
PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH", "SSL_CERT_FILE",
               "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy",
               "https_proxy", "no_proxy")
QUIET_MELTANO = {"MELTANO_DISABLE_TRACKING": "true", "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
                 "MELTANO_CLI_DISABLE_VERSION_CHECK": "true"}


@dataclass(frozen=True)
class RunPlan:
    tenant: str
    command: list[str]
    env: dict[str, str]          # the Meltano process's whole environment
    secret_keys: frozenset[str]  # which of env are secrets (never logged)
    cwd: Path
    tenant_dir: Path
    output_dir: Path
    report_path: Path
    state_id: str
    store_schema: str | None

    def public_env(self) -> dict[str, str]:
        return {k: ("<secret>" if k in self.secret_keys else v) for k, v in self.env.items()}


def state_id(fleet: Fleet, tenant: Tenant) -> str:
    return f"{fleet.environment}:{TAP}-to-{TARGET}:{tenant.name}"


def schema_for(tenant: Tenant) -> str:
    return f"andsend_{tenant.name}"


def with_search_path(url: str, schema: str) -> str:
    """The PostgreSQL URL with ``options=-c search_path=<schema>``: the store's unqualified tables
    live in the tenant's schema."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    # libpq decodes %XX in URIs but not '+': percent-encode everything.
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def _setting_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def meltano_executable() -> str:
    beside = Path(sys.executable).parent / "meltano"
    return str(beside) if beside.exists() else (shutil.which("meltano") or "meltano")


def plan_run(fleet: Fleet, tenant: Tenant, environ: dict[str, str]) -> RunPlan:
    """Raises :class:`MissingSecret` when a reference does not resolve."""
    tenant_dir = fleet.tenant_dir(tenant)
    output_dir = tenant_dir / "output"
    env = {k: environ[k] for k in PASSTHROUGH if k in environ}
    # The tap and target are console scripts beside the interpreter running the fleet.
    env["PATH"] = str(Path(sys.executable).parent) + (":" + env["PATH"] if env.get("PATH") else "")
    env.update(QUIET_MELTANO)
    env.update({
        "MELTANO_PROJECT_ROOT": str(fleet.meltano_project),
        "MELTANO_SYS_DIR_ROOT": str(tenant_dir / ".meltano"),
        "MELTANO_STATE_BACKEND_URI": f"{fleet.state_backend}/{tenant.name}",
    })
    secrets: set[str] = set()

    def put(name: str, value: Any) -> None:
        if isinstance(value, SecretRef):
            env[name] = value.resolve(environ)
            secrets.add(name)
        else:
            env[name] = _setting_value(value)

    put("TAP_ANDSEND_API_URL", tenant.andsend_api_url)
    put("TAP_ANDSEND_API_KEY", tenant.andsend_api_key)
    for key, value in tenant.tap.items():
        put(f"TAP_ANDSEND_{key.upper()}", value)

    def target(key: str, value: Any) -> None:
        put(f"TARGET_SALESFORCE_ANDSEND_{key.upper()}", value)

    for key, value in tenant.salesforce.items():
        if key == "refresh_token" and isinstance(value, SecretRef) and value.kind == "file":
            target("refresh_token_file", value.name)  # rotated tokens are written back to it
        else:
            target(key, value)
    if isinstance(tenant.salesforce.get("refresh_token"), SecretRef) and \
            tenant.salesforce["refresh_token"].kind == "env":  # type: ignore[union-attr]
        # A token Salesforce rotates lands in the tenant's own directory (and wins next run), never
        # in the shared project's .env.
        target("refresh_token_file", str(tenant_dir / "salesforce-refresh-token"))
    for key, value in tenant.switches.items():
        target(key, value)
    if tenant.catalog:
        catalog = Path(tenant.catalog)
        target("mapping_catalog", str(catalog if catalog.is_absolute() else fleet.meltano_project / catalog))
    if tenant.quota_share_percent is not None:
        target("quota_max_daily_percent", tenant.quota_share_percent)
    target("output_dir", str(output_dir))
    target("pipeline_id", tenant.name)
    target("andsend_api_url", tenant.andsend_api_url)
    put("TARGET_SALESFORCE_ANDSEND_ANDSEND_API_KEY", tenant.andsend_api_key)
    schema = None
    if fleet.state_store_url is not None:
        schema = schema_for(tenant)
        env["TARGET_SALESFORCE_ANDSEND_STATE_STORE_URL"] = with_search_path(
            fleet.state_store_url.resolve(environ), schema)
        secrets.add("TARGET_SALESFORCE_ANDSEND_STATE_STORE_URL")
    command = [
        meltano_executable(),
        "--environment", fleet.environment,
        # The tenant's own .env: nothing from the shared project's .env leaks into a tenant.
        "--env-file", str(tenant_dir / "tenant.env"),
        "run", "--state-id-suffix", tenant.name, TAP, TARGET,
    ]
    return RunPlan(
        tenant=tenant.name,
        command=command,
        env=env,
        secret_keys=frozenset(secrets),
        cwd=fleet.meltano_project,
        tenant_dir=tenant_dir,
        output_dir=output_dir,
        report_path=output_dir / "report.json",
        state_id=state_id(fleet, tenant),
        store_schema=schema,
    )


__all__ = ["MissingSecret", "RunPlan", "plan_run", "schema_for", "state_id", "with_search_path"]
