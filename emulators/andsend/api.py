"""The Andsend API under ``/v1``: the request pipeline every API route goes through, and the handlers.

:func:`api_endpoint` wraps a handler ``(request, emu) -> Response``: it counts the call, applies the
injected latency, the rate-limit window and the injected 429/5xx faults, authenticates the Bearer key
(which picks the workspace, ``request.state.store``), then runs the handler and renders any
:class:`~emulators.andsend.problems.Problem` it raises. The paths themselves are in ``routes.py``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulators.andsend.contract import badge_validator, crm_status_validator
from emulators.andsend.generator import parse_ts
from emulators.andsend.problems import JSON, Problem, bad_param, problem_response
from emulators.andsend.state import Emulator, Faults
from emulators.andsend.store import CursorError, decode_cursor, encode_cursor

MAX_LIMIT = 1000
MAX_BADGES_PER_CALL = 1000
MAX_CRM_STATUS_PER_CALL = 1000
MAX_CRM_STATUS_IDS = 50
MAX_PROSPECT_ID_CHARS = 64

Handler = Callable[[Request, Emulator], Awaitable[Response]]


def api_endpoint(path: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A counted, authenticated /v1 endpoint with fault injection and rate-limit headers."""

    async def endpoint(request: Request) -> Response:
        emu: Emulator = request.app.state.emulator
        with emu.lock:
            emu.requests += 1
            emu.by_path[path] += 1
            faults = emu.faults
            draw = faults.rng.random()
            kind_draw = faults.rng.random()
            jitter = faults.rng.random()
        response = await _serve(request, emu, handler, faults, draw, kind_draw, jitter)
        with emu.lock:
            emu.by_status[str(response.status_code)] += 1
        return response

    return endpoint


async def _serve(
    request: Request,
    emu: Emulator,
    handler: Handler,
    faults: Faults,
    draw: float,
    kind_draw: float,
    jitter: float,
) -> Response:
    instance = request.url.path
    delay = faults.latency_ms + faults.latency_jitter_ms * jitter
    if delay > 0:
        await asyncio.sleep(delay / 1000)
    rate, over = emu.rate_headers()
    supplied = request.headers.get("authorization", "")
    scheme, _, token = supplied.partition(" ")
    workspace = emu.workspace_for(token.strip()) if scheme.lower() == "bearer" else None
    if workspace is None:
        problem = Problem(
            401,
            "unauthorized",
            "Unauthorized",
            "missing or invalid API key (send 'Authorization: Bearer <key>')",
            headers={"WWW-Authenticate": 'Bearer realm="andsend"'},
        )
        return problem_response(problem, instance, rate)
    if over or draw < faults.rate_429:
        retry = faults.retry_after_seconds if not over else int(rate["X-RateLimit-Reset"])
        problem = Problem(
            429,
            "rate-limited",
            "Too Many Requests",
            f"rate limit exceeded; retry after {retry} s",
            headers={"Retry-After": str(retry), "X-RateLimit-Remaining": "0"},
        )
        return problem_response(problem, instance, rate)
    if draw < faults.rate_429 + faults.rate_5xx:
        if kind_draw < 0.5:
            problem = Problem(500, "internal-error", "Internal Server Error", "injected fault")
        else:
            problem = Problem(
                503,
                "service-unavailable",
                "Service Unavailable",
                "injected fault",
                headers={"Retry-After": "1"},
            )
        return problem_response(problem, instance, rate)
    request.state.store = workspace.store
    with emu.lock:
        emu.by_workspace[workspace.name] += 1
    try:
        response = await handler(request, emu)
    except Problem as problem:
        return problem_response(problem, instance, rate)
    response.headers.update(rate)
    return response


# -- parameters -------------------------------------------------------------------------------------


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return 100
    try:
        value = int(raw)
    except ValueError:
        raise bad_param("limit", "must be an integer") from None
    if not 1 <= value <= MAX_LIMIT:
        raise bad_param("limit", f"must be between 1 and {MAX_LIMIT}")
    return value


_SPACED_OFFSET = re.compile(r"(?<=\d) (\d\d:\d\d)$")


def _since(request: Request) -> int | None:
    raw = request.query_params.get("updated_since")
    if raw is None:
        return None
    # An unencoded "+02:00" arrives as " 02:00" (form decoding); take it as the offset it was.
    raw = _SPACED_OFFSET.sub(r"+\1", raw)
    try:
        return parse_ts(raw)
    except (ValueError, OverflowError):
        raise bad_param("updated_since", "must be an RFC 3339 date-time, e.g. 2025-01-31T12:00:00Z") from None


def _cursor(request: Request, arity: int) -> tuple[str, ...] | None:
    raw = request.query_params.get("cursor")
    if raw is None:
        return None
    try:
        return decode_cursor(raw, arity)
    except CursorError as exc:
        raise bad_param("cursor", str(exc)) from None


def _bool(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise bad_param(name, "must be true or false")
    return raw == "true"


def _page_response(records: list[dict[str, Any]], next_cursor: str | None) -> Response:
    return Response(
        json.dumps({"data": records, "next_cursor": next_cursor}, ensure_ascii=False), media_type=JSON
    )


# -- handlers ---------------------------------------------------------------------------------------


def list_handler(resource: str, extra_filters: Callable[[Request], dict[str, Any]] | None = None) -> Handler:
    async def handler(request: Request, emu: Emulator) -> Response:
        limit = _limit(request)
        since = _since(request)
        position = _cursor(request, 2)
        after = (position[0], position[1]) if position else None
        filters = extra_filters(request) if extra_filters else {}
        records, more, last = request.state.store.page_json(
            resource, limit=limit, since_ms=since, after=after, filters=filters
        )
        cursor = encode_cursor(*last) if more and last else None
        body = '{"data":[' + ",".join(records) + '],"next_cursor":' + json.dumps(cursor) + "}"
        return Response(body, media_type=JSON)

    return handler


def prospect_filters(request: Request) -> dict[str, Any]:
    purchased = _bool(request, "purchased")
    return {} if purchased is None else {"purchased": purchased}


def result_filters(request: Request) -> dict[str, Any]:
    search_id = request.query_params.get("search_id")
    return {} if search_id is None else {"search_id": search_id}


async def get_prospect(request: Request, emu: Emulator) -> Response:
    record = request.state.store.get("prospects", request.path_params["id"])
    if record is None:
        raise Problem(404, "not-found", "Not Found", f"no prospect with id {request.path_params['id']!r}")
    return Response(json.dumps(record, ensure_ascii=False), media_type=JSON)


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise Problem(400, "invalid-body", "Invalid request body", "body must be JSON") from None


async def _batch_body(request: Request, member: str, limit: int, validator: Any) -> tuple[list, list[dict]]:
    """A batched PUT's items (``{member: [...]}``, at most ``limit``) and each item's schema errors as
    RFC 9457 ``invalid_params`` entries (``member/i/path``); a malformed body is refused at once."""
    body = await _json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get(member), list):
        raise Problem(400, "invalid-body", "Invalid request body", f'expected {{"{member}": [...]}}')
    extra = sorted(set(body) - {member})
    if extra:
        raise Problem(400, "invalid-body", "Invalid request body", f"unknown members: {', '.join(extra)}")
    items = body[member]
    if len(items) > limit:
        raise Problem(400, "invalid-body", "Invalid request body", f"at most {limit} {member} per call")
    errors: list[dict[str, str]] = []
    for i, item in enumerate(items):
        for error in validator.iter_errors(item):
            where = "/".join(str(p) for p in error.absolute_path)
            errors.append({"name": f"{member}/{i}" + (f"/{where}" if where else ""), "reason": error.message})
    return items, errors


async def put_badges(request: Request, emu: Emulator) -> Response:
    badges, errors = await _batch_body(request, "badges", MAX_BADGES_PER_CALL, badge_validator())
    if not errors:
        known = request.state.store.result_search_ids([b["result_id"] for b in badges])
        for i, badge in enumerate(badges):
            search_id = known.get(badge["result_id"])
            if search_id is None:
                errors.append({"name": f"badges/{i}/result_id", "reason": "no such search result"})
            elif search_id != badge["search_id"]:
                errors.append(
                    {"name": f"badges/{i}/search_id", "reason": f"result belongs to search {search_id}"}
                )
    if errors:
        raise Problem(
            400,
            "invalid-body",
            "Invalid request body",
            f"{len(errors)} invalid badge value(s)",
            invalid_params=errors[:100],
        )
    with request.state.store.transaction() as conn:
        _, stamp = request.state.store.write_stamp(conn, emu.now_ms())
    updated = request.state.store.upsert_badges(badges, stamp)
    return JSONResponse({"updated": updated})


async def get_badges(request: Request, emu: Emulator) -> Response:
    limit = _limit(request)
    after = _cursor(request, 1)
    result_ids = request.query_params.getlist("result_id")
    if len(result_ids) > MAX_LIMIT:
        raise bad_param("result_id", f"at most {MAX_LIMIT} values")
    records, more = request.state.store.badges_page(
        limit=limit,
        search_id=request.query_params.get("search_id"),
        result_ids=result_ids,
        after=after[0] if after else None,
    )
    cursor = encode_cursor(records[-1]["result_id"]) if more and records else None
    return _page_response(records, cursor)


async def put_crm_status(request: Request, emu: Emulator) -> Response:
    statuses, errors = await _batch_body(request, "statuses", MAX_CRM_STATUS_PER_CALL, crm_status_validator())
    if errors:
        raise Problem(
            400, "invalid-body", "Invalid request body", f"{len(errors)} invalid status value(s)",
            invalid_params=errors[:100],
        )
    # A prospect deleted in Andsend since it was synced is skipped (and named), not a reason to
    # refuse the statuses of everyone else.
    known = request.state.store.known_prospects([s["prospect_id"] for s in statuses])
    keep = [s for s in statuses if s["prospect_id"] in known]
    unknown = sorted({s["prospect_id"] for s in statuses} - known)
    with request.state.store.transaction() as conn:
        _, stamp = request.state.store.write_stamp(conn, emu.now_ms())
    updated = request.state.store.upsert_crm_status(keep, stamp) if keep else 0
    return JSONResponse({"updated": updated, "unknown_prospect_ids": unknown})


async def get_crm_status(request: Request, emu: Emulator) -> Response:
    limit = _limit(request)
    after = _cursor(request, 1)
    prospect_ids = request.query_params.getlist("prospect_id")
    # Few and short, so the request line stays well under what HTTP servers accept.
    if len(prospect_ids) > MAX_CRM_STATUS_IDS or any(len(p) > MAX_PROSPECT_ID_CHARS for p in prospect_ids):
        raise bad_param("prospect_id",
                        f"at most {MAX_CRM_STATUS_IDS} values of at most {MAX_PROSPECT_ID_CHARS} characters")
    records, more = request.state.store.crm_status_page(
        limit=limit, prospect_ids=prospect_ids, after=after[0] if after else None
    )
    cursor = encode_cursor(records[-1]["prospect_id"]) if more and records else None
    return _page_response(records, cursor)
