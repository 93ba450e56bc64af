"""The route table of ``/services/data/vNN.0/...``: one declaration per route (path, methods, call kind,
handler), so the kind a call is counted under (stats ``by_kind``) and the handler that answers it come
from the same line and can never disagree (docs/DESIGN.md).

Paths are matched segment by segment; literal segments compare case-insensitively and ``{name}``
segments pass their text to the handler as positional arguments. The first route whose path and
method match answers. A path that matches with no route for the method is a 405 listing the methods
of the first path that matched, counted as ``other``, as is a path no route declares (404).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from emulators.salesforce import collections, composite, query, sobjects
from emulators.salesforce.bulk import list_jobs
from emulators.salesforce.core import Call, Resp, error, method_not_allowed, not_found
from emulators.salesforce.state import Emulator
from emulators.salesforce.validation import RequestError

H = TypeVar("H", bound=Callable[..., Any])


@dataclass(frozen=True)
class Route(Generic[H]):
    """One resource and method(s): ``handler(emu, call, *path_params)`` answers, ``kind`` is counted."""

    path: str  # "sobjects/{sobject}/{id}"
    methods: tuple[str, ...]
    kind: str | None  # None: never counted (the control plane)
    handler: H
    json_body: bool = False  # a body must be JSON (415 otherwise), checked before the handler runs
    in_composite: bool = True  # may be a Composite subrequest

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.path.split("/")) if self.path else ()


@dataclass(frozen=True)
class Match(Generic[H]):
    route: Route[H] | None  # None: no route for this method (405) or path (404)
    params: tuple[str, ...] = ()
    group: tuple[Route[H], ...] = ()  # the routes of the matched path

    @property
    def allowed(self) -> list[str]:
        """The matched path's methods, in declaration order (the 405's list)."""
        return list(dict.fromkeys(m for r in self.group for m in r.methods))


class RouteTable(Generic[H]):
    """Routes in declaration order; a path's routes are grouped by their path text."""

    def __init__(self, routes: Sequence[Route[H]]) -> None:
        self.routes = tuple(routes)
        groups: dict[str, list[Route[H]]] = {}
        for r in self.routes:
            groups.setdefault(r.path, []).append(r)
        self._groups = [(group[0].segments, tuple(group)) for group in groups.values()]

    def match(self, method: str, parts: Sequence[str]) -> Match[H]:
        first: Match[H] | None = None
        for segments, group in self._groups:
            params = _bind(segments, parts)
            if params is None:
                continue
            for r in group:
                if method in r.methods:
                    return Match(r, params, group)
            if first is None:
                first = Match(None, params, group)
        return first or Match(None)


def _bind(segments: Sequence[str], parts: Sequence[str]) -> tuple[str, ...] | None:
    if len(segments) != len(parts):
        return None
    params: list[str] = []
    for seg, part in zip(segments, parts, strict=True):
        if seg.startswith("{"):
            params.append(part)
        elif seg.lower() != part.lower():
            return None
    return tuple(params)


# ---------------------------------------------------------------------------------- adapters to handlers

ApiHandler = Callable[..., Resp]


def _query(emu: Emulator, call: Call) -> Resp:
    return query.run_query(emu, call, include_deleted=False)


def _query_all(emu: Emulator, call: Call) -> Resp:
    return query.run_query(emu, call, include_deleted=True)


def _query_more(emu: Emulator, call: Call, locator: str) -> Resp:
    return query.query_more(emu, call, locator, include_deleted=False)


def _query_all_more(emu: Emulator, call: Call, locator: str) -> Resp:
    return query.query_more(emu, call, locator, include_deleted=True)


def _ingest(emu: Emulator) -> Any:
    if emu.bulk is None:
        raise _NotServed
    return emu.bulk


class _NotServed(Exception):
    """Bulk ingest is not set up in this app: the resource does not exist."""


def _ingest_jobs(emu: Emulator, call: Call) -> Resp:
    return list_jobs(_ingest(emu)) if call.method == "GET" else _ingest(emu).create(call)


def _ingest_job(emu: Emulator, call: Call, job_id: str) -> Resp:
    return _ingest(emu).job_resource(call, job_id)


def _ingest_batches(emu: Emulator, call: Call, job_id: str) -> Resp:
    return _ingest(emu).job_batches(call, job_id)


def _ingest_results(which: str) -> ApiHandler:
    def handler(emu: Emulator, call: Call, job_id: str) -> Resp:
        return _ingest(emu).job_results(call, job_id, which)

    return handler


def _query_jobs(emu: Emulator, call: Call) -> Resp:
    return list_jobs(emu.bulk_query) if call.method == "GET" else emu.bulk_query.create(call)


def _query_job(emu: Emulator, call: Call, job_id: str) -> Resp:
    return emu.bulk_query.job_resource(call, job_id)


def _query_job_results(emu: Emulator, call: Call, job_id: str) -> Resp:
    return emu.bulk_query.job_results(call, job_id)


def _picklist_values(emu: Emulator, call: Call, obj: str, record_type_id: str) -> Resp:
    return sobjects.picklist_values(emu, call, obj, record_type_id)


R = Route[ApiHandler]

# The REST resources below /services/data/vNN.0. Order matters only where paths overlap: the first
# matching path decides (``sobjects/{sobject}/describe`` before ``sobjects/{sobject}/{id}``).
API_ROUTES = RouteTable[ApiHandler]([
    R("", ("GET",), "other", sobjects.resources),
    R("limits", ("GET",), "limits", sobjects.limits),
    R("sobjects", ("GET",), "describe", sobjects.describe_global),
    R("sobjects/{sobject}", ("GET",), "describe", sobjects.sobject_info),
    R("sobjects/{sobject}", ("POST",), "sobject_create", sobjects.create_record, json_body=True),
    R("sobjects/{sobject}/describe", ("GET",), "describe", sobjects.describe),
    # POST .../Id creates (the create-by-Id form of the upsert URL).
    R("sobjects/{sobject}/id", ("POST",), "sobject_create", sobjects.create_record, json_body=True),
    R("sobjects/{sobject}/{id}", ("GET",), "sobject_read", sobjects.record, json_body=True),
    R("sobjects/{sobject}/{id}", ("PATCH",), "sobject_update", sobjects.record, json_body=True),
    R("sobjects/{sobject}/{id}", ("DELETE",), "sobject_delete", sobjects.record, json_body=True),
    R("sobjects/{sobject}/{id}", ("HEAD",), "sobject_read", sobjects.record, json_body=True),
    R("sobjects/{sobject}/{field}/{value}", ("GET",), "sobject_read", sobjects.by_external_id, json_body=True),
    R("sobjects/{sobject}/{field}/{value}", ("PATCH", "POST"), "sobject_upsert", sobjects.by_external_id,
      json_body=True),
    R("sobjects/{sobject}/{field}/{value}", ("DELETE",), "sobject_delete", sobjects.by_external_id,
      json_body=True),
    R("query", ("GET",), "query", _query),
    R("query/{locator}", ("GET",), "query_more", _query_more),
    R("queryAll", ("GET",), "query", _query_all),
    R("queryAll/{locator}", ("GET",), "query_more", _query_all_more),
    R("composite", ("POST",), "composite", composite.composite, json_body=True, in_composite=False),
    R("composite/sobjects", ("POST",), "collections_create", collections.create, json_body=True),
    R("composite/sobjects", ("PATCH",), "collections_update", collections.update, json_body=True),
    R("composite/sobjects", ("DELETE",), "collections_delete", collections.delete, json_body=True),
    R("composite/sobjects/{sobject}", ("GET", "POST"), "collections_retrieve", collections.retrieve,
      json_body=True),
    R("composite/sobjects/{sobject}/{field}", ("PATCH",), "collections_upsert", collections.upsert,
      json_body=True),
    R("jobs/query", ("GET",), "bulk_query_status", _query_jobs),
    R("jobs/query", ("POST",), "bulk_query_create", _query_jobs),
    R("jobs/query/{job}", ("GET", "PATCH", "DELETE"), "bulk_query_status", _query_job),
    R("jobs/query/{job}/results", ("GET",), "bulk_query_results", _query_job_results),
    R("ui-api/object-info/{sobject}/picklist-values/{record_type}", ("GET",), "ui_api", _picklist_values),
    R("jobs/ingest", ("GET",), "bulk_status", _ingest_jobs),
    R("jobs/ingest", ("POST",), "bulk_create_job", _ingest_jobs),
    R("jobs/ingest/{job}", ("GET",), "bulk_status", _ingest_job),
    R("jobs/ingest/{job}", ("PATCH",), "bulk_close", _ingest_job),
    R("jobs/ingest/{job}", ("DELETE",), "bulk_status", _ingest_job),
    R("jobs/ingest/{job}/batches", ("PUT",), "bulk_upload", _ingest_batches),
    R("jobs/ingest/{job}/successfulResults", ("GET",), "bulk_results", _ingest_results("successfulResults")),
    R("jobs/ingest/{job}/failedResults", ("GET",), "bulk_results", _ingest_results("failedResults")),
    R("jobs/ingest/{job}/unprocessedrecords", ("GET",), "bulk_results", _ingest_results("unprocessedrecords")),
])


@dataclass(frozen=True)
class Resolved:
    """A call bound to its route: ``kind`` to count, ``respond()`` to answer."""

    kind: str
    emu: Emulator
    call: Call
    match: Match[ApiHandler]

    def respond(self) -> Resp:
        match, call = self.match, self.call
        try:
            if call.in_composite and any(not r.in_composite for r in match.group):
                # Nesting is refused before the method is looked at, as Salesforce does.
                return error(400, "INVALID_INPUT", "A composite request cannot contain another composite request")
            if match.route is None:
                return method_not_allowed(call.method, match.allowed) if match.group else not_found()
            if match.route.json_body:
                _json_media(call)
            return match.route.handler(self.emu, call, *match.params)
        except RequestError as exc:
            return Resp(exc.status, exc.body())
        except _NotServed:
            return not_found()


def resolve(emu: Emulator, call: Call) -> Resolved:
    """The route of a call (by method and path below the version) and the kind it is counted under."""
    parts = call.path.strip("/").split("/") if call.path.strip("/") else []
    match = API_ROUTES.match(call.method, parts)
    kind = match.route.kind if match.route is not None else None
    return Resolved(kind or "other", emu, call, match)


def dispatch_api(emu: Emulator, call: Call) -> tuple[str, Resp]:
    """Answer a call: (its kind, the response). Composite subrequests come through here."""
    resolved = resolve(emu, call)
    return resolved.kind, resolved.respond()


def _json_media(call: Call) -> None:
    """Salesforce answers 415 when a body arrives with a media type it cannot read."""
    if not call.body or call.method in ("GET", "DELETE", "HEAD"):
        return
    ctype = call.header("content-type").split(";")[0].strip().lower()
    if ctype and ctype not in ("application/json", "text/json", "application/x-json") and not ctype.endswith("+json"):
        raise RequestError("UNSUPPORTED_MEDIA_TYPE",
                           f"Content-Type header specified in HTTP request is not supported: {ctype}", status=415)
