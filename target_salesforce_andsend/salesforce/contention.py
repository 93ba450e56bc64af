"""Writes through an org's automation: what a whole-batch failure looks like, which records share a
parent (and so a lock), and how many write calls may run at once while the org is contended.

Salesforce sources (cited in docs/DESIGN.md, "Automation failures"):

* A trigger or flow that passes a governor limit (Apex CPU time: 10 s synchronous) throws
  ``System.LimitException``, which cannot be caught: the whole transaction (the whole DML batch of
  the call) is rolled back and every record of it fails with the automation's error. Smaller
  batches run the automation on fewer records and fit.
* Inserting or updating a child locks its parent (a Contact its Account, a Task its WhoId/WhatId
  record) for the transaction; two concurrent transactions touching children of one parent make
  the second wait and then fail ``UNABLE_TO_LOCK_ROW``. Salesforce's advice: group the records of
  one parent in the same batch and lower the number of concurrent batches.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from .results import WriteResult

log = logging.getLogger("target_salesforce_andsend.salesforce.writer")

AUTOMATION_CODE = "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
LOCK_CODE = "UNABLE_TO_LOCK_ROW"
#: The field naming the parent whose row a write of this object locks.
PARENT_FIELDS: dict[str, tuple[str, ...]] = {
    "Contact": ("AccountId",),
    "Opportunity": ("AccountId",),
    "Case": ("AccountId",),
    "Task": ("WhoId", "WhatId"),
    "Event": ("WhoId", "WhatId"),
}
_LIMIT_MESSAGE = re.compile(r"LimitException|CPU time limit|Apex heap size|Too many SOQL", re.I)


def is_limit_failure(result: WriteResult) -> bool:
    """The automation hit a governor limit: the batch, not this record, is at fault."""
    return (not result.success and result.error_code in (AUTOMATION_CODE, LOCK_CODE)
            and bool(_LIMIT_MESSAGE.search(result.error_message or "")))


def batch_failure(results: Sequence[WriteResult]) -> str | None:
    """``"limit"`` when a call's records failed together because the automation ran out of a governor
    limit, ``"lock"`` when every record of a call of several failed on a lock; else None."""
    if not results or any(r.success for r in results):
        return None
    if any(is_limit_failure(r) for r in results):
        return "limit"
    if len(results) > 1 and all(r.error_code == LOCK_CODE for r in results):
        return "lock"
    return None


def parent_key(sobject: str, record: Mapping[str, Any]) -> str:
    for name in PARENT_FIELDS.get(sobject, ()):
        value = record.get(name)
        if value:
            return f"{name}:{str(value)[:15]}"  # 15- and 18-character forms of one id lock one row
    return ""


def chunk_by_parent(sobject: str, records: Sequence[Mapping[str, Any]], indices: Sequence[int],
                    size: int) -> list[list[int]]:
    """Chunks of at most ``size`` indices in which the records of one parent stay together (a parent
    with more than ``size`` children fills chunks of its own), so two calls in flight never lock
    the same parent row. Objects without a parent field keep their order, in plain chunks."""
    if not PARENT_FIELDS.get(sobject):
        return [list(indices[i:i + size]) for i in range(0, len(indices), size)]
    groups: dict[str, list[int]] = {}
    for i in indices:
        groups.setdefault(parent_key(sobject, records[i]), []).append(i)
    chunks: list[list[int]] = []
    current: list[int] = []
    loose = groups.pop("", [])  # no parent: fills gaps
    for members in sorted(groups.values(), key=len, reverse=True):
        if len(members) > size:
            chunks.extend(members[i:i + size] for i in range(0, len(members), size))
            continue
        if len(current) + len(members) > size:
            chunks.append(current)
            current = []
        current.extend(members)
    for i in loose:
        if len(current) >= size:
            chunks.append(current)
            current = []
        current.append(i)
    if current:
        chunks.append(current)
    return [sorted(c) for c in chunks if c]


class ConcurrencyGovernor:
    """Write calls in flight at once: ``max_concurrency`` while the org is calm, halved at each lock
    or governor-limit failure (down to one), and raised again by one after ``calm_calls`` calls in
    a row without one (additive increase, multiplicative decrease)."""

    def __init__(self, maximum: int, *, calm_calls: int = 20) -> None:
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self.lowest = self.maximum
        self.backoffs = 0
        self._calm_calls = calm_calls
        self._calm = 0
        self._in_flight = 0
        self._cond = threading.Condition()

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: self._in_flight < self.limit)
            self._in_flight += 1
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def contended(self, why: str) -> None:
        with self._cond:
            self.backoffs += 1
            self._calm = 0
            before = self.limit
            self.limit = max(1, self.limit // 2)
            self.lowest = min(self.lowest, self.limit)
        if self.limit < before:
            log.info("Salesforce answered %s: write calls in flight lowered from %d to %d", why, before, self.limit)

    def calm(self) -> None:
        with self._cond:
            if self.limit >= self.maximum:
                return
            self._calm += 1
            if self._calm >= self._calm_calls:
                self._calm = 0
                self.limit += 1
                self._cond.notify_all()

    def figures(self) -> dict[str, int]:
        return {"max_concurrency": self.maximum, "lowest_concurrency": self.lowest, "backoffs": self.backoffs}
