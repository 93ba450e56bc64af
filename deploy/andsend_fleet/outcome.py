"""A finished tenant run, read from the target's report (and Meltano's exit code and log tail): what
it did, as Dagster metadata, and what the fleet should do next (pure).

Verdicts:

* ``succeeded``;
* ``run_cap``: the run stopped at ``quota_max_calls_per_run`` (its share of this run): not a
  failure, the next scheduled run resumes;
* ``quota_exhausted``: the org's daily allocation (or this tenant's share of it) is spent: no retry,
  the tenant is held until the allocation resets (``quota_hold``), the others run on;
* ``transient``: network, timeouts, 5xx, another run holding the org's lease, a target that ended
  without its report (killed): retried with back-off;
* ``failed``: anything else (credentials, settings, mapping, a bug): no retry, it needs a person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

WRITTEN = ("created", "updated", "created_concurrently")
# Salesforce records the target writes (not the Andsend badges/statuses it writes back).
SALESFORCE_ROLES = ("prospects", "touchpoints")
_TRANSIENT = re.compile(
    r"TransportError|ConnectionError|Connection refused|ConnectTimeout|ReadTimeout|Timeout|timed out|"
    r"Max retries exceeded|NewConnectionError|HTTP 5\d\d|\b50[0234]\b|LeaseBusy|LeaseLost|"
    r"another run is writing to this Salesforce org|temporarily unavailable|ServerUnavailable",
)
# Without a report, what still says the run can only fail again (settings, project, credentials).
_PERMANENT = re.compile(
    r"ConfigurationError|AuthenticationError|invalid_grant|FleetConfigError|not found|No such file|"
    r"is not valid|is a required property|ValidationError|ModuleNotFoundError|command not found",
)


@dataclass(frozen=True)
class Outcome:
    verdict: str
    message: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.verdict in ("succeeded", "run_cap")


def figures(report: dict[str, Any] | None) -> dict[str, Any]:
    """The report's headline figures (flat, JSON-safe: Dagster metadata values)."""
    if not report:
        return {"report": "none (the run failed before the target wrote one)"}
    counts = report.get("counts") or {}
    written = {
        f"{role}.{obj}": sum(int(n) for outcome, n in by_outcome.items() if outcome in WRITTEN)
        for role, objs in counts.items() if role in SALESFORCE_ROLES
        for obj, by_outcome in objs.items()
    }
    quota = report.get("quota") or {}
    lease = report.get("lease") or {}
    state = report.get("state") or {}
    out: dict[str, Any] = {
        "status": report.get("status"),
        "records_written": sum(written.values()),
        "records_written_by_object": {k: v for k, v in written.items() if v},
        "created_concurrently": sum(int(objs.get(o, {}).get("created_concurrently", 0))
                                    for r, objs in counts.items() if r in SALESFORCE_ROLES for o in objs),
        "api_calls": int(report.get("api_calls_total") or 0),
        "api_calls_by_kind": dict(report.get("api_calls") or {}),
        "rejects": int(report.get("rejects") or 0),
        "ambiguous_matches": len(report.get("ambiguous_matches") or []),
        "daily_api_used": quota.get("daily_used"),
        "daily_api_max": quota.get("daily_max"),
        "lease_waited_seconds": lease.get("waited_seconds"),
        "state_held_back": state.get("held_back"),
        "org_id": (report.get("org") or {}).get("org_id"),
        "started_at": report.get("started_at"),
        "finished_at": report.get("finished_at"),
    }
    if report.get("error"):
        out["error"] = str(report["error"])[:2000]
    return {k: v for k, v in out.items() if v is not None}


def judge(exit_code: int, report: dict[str, Any] | None, log_tail: str = "") -> Outcome:
    meta = figures(report)
    meta["exit_code"] = exit_code
    error = str((report or {}).get("error") or "")
    if exit_code == 0 and report is not None and report.get("status") == "succeeded":
        return Outcome("succeeded", f"{meta['records_written']} records written, {meta['api_calls']} calls", meta)
    if error.startswith("QuotaExhausted"):
        if "quota_max_calls_per_run" in error and "quota_max_daily_percent" not in error:
            return Outcome("run_cap", "stopped at quota_max_calls_per_run; the next run resumes", meta)
        return Outcome("quota_exhausted", f"Salesforce API allocation exhausted: {error[:500]}", meta)
    if exit_code == 0 and report is None:
        return Outcome("failed", "Meltano exited 0 but the target wrote no report", meta)
    evidence = error or log_tail
    if _TRANSIENT.search(evidence):
        return Outcome("transient", f"transient failure (retried): {_last_line(evidence)}", meta)
    if report is None and not _PERMANENT.search(log_tail):
        # The target never wrote its report: killed (out of memory, evicted, stopped) or cut off
        # before it could; nothing says a retry must fail the same way.
        return Outcome("transient", f"no report from the target, exit code {exit_code} (retried): "
                                    f"{_last_line(log_tail)}", meta)
    return Outcome("failed", f"failed (not retried): {_last_line(evidence) or f'exit code {exit_code}'}", meta)


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:500] if lines else ""
