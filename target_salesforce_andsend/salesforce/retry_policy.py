"""When to send a Salesforce request again, and after how long: one pure decision for the client's
calls, the writer's Composite subrequests and the writer's rounds of records refused for a passing
reason.

The exactly-once rule: a create that may have been applied (no answer, a timeout after sending, a
500) is never resent, since a second copy could be created; the batch fails instead and the next
run's matching finds what was created. Reads, updates and upserts are safe to repeat. Statuses
after which Salesforce certainly applied nothing (429 throttling, 502/503/504 from the edge) are
resent whatever the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

#: Statuses after which a request certainly was not applied: safe to resend even a create.
NOT_APPLIED_STATUSES = frozenset({429, 502, 503, 504})
#: Per-record error codes worth retrying: the record was not written for a passing reason.
TRANSIENT_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG", "UNPROCESSED"})
QUOTA_CODE = "REQUEST_LIMIT_EXCEEDED"


class Action(Enum):
    RETRY = "retry"  # send again after ``Decision.wait`` seconds
    RENEW_SESSION = "renew_session"  # the session expired or was revoked: log in again, resend at once
    QUOTA_EXHAUSTED = "quota_exhausted"  # the org's daily API allocation is spent: stop the run
    GIVE_UP = "give_up"  # retries spent (resending would have been safe)
    NOT_RESENT = "not_resent"  # a create that may have been applied: never sent twice
    REFUSED = "refused"  # a client error that will not get better by resending
    DONE = "done"  # a success, or a record failure that is not passing: nothing to resend


@dataclass(frozen=True)
class Decision:
    action: Action
    wait: float = 0.0

    @property
    def retry(self) -> bool:
        return self.action is Action.RETRY


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` resends of one call (or rounds of refused records); the wait before resend
    ``n`` (0-based) is ``backoff_base * 2**n`` capped, half of it fixed and half jittered, and at
    least a ``Retry-After`` the server sent (capped too)."""

    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    # Rounds of records refused for a passing reason (a lock held by another transaction) wait less.
    record_backoff_cap: float = 30.0
    max_renewals: int = 3

    def backoff(self, attempt: int, *, jitter: float = 1.0, cap: float | None = None) -> float:
        """Equal-jitter exponential wait before resend ``attempt``; ``jitter`` in [0, 1] (the caller
        passes ``random.random()``) picks where in the upper half it falls."""
        delay = min(self.backoff_cap if cap is None else cap, self.backoff_base * (2 ** attempt))
        return delay / 2 + jitter * delay / 2

    def classify(
        self,
        status: int | None,
        error_code: str | None,
        attempt: int,
        *,
        create: bool = False,
        not_sent: bool = False,
        retry_after: str | None = None,
        renewals: int = 0,
        jitter: float = 1.0,
    ) -> Decision:
        """What to do after one outcome of a request.

        ``status`` None: no response (connection error, timeout); ``not_sent`` says the request
        certainly never reached Salesforce. A status below 300 with an ``error_code`` is a record's
        own failure inside a successful Collections call. ``attempt``: resends so far (0-based);
        ``renewals``: sessions renewed so far for this call. ``create``: the request creates
        records, so one that may have been applied is never resent.
        """
        if status is None:
            if create and not not_sent:
                return Decision(Action.NOT_RESENT)
            return self._again(attempt, jitter)
        if status < 300:
            if error_code in TRANSIENT_CODES:
                return self._again(attempt, jitter, cap=self.record_backoff_cap)
            return Decision(Action.DONE)
        if status == 401:
            return Decision(Action.RENEW_SESSION if renewals < self.max_renewals else Action.GIVE_UP)
        if status == 403 and error_code == QUOTA_CODE:
            return Decision(Action.QUOTA_EXHAUSTED)
        if status == 429 or status >= 500:
            if create and status not in NOT_APPLIED_STATUSES:
                return Decision(Action.NOT_RESENT)
            return self._again(attempt, jitter, retry_after=retry_after)
        return Decision(Action.REFUSED)

    def _again(self, attempt: int, jitter: float, *, cap: float | None = None,
               retry_after: str | None = None) -> Decision:
        if attempt >= self.max_retries:
            return Decision(Action.GIVE_UP)
        wait = self.backoff(attempt, jitter=jitter, cap=cap)
        asked = _seconds(retry_after)
        if asked is not None:
            wait = max(wait, min(self.backoff_cap, asked))
        return Decision(Action.RETRY, wait)


def _seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds; any other form is ignored (the backoff applies)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
