"""Composite bundling of reads: up to five query subrequests in one counted call.

A Composite request counts as one call against the org's daily allocation and may carry up to 25
subrequests, at most 5 of them queries or sObject Collections (API 43.0 and later). The
:class:`QueryBundler` queues the first page of every statement handed to
``SalesforceClient.query_many`` and sends them five to a Composite, whichever thread asked: a
batch's people lookups and its owners' User lookup (two threads) travel together. A statement
waits at most ``gather_seconds`` for others to join it; five queued statements go at once.

Each subrequest's answer goes back to its own statement. A subrequest Salesforce refused for a
passing reason (503, 429, ``UNABLE_TO_LOCK_ROW``...) is asked again alone, with the client's
retries; any other refusal raises for that statement only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

from .errors import SalesforceAPIError, parse_error_body
from .pool import CallPool
from .retry_policy import NOT_APPLIED_STATUSES

if TYPE_CHECKING:
    from .client import SalesforceClient

#: Query or sObject Collections subrequests one Composite request may carry (API 43.0+).
MAX_HEAVY_SUBREQUESTS = 5
#: Subrequests one Composite request may carry.
MAX_SUBREQUESTS = 25
#: How long a queued statement waits for others to share its Composite call.
DEFAULT_GATHER_SECONDS = 0.05
#: The longest statements are held for readers announced by ``reads_together`` (a safety net).
MAX_HOLD_SECONDS = 2.0
T = TypeVar("T")


def subrequest_error(method: str, url: str, sub: Mapping[str, Any]) -> SalesforceAPIError:
    """A refused subrequest as the exception the same call sent alone would raise."""
    body = sub.get("body")
    return SalesforceAPIError(method, url, int(sub.get("httpStatusCode") or 400), parse_error_body(body), body)


def transient_subrequest(sub: Mapping[str, Any]) -> bool:
    """A subrequest refused for a passing reason (throttled, unavailable): safe to ask again."""
    status = int(sub.get("httpStatusCode") or 0)
    if status in NOT_APPLIED_STATUSES:
        return True
    codes = {e.get("errorCode") for e in parse_error_body(sub.get("body"))}
    return bool(codes & {"SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW", "REQUEST_RUNNING_TOO_LONG"})


@dataclass
class _Pending:
    resource: str  # query | queryAll
    soql: str
    queued_at: float
    future: Future = field(default_factory=Future)


class QueryBundler:
    """Queues first pages of SOQL statements and sends them up to five per Composite call."""

    def __init__(self, client: SalesforceClient, *, gather_seconds: float = DEFAULT_GATHER_SECONDS,
                 max_senders: int = 8, pool: CallPool | None = None) -> None:
        self.client = client
        self.gather_seconds = max(0.0, gather_seconds)
        self._queue: list[_Pending] = []
        self._cond = threading.Condition()
        self._dispatcher: threading.Thread | None = None
        # The client's pool (the run's one executor) when given, else a pool of its own.
        self._owns_senders = pool is None
        self._senders = pool or CallPool(max_senders)
        self._closed = False
        self._expected = 0  # announced readers (reads_together) that have not submitted yet
        self._local = threading.local()

    def reader(self, fn: Callable[..., T]) -> Callable[..., T]:
        """``fn`` announced as a reader: statements queued before it submits its first ones (or
        returns without any) wait for them, so both share Composite calls whatever the CPU load
        (the gather window alone would let a slow reader miss the call)."""
        with self._cond:
            self._expected += 1

        def run(*args: Any, **kwargs: Any) -> T:
            self._local.announced = True
            try:
                return fn(*args, **kwargs)
            finally:
                if getattr(self._local, "announced", False):
                    self._local.announced = False
                    with self._cond:
                        self._expected -= 1
                        self._cond.notify_all()

        return run

    def submit(self, statements: list[str], *, resource: str = "query") -> list[Future]:
        """A future per statement, resolved with its first page (the query resource's JSON)."""
        now = time.monotonic()
        items = [_Pending(resource, s, now) for s in statements]
        with self._cond:
            if self._closed:
                raise RuntimeError("the Salesforce client is closed")
            self._queue.extend(items)
            if getattr(self._local, "announced", False):
                self._local.announced = False  # this reader has arrived
                self._expected -= 1
            if self._dispatcher is None:
                self._dispatcher = threading.Thread(target=self._dispatch, name="sf-bundle-dispatch", daemon=True)
                self._dispatcher.start()
            self._cond.notify_all()
        return [i.future for i in items]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._dispatcher is not None:
            self._dispatcher.join()
        if self._owns_senders:
            self._senders.close()

    def _dispatch(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                # The oldest statement waits at most gather_seconds for company, or for the
                # readers announced together with it (up to MAX_HOLD_SECONDS).
                oldest = self._queue[0].queued_at
                while len(self._queue) < MAX_HEAVY_SUBREQUESTS and not self._closed:
                    limit = MAX_HOLD_SECONDS if self._expected > 0 else self.gather_seconds
                    left = oldest + limit - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                group = self._queue[:MAX_HEAVY_SUBREQUESTS]
                del self._queue[:MAX_HEAVY_SUBREQUESTS]
            self._senders.submit(self._send, group)

    def _send(self, group: list[_Pending]) -> None:
        try:
            self._send_group(group)
        except BaseException as exc:  # every waiting caller hears of it
            for item in group:
                if not item.future.done():
                    item.future.set_exception(exc)

    def _send_group(self, group: list[_Pending]) -> None:
        client = self.client
        if len(group) == 1:
            # One statement costs one call either way; the client picks GET or a Composite of one.
            item = group[0]
            item.future.set_result(client._first_page(item.resource, item.soql))
            return
        prefix = f"/services/data/v{client.api_version}/"
        urls = [f"{prefix}{i.resource}?{urlencode({'q': i.soql})}" for i in group]
        body = {"allOrNone": False, "compositeRequest": [
            {"method": "GET", "url": url, "referenceId": f"q{n}"} for n, url in enumerate(urls)]}
        subs = client.request("POST", "composite", kind="composite", json=body).json().get("compositeResponse") or []
        by_ref = {s.get("referenceId"): s for s in subs if isinstance(s, dict)}
        for n, item in enumerate(group):
            sub = by_ref.get(f"q{n}")
            if sub is not None and sub.get("httpStatusCode") == 200 and isinstance(sub.get("body"), dict):
                item.future.set_result(sub["body"])
            elif sub is None or transient_subrequest(sub):
                # Refused for a passing reason (or not answered): asked again alone, with retries.
                item.future.set_result(retry_alone(client, lambda it=item: client._first_page(it.resource, it.soql)))
            else:
                item.future.set_exception(subrequest_error("GET", client.url(item.resource), sub))


def retry_alone(client: SalesforceClient, send: Callable[[], Any]) -> Any:
    """``send()`` after a short backoff: a subrequest throttled inside a Composite, asked again on
    its own (the client's own retries then apply to that call)."""
    client.pause_before_resend()
    return send()
