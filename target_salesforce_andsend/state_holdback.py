"""Never acknowledge parked work: the STATE the target emits holds a touchpoints stream's bookmark
back to the oldest touchpoint still waiting for its person.

A touchpoint whose person is not in Salesforce yet is parked in the state store and retried on
later runs. The store may be lost (a fresh runner, a deleted `output_dir`); the Singer state is
not (Meltano or the orchestrator carries it). So the bookmark the tap resumes from
(`bookmarks.<stream>.replication_key_value`, the singer-sdk format) is lowered to the replication
value (e.g. `updated_at`) of the oldest parked touchpoint: the tap sends it again next run (the
SDK's incremental read is inclusive), with everything after it. Touchpoints already written come
back as `already_synced` (one batched existence query per batch); parked ones are parked again or
written once their person exists. With any tap whose state follows that format this holds, with
or without the store.

Limits: a touchpoint parked longer than `parked_max_days` (its person never reaches Salesforce,
e.g. a prospect never purchased) stops holding the bookmark back, so one such touchpoint cannot
make every later run re-read everything after it; it stays parked in the store and is retried,
and the report counts it (`state.parked_released`). Partitioned bookmarks are left as they are.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _earlier(a: Any, b: Any) -> bool:
    """Whether replication value a sorts before b (timestamps by time, else as given)."""
    pa, pb = _parse(a), _parse(b)
    if pa is not None and pb is not None:
        return pa < pb
    try:
        return a < b
    except TypeError:
        return False


def hold_back(state: dict, streams: list[str], parked: list[tuple[dict, str | None]], *,
              now: datetime, max_days: float) -> tuple[dict, dict[str, Any]]:
    """(state to emit, figures for the report). `parked`: (touchpoint, parked-at ISO time)."""
    bookmarks = (state or {}).get("bookmarks") or {}
    info: dict[str, Any] = {}
    if not parked or not any(s in bookmarks for s in streams):
        return state, info
    cutoff = now - timedelta(days=max_days)
    holding = []
    released = 0
    for tp, parked_at in parked:
        since = _parse(parked_at)
        if since is not None and since < cutoff:
            released += 1
        else:
            holding.append(tp)
    if released:
        info["parked_released"] = released
    out = state
    for stream in streams:
        mark = bookmarks.get(stream)
        if not isinstance(mark, dict) or "replication_key_value" not in mark:
            continue
        key = mark.get("replication_key") or "updated_at"
        values = [tp.get(key) for tp in holding if tp.get(key) is not None]
        if not values:
            continue
        oldest = values[0]
        for v in values[1:]:
            if _earlier(v, oldest):
                oldest = v
        current = mark.get("replication_key_value")
        if current is None or _earlier(oldest, current):
            if out is state:
                out = copy.deepcopy(state)
            out["bookmarks"][stream]["replication_key_value"] = oldest
            info.setdefault("held_back", {})[stream] = {"bookmark": current, "emitted": oldest,
                                                        "parked": len(values)}
    return out, info
