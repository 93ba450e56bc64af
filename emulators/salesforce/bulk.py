"""Bulk API 2.0 ingest (``/jobs/ingest``, reference §10).

Jobs move Open → UploadComplete → InProgress → JobComplete | Failed | Aborted. Processing happens in a
background thread (never inside the request), after the configurable ``bulk_processing_delay_ms``, so
clients exercise their polling. Rows go through the same coercion and validation as the REST API.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from emulators.salesforce import dml, ids
from emulators.salesforce.core import Call, Resp, error
from emulators.salesforce.state import Emulator
from emulators.salesforce.store import q
from emulators.salesforce.validation import RecordError, RequestError, coerce

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
TERMINAL = ("JobComplete", "Failed", "Aborted")
CHUNK = 200
MAX_UPLOAD_BYTES = 150 * 1024 * 1024
RESULT_KINDS = {"successfulresults": "successful", "failedresults": "failed", "unprocessedrecords": "unprocessed"}


@dataclass
class Job:
    id: str
    object: str
    operation: str
    external_id: str | None
    line_ending: str
    delimiter: str
    user_id: str
    created: str
    api_version: str
    state: str = "Open"
    assignment_rule_id: str | None = None  # Bulk API runs assignment rules only when a job names one
    modstamp: str = ""
    uploads: list[bytes] = field(default_factory=list)
    processed: int = 0
    failed: int = 0
    error_message: str | None = None
    started: float = 0.0
    finished: float = 0.0
    columns: list[str] = field(default_factory=list)
    successful: list[list[str]] = field(default_factory=list)
    failures: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    abort: threading.Event = field(default_factory=threading.Event)

    def info(self, *, full: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "operation": self.operation, "object": self.object, "createdById": self.user_id,
            "createdDate": self.created, "systemModstamp": self.modstamp or self.created, "state": self.state,
        }
        if self.external_id:
            out["externalIdFieldName"] = self.external_id
        if self.assignment_rule_id:
            out["assignmentRuleId"] = self.assignment_rule_id
        out.update({"concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(self.api_version),
                    "contentUrl": f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches",
                    "lineEnding": self.line_ending, "columnDelimiter": self.delimiter})
        if full:
            elapsed = int(((self.finished or time.monotonic()) - self.started) * 1000) if self.started else 0
            out.update({"jobType": "V2Ingest", "numberRecordsProcessed": self.processed,
                        "numberRecordsFailed": self.failed, "retries": 0, "totalProcessingTime": elapsed,
                        "apiActiveProcessingTime": elapsed, "apexProcessingTime": 0})
            if self.error_message:
                out["errorMessage"] = self.error_message
        return out


def list_jobs(manager: Any) -> Resp:
    """``GET /jobs/ingest`` or ``/jobs/query``: every job of the manager (one page)."""
    with manager._lock:
        jobs = [j.info() for j in manager.jobs.values()]
    return Resp(200, {"done": True, "records": jobs, "nextRecordsUrl": None})


def find_job(manager: Any, job_id: str) -> Any:
    """The job named in the path (15 or 18 characters), or None."""
    return manager.jobs.get(ids.normalize(job_id) or job_id)


def job_not_found() -> Resp:
    return error(404, "NOT_FOUND", "The requested resource does not exist")


class BulkManager:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            for job in self.jobs.values():
                job.abort.set()
            self.jobs.clear()

    # ---- resources below /jobs/ingest (the route table is routes.py) ----------------------------
    def job_resource(self, call: Call, job_id: str) -> Resp:
        """``/jobs/ingest/{job}``: GET the job, PATCH its state, DELETE it."""
        job = find_job(self, job_id)
        if job is None:
            return job_not_found()
        m = call.method
        if m == "PATCH":
            return self.set_state(call, job)
        if m == "DELETE":
            if job.state not in (*TERMINAL, "Open"):
                return error(400, "INVALIDJOBSTATE", f"Job {job.id} cannot be deleted in state {job.state}")
            with self._lock:
                self.jobs.pop(job.id, None)
            return Resp(204, None)
        return Resp(200, job.info(full=True))

    def job_batches(self, call: Call, job_id: str) -> Resp:
        """``PUT /jobs/ingest/{job}/batches``: upload CSV data."""
        job = find_job(self, job_id)
        return job_not_found() if job is None else self.upload(call, job)

    def job_results(self, call: Call, job_id: str, which: str) -> Resp:
        """``GET /jobs/ingest/{job}/successfulResults`` (``failedResults``, ``unprocessedrecords``)."""
        job = find_job(self, job_id)
        if job is None or which.lower() not in RESULT_KINDS:
            return job_not_found()
        return self.results(job, RESULT_KINDS[which.lower()])

    # ---- job lifecycle ----------------------------------------------------------------------------
    def create(self, call: Call) -> Resp:
        ctype = call.header("content-type").split(";")[0].strip().lower()
        if ctype and ctype != "application/json":
            raise RequestError("UNSUPPORTED_MEDIA_TYPE", f"Content-Type {ctype} is not supported", status=415)
        body = call.json()
        if not isinstance(body, dict):
            raise RequestError("JSON_PARSER_ERROR", "The request body must be a JSON object")
        obj = body.get("object")
        schema = self.emu.registry.get(str(obj)) if obj else None
        if schema is None:
            return error(400, "INVALIDENTITY", f"Entity '{obj}' is not supported by the Bulk API.")
        op = body.get("operation")
        if op not in OPERATIONS:
            return error(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {op}")
        ext = body.get("externalIdFieldName")
        if op == "upsert":
            f = schema.field(ext) if isinstance(ext, str) else None
            if f is None or not (f.get("externalId") or f.get("idLookup")):
                return error(400, "INVALIDJOB", "InvalidJob : External ID field is required for upsert and must be "
                             f"an External ID or indexed field: {ext}")
            ext = f["name"]
        else:
            ext = None
        if (body.get("contentType") or "CSV") != "CSV":
            return error(400, "INVALIDJOB", "InvalidJob : contentType must be CSV")
        line_ending = body.get("lineEnding") or "LF"
        delimiter = body.get("columnDelimiter") or "COMMA"
        if line_ending not in ("LF", "CRLF"):
            return error(400, "INVALIDJOB", f"InvalidJob : Invalid line ending: {line_ending}")
        if delimiter not in DELIMITERS:
            return error(400, "INVALIDJOB", f"InvalidJob : Invalid column delimiter: {delimiter}")
        now = self.emu.now_text()
        job = Job(self.emu.store.new_id("750"), schema.name, op, ext, line_ending, delimiter, call.user_id, now,
                  call.api_version, modstamp=now, assignment_rule_id=body.get("assignmentRuleId") or None)
        with self._lock:
            self.jobs[job.id] = job
        return Resp(200, job.info())

    def upload(self, call: Call, job: Job) -> Resp:
        ctype = call.header("content-type").split(";")[0].strip().lower()
        if ctype != "text/csv":
            return error(415, "UNSUPPORTED_MEDIA_TYPE", f"Content-Type '{ctype}' is not supported; use text/csv")
        if job.state != "Open":
            return error(409, "INVALIDJOBSTATE", f"Job {job.id} is not open for data upload (state {job.state})")
        if len(call.body) > MAX_UPLOAD_BYTES:
            return error(400, "INVALIDBATCH", "Request entity too large")
        if not call.body.strip():
            return error(400, "INVALIDBATCH", "InvalidBatch : No data provided")
        job.uploads.append(call.body)
        return Resp(201, None)

    def set_state(self, call: Call, job: Job) -> Resp:
        body = call.json()
        state = body.get("state") if isinstance(body, dict) else None
        if state == "UploadComplete":
            if job.state != "Open":
                return error(409, "INVALIDJOBSTATE", f"Job {job.id} is not Open (state {job.state})")
            job.state = "UploadComplete"
            job.modstamp = self.emu.now_text()
            info = job.info()  # answer with the state we set, not whatever the worker reached
            threading.Thread(target=self._process, args=(job,), name=f"bulk-{job.id}", daemon=True).start()
            return Resp(200, info)
        if state == "Aborted":
            if job.state in TERMINAL:
                return error(409, "INVALIDJOBSTATE", f"Job {job.id} is already {job.state}")
            job.abort.set()
            job.state = "Aborted"
            job.modstamp = self.emu.now_text()
            return Resp(200, job.info())
        return error(400, "INVALIDJOBSTATE", f"Invalid state transition to {state}")

    # ---- processing -------------------------------------------------------------------------------
    def _sleep(self, job: Job, seconds: float) -> None:
        job.abort.wait(seconds)

    def _process(self, job: Job) -> None:
        delay = int(self.emu.settings.get("bulk_processing_delay_ms") or 0) / 1000
        self._sleep(job, delay / 2)
        if job.abort.is_set():
            try:
                job.columns, job.unprocessed = self._parse(job)
            except RequestError:
                pass
            return
        job.state = "InProgress"
        job.started = time.monotonic()
        try:
            columns, rows = self._parse(job)
            job.columns = columns
            self._run_rows(job, columns, rows)
        except RequestError as exc:
            job.error_message = exc.message
            job.state = "Failed"
            job.finished = time.monotonic()
            return
        except Exception as exc:  # keep the job observable rather than stuck InProgress
            job.error_message = f"InternalServerError : {exc}"
            job.state = "Failed"
            job.finished = time.monotonic()
            return
        self._sleep(job, delay / 2)
        job.finished = time.monotonic()
        if job.state == "InProgress":
            job.state = "JobComplete"
            job.modstamp = self.emu.now_text()

    def _parse(self, job: Job) -> tuple[list[str], list[list[str]]]:
        delim = DELIMITERS[job.delimiter]
        columns: list[str] = []
        rows: list[list[str]] = []
        for blob in job.uploads:
            try:
                text = blob.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise RequestError("INVALIDBATCH", "InvalidBatch : Failed to parse CSV: data is not UTF-8") from None
            first = text.split("\n", 1)[0]
            if job.line_ending == "LF" and first.endswith("\r"):
                raise RequestError("INVALIDBATCH", "ClientInputError : LineEnding is invalid on user data. Current "
                                   "LineEnding setting is LF")
            if job.line_ending == "CRLF" and "\n" in text and not first.endswith("\r"):
                raise RequestError("INVALIDBATCH", "ClientInputError : LineEnding is invalid on user data. Current "
                                   "LineEnding setting is CRLF")
            reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
            try:
                header = next(reader)
                body_rows = [r for r in reader if r and any(c != "" for c in r)]
            except (StopIteration, csv.Error) as exc:
                raise RequestError("INVALIDBATCH", f"InvalidBatch : Failed to parse CSV: {exc}") from None
            header = [h.strip() for h in header]
            if columns and header != columns:
                raise RequestError("INVALIDBATCH", "InvalidBatch : All uploads of a job must use the same header")
            columns = header
            for r in body_rows:
                if len(r) != len(header):
                    raise RequestError("INVALIDBATCH", "InvalidBatch : Failed to parse CSV: a row has "
                                       f"{len(r)} fields but the header has {len(header)}")
            rows.extend(body_rows)
        schema = self.emu.registry.get(job.object)
        assert schema is not None
        for col in columns:
            if schema.field(col) is None:
                raise RequestError("INVALIDBATCH", f"InvalidBatch : Field name not found : {col}")
        lower = [c.lower() for c in columns]
        if len(set(lower)) != len(lower):
            raise RequestError("INVALIDBATCH", "InvalidBatch : Duplicate field name in the header")
        if job.operation in ("update", "delete", "hardDelete") and "id" not in lower:
            raise RequestError("INVALIDBATCH", "InvalidBatch : Field name not found : Id")
        if job.operation in ("delete", "hardDelete") and lower != ["id"]:
            raise RequestError("INVALIDBATCH", "InvalidBatch : The 'delete' batch must contain only an 'Id' field")
        if job.operation == "upsert" and job.external_id and job.external_id.lower() not in lower:
            raise RequestError("INVALIDBATCH", f"InvalidBatch : Field name not found : {job.external_id}")
        if job.operation == "insert" and "id" in lower:
            raise RequestError("INVALIDBATCH", "InvalidBatch : Id field is not allowed for insert")
        return columns, rows

    def _run_rows(self, job: Job, columns: list[str], rows: list[list[str]]) -> None:
        emu = self.emu
        schema = emu.registry.get(job.object)
        assert schema is not None
        ext_field = schema.field(job.external_id) if job.external_id else None
        for start in range(0, len(rows), CHUNK):
            if job.abort.is_set():
                job.unprocessed.extend(rows[start:])
                return
            chunk = rows[start : start + CHUNK]
            ctx = emu.write_context(job.user_id, api_version=job.api_version,
                                    auto_assign=bool(job.assignment_rule_id))
            cpu = emu.org_rules.batch_failure(schema.name, len(chunk)) if job.operation not in (
                "delete", "hardDelete") else None
            if cpu is not None:  # the org's automation fails the whole 200-record chunk
                for row in chunk:
                    raw = dict(zip(columns, row, strict=True))
                    job.failures.append([_row_id(raw), f"CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY:{cpu}:--", *row])
                    job.failed += 1
                    job.processed += 1
                continue
            with emu.store.transaction():
                for row in chunk:
                    raw = dict(zip(columns, row, strict=True))
                    rid = ""
                    try:
                        with emu.store.savepoint():
                            if emu.lock_fault():
                                raise RecordError("UNABLE_TO_LOCK_ROW",
                                                  "unable to obtain exclusive access to this record or 1 records", [])
                            rid, created = self._row(job, schema, ext_field, raw, ctx)
                        job.successful.append([rid, "true" if created else "false", *row])
                    except RecordError as exc:
                        e = exc.errors[0]
                        msg = f"{e['statusCode']}:{e['message']}:{','.join(e.get('fields') or [])} --"
                        job.failures.append([rid or _row_id(raw), msg, *row])
                        job.failed += 1
                    except RequestError as exc:
                        job.failures.append([_row_id(raw), f"{exc.error_code}:{exc.message}:--", *row])
                        job.failed += 1
                    job.processed += 1

    def _row(self, job: Job, schema: Any, ext_field: dict[str, Any] | None, raw: dict[str, str],
             ctx: Any) -> tuple[str, bool]:
        emu = self.emu
        op = job.operation
        if op in ("delete", "hardDelete"):
            rid = dml.resolve_id(schema, next(iter(raw.values())))
            if op == "delete":
                dml.delete(emu, ctx, schema, rid)
            else:
                if emu.store.exists_live(schema.name, rid) is None:
                    raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
                with emu.store.lock:
                    emu.store.conn.execute(f"DELETE FROM {q(schema.name)} WHERE Id = ?", (rid,))  # noqa: S608
            return rid, False
        id_value = next((v for k, v in raw.items() if k.lower() == "id"), None)
        values = coerce(schema, {k: v for k, v in raw.items() if k.lower() != "id"}, csv=True)
        if op == "insert":
            return dml.insert(emu, ctx, schema, values), True
        if op == "update":
            rid = dml.resolve_id(schema, id_value)
            dml.update(emu, ctx, schema, rid, values)
            return rid, False
        assert ext_field is not None
        key = id_value if ext_field["name"] == "Id" else values.pop(ext_field["name"], None)
        return dml.upsert(emu, ctx, schema, ext_field, key, values)

    def results(self, job: Job, kind: str) -> Resp:
        buf = io.StringIO()
        writer = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
        if kind == "successful":
            writer.writerow(["sf__Id", "sf__Created", *job.columns])
            writer.writerows(job.successful)
        elif kind == "failed":
            writer.writerow(["sf__Id", "sf__Error", *job.columns])
            writer.writerows(job.failures)
        else:
            writer.writerow(job.columns)
            writer.writerows(job.unprocessed)
        return Resp(200, buf.getvalue(), media_type="text/csv")


def _row_id(raw: dict[str, str]) -> str:
    return next((v for k, v in raw.items() if k.lower() == "id"), "") or ""
