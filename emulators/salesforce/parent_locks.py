"""Lock contention on parent records, as an org with slow automation shows it (fault `parent_lock_ms`).

Salesforce locks the record a child's lookup or master-detail field points to while the child is
inserted or updated (a Contact's Account, a Task's WhoId/WhatId record), for the whole transaction;
a transaction that needs a row another one holds waits up to 10 seconds and then fails that record
with ``UNABLE_TO_LOCK_ROW`` (Salesforce Developer: "Record-Level Locking" in Designing Record Access
for Enterprise Scale; "Managing Lookup Skew to Avoid Record Lock Exceptions"). Triggers and flows
make the transactions long, and concurrent calls whose children share a parent then collide.

The emulator runs one write at a time, so the fault stands in for that time: after a Collections
call commits, the parents its records touched stay held by that call for ``parent_lock_ms``; a
record of another call that touches a held parent in that window fails with ``UNABLE_TO_LOCK_ROW``
at once (not after Salesforce's 10 s wait). Records of the same call never block each other.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

PARENT_FIELDS: dict[str, tuple[str, ...]] = {
    "contact": ("AccountId",),
    "opportunity": ("AccountId",),
    "case": ("AccountId", "ContactId"),
    "task": ("WhoId", "WhatId"),
    "event": ("WhoId", "WhatId"),
}
LOCK_ERROR = ("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records")


def parents(sobject: str, values: Mapping[str, Any]) -> list[str]:
    fields = PARENT_FIELDS.get(sobject.lower(), ())
    lowered = {k.lower(): v for k, v in values.items()}
    return [str(v)[:15] for f in fields if (v := lowered.get(f.lower()))]


class ParentLocks:
    def __init__(self) -> None:
        self._held: dict[str, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def blocked(self, sobject: str, values: Mapping[str, Any], call: object) -> bool:
        """Whether a parent of this record is held by another call."""
        now = time.monotonic()
        with self._lock:
            for pid in parents(sobject, values):
                held = self._held.get(pid)
                if held is not None and held[0] > now and held[1] is not call:
                    return True
        return False

    def hold(self, touched: Iterable[str], call: object, seconds: float) -> None:
        until = time.monotonic() + seconds
        with self._lock:
            if len(self._held) > 100_000:  # drop expired entries now and then
                now = time.monotonic()
                self._held = {k: v for k, v in self._held.items() if v[0] > now}
            for pid in touched:
                self._held[pid] = (until, call)

    def clear(self) -> None:
        with self._lock:
            self._held.clear()
