"""Bulk API 2.0 query jobs (``/jobs/query``), as reverse-ETL and ELT clients read large objects.

Sources (Bulk API 2.0 and Bulk API Developer Guide): "Create a Query Job", "Get Information About a
Query Job", "Get Results for a Query Job" (``locator``/``maxRecords``; ``Sforce-Locator``, the string
``null`` when no set follows; ``Sforce-NumberOfRecords``; 412 ``JOB_NOT_COMPLETE`` before
``JobComplete``; 409 when asked with another API version), "Abort a Query Job", "Delete a Query
Job", "Get Information About All Query Jobs".

The statement runs when the job is created (through the REST query path, so both answer alike),
and the job is ``JobComplete`` after the configurable ``bulk_processing_delay_ms`` (so clients
exercise their polling); an invalid statement is refused at creation (400, the compiler's code).
Results are CSV with every value quoted, nulls empty, relationship columns dotted, datetimes with
``Z``; compound fields are refused (``API_ERROR``), as Bulk API 2.0 does.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from dataclasses import dataclass
from typing import Any

from emulators.salesforce import ids
from emulators.salesforce.bulk import find_job, job_not_found
from emulators.salesforce.core import Call, Resp, error
from emulators.salesforce.state import Emulator

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
MAX_RECORDS_DEFAULT = 50_000  # a first set without maxRecords; Salesforce sizes sets by bytes too


@dataclass
class QueryJob:
    id: str
    operation: str
    object: str
    query: str
    user_id: str
    created: str
    api_version: str
    line_ending: str
    delimiter: str
    columns: list[str]
    rows: list[list[str]]
    ready_at: float
    state: str = "UploadComplete"

    def current_state(self) -> str:
        if self.state in ("UploadComplete", "InProgress"):
            self.state = "JobComplete" if time.monotonic() >= self.ready_at else "InProgress"
        return self.state

    def info(self, *, full: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "operation": self.operation, "object": self.object, "createdById": self.user_id,
            "createdDate": self.created, "systemModstamp": self.created, "state": self.current_state(),
            "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(self.api_version),
            "lineEnding": self.line_ending, "columnDelimiter": self.delimiter,
        }
        if full:
            done = self.state == "JobComplete"
            out.update({"jobType": "V2Query", "numberRecordsProcessed": len(self.rows) if done else 0,
                        "retries": 0, "totalProcessingTime": 0, "isPkChunkingSupported": True})
        return out


class BulkQueryManager:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.jobs: dict[str, QueryJob] = {}
        self._lock = threading.Lock()
        self._n = 0

    def clear(self) -> None:
        with self._lock:
            self.jobs.clear()

    # ---- resources below /jobs/query (the route table is routes.py) -----------------------------
    def job_resource(self, call: Call, job_id: str) -> Resp:
        """``/jobs/query/{job}``: GET the job, PATCH it to Aborted, DELETE it."""
        job = find_job(self, job_id)
        if job is None:
            return job_not_found()
        m = call.method
        if m == "PATCH":
            body = call.json()
            if not isinstance(body, dict) or body.get("state") != "Aborted":
                return error(400, "INVALIDJOBSTATE", "A query job can only be set to Aborted")
            if job.current_state() in ("JobComplete", "Failed", "Aborted"):
                return error(400, "INVALIDJOBSTATE", f"Job {job.id} is already {job.state}")
            job.state = "Aborted"
            return Resp(200, job.info())
        if m == "DELETE":
            if job.current_state() not in ("JobComplete", "Failed", "Aborted"):
                return error(400, "INVALIDJOBSTATE", f"Job {job.id} cannot be deleted in state {job.state}")
            with self._lock:
                self.jobs.pop(job.id, None)
            return Resp(204, None)
        return Resp(200, job.info(full=True))

    def job_results(self, call: Call, job_id: str) -> Resp:
        """``GET /jobs/query/{job}/results``: one page of CSV."""
        job = find_job(self, job_id)
        return job_not_found() if job is None else self.results(call, job)

    def create(self, call: Call) -> Resp:
        from emulators.salesforce import query, soql

        body = call.json()
        if not isinstance(body, dict):
            return error(400, "INVALIDJOB", "The job definition must be a JSON object")
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            return error(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        text = body.get("query")
        if not isinstance(text, str) or not text.strip():
            return error(400, "INVALIDJOB", "InvalidJob : The query is required")
        delimiter = str(body.get("columnDelimiter") or "COMMA").upper()
        line_ending = str(body.get("lineEnding") or "LF").upper()
        if delimiter not in DELIMITERS or line_ending not in ("LF", "CRLF"):
            return error(400, "INVALIDJOB", "InvalidJob : columnDelimiter or lineEnding is not supported")
        try:
            compiled, rows = query.execute(self.emu, text, include_deleted=operation == "queryAll")
        except soql.SoqlError as exc:
            return error(400, exc.error_code, exc.message)
        if compiled.is_count:
            return error(400, "API_ERROR", "Aggregate queries are not supported by Bulk API 2.0 query")
        schema = self.emu.registry.get(compiled.sobject)
        compound = [p for p in compiled.select_paths
                    if schema is not None and (schema.by_lower.get(p.lower()) or {}).get("type")
                    in soql.COMPOUND_TYPES]
        if compound:
            return error(400, "API_ERROR", f"Selecting compound data not supported in Bulk Query: {compound[0]}")
        columns, data = table(compiled, rows, call.api_version)
        with self._lock:
            self._n += 1
            job_id = ids.make_id("750", 500_000 + self._n)
        delay = int(self.emu.settings.get("bulk_processing_delay_ms") or 0) / 1000
        job = QueryJob(id=job_id, operation=operation, object=compiled.sobject, query=text, user_id=call.user_id,
                       created=self.emu.now().strftime("%Y-%m-%dT%H:%M:%S.000+0000"), api_version=call.api_version,
                       line_ending=line_ending, delimiter=delimiter, columns=columns, rows=data,
                       ready_at=time.monotonic() + delay)
        with self._lock:
            self.jobs[job.id] = job
        return Resp(200, job.info())

    def results(self, call: Call, job: QueryJob) -> Resp:
        if call.api_version != job.api_version:
            return error(409, "CONFLICT", f"Use API version {job.api_version} to get the results of this job")
        if job.current_state() != "JobComplete":
            return error(412, "JOB_NOT_COMPLETE", "can only download query results of successfully completed bulk "
                         f"job with status: JOB_COMPLETE. Current status: {job.state.upper()}")
        locator = call.query.get("locator") or ""
        start = 0
        if locator and locator != "null":
            try:
                start = int(locator, 36)
            except ValueError:
                return error(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
            if not 0 <= start <= len(job.rows):
                return error(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
        try:
            size = int(call.query.get("maxRecords") or MAX_RECORDS_DEFAULT)
        except ValueError:
            return error(400, "INVALIDPARAMETER", "maxRecords must be a positive integer")
        if size <= 0:
            return error(400, "INVALIDPARAMETER", "maxRecords must be a positive integer")
        part = job.rows[start:start + size]
        end = start + len(part)
        out = io.StringIO()
        writer = csv.writer(out, delimiter=DELIMITERS[job.delimiter], quoting=csv.QUOTE_ALL,
                            lineterminator="\r\n" if job.line_ending == "CRLF" else "\n")
        writer.writerow(job.columns)
        writer.writerows(part)
        next_locator = _b36(end) if end < len(job.rows) else "null"
        # No Content-Type: Salesforce sends `Content-Type: text/csv`, but uvicorn writes header names in
        # lower case, and airbyte-cdk 7 looks the header up in a plain dict by "content-type" and then
        # fails to parse it; without the header every client reads the body as CSV, as it is.
        return Resp(200, out.getvalue().encode("utf-8"), media_type=None,
                    headers={"Sforce-Locator": next_locator, "Sforce-NumberOfRecords": str(len(part))})


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def cell(value: Any) -> str:
    """A CSV cell as Bulk results spell values: empty for null, true/false, datetimes with Z."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and len(value) == 28 and value.endswith("+0000") and value[10] == "T":
        return value[:-5] + "Z"
    return str(value)


def table(compiled: Any, rows: list[tuple], version: str) -> tuple[list[str], list[list[str]]]:
    columns = list(compiled.select_paths)
    lowered = [c.casefold() for c in columns]
    data = []
    for row in rows:
        flat = {k.casefold(): v for k, v in _flatten(compiled.shape(row, api_version=version)).items()}
        data.append([cell(flat.get(c)) for c in lowered])
    return columns, data
