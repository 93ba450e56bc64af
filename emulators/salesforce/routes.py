"""Routing of ``/services/data/vNN.0/...`` calls to handlers, with their call kind (docs/DESIGN.md)."""

from __future__ import annotations

from emulators.salesforce import collections, composite, query, sobjects
from emulators.salesforce.core import Call, Resp, error, method_not_allowed, not_found
from emulators.salesforce.state import Emulator
from emulators.salesforce.validation import RequestError


def kind_of(method: str, parts: list[str]) -> str:
    """The call kind for stats, from the method and the path segments below the version."""
    if not parts or parts == [""]:
        return "other"
    head = parts[0].lower()
    n = len(parts)
    if head == "limits":
        return "limits"
    if head == "sobjects":
        if n == 1:
            return "describe"
        if n == 3 and parts[2].lower() == "describe":
            return "describe"
        if n == 2:
            return "sobject_create" if method == "POST" else "describe"
        if n == 3 and parts[2].lower() == "id" and method == "POST":
            return "sobject_create"
        if n == 3:
            return {"GET": "sobject_read", "HEAD": "sobject_read", "PATCH": "sobject_update",
                    "DELETE": "sobject_delete"}.get(method, "other")
        if n == 4:
            return {"GET": "sobject_read", "PATCH": "sobject_upsert", "POST": "sobject_upsert",
                    "DELETE": "sobject_delete"}.get(method, "other")
        return "other"
    if head in ("query", "queryall"):
        return "query" if n == 1 else "query_more"
    if head == "composite":
        if n == 1:
            return "composite"
        if parts[1].lower() == "sobjects":
            if n == 2:
                return {"POST": "collections_create", "PATCH": "collections_update",
                        "DELETE": "collections_delete"}.get(method, "other")
            if n == 3:
                return "collections_retrieve"
            if n == 4:
                return "collections_upsert"
        return "other"
    if head == "ui-api":
        return "ui_api"
    if head == "jobs" and n >= 2 and parts[1].lower() == "query":
        if n == 2:
            return "bulk_query_create" if method == "POST" else "bulk_query_status"
        if n == 4 and parts[3].lower() == "results":
            return "bulk_query_results"
        return "bulk_query_status"
    if head == "jobs" and n >= 2 and parts[1].lower() == "ingest":
        if n == 2:
            return "bulk_create_job" if method == "POST" else "bulk_status"
        if n == 3:
            return "bulk_close" if method == "PATCH" else "bulk_status"
        if n == 4 and parts[3].lower() == "batches":
            return "bulk_upload"
        if n == 4:
            return "bulk_results"
    return "other"


def dispatch_api(emu: Emulator, call: Call) -> tuple[str, Resp]:
    parts = call.path.strip("/").split("/") if call.path.strip("/") else []
    kind = kind_of(call.method, parts)
    try:
        return kind, _route(emu, call, parts)
    except RequestError as exc:
        return kind, Resp(exc.status, exc.body())


def _route(emu: Emulator, call: Call, parts: list[str]) -> Resp:
    m = call.method
    n = len(parts)
    if n == 0:
        return resources_or_405(emu, call)
    head = parts[0].lower()
    if head == "limits" and n == 1:
        return sobjects.limits(emu, call) if m == "GET" else method_not_allowed(m, ["GET"])
    if head == "sobjects":
        if n == 1:
            return sobjects.describe_global(emu, call) if m == "GET" else method_not_allowed(m, ["GET"])
        if n == 2:
            _json_media(call)
            return sobjects.sobject_root(emu, call, parts[1])
        if n == 3 and parts[2].lower() == "describe":
            return sobjects.describe(emu, call, parts[1]) if m == "GET" else method_not_allowed(m, ["GET"])
        if n == 3:
            _json_media(call)
            return sobjects.record(emu, call, parts[1], parts[2])
        if n == 4:
            _json_media(call)
            return sobjects.by_external_id(emu, call, parts[1], parts[2], parts[3])
        return not_found()
    if head in ("query", "queryall"):
        include_deleted = head == "queryall"
        if m != "GET":
            return method_not_allowed(m, ["GET"])
        if n == 1:
            return query.run_query(emu, call, include_deleted=include_deleted)
        if n == 2:
            return query.query_more(emu, call, parts[1], include_deleted=include_deleted)
        return not_found()
    if head == "composite":
        if n == 1:
            if call.in_composite:
                return error(400, "INVALID_INPUT", "A composite request cannot contain another composite request")
            if m != "POST":
                return method_not_allowed(m, ["POST"])
            _json_media(call)
            return composite.composite(emu, call)
        if parts[1].lower() == "sobjects":
            if n == 2:
                _json_media(call)
                if m == "POST":
                    return collections.create(emu, call)
                if m == "PATCH":
                    return collections.update(emu, call)
                if m == "DELETE":
                    return collections.delete(emu, call)
                return method_not_allowed(m, ["POST", "PATCH", "DELETE"])
            if n == 3:
                _json_media(call)
                return collections.retrieve(emu, call, parts[2])
            if n == 4:
                if m != "PATCH":
                    return method_not_allowed(m, ["PATCH"])
                _json_media(call)
                return collections.upsert(emu, call, parts[2], parts[3])
        return not_found()
    if head == "jobs" and n >= 2 and parts[1].lower() == "query":
        return emu.bulk_query.route(call, parts[2:])
    if head == "ui-api" and n == 5 and parts[1].lower() == "object-info" and parts[3].lower() == "picklist-values":
        return sobjects.picklist_values(emu, call, parts[2], parts[4]) if m == "GET" else method_not_allowed(m, ["GET"])
    if head == "jobs" and n >= 2 and parts[1].lower() == "ingest":
        if emu.bulk is None:
            return not_found()
        return emu.bulk.route(call, parts[2:])
    return not_found()


def resources_or_405(emu: Emulator, call: Call) -> Resp:
    return sobjects.resources(emu, call) if call.method == "GET" else method_not_allowed(call.method, ["GET"])


def _json_media(call: Call) -> None:
    """Salesforce answers 415 when a body arrives with a media type it cannot read."""
    if not call.body or call.method in ("GET", "DELETE", "HEAD"):
        return
    ctype = call.header("content-type").split(";")[0].strip().lower()
    if ctype and ctype not in ("application/json", "text/json", "application/x-json") and not ctype.endswith("+json"):
        raise RequestError("UNSUPPORTED_MEDIA_TYPE",
                           f"Content-Type header specified in HTTP request is not supported: {ctype}", status=415)
