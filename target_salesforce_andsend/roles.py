"""Role handlers: what the target does with one batch of each stream role.

A handler names its role, its background lane (batch_worker.py: the lanes it waits for, its
workers) and its turn group, and turns a batch into a ``PreparedBatch`` whose ``commit()`` the
batch worker runs in the batch's turn (in input order within the group). ``pending(run)`` runs
once at the end of input (touchpoints parked until their person exists). The target
(target.py) only routes: it looks the handler up in ``role_handlers()`` and hands it the batch.

``SalesforceRole`` handlers need the run (target.py connects it first, checks the lease and keeps
the records as retryable work around the batch); ``LocalRole`` handlers (users, ignore) work
without Salesforce and are handed a ``RunAccess`` instead, which connects only if asked.
Threads and ordering: docs/DESIGN.md, "Concurrency model".
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from .batch_worker import PreparedBatch

if TYPE_CHECKING:
    from .context import RunContext
    from .settings import Settings

__all__ = ["LANES", "IgnoreRole", "Lane", "LocalRole", "PreparedBatch", "ProspectsRole", "RoleHandler",
           "RunAccess", "SalesforceRole", "SearchResultsRole", "TouchpointsRole", "UsersRole", "role_handlers"]


@dataclass(frozen=True)
class Lane:
    """A background lane: ``waits_for`` the lanes whose earlier batches its batches wait for
    (None: every lane); ``workers`` threads (more than one: its batches' prepare steps overlap)."""

    name: str
    waits_for: tuple[str, ...] | None
    workers: int = 1


# People first: Tasks and badges wait for every earlier prospects batch (they need those people), a
# prospects batch waits for everything before it. Touchpoints and search results each have two
# workers: one batch's own work overlaps the other's Salesforce calls (a touchpoints batch's Bulk
# job); their commits keep the input order.
PEOPLE = Lane("people", None)
TOUCHPOINTS = Lane("touchpoints", ("people",), workers=2)
SEARCH_RESULTS = Lane("search-results", ("people",), workers=2)
LANES = (PEOPLE, TOUCHPOINTS, SEARCH_RESULTS)


class RunAccess(Protocol):
    """What a ``LocalRole`` handler may ask of the target."""

    @property
    def run(self) -> RunContext:
        """The run, connecting to Salesforce if it is not yet."""

    @property
    def connected(self) -> RunContext | None:
        """The run if it is connected (waits for a connection under way), else None."""


class RoleHandler(ABC):
    name: ClassVar[str]
    lane: ClassVar[Lane]
    turn: ClassVar[str | None] = None  # the group whose commits run in input order (None: at once)

    @property
    def waits_for(self) -> tuple[str, ...] | None:
        return self.lane.waits_for

    def decode(self, records: list[Any]) -> list[dict[str, Any]]:
        """The batch's records as dicts, as its sink collected them (default: they are)."""
        return records

    def pending(self, run: RunContext) -> None:
        """Work kept back during the run, done at the end of input (default: none)."""
        return None

    def connected(self, run: RunContext) -> None:
        """The run has just connected (called under the target's run lock)."""
        return None

    def finish(self, run: RunContext | None, settings: Settings) -> None:
        """The run ends (before its report is written); ``run`` is None when it never connected."""
        return None


class SalesforceRole(RoleHandler):
    @abstractmethod
    def prepare(self, run: RunContext, records: list[dict[str, Any]]) -> PreparedBatch:
        """The batch's own work (reads, planning); the returned batch's commit writes."""


class LocalRole(RoleHandler):
    @abstractmethod
    def prepare(self, access: RunAccess, records: list[dict[str, Any]]) -> PreparedBatch: ...


class ProspectsRole(SalesforceRole):
    name = "prospects"
    lane = PEOPLE

    def prepare(self, run: RunContext, records: list[dict[str, Any]]) -> PreparedBatch:
        from . import prospects

        # One lane worker and no turn group: the commit runs at once, batches one after the other.
        return PreparedBatch(lambda: prospects.process_batch(run, records))


class TouchpointsRole(SalesforceRole):
    name = "touchpoints"
    lane = TOUCHPOINTS
    turn = "tasks"

    def decode(self, records: list[Any]) -> list[dict[str, Any]]:
        from .sinks import unpack

        # Packed by the sink (sinks.TouchpointsSink); the caller decides what keeps the strings.
        return unpack(records)

    def prepare(self, run: RunContext, records: list[dict[str, Any]]) -> PreparedBatch:
        from . import activities

        # The handler owns the list: its dicts are freed as soon as planned.
        return activities.prepare(run, records, consume=True)

    def pending(self, run: RunContext) -> None:
        from . import activities

        activities.process_pending(run)


class SearchResultsRole(SalesforceRole):
    name = "search_results"
    lane = SEARCH_RESULTS
    turn = "badges"

    def prepare(self, run: RunContext, records: list[dict[str, Any]]) -> PreparedBatch:
        from . import badges

        return badges.prepare(run, records)


class UsersRole(LocalRole):
    """Andsend users: id -> email, for owners when a prospect carries only the user id. Kept
    until the run connects (users usually come before the first prospect), then in the run and
    its link store; a run that never connects still stores them."""

    name = "users"
    lane = PEOPLE

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seen: dict[str, str] = {}

    def prepare(self, access: RunAccess, records: list[dict[str, Any]]) -> PreparedBatch:
        users = {str(r["id"]): r["email"] for r in records if r.get("id") and r.get("email")}
        for r in records:
            if not (r.get("id") and r.get("email")):
                # A user without id or email cannot own anything; say so instead of dropping it.
                access.run.reject(role=self.name, key=str(r.get("id")) if r.get("id") else None, object="User",
                                  error_code="MISSING_ID_OR_EMAIL",
                                  message="user record has no id or no email; not usable for owners", record=r)
        with self._lock:
            self.seen.update(users)
        run = access.connected  # after ``seen``: a run connecting meanwhile took them, or is returned here
        if run is not None:
            run.remember_users(users)
        return PreparedBatch()

    def connected(self, run: RunContext) -> None:
        with self._lock:
            seen = dict(self.seen)
        if seen:
            run.remember_users(seen)

    def finish(self, run: RunContext | None, settings: Settings) -> None:
        if run is not None or not self.seen or settings.dry_run:
            return
        from .links import open_store

        store = open_store(settings, settings.paths.links)
        try:
            store.put_users(self.seen)
        finally:
            store.close()


class IgnoreRole(LocalRole):
    """Streams with nothing to write to Salesforce (tap-andsend's `campaigns`, or any stream mapped
    to `ignore`): their records are counted as skipped in the run report, never silently lost."""

    name = "ignore"
    lane = SEARCH_RESULTS

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def skip(self, n: int) -> None:
        with self._lock:
            self.count += n

    def prepare(self, access: RunAccess, records: list[dict[str, Any]]) -> PreparedBatch:
        self.skip(len(records))
        return PreparedBatch()

    def finish(self, run: RunContext | None, settings: Settings) -> None:
        if run is not None and self.count:
            run.report.count(self.name, "-", "skipped_stream_ignored", self.count)


def role_handlers() -> dict[str, RoleHandler]:
    """A fresh table for one target (users and ignore keep the run's figures)."""
    handlers: list[RoleHandler] = [ProspectsRole(), TouchpointsRole(), SearchResultsRole(), UsersRole(),
                                   IgnoreRole()]
    return {h.name: h for h in handlers}
