"""A tenant whose Salesforce allocation is exhausted is held (its schedule skips, a launched run
ends at once) until the allocation has had time to reset; the other tenants are not held back.

Salesforce counts the daily allocation over a rolling 24 hours, so calls free up gradually: the
hold lasts ``quota_hold_seconds`` (fleet setting, default one hour) and the next run checks
``/limits`` before writing anything (the target's quota governor), holding again if still spent.
The hold is a small JSON file in the tenant's directory, so every worker and the schedule see it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

HOLD_FILE = "quota-hold.json"


def hold_path(tenant_dir: Path) -> Path:
    return tenant_dir / HOLD_FILE


def place_hold(tenant_dir: Path, seconds: float, reason: str, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    hold = {"until": now + seconds, "placed_at": now, "reason": reason[:1000]}
    path = hold_path(tenant_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(hold), encoding="utf-8")
    os.replace(tmp, path)
    return hold


def active_hold(tenant_dir: Path, now: float | None = None) -> dict[str, Any] | None:
    """The hold in force, or None (an expired hold is removed)."""
    path = hold_path(tenant_dir)
    try:
        hold = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    now = time.time() if now is None else now
    if float(hold.get("until", 0)) > now:
        return hold
    path.unlink(missing_ok=True)
    return None


def clear_hold(tenant_dir: Path) -> None:
    hold_path(tenant_dir).unlink(missing_ok=True)
