"""The API quota governor: stop before this run eats more than its share of the org's daily calls.

The daily allocation is shared by every integration an org runs, so the target stops on its own
budget instead of running the org into ``REQUEST_LIMIT_EXCEEDED``:

* ``quota_max_daily_percent`` (default 80): stop when the org's daily usage would pass this share
  of the allocation (the org-wide figure, read from ``/limits`` at start and from the
  ``Sforce-Limit-Info`` header of every response);
* ``quota_max_calls_per_run`` (0 = no cap): stop when this run's own counted calls would pass it.

Work is admitted a batch at a time (:meth:`QuotaGovernor.batch`): a batch starts only if its
estimated calls fit, and once started it may finish (retries included) up to a small reserve
above the budget, so Salesforce is never left with half a batch because of our own cap.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import QuotaExhausted

if TYPE_CHECKING:
    from ..settings import Settings

T = TypeVar("T")

__all__ = ["QuotaExhausted", "QuotaGovernor", "QuotaSnapshot", "UNCOUNTED_KINDS"]

log = logging.getLogger("target_salesforce_andsend.salesforce.quota")

_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")

#: Call kinds Salesforce does not count against the daily API allocation.
UNCOUNTED_KINDS = frozenset({"oauth", "soap_login", "versions"})


@dataclass(frozen=True)
class QuotaSnapshot:
    """Figures for the run report."""

    run_calls: int                 # counted calls made by this run
    daily_used: int | None         # org-wide, as last reported by Salesforce
    daily_max: int | None
    daily_budget: int | None       # quota_max_daily_percent of daily_max
    run_budget: int | None         # quota_max_calls_per_run (None = no cap)
    daily_used_at_start: int | None
    remaining: int | None          # calls left for this run under both budgets

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class QuotaGovernor:
    """Thread-safe budget keeper; the client calls :meth:`before_call` and :meth:`observe`."""

    def __init__(self, config: Settings | Mapping[str, Any] | None = None, *, max_daily_percent: float | None = None,
                 max_calls_per_run: int | None = None) -> None:
        from ..settings import Settings  # here: settings.py imports this package's errors

        settings = Settings.of(config)
        pct = max_daily_percent if max_daily_percent is not None else settings.quota_max_daily_percent
        cap = max_calls_per_run if max_calls_per_run is not None else settings.quota_max_calls_per_run
        self.max_daily_percent = float(pct)
        self.max_calls_per_run = int(cap or 0)
        if not 0 < self.max_daily_percent <= 100:
            raise ValueError("quota_max_daily_percent must be in (0, 100]")
        self._lock = threading.Lock()
        self.run_calls = 0
        self.daily_used: int | None = None
        self.daily_max: int | None = None
        self.daily_used_at_start: int | None = None
        # Reserve of every unit in progress (units run concurrently: sinks drain in parallel);
        # nesting is per thread (a Writer call inside the Singer batch that admitted it).
        self._batch_reserve = 0
        self._local = threading.local()

    # -- inputs ---------------------------------------------------------------------------------

    def start(self, limits: Mapping[str, Any]) -> None:
        """Take the org's figures from a ``/limits`` response."""
        daily = limits.get("DailyApiRequests") or {}
        if "Max" in daily and "Remaining" in daily:
            with self._lock:
                self.daily_max = int(daily["Max"])
                self.daily_used = int(daily["Max"]) - int(daily["Remaining"])
                if self.daily_used_at_start is None:
                    self.daily_used_at_start = self.daily_used
            log.info("Salesforce daily API usage at start: %d/%d; this run may use up to %s",
                     self.daily_used, self.daily_max, self._describe_budget())

    def observe(self, limit_info: str | None) -> None:
        """Record a ``Sforce-Limit-Info: api-usage=N/M`` header."""
        if not limit_info:
            return
        m = _LIMIT_INFO.search(limit_info)
        if not m:
            return
        used, maximum = int(m.group(1)), int(m.group(2))
        with self._lock:
            # Responses of concurrent calls arrive out of order: usage only grows within a day.
            if self.daily_used is None or used > self.daily_used or maximum != self.daily_max:
                self.daily_used = used
            self.daily_max = maximum
            if self.daily_used_at_start is None:
                self.daily_used_at_start = used

    # -- checks ---------------------------------------------------------------------------------

    @property
    def daily_budget(self) -> int | None:
        if self.daily_max is None:
            return None
        return int(self.daily_max * self.max_daily_percent / 100)

    def _headroom(self) -> int | None:
        """Calls left under both budgets (None = unknown and uncapped)."""
        options = []
        if self.max_calls_per_run:
            options.append(self.max_calls_per_run - self.run_calls)
        budget = self.daily_budget
        if budget is not None and self.daily_used is not None:
            options.append(budget - self.daily_used)
        return min(options) if options else None

    def before_call(self, kind: str) -> None:
        """Count one call of ``kind`` or raise :class:`QuotaExhausted` if it does not fit."""
        if kind in UNCOUNTED_KINDS:
            return
        with self._lock:
            headroom = self._headroom()
            if headroom is not None and headroom - 1 + self._batch_reserve < 0:
                raise self._exhausted(1, "call")
            self.run_calls += 1
            if self.daily_used is not None:
                # Optimistic: the header of this call's response will confirm it.
                self.daily_used += 1

    def _fits(self, estimated_calls: int) -> bool:
        headroom = self._headroom()
        if headroom is None:
            return True
        # Inside an admitted unit, a nested unit (one write of a multi-step batch) may use the
        # reserve: it is part of finishing that unit. A new outermost unit must fit on its own.
        allowance = self._batch_reserve if getattr(self._local, "depth", 0) else 0
        return estimated_calls <= headroom + allowance

    def admit(self, estimated_calls: int, what: str = "batch") -> None:
        """Raise unless ``estimated_calls`` fit in what is left (nothing is counted here)."""
        with self._lock:
            if not self._fits(estimated_calls):
                raise self._exhausted(estimated_calls, what)

    @contextmanager
    def batch(self, estimated_calls: int, what: str = "batch") -> Iterator[None]:
        """Admit a unit of work; inside it, calls may exceed the budget by a small reserve
        (retries, re-authentication) so the unit is finished cleanly rather than cut in half.

        Units nest: the target can admit a whole Singer batch (its lookups and every write) and
        each ``Writer`` call inside is then admitted against that unit's allowance.
        """
        depth = getattr(self._local, "depth", 0)
        reserve = 0 if depth else max(2, estimated_calls // 2)
        with self._lock:
            if not self._fits(estimated_calls):
                raise self._exhausted(estimated_calls, what)
            self._batch_reserve += reserve
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth
            with self._lock:
                self._batch_reserve -= reserve

    def carried(self, fn: Callable[..., T]) -> Callable[..., T]:
        """``fn`` for another thread, counted inside the unit of work this thread is in (as if
        this thread ran it), so the parts of one admitted batch are not admitted again."""
        depth = getattr(self._local, "depth", 0)

        def run(*args: Any, **kwargs: Any) -> T:
            saved = getattr(self._local, "depth", 0)
            self._local.depth = depth
            try:
                return fn(*args, **kwargs)
            finally:
                self._local.depth = saved

        return run

    def limit_exceeded(self, message: str = "") -> QuotaExhausted:
        """The exception for Salesforce's own 403 REQUEST_LIMIT_EXCEEDED."""
        used = f"{self.daily_used}/{self.daily_max}" if self.daily_max else "unknown"
        return QuotaExhausted(
            f"Salesforce refused the call: the org's daily API limit is exhausted (REQUEST_LIMIT_EXCEEDED"
            f"{': ' + message if message else ''}; usage {used}). Stopping; the next run resumes once the "
            f"org's allocation frees up.",
            used=self.daily_used, limit=self.daily_max, setting="REQUEST_LIMIT_EXCEEDED",
        )

    def _exhausted(self, needed: int, what: str) -> QuotaExhausted:
        reasons = []
        setting = None
        used = limit = None
        if self.max_calls_per_run and self.run_calls + needed > self.max_calls_per_run:
            setting = "quota_max_calls_per_run"
            used, limit = self.run_calls, self.max_calls_per_run
            reasons.append(f"this run has used {self.run_calls}/{self.max_calls_per_run} API calls "
                           f"(quota_max_calls_per_run)")
        budget = self.daily_budget
        if budget is not None and self.daily_used is not None and self.daily_used + needed > budget:
            if setting is None:
                setting, used, limit = "quota_max_daily_percent", self.daily_used, budget
            reasons.append(f"the org has used {self.daily_used}/{self.daily_max} daily API requests and "
                           f"this target stops at {self.max_daily_percent:g}% = {budget} (quota_max_daily_percent)")
        return QuotaExhausted(
            f"API quota budget reached before a {what} needing {needed} call(s): {'; '.join(reasons)}. "
            f"Stopping cleanly; the next run resumes where this one stopped.",
            used=used, limit=limit, setting=setting,
        )

    # -- outputs --------------------------------------------------------------------------------

    def _describe_budget(self) -> str:
        parts = []
        if self.daily_budget is not None:
            parts.append(f"{self.max_daily_percent:g}% of the daily allocation ({self.daily_budget})")
        if self.max_calls_per_run:
            parts.append(f"{self.max_calls_per_run} calls (quota_max_calls_per_run)")
        return " and ".join(parts) or "no cap"

    def snapshot(self) -> QuotaSnapshot:
        with self._lock:
            return QuotaSnapshot(
                run_calls=self.run_calls,
                daily_used=self.daily_used,
                daily_max=self.daily_max,
                daily_budget=self.daily_budget,
                run_budget=self.max_calls_per_run or None,
                daily_used_at_start=self.daily_used_at_start,
                remaining=self._headroom(),
            )
