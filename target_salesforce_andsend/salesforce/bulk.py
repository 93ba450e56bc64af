"""Bulk API 2.0 ingest: create job, upload CSV, close, poll, read results, map them to inputs.

Bulk result files come back in no guaranteed order and a CSV cannot carry a column the object
does not have, so rows are matched to inputs by their own content: every result file echoes the
uploaded columns. The key is the row's key column where its values are unique in the job (the
upsert's external id, the update's Id), else the tuple of uploaded cells (identical input rows
are interchangeable, so any assignment among them is correct). The upload file is written
straight from the records and the result files parsed from their bytes: a 20,000-row job holds
its records, one file and a key per row.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from .client import SalesforceClient
from .errors import TransportError
from .results import WriteResult, parse_bulk_error, sf_datetime

log = logging.getLogger("target_salesforce_andsend.salesforce.bulk")

# Salesforce takes up to 150 MB per upload after base64 (about 100 MB raw); stay well under.
MAX_UPLOAD_BYTES = 90 * 1024 * 1024
NULL_CELL = "#N/A"  # Bulk 2.0's way to set a field to null (an empty cell leaves it unchanged)
FINAL_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
# Rows a Bulk 2.0 job is expected to process per second (per poll_interval unit): sets the first
# status read's wait, so a big job is not polled while it certainly runs.
ROWS_PER_SECOND = 5_000
# The longest wait between status reads: blind (nothing processed yet) and projected from a pace
# measured in this run (a slow org's 20,000-row job may take minutes: read once near its end).
MAX_BLIND_WAIT = 30.0
MAX_PROJECTED_WAIT = 120.0


def _cell(value: Any) -> str:
    if value is None:
        return NULL_CELL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return sf_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _norm(cell: str) -> str:
    # Fallback key: tolerate line-ending and surrounding-space rewrites in echoed cells.
    return cell.replace("\r\n", "\n").replace("\r", "\n").strip()


def _count(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class BulkIngest:
    def __init__(self, client: SalesforceClient, *, logger: logging.Logger | None = None,
                 poll_interval: float | None = None, timeout: float | None = None) -> None:
        settings = client.settings
        self.client = client
        self.log = logger or log
        self.poll_interval = float(poll_interval or settings.bulk_poll_seconds)
        self.timeout = float(timeout or settings.bulk_timeout_seconds)
        self.max_upload_bytes = MAX_UPLOAD_BYTES
        # Rows per second the org's jobs have been seen to process in this run (None: no job yet):
        # a later job's first status read waits about as long as it should take at that pace.
        self.rows_per_second: float | None = None

    def write(self, operation: str, sobject: str, records: Sequence[Mapping[str, Any]], *,
              external_id_field: str | None = None) -> list[WriteResult]:
        """Run ``operation`` (insert/update/upsert) over ``records``; results aligned with them."""
        columns: list[str] = []
        seen: set[str] = set()
        for r in records:
            for k in r:
                if k != "attributes" and k not in seen:
                    seen.add(k)
                    columns.append(k)
        results: list[WriteResult | None] = [None] * len(records)
        for start, end, data in self._parts(columns, records):
            part = self._run_job(operation, sobject, columns, records, start, end, data,
                                 external_id_field, key_column=self._key_column(operation, columns,
                                                                                 external_id_field))
            results[start:end] = part
        return results  # type: ignore[return-value]

    @staticmethod
    def _key_column(operation: str, columns: list[str], external_id_field: str | None) -> str | None:
        """The column that names each row by itself (the upsert's external id, the update's Id):
        results are then matched on it alone, with no copy of the rows kept."""
        key = external_id_field if operation == "upsert" else ("Id" if operation == "update" else None)
        return key if key in columns else None

    @staticmethod
    def _row(columns: list[str], record: Mapping[str, Any]) -> list[str]:
        return [("" if k not in record else _cell(record[k])) for k in columns]

    def _parts(self, columns: list[str], records: Sequence[Mapping[str, Any]]) -> Iterator[tuple[int, int, bytes]]:
        """Upload files of at most MAX_UPLOAD_BYTES, written straight from the records: (first
        record, end, CSV bytes). Only one file is held at a time (the rows are not kept)."""
        start = 0
        while start < len(records) or start == 0:
            buf = io.BytesIO()
            text = io.TextIOWrapper(buf, encoding="utf-8", newline="", write_through=True)
            w = csv.writer(text, lineterminator="\n")
            w.writerow(columns)
            end = start
            while end < len(records):
                if end > start and buf.tell() >= self.max_upload_bytes:
                    break
                w.writerow(self._row(columns, records[end]))
                end += 1
            text.detach()
            yield start, end, buf.getvalue()
            del buf
            if end >= len(records):
                return
            start = end

    def _run_job(self, operation: str, sobject: str, columns: list[str], records: Sequence[Mapping[str, Any]],
                 start: int, end: int, data: bytes, external_id_field: str | None, *,
                 key_column: str | None = None) -> list[WriteResult]:
        c = self.client
        spec: dict[str, Any] = {"object": sobject, "operation": operation, "contentType": "CSV",
                                "lineEnding": "LF", "columnDelimiter": "COMMA"}
        if operation == "upsert":
            spec["externalIdFieldName"] = external_id_field
        job = c.request("POST", "jobs/ingest", kind="bulk_create_job", json=spec).json()
        job_id = job["id"]
        upload_path = "/" + job["contentUrl"].lstrip("/") if job.get("contentUrl") else f"jobs/ingest/{job_id}/batches"
        self.log.info("Bulk API 2.0 %s of %d %s record(s): job %s", operation, end - start, sobject, job_id)
        c.request("PUT", upload_path, kind="bulk_upload", data=data, headers={"Content-Type": "text/csv"})
        del data
        c.request("PATCH", f"jobs/ingest/{job_id}", kind="bulk_close", json={"state": "UploadComplete"})
        info = self._wait(job_id, end - start)
        state = info.get("state")
        if state != "JobComplete":
            self.log.warning("Bulk job %s ended %s: %s", job_id, state, info.get("errorMessage") or "")
        return self._results(job_id, info, columns, records[start:end], key_column)

    def _wait(self, job_id: str, rows: int) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        closed = time.monotonic()
        # Every status read is a counted call and a job is never done the moment it is closed:
        # the first read waits about as long as the job should take (at the pace the run's earlier
        # jobs showed, else ROWS_PER_SECOND); each later one waits for the rows still to go at the
        # rate the job has shown so far (its numberRecordsProcessed), else twice the last wait
        # (then never more than 30 s).
        interval = self._first_wait(rows)
        while True:
            time.sleep(interval)
            info = self.client.request("GET", f"jobs/ingest/{job_id}", kind="bulk_status").json()
            elapsed = time.monotonic() - closed
            processed = _count(info.get("numberRecordsProcessed"))
            if info.get("state") in FINAL_STATES:
                # Done by now: at least this pace (an earlier, truer measure is not lowered by it).
                if info.get("state") == "JobComplete" and elapsed > 0:
                    self.rows_per_second = max(self.rows_per_second or 0.0, rows / elapsed)
                return info
            if processed and 0 < processed < rows and elapsed > 0:
                self.rows_per_second = processed / elapsed  # the pace measured while it runs
            if time.monotonic() > deadline:
                raise TransportError(
                    f"Bulk job {job_id} still {info.get('state')} after {self.timeout:.0f}s; its outcome is unknown "
                    f"(check Setup > Bulk Data Load Jobs); the next run re-matches these records"
                )
            interval = self._next_wait(interval, rows, processed, elapsed)

    def _first_wait(self, rows: int) -> float:
        if self.rows_per_second:
            # 10 % over the projection: one read at the end rather than two around it.
            return max(self.poll_interval, min(MAX_PROJECTED_WAIT, 1.1 * rows / self.rows_per_second))
        return max(self.poll_interval, min(MAX_BLIND_WAIT, self.poll_interval * rows / ROWS_PER_SECOND))

    def _next_wait(self, last: float, rows: int, processed: int | None, elapsed: float) -> float:
        if processed and 0 < processed < rows and elapsed > 0:
            # 10 % over the projection: one read at the end rather than two around it.
            return max(self.poll_interval, min(MAX_PROJECTED_WAIT, 1.1 * (rows - processed) * elapsed / processed))
        return max(self.poll_interval, min(MAX_BLIND_WAIT, last * 2))

    def _fetch(self, job_id: str, resource: str) -> Iterator[dict[str, str]]:
        """The rows of a result file, one at a time, parsed from the response bytes (the file is
        not also held decoded: a 20,000-row file of accented text would double as str)."""
        resp = self.client.request("GET", f"jobs/ingest/{job_id}/{resource}", kind="bulk_results",
                                   headers={"Accept": "text/csv"})
        content = resp.content
        del resp
        if content.strip():
            yield from csv.DictReader(io.TextIOWrapper(io.BytesIO(content), encoding="utf-8-sig", newline=""))

    def _results(self, job_id: str, info: dict[str, Any], columns: list[str],
                 records: Sequence[Mapping[str, Any]], key_column: str | None = None) -> list[WriteResult]:
        # Each result row is matched to its input by the cells it echoes. With a key column whose
        # values are unique in the job (the upsert's external id), that cell alone; otherwise the
        # tuple of all cells (identical input rows are interchangeable: a list only for those, as a
        # deque per row would weigh more than the row itself in a 20,000-row job).
        key_at = columns.index(key_column) if key_column is not None else None
        exact: dict[Any, int | list[int]] = {}
        for i, record in enumerate(records):
            key: Any = (_cell(record[key_column]) if key_column in record else "") if key_at is not None \
                else tuple(self._row(columns, record))
            seen = exact.get(key)
            if seen is None:
                exact[key] = i
            elif key_at is not None:
                # A key repeated in the job: it does not name a row, so match on every cell.
                return self._results(job_id, info, columns, records, None)
            elif isinstance(seen, list):
                seen.append(i)
            else:
                exact[key] = [seen, i]
        # The rewritten-cells fallback index is built only if an echo misses the exact one (it
        # would double the memory of a big job for what is rare).
        loose: dict[tuple[str, ...], deque[int]] | None = None
        results: list[WriteResult | None] = [None] * len(records)

        def claim(echo: Mapping[str, str | None]) -> int | None:
            nonlocal loose
            cells = tuple((echo.get(col) or "") for col in columns)
            hit = exact.get(cells[key_at] if key_at is not None else cells)
            for i in (hit,) if isinstance(hit, int) else (hit or ()):
                if results[i] is None:
                    return i
            if loose is None:
                loose = defaultdict(deque)
                for i, record in enumerate(records):
                    if results[i] is None:
                        loose[tuple(_norm(c) for c in self._row(columns, record))].append(i)
            queue = loose.get(tuple(_norm(c) for c in cells))
            while queue:
                i = queue.popleft()
                if results[i] is None:
                    return i
            return None

        unmatched = 0
        for row in self._fetch(job_id, "successfulResults/"):
            i = claim(row)
            if i is None:
                unmatched += 1
                continue
            created = (row.get("sf__Created") or "").strip().lower()
            results[i] = WriteResult(True, row.get("sf__Id") or None,
                                     created == "true" if created in ("true", "false") else None, [])
        # A finished job's counts say whether its failed and unprocessed files can hold a row:
        # an empty one is not read (two calls fewer per clean job).
        failed = _count(info.get("numberRecordsFailed"))
        processed = _count(info.get("numberRecordsProcessed"))
        complete = info.get("state") == "JobComplete"
        read_failed = not (complete and failed == 0)
        read_unprocessed = not (complete and processed is not None and processed >= len(records))
        for row in self._fetch(job_id, "failedResults/") if read_failed else []:
            i = claim(row)
            if i is None:
                unmatched += 1
                continue
            results[i] = WriteResult(False, row.get("sf__Id") or None, None, parse_bulk_error(row.get("sf__Error")))
        state = info.get("state")
        for row in self._fetch(job_id, "unprocessedrecords/") if read_unprocessed else []:
            i = claim(row)
            if i is None:
                unmatched += 1
                continue
            results[i] = self._unprocessed(state, info)
        if unmatched:
            self.log.warning("Bulk job %s: %d result row(s) did not match an uploaded row", job_id, unmatched)
        for i, r in enumerate(results):
            if r is None:
                # Neither succeeded, failed nor unprocessed: Salesforce lost track of the row.
                results[i] = WriteResult(False, None, None, [{
                    "statusCode": "BULK_RESULT_MISSING",
                    "message": f"Bulk job {job_id} ({state}) reported no result for this row",
                    "fields": [],
                }])
        return results  # type: ignore[return-value]

    @staticmethod
    def _unprocessed(state: str | None, info: Mapping[str, Any]) -> WriteResult:
        if state == "JobComplete":
            # Not attempted but the job finished: safe to try again.
            return WriteResult(False, None, None, [{"statusCode": "UNPROCESSED", "fields": [],
                                                    "message": "Bulk job did not process this row"}])
        return WriteResult(False, None, None, [{
            "statusCode": "BULK_JOB_FAILED", "fields": [],
            "message": f"Bulk job {state}: {info.get('errorMessage') or 'no message'}",
        }])
