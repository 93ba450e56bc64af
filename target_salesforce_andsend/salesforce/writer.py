"""Writing records: sObject Collections (200 a call, up to five of them bundled in one Composite
call) or, for big loads, Bulk API 2.0.

Guarantees: one :class:`WriteResult` per input record, in input order. Records refused for a
passing reason (``UNABLE_TO_LOCK_ROW``...) are retried, alone, with backoff. A call that fails
after the client's own retries raises (with the results known so far on
``exc.partial_results``) so the caller never moves past records whose fate is unknown.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import random
import re
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from .bundling import MAX_HEAVY_SUBREQUESTS, subrequest_error
from .client import SalesforceClient
from .contention import LOCK_CODE, ConcurrencyGovernor, batch_failure, chunk_by_parent, is_limit_failure
from .errors import SalesforceAPIError, SalesforceError, TransportError, parse_error_body
from .results import WriteResult, sf_datetime
from .retry_policy import TRANSIENT_CODES, Action

__all__ = ["COLLECTION_SIZE", "TRANSIENT_CODES", "Write", "WriteResult", "Writer"]

log = logging.getLogger("target_salesforce_andsend.salesforce.writer")

COLLECTION_SIZE = 200  # Salesforce's per-call maximum for sObject Collections
# Collections subrequests one Composite call may carry (API 43.0+): 1,000 records a counted call.
COLLECTIONS_PER_COMPOSITE = MAX_HEAVY_SUBREQUESTS
# Estimated calls of one Bulk 2.0 job: create, upload, close, successful results, a few polls,
# and failed / unprocessed results when the job reports any.
BULK_CALLS_ESTIMATE = 8
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


def _transient_code(result: WriteResult | None) -> str | None:
    errors = result.errors if result is not None else []
    return next((str(e["statusCode"]) for e in errors if e.get("statusCode") in TRANSIENT_CODES), None)


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


class _State:
    """One write in progress: its results so far and the records still to send."""

    def __init__(self, write: Write) -> None:
        self.write = write
        self.results: list[WriteResult | None] = [None] * len(write.records)
        self.pending = list(range(len(write.records)))
        self.error: Exception | None = None
        self.budget = _Budget(ISOLATION_CALLS)
        self.what = f"{write.sobject} {write.op} of {len(write.records)} record(s)"
        # Records of a call the org's automation failed as a whole (a governor limit): resent in
        # smaller calls (chunk_size halves each round) until each failing record stands alone.
        self.split: list[int] = []
        self.chunk_size = COLLECTION_SIZE
        self.no_bulk = False


class _Job(NamedTuple):
    """One chunk (up to 200 records) of a write: a Collections call or subrequest."""

    state: _State
    indices: list[int]


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
        self.client = client
        self.log = logger or log
        self.bulk_threshold = int(bulk_threshold if bulk_threshold is not None else client.settings.bulk_threshold)
        self.max_concurrency = max(1, int(max_concurrency or client.max_concurrency))
        self.record_retries = int(record_retries if record_retries is not None else client.max_retries)
        # Rounds of records refused for a passing reason: the client's policy, with its own count.
        self.retry_policy = dataclasses.replace(client.retry_policy, max_retries=self.record_retries)
        self._bulk: Any = None
        # Lock and governor-limit failures lower the write calls in flight (contention.py).
        self.governor = ConcurrencyGovernor(self.max_concurrency)
        # Largest call the org's automation got through, per object, once a call of it failed on a
        # governor limit: later writes of the object in this run start at that size.
        self._chunk_cap: dict[str, int] = {}
        self._figures_lock = threading.Lock()
        self.split_resends = 0

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
        """Several independent writes (different records) at once: their Collections chunks share
        Composite calls (five chunks a call, whichever write they belong to) and the
        ``max_concurrency`` calls in flight. One outcome per write, in order: its results, or the
        exception it raised. Every write finishes before this returns, so the caller can keep what
        succeeded before it fails the batch."""
        return self._write_many(list(writes))

    def figures(self) -> dict[str, Any]:
        """Automation and contention figures of the run (for the report)."""
        with self._figures_lock:
            return {**self.governor.figures(), "split_resends": self.split_resends,
                    "chunk_size_caps": dict(self._chunk_cap)}

    def close(self) -> None:
        """Nothing of its own to release: its chunks run on the client's pool (closed with the client)."""

    # -- machinery ------------------------------------------------------------------------------

    def _uses_bulk(self, count: int, headers: Mapping[str, str] | None) -> bool:
        return count >= self.bulk_threshold and bulk_honours(headers)

    def _chunk_size(self, st: _State) -> int:
        return max(1, min(st.chunk_size, self._chunk_cap.get(st.write.sobject, COLLECTION_SIZE)))

    def _failed_together(self, st: _State, indices: list[int]) -> None:
        """A call of these records failed as a whole on a governor limit: resend them in halves."""
        half = max(1, len(indices) // 2)
        with self._figures_lock:
            st.chunk_size = min(st.chunk_size, half)
            sobject = st.write.sobject
            self._chunk_cap[sobject] = min(self._chunk_cap.get(sobject, COLLECTION_SIZE), half)
        st.split.extend(indices)

    def estimate_calls(self, count: int, *, bulk: bool = True) -> int:
        """Calls a write of ``count`` records of one object is expected to need (its chunks of 200
        five to a Composite call, or one Bulk job)."""
        if count <= 0:
            return 0
        if count >= self.bulk_threshold and bulk:
            return BULK_CALLS_ESTIMATE
        return math.ceil(math.ceil(count / COLLECTION_SIZE) / COLLECTIONS_PER_COMPOSITE)

    def estimate_many(self, writes: Sequence[Write]) -> int:
        """Calls several writes sent together are expected to need (their chunks share calls)."""
        chunks = 0
        calls = 0
        for w in writes:
            if self._uses_bulk(len(w.records), w.headers):
                calls += BULK_CALLS_ESTIMATE
            else:
                chunks += math.ceil(len(w.records) / COLLECTION_SIZE)
        return calls + math.ceil(chunks / COLLECTIONS_PER_COMPOSITE)

    def _write(self, op: str, sobject: str, records: Sequence[Mapping[str, Any]], ext_field: str | None,
               headers: Mapping[str, str] | None) -> list[WriteResult]:
        outcome = self._write_many([Write(op, sobject, records, ext_field, headers)], single=True)[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _write_many(self, writes: list[Write], *, single: bool = False) -> list[list[WriteResult] | Exception]:
        states = [_State(w) for w in writes]
        live = [st for st in states if st.pending]
        if live:
            what = (live[0].what if len(live) == 1
                    else f"{len(live)} writes of {sum(len(st.write.records) for st in live)} record(s)")
            try:
                with self.client.quota.batch(self.estimate_many([st.write for st in live]), what):
                    self._run(live)
            except Exception as exc:  # admission refused (QuotaExhausted): nothing was sent
                if single:
                    raise
                for st in live:
                    st.error = st.error or exc
        outcomes: list[list[WriteResult] | Exception] = []
        raised: set[int] = set()
        for st in states:
            if st.error is not None:
                # One failed Composite call fails every write it carried: each gets its own copy,
                # with its own partial results.
                error = copy.copy(st.error) if id(st.error) in raised else st.error
                raised.add(id(st.error))
                error.partial_results = list(st.results)  # type: ignore[attr-defined]
                outcomes.append(error)
                continue
            missing = sum(1 for r in st.results if r is None)
            if missing:  # cannot happen unless Salesforce returned fewer results than records
                outcomes.append(SalesforceError(f"{st.what}: no result for {missing} record(s)"))
                continue
            outcomes.append(st.results)  # type: ignore[arg-type]
        return outcomes

    def _run(self, states: list[_State]) -> None:
        """Send every state's pending records, then retry those refused for a passing reason
        (``UNABLE_TO_LOCK_ROW``...) with backoff, up to ``record_retries`` rounds."""
        attempt = 0
        while True:
            active = [st for st in states if st.pending and st.error is None]
            if not active:
                return
            bulk = [st for st in active if not st.no_bulk and self._uses_bulk(len(st.pending), st.write.headers)]
            collections = [st for st in active if st not in bulk]
            if bulk:
                # Bulk jobs wait on Salesforce's processing: their own threads, beside the
                # Collections calls, each inside the quota unit this thread was admitted in.
                with ThreadPoolExecutor(len(bulk), thread_name_prefix="sf-bulk") as pool:
                    futures = [pool.submit(self.client.quota.carried(self._via_bulk_state), st) for st in bulk]
                    self._via_collections(collections)
                for st, f in zip(bulk, futures, strict=True):
                    exc = f.exception()
                    if exc is not None:
                        if not isinstance(exc, Exception):
                            raise exc
                        st.error = exc
            else:
                self._via_collections(collections)
            retry = {id(st): [i for i in st.pending
                              if st.results[i] is not None and st.results[i].transient]  # type: ignore[union-attr]
                     for st in active if st.error is None}
            split = {id(st): sorted(set(st.split)) for st in active if st.error is None}
            for st in active:
                st.split = []
            code = next((_transient_code(st.results[i]) for st in active for i in retry.get(id(st), [])), None)
            decision = self.retry_policy.classify(200, code, attempt, jitter=random.random()) if code else None
            transient = decision is not None and decision.retry
            if not transient and not any(split.values()):
                return
            for st in active:
                again = set(split.get(id(st), []))
                if transient:
                    again.update(retry.get(id(st), []))
                st.pending = sorted(again)
                if split.get(id(st)):
                    self.log.info("%s: the org's automation failed %d record(s) together on a governor limit; "
                                  "resending them %d a call", st.what, len(split[id(st)]), self._chunk_size(st))
                    with self._figures_lock:
                        self.split_resends += len(split[id(st)])
                if transient and retry.get(id(st)):
                    codes = sorted({str(st.results[i].error_code) for i in retry[id(st)]})  # type: ignore[union-attr]
                    self.log.info("%s: %d record(s) refused with %s; retrying them (%d/%d)", st.what,
                                  len(retry[id(st)]), ", ".join(codes), attempt + 1, self.record_retries)
            if transient and decision is not None:
                time.sleep(decision.wait)
                attempt += 1

    def _via_bulk_state(self, st: _State) -> None:
        w = st.write
        # Rows of one parent next to each other: Bulk's 200-row transactions then lock fewer parents.
        order = [i for chunk in chunk_by_parent(w.sobject, w.records, st.pending, COLLECTION_SIZE) for i in chunk]
        self._via_bulk(w.op, w.sobject, w.records, w.external_id_field, order, st.results)
        limited = [i for i in st.pending if st.results[i] is not None and is_limit_failure(st.results[i])]
        if limited:
            # Bulk runs triggers 200 rows at a time and its chunking cannot be chosen: the rows the
            # automation failed go back through Collections calls of half that size.
            st.no_bulk = True
            self.governor.contended("a governor limit")
            self._failed_together(st, limited)
            with self._figures_lock:
                st.chunk_size = COLLECTION_SIZE // 2
                self._chunk_cap[w.sobject] = min(self._chunk_cap.get(w.sobject, COLLECTION_SIZE), st.chunk_size)

    def _via_collections(self, states: list[_State]) -> None:
        """One pass over the states' pending records: chunks of 200, five chunks (of any of the
        writes) to a Composite call, the calls ``max_concurrency`` at a time. A chunk whose call
        failed sets its state's error; the others keep their results."""
        jobs: list[_Job] = []
        for st in states:
            w = st.write
            for chunk in chunk_by_parent(w.sobject, w.records, st.pending, self._chunk_size(st)):
                jobs.append(_Job(st, chunk))
        if not jobs:
            return
        groups = [jobs[i:i + COLLECTIONS_PER_COMPOSITE] for i in range(0, len(jobs), COLLECTIONS_PER_COMPOSITE)]
        if len(groups) == 1:
            outcomes = [self._send_group(groups[0])]
        else:
            futures = [self.client.pool.submit(self._send_group, g) for g in groups]
            outcomes = [f.result() for f in futures]  # _send_group never raises: none is abandoned
        for group, outcome in zip(groups, outcomes, strict=True):
            for job, result in zip(group, outcome, strict=True):
                if isinstance(result, Exception):
                    job.state.error = job.state.error or result
                    continue
                for i, r in zip(job.indices, result, strict=True):
                    job.state.results[i] = r
                # A lock failure is retried as it is (smaller calls would split a parent's children
                # over several calls, which then hold the parent against each other).
                if len(job.indices) > 1 and batch_failure(result) == "limit":
                    self._failed_together(job.state, job.indices)

    def _send_group(self, group: list[_Job]) -> list[list[WriteResult] | Exception]:
        """Send up to five chunks: alone as a Collections call, else as one Composite call whose
        subrequests are those Collections calls (``allOrNone`` false at both levels). Results per
        chunk, in order; never raises. Holds one of the governor's write slots."""
        with self.governor.slot():
            out = self._send_group_now(group)
        contended = None
        for result in out:
            if isinstance(result, list):
                if batch_failure(result) == "limit":
                    contended = "a governor limit"
                elif any(r.error_code == LOCK_CODE for r in result):
                    contended = contended or LOCK_CODE
        if contended:
            self.governor.contended(contended)
        else:
            self.governor.calm()
        return out

    def _send_group_now(self, group: list[_Job]) -> list[list[WriteResult] | Exception]:
        if len(group) == 1:
            job = group[0]
            try:
                return [self._send_isolating(job)]
            except Exception as exc:
                return [exc]
        # A create that may have been applied is never resent: a Composite carrying one is not
        # resent blindly either (the caller fails the batch; the next run's matching finds it).
        has_create = any(job.state.write.op == "create" for job in group)
        body = {"allOrNone": False, "compositeRequest": [self._subrequest(job, n) for n, job in enumerate(group)]}
        try:
            resp = self.client.request("POST", "composite", kind="composite", json=body,
                                       retry_ambiguous=not has_create)
            subs = resp.json().get("compositeResponse")
            if not isinstance(subs, list):
                raise SalesforceError("Composite: Salesforce returned no compositeResponse")
        except Exception as exc:
            return [exc for _ in group]
        by_ref = {s.get("referenceId"): s for s in subs if isinstance(s, dict)}
        out: list[list[WriteResult] | Exception] = []
        for n, job in enumerate(group):
            try:
                out.append(self._subresult(job, by_ref.get(f"w{n}")))
            except Exception as exc:
                out.append(exc)
        return out

    def _subrequest(self, job: _Job, n: int) -> dict[str, Any]:
        w = job.state.write
        base = f"/services/data/v{self.client.api_version}/composite/sobjects"
        method, url = {"create": ("POST", base), "update": ("PATCH", base),
                       "upsert": ("PATCH", f"{base}/{w.sobject}/{w.external_id_field}")}[w.op]
        sub: dict[str, Any] = {"method": method, "url": url, "referenceId": f"w{n}",
                               "body": {"allOrNone": False,
                                        "records": [_prepare(w.sobject, w.records[i]) for i in job.indices]}}
        if w.headers:
            sub["httpHeaders"] = dict(w.headers)
        return sub

    def _subresult(self, job: _Job, sub: Mapping[str, Any] | None) -> list[WriteResult]:
        """The results of one Collections subrequest; a refused one is handled as the same call
        sent alone would be."""
        w = job.state.write
        policy = self.client.retry_policy
        # Resent alone (with the client's own retries) whenever the policy would resend the call,
        # even when its retries are spent: the subrequest itself was sent once.
        resend = (Action.RETRY, Action.GIVE_UP)
        if sub is None:
            # Not answered: as ambiguous as a timeout for a create; anything else is resent alone.
            if policy.classify(None, None, 0, create=w.op == "create").action not in resend:
                raise TransportError(f"{w.sobject} create: Salesforce's Composite response carried no result for a "
                                     "Collections subrequest (not resent: it may have been applied)")
            return self._send_isolating(job)
        status = int(sub.get("httpStatusCode") or 0)
        if status < 300:
            return self._results(job, sub.get("body"))
        if status == 400:
            # The whole collection refused (one record's value cannot be parsed, say): nothing of
            # it was applied. Isolate the culprits as for a refused Collections call.
            return self._send_isolating(job, refused=subrequest_error(*self._call_of(w), sub))
        errors = parse_error_body(sub.get("body"))
        decision = policy.classify(status, errors[0].get("errorCode") if errors else None, 0,
                                   create=w.op == "create")
        if decision.action in resend:
            # Throttled or unavailable (certainly not applied), or an update / upsert (safe to
            # repeat): that subrequest alone, with the client's retries.
            self.log.info("%s %s: a Composite subrequest answered HTTP %d; sending its %d record(s) alone",
                          w.sobject, w.op, status, len(job.indices))
            self.client.pause_before_resend()
            return self._send_isolating(job)
        if decision.action is Action.NOT_RESENT:
            raise TransportError(f"{w.sobject} create: a Composite subrequest answered HTTP {status} "
                                 "(not resent: the request may have been applied)")
        raise subrequest_error(*self._call_of(w), sub)

    def _call_of(self, w: Write) -> tuple[str, str]:
        if w.op == "upsert":
            return "PATCH", self.client.url(f"composite/sobjects/{w.sobject}/{w.external_id_field}")
        return ("POST" if w.op == "create" else "PATCH"), self.client.url("composite/sobjects")

    @staticmethod
    def _results(job: _Job, items: Any) -> list[WriteResult]:
        w = job.state.write
        if not isinstance(items, list) or len(items) != len(job.indices):
            raise SalesforceError(
                f"{w.sobject} {w.op}: Salesforce returned {len(items) if isinstance(items, list) else 'no'} results "
                f"for {len(job.indices)} records"
            )
        return [WriteResult.from_collections(item) for item in items]

    def _send_isolating(self, job: _Job, *, refused: SalesforceAPIError | None = None) -> list[WriteResult]:
        """Send a chunk as one Collections call; if Salesforce refuses the whole call (HTTP 400:
        one record's value cannot even be parsed, say), split it in halves to find the culprits,
        so one bad record does not hold back the others (nor block every later run). Bounded by
        ``ISOLATION_CALLS`` per write. ``refused``: the chunk was already refused so (inside a
        Composite call), the search starts from there."""
        w = job.state.write
        op, sobject, ext_field, headers, budget = w.op, w.sobject, w.external_id_field, w.headers, job.state.budget
        chunk = [w.records[i] for i in job.indices]
        first_refusal = [refused]

        def attempt(part: list[Mapping[str, Any]]) -> list[WriteResult]:
            try:
                if first_refusal[0] is not None:
                    exc, first_refusal[0] = first_refusal[0], None
                    raise exc
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
