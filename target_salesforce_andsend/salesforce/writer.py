"""Writing records: sObject Collections (200 a call) or, for big loads, Bulk API 2.0.

Guarantees: one :class:`WriteResult` per input record, in input order. Records refused for a
passing reason (``UNABLE_TO_LOCK_ROW``...) are retried, alone, with backoff. A call that fails
after the client's own retries raises (with the results known so far on
``exc.partial_results``) so the caller never moves past records whose fate is unknown.
"""

from __future__ import annotations

import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from .client import SalesforceClient
from .errors import SalesforceAPIError, SalesforceError
from .results import TRANSIENT_CODES, WriteResult, sf_datetime

__all__ = ["COLLECTION_SIZE", "TRANSIENT_CODES", "Write", "WriteResult", "Writer"]

log = logging.getLogger("target_salesforce_andsend.salesforce.writer")

COLLECTION_SIZE = 200  # Salesforce's per-call maximum for sObject Collections
# Below this, max_concurrency Collections calls in parallel finish a batch sooner than a Bulk job
# (six calls or more, and polling); batches of the default 5,000 records stay on Collections.
DEFAULT_BULK_THRESHOLD = 10_000
# Estimated calls of one Bulk 2.0 job: create, upload, close, results x3, and a few polls.
BULK_CALLS_ESTIMATE = 10
# Extra calls one write may spend isolating the records that make Salesforce refuse a whole
# collection (about 3 culprits among 200; beyond that the rest of a refused group is reported
# as refused with it, and nothing is written for it).
ISOLATION_CALLS = 40

_KIND = {"create": "collections_create", "update": "collections_update", "upsert": "collections_upsert"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return sf_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _prepare(sobject: str, record: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"attributes": {"type": sobject}}
    for key, value in record.items():
        if key != "attributes":
            body[key] = _jsonable(value)
    return body


class _Budget:
    """Calls left for isolating refused records during one write (shared by its chunks)."""

    def __init__(self, calls: int) -> None:
        self._left = calls
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if self._left < n:
                return False
            self._left -= n
            return True


_UNKNOWN_COLUMN = re.compile(r"No such column '([^']+)'", re.I)


def _unknown_column(exc: SalesforceAPIError) -> str | None:
    if exc.error_code != "INVALID_FIELD" or not exc.errors:
        return None
    m = _UNKNOWN_COLUMN.search(str(exc.errors[0].get("message") or ""))
    return m.group(1).lower() if m else None


def _refused(exc: SalesforceAPIError, group: int) -> WriteResult:
    first = exc.errors[0] if exc.errors else {}
    message = str(first.get("message") or exc)
    if group > 1:
        message = f"refused together with {group - 1} other record(s), culprit not isolated: {message}"
    return WriteResult(False, None, None, [{"statusCode": exc.error_code, "message": message,
                                           "fields": list(first.get("fields") or [])}])


def bulk_honours(headers: Mapping[str, str] | None) -> bool:
    """Whether a Bulk 2.0 job behaves as the REST call with these headers would.

    Bulk ingest takes no per-call headers and runs no assignment rules unless a rule id is
    given, which equals ``Sforce-Auto-Assign: FALSE`` only. Any other header (auto-assign on,
    duplicate-rule ``allowSave``...) keeps the write on Collections, whatever its size.
    """
    for name, value in (headers or {}).items():
        if name.lower() == "sforce-auto-assign" and str(value).strip().lower() in ("false", "0"):
            continue
        return False
    return True


class Write(NamedTuple):
    """One write of :meth:`Writer.write_together`."""

    op: str  # create | update | upsert
    sobject: str
    records: Sequence[Mapping[str, Any]]
    external_id_field: str | None = None
    headers: Mapping[str, str] | None = None


class Writer:
    """Thread-safe; ``max_concurrency`` collection calls run at once."""

    def __init__(
        self,
        client: SalesforceClient,
        *,
        bulk_threshold: int | None = None,
        max_concurrency: int | None = None,
        record_retries: int | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        config = client.config
        self.client = client
        self.log = logger or log
        threshold = bulk_threshold if bulk_threshold is not None else config.get("bulk_threshold")
        self.bulk_threshold = int(threshold) if threshold not in (None, "") else DEFAULT_BULK_THRESHOLD
        self.max_concurrency = max(1, int(max_concurrency or client.max_concurrency))
        self.record_retries = int(record_retries if record_retries is not None else client.max_retries)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._bulk: Any = None

    # -- public API -----------------------------------------------------------------------------

    def create(self, sobject: str, records: Sequence[Mapping[str, Any]], *,
               headers: Mapping[str, str] | None = None) -> list[WriteResult]:
        """Insert ``records``; results aligned with the input."""
        return self._write("create", sobject, records, None, headers)

    def update(self, sobject: str, records: Sequence[Mapping[str, Any]], *,
               headers: Mapping[str, str] | None = None) -> list[WriteResult]:
        """Update ``records`` (each carries ``Id``); results aligned with the input."""
        return self._write("update", sobject, records, None, headers)

    def upsert(self, sobject: str, external_id_field: str, records: Sequence[Mapping[str, Any]], *,
               headers: Mapping[str, str] | None = None) -> list[WriteResult]:
        """Insert or update by ``external_id_field``; ``WriteResult.created`` tells which."""
        return self._write("upsert", sobject, records, external_id_field, headers)

    def write_together(self, writes: Sequence[Write]) -> list[list[WriteResult] | Exception]:
        """Several independent writes (different records) at once: their calls share the
        ``max_concurrency`` in flight instead of waiting for each other. One outcome per write,
        in order: its results, or the exception it raised. Every write finishes before this
        returns, so the caller can keep what succeeded before it fails the batch."""
        def one(w: Write) -> list[WriteResult]:
            return self._write(w.op, w.sobject, w.records, w.external_id_field, w.headers)

        if len(writes) <= 1:
            outcomes: list[list[WriteResult] | Exception] = []
            for w in writes:
                try:
                    outcomes.append(one(w))
                except Exception as exc:
                    outcomes.append(exc)
            return outcomes
        # Own short-lived threads, not the chunk pool they feed (that could starve it); each
        # stays inside the quota unit of work the caller admitted.
        with ThreadPoolExecutor(len(writes), thread_name_prefix="sf-write") as pool:
            futures = [pool.submit(self.client.quota.carried(one), w) for w in writes]
        outcomes = []
        for f in futures:
            exc = f.exception()
            if exc is not None and not isinstance(exc, Exception):
                raise exc  # KeyboardInterrupt and the like are not a write's outcome
            outcomes.append(exc if exc is not None else f.result())
        return outcomes

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    # -- machinery ------------------------------------------------------------------------------

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="sf-writer")
            return self._pool

    def estimate_calls(self, count: int, *, bulk: bool = True) -> int:
        """Calls a write of ``count`` records of one object is expected to need."""
        if count <= 0:
            return 0
        if count >= self.bulk_threshold and bulk:
            return BULK_CALLS_ESTIMATE
        return math.ceil(count / COLLECTION_SIZE)

    def _write(self, op: str, sobject: str, records: Sequence[Mapping[str, Any]], ext_field: str | None,
               headers: Mapping[str, str] | None) -> list[WriteResult]:
        n = len(records)
        if n == 0:
            return []
        results: list[WriteResult | None] = [None] * n
        pending = list(range(n))
        budget = _Budget(ISOLATION_CALLS)
        what = f"{sobject} {op} of {n} record(s)"
        with self.client.quota.batch(self.estimate_calls(n, bulk=bulk_honours(headers)), what):
            attempt = 0
            while pending:
                if len(pending) >= self.bulk_threshold and bulk_honours(headers):
                    self._via_bulk(op, sobject, records, ext_field, pending, results)
                else:
                    self._via_collections(op, sobject, records, ext_field, pending, headers, results, budget)
                retry = [i for i in pending if results[i] is not None and results[i].transient]  # type: ignore[union-attr]
                if not retry or attempt >= self.record_retries:
                    break
                codes = sorted({results[i].error_code for i in retry})  # type: ignore[union-attr]
                self.log.info("%s: %d record(s) refused with %s; retrying them (%d/%d)", what, len(retry),
                              ", ".join(c for c in codes if c), attempt + 1, self.record_retries)
                delay = min(30.0, self.client.backoff_base * (2 ** attempt))
                time.sleep(delay / 2 + random.uniform(0, delay / 2))
                attempt += 1
                pending = retry
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:  # cannot happen unless Salesforce returned fewer results than records
            raise SalesforceError(f"{what}: no result for {len(missing)} record(s)")
        return results  # type: ignore[return-value]

    def _via_collections(self, op: str, sobject: str, records: Sequence[Mapping[str, Any]], ext_field: str | None,
                         indices: list[int], headers: Mapping[str, str] | None,
                         results: list[WriteResult | None], budget: _Budget) -> None:
        chunks = [indices[i:i + COLLECTION_SIZE] for i in range(0, len(indices), COLLECTION_SIZE)]
        send: Callable[[list[int]], list[WriteResult]] = lambda chunk: self._send_isolating(  # noqa: E731
            op, sobject, [records[i] for i in chunk], ext_field, headers, budget)
        if len(chunks) == 1:
            outcomes: list[Any] = []
            try:
                outcomes.append(send(chunks[0]))
            except Exception as exc:
                outcomes.append(exc)
        else:
            futures = [self._executor().submit(send, chunk) for chunk in chunks]
            outcomes = []
            for f in futures:  # wait for every chunk: none is abandoned half-known
                try:
                    outcomes.append(f.result())
                except Exception as exc:
                    outcomes.append(exc)
        first_error: Exception | None = None
        for chunk, outcome in zip(chunks, outcomes, strict=True):
            if isinstance(outcome, Exception):
                first_error = first_error or outcome
                continue
            for i, result in zip(chunk, outcome, strict=True):
                results[i] = result
        if first_error is not None:
            first_error.partial_results = list(results)  # type: ignore[attr-defined]
            raise first_error

    def _send_isolating(self, op: str, sobject: str, chunk: list[Mapping[str, Any]], ext_field: str | None,
                        headers: Mapping[str, str] | None, budget: _Budget) -> list[WriteResult]:
        """Send a chunk; if Salesforce refuses the whole call (HTTP 400: one record's value cannot
        even be parsed, say), split it in halves to find the culprits, so one bad record does not
        hold back the others (nor block every later run). Bounded by ``ISOLATION_CALLS``."""
        def attempt(part: list[Mapping[str, Any]]) -> list[WriteResult]:
            try:
                return self._send_chunk(op, sobject, part, ext_field, headers)
            except SalesforceAPIError as exc:
                if exc.status != 400:
                    raise
                if len(part) == 1:
                    return [_refused(exc, 1)]
                column = _unknown_column(exc)
                if column is not None:
                    # The culprits are exactly the records carrying that column: no search needed.
                    has = [any(k.lower() == column for k in r) for r in part]
                    if any(has) and not all(has):
                        clean = [r for r, h in zip(part, has, strict=True) if not h]
                        if budget.take(1):
                            sent = iter(attempt(clean))
                            return [_refused(exc, 1) if h else next(sent) for h in has]
                    return [_refused(exc, 1) if h else _refused(exc, len(part)) for h in has]
                if not budget.take(2):
                    return [_refused(exc, len(part)) for _ in part]
                self.log.info("%s %s: Salesforce refused a call of %d record(s) (%s); splitting it to find "
                              "the record(s) at fault", sobject, op, len(part), exc.error_code)
                mid = len(part) // 2
                return attempt(part[:mid]) + attempt(part[mid:])

        return attempt(chunk)

    def _send_chunk(self, op: str, sobject: str, chunk: list[Mapping[str, Any]], ext_field: str | None,
                    headers: Mapping[str, str] | None) -> list[WriteResult]:
        body = {"allOrNone": False, "records": [_prepare(sobject, r) for r in chunk]}
        if op == "create":
            # A create that may have been applied (timeout, 500) is not resent blindly: the
            # caller fails the batch and the next run's matching finds what was created.
            resp = self.client.request("POST", "composite/sobjects", kind=_KIND[op], json=body,
                                       headers=headers, retry_ambiguous=False)
        elif op == "update":
            resp = self.client.request("PATCH", "composite/sobjects", kind=_KIND[op], json=body, headers=headers)
        else:
            resp = self.client.request("PATCH", f"composite/sobjects/{sobject}/{ext_field}", kind=_KIND[op],
                                       json=body, headers=headers)
        items = resp.json()
        if not isinstance(items, list) or len(items) != len(chunk):
            raise SalesforceError(
                f"{sobject} {op}: Salesforce returned {len(items) if isinstance(items, list) else 'no'} results "
                f"for {len(chunk)} records"
            )
        return [WriteResult.from_collections(item) for item in items]

    def _via_bulk(self, op: str, sobject: str, records: Sequence[Mapping[str, Any]], ext_field: str | None,
                  indices: list[int], results: list[WriteResult | None]) -> None:
        from .bulk import BulkIngest

        if self._bulk is None:
            self._bulk = BulkIngest(self.client, logger=self.log)
        operation = {"create": "insert", "update": "update", "upsert": "upsert"}[op]
        outcome = self._bulk.write(operation, sobject, [records[i] for i in indices], external_id_field=ext_field)
        for i, result in zip(indices, outcome, strict=True):
            results[i] = result
