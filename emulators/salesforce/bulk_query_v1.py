"""Bulk API (1.0) query jobs under ``/services/async/NN.0/job``, as ETL clients use them (tap-salesforce).

Sources (Bulk API 2.0 and Bulk API Developer Guide): "Walk Through the Bulk Query Sample", "Get Job
Details", "Get Information for a Batch", "Get Information for All Batches in a Job", "Get Batch
Results"; reference §10 for the ingest side. What is emulated:

* session in the ``X-SFDC-Session`` header (an invalid one: 400 ``InvalidSessionId``);
* ``POST job`` (``operation`` ``query`` or ``queryAll``, ``contentType`` CSV) -> JobInfo, answered in
  the request's own format (JSON or XML);
* ``POST job/{id}/batch`` with the SOQL as the body -> BatchInfo (XML for CSV jobs, as Salesforce
  answers); the statement runs at once through the REST query path (same compiler, same rows), so
  the batch is ``Completed`` (or ``Failed`` with ``InvalidBatch : <message>``) by the first poll;
* ``GET job/{id}``, ``POST job/{id}`` ``{"state": "Closed" | "Aborted"}``, ``GET job/{id}/batch``,
  ``GET job/{id}/batch/{id}``, ``GET .../result`` (the result-list) and ``GET .../result/{id}`` (CSV:
  the selected fields as columns, relationship fields dotted, nulls empty, booleans ``true``/``false``).

Every call counts against the daily API allocation (kinds ``bulk1_*`` in stats). PK chunking and
ingest batches are not emulated (``InvalidJob`` / ``FeatureNotEnabled`` answers say so).
"""

from __future__ import annotations

import csv
import io
import json
import threading
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from emulators.salesforce import bulk_query
from emulators.salesforce.core import Resp
from emulators.salesforce.ids import make_id
from emulators.salesforce.state import Emulator

NS = "http://www.force.com/2009/06/asyncapi/dataload"
XML_TYPE = "application/xml; charset=UTF-8"
JSON_TYPE = "application/json; charset=UTF-8"


@dataclass
class Batch:
    id: str
    job_id: str
    state: str
    created: str
    soql: str
    message: str | None = None
    result_id: str | None = None
    csv_text: str = ""
    processed: int = 0


@dataclass
class Job:
    id: str
    operation: str
    object: str
    created_by: str
    created: str
    content_type: str
    api_version: str
    state: str = "Open"
    batches: list[Batch] = field(default_factory=list)


def kind_of(method: str, parts: list[str]) -> str:
    n = len(parts)
    if n == 1:
        return "bulk1_create_job"
    if n == 2:
        return "bulk1_close" if method == "POST" else "bulk1_status"
    if n == 3:
        return "bulk1_add_batch" if method == "POST" else "bulk1_status"
    if n == 4:
        return "bulk1_status"
    return "bulk1_results"


class BulkQueryV1:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self._jobs: dict[str, Job] = {}
        self._n = 0
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._jobs.clear()

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._n += 1
            return make_id(prefix, self._n)

    # -- entry ----------------------------------------------------------------------------------

    def handle(self, method: str, version: str, parts: list[str], headers: dict[str, str], body: bytes,
               user_id: str) -> Resp:
        wants_json = "json" in headers.get("content-type", "").lower()
        if not parts or parts[0].lower() != "job":
            return _fail(404, "InvalidUrl", "Destination URL not reset. The URL returned from login must be "
                         "set in the SforceService", wants_json)
        n = len(parts)
        if n == 1:
            if method != "POST":
                return _fail(405, "InvalidUrl", "Method not allowed", wants_json)
            return self._create(version, headers, body, user_id, wants_json)
        job = self._jobs.get(parts[1])
        if job is None:
            return _fail(400, "InvalidJob", f"Unable to find job id: {parts[1]}", wants_json)
        job_json = job.content_type == "JSON"
        if n == 2:
            if method == "POST":
                return self._set_state(job, body, wants_json)
            return _job_resp(job, wants_json)
        if parts[2].lower() != "batch":
            return _fail(404, "InvalidUrl", "Unknown resource", wants_json)
        if n == 3:
            if method == "POST":
                return self._add_batch(job, body)
            return _xml(f'<batchInfoList xmlns="{NS}">' + "".join(_batch_xml(b) for b in job.batches)
                        + "</batchInfoList>") if not job_json else Resp(200, {"batchInfo": [
                            _batch_dict(b) for b in job.batches]}, media_type=JSON_TYPE)
        batch = next((b for b in job.batches if b.id == parts[3]), None)
        if batch is None:
            return _fail(400, "InvalidBatch", f"Unable to find batch id: {parts[3]}", job_json)
        if n == 4:
            return Resp(200, _batch_dict(batch), media_type=JSON_TYPE) if job_json else _xml(_batch_xml(batch))
        if parts[4].lower() != "result":
            return _fail(404, "InvalidUrl", "Unknown resource", job_json)
        if batch.state != "Completed":
            return _fail(400, "InvalidBatch", "Batch not completed", job_json)
        if n == 5:
            ids = [batch.result_id] if batch.result_id else []
            if job_json:
                return Resp(200, ids, media_type=JSON_TYPE)
            return _xml(f'<result-list xmlns="{NS}">' + "".join(f"<result>{i}</result>" for i in ids)
                        + "</result-list>")
        if n == 6 and parts[5] == batch.result_id:
            return Resp(200, batch.csv_text.encode("utf-8"), media_type="text/csv; charset=UTF-8")
        return _fail(400, "InvalidBatch", f"Unable to find result id: {parts[-1]}", job_json)

    # -- steps ----------------------------------------------------------------------------------

    def _create(self, version: str, headers: dict[str, str], body: bytes, user_id: str, wants_json: bool) -> Resp:
        info = _parse_job_body(body, wants_json)
        if info is None:
            return _fail(400, "InvalidJob", "Unable to parse the job definition", wants_json)
        operation = str(info.get("operation") or "")
        obj = str(info.get("object") or "")
        if operation not in ("query", "queryAll"):
            return _fail(400, "FeatureNotEnabled", f"The emulator serves Bulk API 1.0 query jobs only, not "
                         f"{operation or 'no operation'} (use Bulk API 2.0 ingest)", wants_json)
        if headers.get("sforce-enable-pkchunking"):
            return _fail(400, "FeatureNotEnabled", "PK chunking is not emulated", wants_json)
        canonical = self.emu.registry.lookup(obj)
        if canonical is None:
            return _fail(400, "InvalidEntity", f"Entity '{obj}' is not supported by the Bulk API.", wants_json)
        job = Job(id=self._next_id("750"), operation=operation, object=canonical["name"], created_by=user_id,
                  created=_now(self.emu), content_type=str(info.get("contentType") or "CSV").upper(),
                  api_version=version)
        with self._lock:
            self._jobs[job.id] = job
        return _job_resp(job, wants_json, status=201)

    def _set_state(self, job: Job, body: bytes, wants_json: bool) -> Resp:
        info = _parse_job_body(body, wants_json) or {}
        state = str(info.get("state") or "")
        if state not in ("Closed", "Aborted"):
            return _fail(400, "InvalidJobState", f"Invalid state: {state or '(none)'}", wants_json)
        if job.state != "Open":
            return _fail(400, "InvalidJobState", f"Job {job.id} is {job.state}, not Open", wants_json)
        job.state = state
        return _job_resp(job, wants_json)

    def _add_batch(self, job: Job, body: bytes) -> Resp:
        from emulators.salesforce import query, soql

        job_json = job.content_type == "JSON"
        if job.state != "Open":
            return _fail(400, "InvalidJobState", f"Job {job.id} is not open", job_json)
        text = body.decode("utf-8", "replace").strip()
        batch = Batch(id=self._next_id("751"), job_id=job.id, state="Queued", created=_now(self.emu), soql=text)
        job.batches.append(batch)
        try:
            compiled, rows = query.execute(self.emu, text, include_deleted=job.operation == "queryAll")
            if compiled.is_count:
                raise soql.SoqlError("MALFORMED_QUERY", "Aggregate queries are not supported by the Bulk API")
            compound = [p for p in compiled.select_paths
                        if (self.emu.registry.get(compiled.sobject).by_lower.get(p.lower()) or {}).get("type")
                        in soql.COMPOUND_TYPES]
            if compound:
                raise soql.SoqlError("FeatureNotEnabled", "Selecting compound data not supported in Bulk Query")
            if compiled.sobject.casefold() != job.object.casefold():
                raise soql.SoqlError("INVALID_TYPE", f"The query's object {compiled.sobject} is not the "
                                     f"job's object {job.object}")
        except soql.SoqlError as exc:
            batch.state, batch.message = "Failed", f"InvalidBatch : {exc.error_code}: {exc.message}"
        else:
            batch.csv_text = _csv(compiled, rows, job.api_version)
            batch.processed = len(rows)
            batch.result_id = self._next_id("752")
            batch.state = "Completed"
        return Resp(201, _batch_dict(batch), media_type=JSON_TYPE) if job_json else _xml(_batch_xml(batch), 201)


# ------------------------------------------------------------------------------ formats


def _now(emu: Emulator) -> str:
    return emu.now().strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _parse_job_body(body: bytes, as_json: bool) -> dict[str, Any] | None:
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return None
    if as_json or text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    return {el.tag.rsplit("}", 1)[-1]: (el.text or "").strip() for el in root}


def _job_dict(job: Job) -> dict[str, Any]:
    done = [b for b in job.batches if b.state == "Completed"]
    failed = [b for b in job.batches if b.state == "Failed"]
    return {
        "id": job.id, "operation": job.operation, "object": job.object, "createdById": job.created_by,
        "createdDate": job.created, "systemModstamp": job.created, "state": job.state,
        "concurrencyMode": "Parallel", "contentType": job.content_type, "numberBatchesQueued": 0,
        "numberBatchesInProgress": 0, "numberBatchesCompleted": len(done), "numberBatchesFailed": len(failed),
        "numberBatchesTotal": len(job.batches), "numberRecordsProcessed": sum(b.processed for b in done),
        "numberRetries": 0, "apiVersion": float(job.api_version), "numberRecordsFailed": 0,
        "totalProcessingTime": 0, "apiActiveProcessingTime": 0, "apexProcessingTime": 0,
    }


def _job_resp(job: Job, as_json: bool, status: int = 200) -> Resp:
    info = _job_dict(job)
    if as_json:
        return Resp(status, info, media_type=JSON_TYPE)
    return _xml(f'<jobInfo xmlns="{NS}">' + "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in info.items())
                + "</jobInfo>", status)


def _batch_dict(batch: Batch) -> dict[str, Any]:
    info: dict[str, Any] = {"id": batch.id, "jobId": batch.job_id, "state": batch.state}
    if batch.message:
        info["stateMessage"] = batch.message
    info.update({"createdDate": batch.created, "systemModstamp": batch.created,
                 "numberRecordsProcessed": batch.processed, "numberRecordsFailed": 0, "totalProcessingTime": 0,
                 "apiActiveProcessingTime": 0, "apexProcessingTime": 0})
    return info


def _batch_xml(batch: Batch) -> str:
    return "<batchInfo>" + "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in _batch_dict(batch).items()) \
        + "</batchInfo>"


def _xml(text: str, status: int = 200) -> Resp:
    if text.startswith("<batchInfo>"):
        text = text.replace("<batchInfo>", f'<batchInfo xmlns="{NS}">', 1)
    return Resp(status, ('<?xml version="1.0" encoding="UTF-8"?>' + text).encode("utf-8"), media_type=XML_TYPE)


def _fail(status: int, code: str, message: str, as_json: bool) -> Resp:
    if as_json:
        return Resp(status, {"exceptionCode": code, "exceptionMessage": message}, media_type=JSON_TYPE)
    return _xml(f'<error xmlns="{NS}"><exceptionCode>{code}</exceptionCode>'
                f"<exceptionMessage>{escape(message)}</exceptionMessage></error>", status)


def _csv(compiled: Any, rows: list[tuple], version: str) -> str:
    columns, data = bulk_query.table(compiled, rows, version)
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(data)
    return out.getvalue()
