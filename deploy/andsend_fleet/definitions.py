"""The fleet's Dagster code location: one asset, job and schedule per tenant of the tenants file.

    ANDSEND_FLEET_TENANTS=deploy/tenants.yaml dagster dev -m deploy.andsend_fleet.definitions

Per tenant ``<name>``: the asset ``andsend_fleet/<name>`` (the tenant's Salesforce org as synced
from its Andsend workspace), the job ``sync_<name>`` tagged ``andsend-fleet/org: <org>`` (the
instance's ``tag_concurrency_limits`` allow one run per org; ``deploy/dagster.yaml``) and the
schedule ``sync_<name>_schedule``, which skips while the tenant is held for quota.
"""



import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    Backoff,
    DefaultScheduleStatus,
    Definitions,
    Failure,
    Jitter,
    MaterializeResult,
    PipesSubprocessClient,
    RetryPolicy,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    asset,
    define_asset_job,
    in_process_executor,
    schedule,
)

from .outcome import Outcome
from .quota_hold import active_hold, clear_hold, place_hold
from .run_plan import MissingSecret, plan_run
from .tenants import Fleet, Tenant, load_fleet

ORG_TAG = "andsend-fleet/org"
TENANT_TAG = "andsend-fleet/tenant"
TENANTS_ENV = "ANDSEND_FLEET_TENANTS"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _run_tags(context: AssetExecutionContext, outcome: Outcome) -> None:
    """The outcome on the run itself, so the runs list shows it per tenant."""
    meta = outcome.metadata
    tags = {"andsend-fleet/outcome": outcome.verdict}
    for key in ("records_written", "api_calls", "rejects", "ambiguous_matches"):
        if key in meta:
            tags[f"andsend-fleet/{key}"] = str(meta[key])
    context.instance.add_run_tags(context.run.run_id, tags)


def run_tenant(context: AssetExecutionContext, pipes: PipesSubprocessClient, fleet: Fleet,
               tenant: Tenant) -> Iterator[MaterializeResult]:
    tenant_dir = fleet.tenant_dir(tenant)
    hold = active_hold(tenant_dir)
    if hold is not None:
        # Not a failure and no retry: the tenant waits for its allocation; nothing is materialized.
        context.log.warning(f"tenant {tenant.name} is held for API quota until {hold['until']:.0f} "
                            f"(epoch s): {hold['reason']}; skipped")
        context.instance.add_run_tags(context.run.run_id, {"andsend-fleet/outcome": "skipped_quota_hold"})
        return
    try:
        plan = plan_run(fleet, tenant, dict(os.environ))
    except MissingSecret as exc:
        raise Failure(f"tenant {tenant.name}: {exc}", allow_retries=False) from None
    env = dict(plan.env)
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    extras: dict[str, Any] = {"plan": {
        "tenant": tenant.name,
        "command": plan.command,
        "cwd": str(plan.cwd),
        "env_keys": sorted(plan.env),
        "tenant_dir": str(plan.tenant_dir),
        "report_path": str(plan.report_path),
        "state_id": plan.state_id,
        "store_schema": plan.store_schema,
        "timeout_seconds": fleet.meltano_timeout_seconds,
    }}
    invocation = pipes.run(context=context, command=[sys.executable, "-m", "deploy.andsend_fleet.pipes_meltano"],
                           env=env, extras=extras, cwd=str(REPO_ROOT))
    messages = invocation.get_custom_messages()
    if not messages:
        raise Failure(f"tenant {tenant.name}: the Pipes process reported no outcome")
    message = messages[-1]
    outcome = Outcome(message["verdict"], message["message"], message.get("metadata") or {})
    _run_tags(context, outcome)
    context.log.info(f"tenant {tenant.name}: {outcome.verdict}: {outcome.message}")
    if outcome.ok:
        clear_hold(tenant_dir)
        yield from invocation.get_results()  # type: ignore[misc]
        return
    if outcome.verdict == "quota_exhausted":
        hold = place_hold(tenant_dir, fleet.quota_hold_seconds, outcome.message)
        raise Failure(f"tenant {tenant.name}: {outcome.message}; held for {fleet.quota_hold_seconds:g} s",
                      metadata=outcome.metadata, allow_retries=False)
    raise Failure(f"tenant {tenant.name}: {outcome.message}", metadata=outcome.metadata,
                  allow_retries=outcome.verdict == "transient")


def tenant_definitions(fleet: Fleet, tenant: Tenant) -> tuple[Any, Any, Any]:
    retry = RetryPolicy(max_retries=fleet.retries.max_retries, delay=fleet.retries.delay_seconds,
                        backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)
    key = AssetKey(["andsend_fleet", tenant.name])

    @asset(key=key, group_name="andsend_fleet", output_required=False, retry_policy=retry,
           kinds={"salesforce", "meltano"},
           description=f"Tenant {tenant.name}: its Andsend workspace synced into its Salesforce org "
                       f"({tenant.org}).")
    def tenant_asset(context: AssetExecutionContext, pipes: PipesSubprocessClient) -> Iterator[MaterializeResult]:
        yield from run_tenant(context, pipes, fleet, tenant)

    job = define_asset_job(f"sync_{tenant.name}", selection=AssetSelection.assets(key),
                           tags={ORG_TAG: tenant.org, TENANT_TAG: tenant.name},
                           # One step per run: no step process of its own (saves a Python per run).
                           executor_def=in_process_executor,
                           description=f"meltano run for tenant {tenant.name}")

    @schedule(name=f"sync_{tenant.name}_schedule", cron_schedule=tenant.schedule, job=job,
              execution_timezone=tenant.timezone,
              default_status=DefaultScheduleStatus.RUNNING if tenant.enabled else DefaultScheduleStatus.STOPPED)
    def tenant_schedule(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
        hold = active_hold(fleet.tenant_dir(tenant))
        if hold is not None:
            return SkipReason(f"held for API quota until {hold['until']:.0f} (epoch s): {hold['reason']}")
        return RunRequest(tags={ORG_TAG: tenant.org, TENANT_TAG: tenant.name})

    return tenant_asset, job, tenant_schedule


def build_definitions(fleet: Fleet) -> Definitions:
    assets, jobs, schedules = [], [], []
    for tenant in fleet.tenants:
        a, j, s = tenant_definitions(fleet, tenant)
        assets.append(a)
        jobs.append(j)
        schedules.append(s)
    return Definitions(assets=assets, jobs=jobs, schedules=schedules,
                       resources={"pipes": PipesSubprocessClient()})


def _tenants_file() -> Path:
    return Path(os.environ.get(TENANTS_ENV) or REPO_ROOT / "deploy" / "tenants.yaml")


defs = build_definitions(load_fleet(_tenants_file()))
