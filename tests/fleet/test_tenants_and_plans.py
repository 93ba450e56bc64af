"""The fleet's pure parts: the tenants file, one tenant's Meltano plan, the verdict on a run, the hold.

(The whole fleet through Dagster on the emulators is test_fleet_dagster.py.)
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from deploy.andsend_fleet.outcome import judge
from deploy.andsend_fleet.quota_hold import active_hold, place_hold
from deploy.andsend_fleet.run_plan import plan_run, with_search_path
from deploy.andsend_fleet.tenants import FleetConfigError, MissingSecret, load_fleet, parse_fleet

pytestmark = pytest.mark.fleet

REPO = Path(__file__).resolve().parents[2]
TENANTS: dict[str, Any] = {
    "fleet": {"output_root": "/srv/fleet", "state_store": {"env": "FLEET_STORE"},
              "state_backend": "s3://bucket/andsend", "retries": {"max_retries": 4, "delay_seconds": 30}},
    "tenants": [
        {"name": "acme", "org": "acme-prod", "schedule": "15 * * * *", "quota_share_percent": 30,
         "andsend": {"api_url": "https://api.andsend.com", "api_key": {"env": "ACME_ANDSEND"}},
         "salesforce": {"environment": "my_domain", "my_domain": "acme.my.salesforce.com",
                        "credentials": {"client_id": "3MVG-acme", "client_secret": {"env": "ACME_SF_SECRET"},
                                        "refresh_token": {"env": "ACME_SF_REFRESH"}}},
         "switches": {"object_mode": "contact_account", "sync_activities": False},
         "tap": {"start_date": "2024-01-01T00:00:00Z"}},
        {"name": "globex", "andsend": {"api_url": "https://api.andsend.com", "api_key": {"file": "/run/globex"}},
         "salesforce": {"environment": "sandbox",
                        "credentials": {"auth_flow": "jwt", "username": "int@globex.com",
                                        "private_key": {"env": "GLOBEX_KEY"}}}},
    ],
}
ENV = {"PATH": "/usr/bin", "HOME": "/root", "ACME_ANDSEND": "a-key", "ACME_SF_SECRET": "a-secret",
       "ACME_SF_REFRESH": "a-refresh", "GLOBEX_KEY": "g-private", "FLEET_STORE": "postgresql://u:pw@db/fleet",
       "TARGET_SALESFORCE_ANDSEND_PASSWORD": "leaked-default", "UNRELATED_TOKEN": "x"}


def test_tenants_file_to_fleet(tmp_path: Path) -> None:
    fleet = parse_fleet(TENANTS, tmp_path)
    acme, globex = fleet.tenants
    assert acme.org == "acme-prod" and globex.org == "globex"  # the one-run-per-org key
    assert acme.salesforce["domain"] == "acme.my.salesforce.com" and globex.salesforce["domain"] == "test"
    assert acme.quota_share_percent == 30 and fleet.retries.max_retries == 4
    assert globex.schedule == "0 * * * *"  # the default: hourly
    assert fleet.environment == "fleet"


@pytest.mark.parametrize(("path", "value", "message"), [
    (("tenants", 0, "salesforce", "credentials", "client_secret"), "s3cr3t", "never values"),
    (("tenants", 0, "andsend", "api_key"), "key-in-file", "never values"),
    (("tenants", 0, "switches", "output_dir"), "/tmp/x", "cannot be set per tenant"),
    (("tenants", 0, "switches", "state_store_url"), "postgresql://x", "cannot be set per tenant"),
    (("tenants", 0, "name"), "Acme Corp", "lower-case"),
    (("tenants", 1, "name"), "acme", "unique"),
    (("tenants", 0, "quota_share_percent"), 12.5, "whole percentage"),
    (("tenants", 0, "salesforce", "environment"), "staging", "production, sandbox"),
    (("tenants", 0, "schedule"), "hourly", "cron"),
])
def test_tenants_file_errors_say_where(tmp_path: Path, path: tuple, value: Any, message: str) -> None:
    data = copy.deepcopy(TENANTS)
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(FleetConfigError, match=message):
        parse_fleet(data, tmp_path)


def test_plan_gives_each_tenant_its_own_state_store_output_and_only_its_secrets(tmp_path: Path) -> None:
    fleet = parse_fleet(TENANTS, tmp_path)
    secret_file = tmp_path / "globex-key"
    secret_file.write_text("g-andsend\n")
    data = copy.deepcopy(TENANTS)
    data["tenants"][1]["andsend"]["api_key"] = {"file": str(secret_file)}
    fleet = parse_fleet(data, tmp_path)
    acme = plan_run(fleet, fleet.tenant("acme"), ENV)
    globex = plan_run(fleet, fleet.tenant("globex"), ENV)
    assert acme.env["TAP_ANDSEND_API_KEY"] == "a-key" and globex.env["TAP_ANDSEND_API_KEY"] == "g-andsend"
    assert acme.env["TARGET_SALESFORCE_ANDSEND_CLIENT_SECRET"] == "a-secret"
    assert acme.env["TARGET_SALESFORCE_ANDSEND_DOMAIN"] == "acme.my.salesforce.com"
    assert acme.env["TARGET_SALESFORCE_ANDSEND_QUOTA_MAX_DAILY_PERCENT"] == "30"
    assert acme.env["TARGET_SALESFORCE_ANDSEND_SYNC_ACTIVITIES"] == "false"
    # Nothing of another tenant, nothing inherited that Meltano would take as a setting.
    for plan, other in ((acme, "g-private"), (globex, "a-secret")):
        assert other not in plan.env.values()
        assert "leaked-default" not in plan.env.values() and "UNRELATED_TOKEN" not in plan.env
        assert set(plan.secret_keys) <= set(plan.env)
        assert all(v == "<secret>" for k, v in plan.public_env().items() if k in plan.secret_keys)
    # Own state id, state backend location, system dir, output, store schema and lease pipeline.
    assert "--state-id-suffix" in acme.command and acme.command[acme.command.index("--state-id-suffix") + 1] == "acme"
    assert acme.state_id == "fleet:tap-andsend-to-target-salesforce-andsend:acme"
    assert acme.env["MELTANO_STATE_BACKEND_URI"] == "s3://bucket/andsend/acme"
    assert globex.env["MELTANO_STATE_BACKEND_URI"] == "s3://bucket/andsend/globex"
    assert acme.env["MELTANO_SYS_DIR_ROOT"] != globex.env["MELTANO_SYS_DIR_ROOT"]
    assert acme.env["TARGET_SALESFORCE_ANDSEND_OUTPUT_DIR"] == "/srv/fleet/acme/output"
    assert acme.env["TARGET_SALESFORCE_ANDSEND_PIPELINE_ID"] == "acme"
    assert acme.env["TARGET_SALESFORCE_ANDSEND_STATE_STORE_URL"].endswith("options=-csearch_path%3Dandsend_acme")
    assert acme.store_schema == "andsend_acme" and globex.store_schema == "andsend_globex"
    # A token Salesforce rotates is kept in the tenant's own directory, not the project's .env.
    assert acme.env["TARGET_SALESFORCE_ANDSEND_REFRESH_TOKEN_FILE"] == "/srv/fleet/acme/salesforce-refresh-token"
    assert acme.command[acme.command.index("--env-file") + 1] == "/srv/fleet/acme/tenant.env"


def test_a_missing_secret_names_the_reference_not_a_value(tmp_path: Path) -> None:
    fleet = parse_fleet(TENANTS, tmp_path)
    env = {k: v for k, v in ENV.items() if k != "ACME_SF_REFRESH"}
    with pytest.raises(MissingSecret, match="ACME_SF_REFRESH"):
        plan_run(fleet, fleet.tenant("acme"), env)


def test_search_path_keeps_other_parameters() -> None:
    url = with_search_path("postgresql://u:p@h:5432/db?sslmode=require&options=-cfoo%3Dbar", "andsend_x")
    assert url == "postgresql://u:p@h:5432/db?sslmode=require&options=-csearch_path%3Dandsend_x"


REPORT = {"status": "succeeded", "counts": {
    "prospects": {"Lead": {"created": 5, "updated": 2, "matched": 2}, "Prospect": {"merged_same_email": 1}},
    "touchpoints": {"Task": {"created": 9, "already_synced": 3}},
    "search_results": {"search_result": {"written_back": 7}}},
    "api_calls_total": 12, "api_calls": {"composite": 10, "query": 2}, "rejects": 1,
    "ambiguous_matches": [{"key": "p1"}, {"key": "p2"}], "quota": {"daily_used": 40, "daily_max": 15000}}


@pytest.mark.parametrize(("code", "report", "tail", "verdict"), [
    (0, REPORT, "", "succeeded"),
    (1, {**REPORT, "status": "failed", "error": "QuotaExhausted: API quota budget reached before a batch "
         "needing 3 call(s): the org has used 7500/15000 daily API requests and this target stops at 50% = 7500 "
         "(quota_max_daily_percent). Stopping cleanly"}, "", "quota_exhausted"),
    (1, {**REPORT, "status": "failed", "error": "QuotaExhausted: Salesforce refused the call: the org's daily "
         "API limit is exhausted (REQUEST_LIMIT_EXCEEDED; usage 15000/15000)"}, "", "quota_exhausted"),
    (1, {**REPORT, "status": "failed", "error": "QuotaExhausted: API quota budget reached before a batch needing "
         "4 call(s): this run has used 100/100 API calls (quota_max_calls_per_run)."}, "", "run_cap"),
    (1, {"status": "failed", "error": "TransportError: POST /services/oauth2/token: Connection refused"}, "",
     "transient"),
    (1, {"status": "failed", "error": "LeaseBusy: another run is writing to this Salesforce org"}, "", "transient"),
    (1, None, "requests.exceptions.ConnectionError: Max retries exceeded with url: /v1/prospects", "transient"),
    (1, {"status": "failed", "error": "AuthenticationError: invalid_grant: expired access/refresh token"}, "",
     "failed"),
    (2, None, "meltano: Environment 'fleet' was not found", "failed"),
    (1, None, "[error    ] meltano      Loader failed\n[info     ] meltano      Run completed", "transient"),
])
def test_verdicts(code: int, report: dict | None, tail: str, verdict: str) -> None:
    outcome = judge(code, report, tail)
    assert outcome.verdict == verdict, outcome
    if report is not None and "counts" in report:
        assert outcome.metadata["records_written"] == 16  # 5 + 2 people, 9 Tasks; not links, badges
        assert outcome.metadata["api_calls"] == 12 and outcome.metadata["rejects"] == 1
        assert outcome.metadata["ambiguous_matches"] == 2


def test_quota_hold_expires(tmp_path: Path) -> None:
    place_hold(tmp_path, 3600, "exhausted", now=1000.0)
    assert active_hold(tmp_path, now=1000.0 + 3599)["reason"] == "exhausted"
    assert active_hold(tmp_path, now=1000.0 + 3601) is None
    assert active_hold(tmp_path, now=1000.0) is None  # an expired hold is removed


def test_example_tenants_file_loads() -> None:
    fleet = load_fleet(REPO / "deploy" / "tenants.example.yaml")
    assert len(fleet.tenants) >= 2 and fleet.state_store_url is not None
