"""Bulk API 2.0 ingest: create job, upload CSV, close, poll, read results, map them to inputs.

Bulk result files come back in no guaranteed order and a CSV cannot carry a column the object
does not have, so rows are matched to inputs by their own content: every result file echoes the
uploaded columns, and the tuple of uploaded cells is the key (identical input rows are
interchangeable, so any assignment among them is correct).
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
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
        config = client.config
        self.client = client
        self.log = logger or log
        self.poll_interval = float(poll_interval or config.get("bulk_poll_seconds") or 1.0)
        self.timeout = float(timeout or config.get("bulk_timeout_seconds") or 3600)

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
        rows = [[("" if k not in r else _cell(r[k])) for k in columns] for r in records]
        results: list[WriteResult | None] = [None] * len(records)
        for start, end in self._splits(columns, rows):
            part = self._run_job(operation, sobject, columns, rows[start:end], external_id_field)
            results[start:end] = part
        return results  # type: ignore[return-value]

    @staticmethod
    def _csv(columns: list[str], rows: Iterable[list[str]]) -> bytes:
        # Written as UTF-8 bytes directly: a big job's file is held once, not as text and bytes.
        buf = io.BytesIO()
        text = io.TextIOWrapper(buf, encoding="utf-8", newline="", write_through=True)
        w = csv.writer(text, lineterminator="\n")
        w.writerow(columns)
        w.writerows(rows)
        text.detach()
        return buf.getvalue()

    def _splits(self, columns: list[str], rows: list[list[str]]) -> list[tuple[int, int]]:
        header = len(",".join(columns)) + 1
        splits, start, size = [], 0, header
        for i, row in enumerate(rows):
            row_size = sum(len(c.encode("utf-8")) + 3 for c in row) + 1  # quotes and delimiter, roughly
            if i > start and size + row_size > MAX_UPLOAD_BYTES:
                splits.append((start, i))
                start, size = i, header
            size += row_size
        splits.append((start, len(rows)))
        return splits

    def _run_job(self, operation: str, sobject: str, columns: list[str], rows: list[list[str]],
                 external_id_field: str | None) -> list[WriteResult]:
        c = self.client
        spec: dict[str, Any] = {"object": sobject, "operation": operation, "contentType": "CSV",
                                "lineEnding": "LF", "columnDelimiter": "COMMA"}
        if operation == "upsert":
            spec["externalIdFieldName"] = external_id_field
        job = c.request("POST", "jobs/ingest", kind="bulk_create_job", json=spec).json()
        job_id = job["id"]
        upload_path = "/" + job["contentUrl"].lstrip("/") if job.get("contentUrl") else f"jobs/ingest/{job_id}/batches"
        self.log.info("Bulk API 2.0 %s of %d %s record(s): job %s", operation, len(rows), sobject, job_id)
        c.request("PUT", upload_path, kind="bulk_upload", data=self._csv(columns, rows),
                  headers={"Content-Type": "text/csv"})
        c.request("PATCH", f"jobs/ingest/{job_id}", kind="bulk_close", json={"state": "UploadComplete"})
        info = self._wait(job_id, len(rows))
        state = info.get("state")
        if state != "JobComplete":
            self.log.warning("Bulk job %s ended %s: %s", job_id, state, info.get("errorMessage") or "")
        return self._results(job_id, info, columns, rows)

    def _wait(self, job_id: str, rows: int) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        # Every status read is a counted call and a job is never done the moment it is closed:
        # the first read waits about as long as the job should take (ROWS_PER_SECOND), then each
        # wait doubles (up to 10 s).
        interval = max(self.poll_interval, min(30.0, self.poll_interval * rows / ROWS_PER_SECOND))
        while True:
            time.sleep(interval)
            interval = min(10.0, interval * 2)
            info = self.client.request("GET", f"jobs/ingest/{job_id}", kind="bulk_status").json()
            if info.get("state") in FINAL_STATES:
                return info
            if time.monotonic() > deadline:
                raise TransportError(
                    f"Bulk job {job_id} still {info.get('state')} after {self.timeout:.0f}s; its outcome is unknown "
                    f"(check Setup > Bulk Data Load Jobs); the next run re-matches these records"
                )

    def _fetch(self, job_id: str, resource: str) -> Iterator[dict[str, str]]:
        """The rows of a result file, one at a time (a big job's file is not held twice)."""
        resp = self.client.request("GET", f"jobs/ingest/{job_id}/{resource}", kind="bulk_results",
                                   headers={"Accept": "text/csv"})
        text = resp.content.decode("utf-8-sig")
        del resp
        if text.strip():
            yield from csv.DictReader(io.StringIO(text, newline=""))

    def _results(self, job_id: str, info: dict[str, Any], columns: list[str],
                 rows: list[list[str]]) -> list[WriteResult]:
        # Row cells -> input index (a list only for identical rows: a deque per row would weigh
        # more than the row itself in a 20,000-row job).
        exact: dict[tuple[str, ...], int | list[int]] = {}
        for i, row in enumerate(rows):
            key = tuple(row)
            seen = exact.get(key)
            if seen is None:
                exact[key] = i
            elif isinstance(seen, list):
                seen.append(i)
            else:
                exact[key] = [seen, i]
        # The rewritten-cells fallback index is built only if an echo misses the exact one (it
        # would double the memory of a big job for what is rare).
        loose: dict[tuple[str, ...], deque[int]] | None = None
        results: list[WriteResult | None] = [None] * len(rows)

        def claim(echo: Mapping[str, str | None]) -> int | None:
            nonlocal loose
            cells = tuple((echo.get(col) or "") for col in columns)
            hit = exact.get(cells)
            for i in (hit,) if isinstance(hit, int) else (hit or ()):
                if results[i] is None:
                    return i
            if loose is None:
                loose = defaultdict(deque)
                for i, row in enumerate(rows):
                    if results[i] is None:
                        loose[tuple(_norm(c) for c in row)].append(i)
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
        read_unprocessed = not (complete and processed is not None and processed >= len(rows))
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
