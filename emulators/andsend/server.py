"""Andsend API emulator: the contract in ``schemas/andsend-api.openapi.yaml``, served from SQLite.

``create_app(db_path, seed, ...)`` returns a Starlette app. ``/v1/...`` is the API (Bearer key,
counted, subject to injected faults and the rate limit); ``/__emulator__/...`` is the uncounted,
unauthenticated control plane tests use (docs/DESIGN.md, "Andsend API").
"""

from __future__ import annotations

import asyncio
import hmac
import json
import random
import re
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.andsend.activity import ACTIVITY_KINDS, MAX_PER_KIND, run_activity
from emulators.andsend.contract import badge_validator, crm_status_validator, openapi_text
from emulators.andsend.generator import DEFAULT_NOW, GeneratorConfig, format_ts, generate, parse_ts
from emulators.andsend.store import CursorError, Store, decode_cursor, encode_cursor

DEFAULT_API_KEY = "andsend-demo-key"
DEFAULT_WORKSPACE = "default"
DEFAULT_RATE_LIMIT = 100_000  # per minute; effectively unlimited unless a test lowers it
MAX_LIMIT = 1000
MAX_BADGES_PER_CALL = 1000
MAX_CRM_STATUS_PER_CALL = 1000
MAX_CRM_STATUS_IDS = 50
MAX_PROSPECT_ID_CHARS = 64
PROBLEM_BASE = "https://api.andsend.com/problems/"

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An RFC 9457 problem; raised anywhere in a handler, rendered by :func:`problem_response`."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        *,
        invalid_params: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.invalid_params = invalid_params
        self.headers = headers or {}


def problem_response(
    problem: Problem, instance: str, extra_headers: dict[str, str] | None = None
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + problem.slug,
        "title": problem.title,
        "status": problem.status,
        "instance": instance,
    }
    if problem.detail:
        body["detail"] = problem.detail
    if problem.invalid_params:
        body["invalid_params"] = problem.invalid_params
    headers = {**(extra_headers or {}), **problem.headers}
    return Response(
        json.dumps(body, ensure_ascii=False),
        status_code=problem.status,
        headers=headers,
        media_type=PROBLEM_JSON,
    )


def bad_param(name: str, reason: str) -> Problem:
    return Problem(
        400,
        "invalid-parameter",
        "Invalid request parameter",
        f"{name}: {reason}",
        invalid_params=[{"name": name, "reason": reason}],
    )


@dataclass
class Faults:
    latency_ms: int = 0
    latency_jitter_ms: int = 0
    rate_429: float = 0.0
    retry_after_seconds: int = 1
    rate_5xx: float = 0.0
    random_seed: int = 1
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT
    rng: random.Random = field(default_factory=lambda: random.Random(1), repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "latency_jitter_ms": self.latency_jitter_ms,
            "rate_429": self.rate_429,
            "retry_after_seconds": self.retry_after_seconds,
            "rate_5xx": self.rate_5xx,
            "random_seed": self.random_seed,
            "rate_limit_per_minute": self.rate_limit_per_minute,
        }

    @classmethod
    def parse(cls, body: Any) -> Faults:
        if not isinstance(body, dict):
            raise Problem(400, "invalid-body", "Invalid request body", "expected a JSON object")
        faults = cls()
        numeric = {
            "latency_ms": int,
            "latency_jitter_ms": int,
            "retry_after_seconds": int,
            "random_seed": int,
            "rate_limit_per_minute": int,
            "rate_429": float,
            "rate_5xx": float,
        }
        for key, value in body.items():
            if key not in numeric:
                raise Problem(400, "invalid-body", "Invalid request body", f"unknown fault {key!r}")
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise Problem(400, "invalid-body", "Invalid request body", f"{key} must be a number >= 0")
            setattr(faults, key, numeric[key](value))
        if faults.rate_429 + faults.rate_5xx > 1:
            raise Problem(400, "invalid-body", "Invalid request body", "rate_429 + rate_5xx must be <= 1")
        if faults.rate_limit_per_minute < 1:
            faults.rate_limit_per_minute = DEFAULT_RATE_LIMIT
        faults.rng = random.Random(faults.random_seed)
        return faults


@dataclass
class Workspace:
    """One Andsend workspace: its API key sees its own data set only (a store of its own)."""

    name: str
    api_key: str
    store: Store


class Emulator:
    """State shared by the routes: workspaces (store and key each), clock, faults, counters, rate window.

    ``store`` and ``api_key`` are the default workspace's; more workspaces come from
    ``create_app(workspaces=...)``. Faults, clock, counters and the rate window are the server's."""

    def __init__(self, store: Store, api_key: str, extra: list[Workspace] | None = None) -> None:
        self.store = store
        self.api_key = api_key
        self.workspaces: dict[str, Workspace] = {DEFAULT_WORKSPACE: Workspace(DEFAULT_WORKSPACE, api_key, store)}
        for ws in extra or []:
            self.workspaces[ws.name] = ws
        self.by_workspace: Counter[str] = Counter()
        self.faults = Faults()
        self.frozen_now_ms: int | None = None
        self.lock = threading.Lock()
        self.requests = 0
        self.by_path: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self.window_start = time.monotonic()
        self.window_used = 0

    def now_ms(self) -> int:
        return self.frozen_now_ms if self.frozen_now_ms is not None else int(time.time() * 1000)

    def reset_runtime(self) -> None:
        with self.lock:
            self.faults = Faults()
            self.frozen_now_ms = None
            self.requests = 0
            self.by_path.clear()
            self.by_status.clear()
            self.by_workspace.clear()
            self.window_start = time.monotonic()
            self.window_used = 0

    def rate_headers(self) -> tuple[dict[str, str], bool]:
        """Count one request in the fixed 60 s window; return the X-RateLimit-* headers and whether it is over."""
        limit = self.faults.rate_limit_per_minute
        with self.lock:
            now = time.monotonic()
            if now - self.window_start >= 60:
                self.window_start, self.window_used = now, 0
            self.window_used += 1
            over = self.window_used > limit
            reset = max(1, int(60 - (now - self.window_start) + 0.999))
            remaining = max(0, limit - self.window_used)
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset),
        }, over

    def workspace_for(self, token: str) -> Workspace | None:
        """The workspace whose key is ``token`` (every key compared in constant time)."""
        found = None
        for ws in self.workspaces.values():
            if hmac.compare_digest(token.encode(), ws.api_key.encode()):
                found = ws
        return found


def _workspace(request: Request, emu: Emulator) -> Workspace:
    """The control plane's ``?workspace=<name>`` (default: the default workspace)."""
    name = request.query_params.get("workspace", DEFAULT_WORKSPACE)
    ws = emu.workspaces.get(name)
    if ws is None:
        raise bad_param("workspace", f"no workspace {name!r} (known: {', '.join(sorted(emu.workspaces))})")
    return ws


Handler = Callable[[Request, Emulator], Awaitable[Response]]


def api_route(path: str, handler: Handler, methods: list[str]) -> Route:
    """A counted, authenticated /v1 route with fault injection and rate-limit headers."""

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

    return Route(path, endpoint, methods=methods)


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


def _prospect_filters(request: Request) -> dict[str, Any]:
    purchased = _bool(request, "purchased")
    return {} if purchased is None else {"purchased": purchased}


def _result_filters(request: Request) -> dict[str, Any]:
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


# -- control plane ----------------------------------------------------------------------------------


async def _control_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise Problem(400, "invalid-body", "Invalid request body", "body must be JSON") from None


def control(
    fn: Callable[[Request, Emulator], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await fn(request, request.app.state.emulator)
        except Problem as problem:
            return problem_response(problem, request.url.path)

    return endpoint


async def activity(request: Request, emu: Emulator) -> Response:
    body = await _control_body(request)
    if not isinstance(body, dict) or set(body) - set(ACTIVITY_KINDS):
        raise Problem(
            400, "invalid-body", "Invalid request body", f"allowed keys: {', '.join(ACTIVITY_KINDS)}"
        )
    counts: dict[str, int] = {}
    for key, value in body.items():
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_PER_KIND:
            raise Problem(400, "invalid-body", "Invalid request body", f"{key} must be 0..{MAX_PER_KIND}")
        counts[key] = value
    touched = await asyncio.to_thread(run_activity, _workspace(request, emu).store, counts, emu.now_ms())
    return JSONResponse(touched)


async def set_faults(request: Request, emu: Emulator) -> Response:
    faults = Faults.parse(await _control_body(request))
    with emu.lock:
        emu.faults = faults
        # A new limit starts a fresh window, so tests see exactly N allowed calls.
        emu.window_start, emu.window_used = time.monotonic(), 0
    return JSONResponse(faults.to_dict())


async def clear_faults(request: Request, emu: Emulator) -> Response:
    with emu.lock:
        emu.faults = Faults()
    return JSONResponse(emu.faults.to_dict())


async def get_stats(request: Request, emu: Emulator) -> Response:
    with emu.lock:
        return JSONResponse(
            {"api_requests": emu.requests, "by_path": dict(emu.by_path), "by_status": dict(emu.by_status),
             "by_workspace": dict(emu.by_workspace)}
        )


async def reset_stats(request: Request, emu: Emulator) -> Response:
    with emu.lock:
        emu.requests = 0
        emu.by_path.clear()
        emu.by_status.clear()
        emu.by_workspace.clear()
    return JSONResponse({"api_requests": 0})


async def reset(request: Request, emu: Emulator) -> Response:
    store = _workspace(request, emu).store
    config = store.config() or GeneratorConfig()
    await asyncio.to_thread(lambda: store.load(generate(config)))
    emu.reset_runtime()
    return JSONResponse({"reset": True, "config": config.to_dict()})


async def set_clock(request: Request, emu: Emulator) -> Response:
    body = await _control_body(request)
    if not isinstance(body, dict) or "now" not in body:
        raise Problem(400, "invalid-body", "Invalid request body", 'expected {"now": "<RFC 3339>" | null}')
    if body["now"] is None:
        emu.frozen_now_ms = None
    else:
        try:
            emu.frozen_now_ms = parse_ts(str(body["now"]))
        except ValueError as exc:
            raise Problem(400, "invalid-body", "Invalid request body", str(exc)) from None
    return JSONResponse({"now": format_ts(emu.now_ms()), "frozen": emu.frozen_now_ms is not None})


async def all_badges(request: Request, emu: Emulator) -> Response:
    return JSONResponse({"data": _workspace(request, emu).store.all_badges()})


async def all_crm_status(request: Request, emu: Emulator) -> Response:
    return JSONResponse({"data": _workspace(request, emu).store.all_crm_status()})


async def get_config(request: Request, emu: Emulator) -> Response:
    store = _workspace(request, emu).store
    config = store.config()
    counts = {
        name: store.count(name)
        for name in ("users", "campaigns", "prospects", "searches", "search_results", "touchpoints")
    }
    return JSONResponse({"config": config.to_dict() if config else None, "counts": counts})


async def openapi(request: Request) -> Response:
    return Response(openapi_text(), media_type="application/yaml")


# -- errors outside the handlers (unknown path, wrong method) ---------------------------------------


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    emu: Emulator = request.app.state.emulator
    if request.url.path.startswith("/v1"):
        with emu.lock:
            emu.requests += 1
            emu.by_path["(unmatched)"] += 1
            emu.by_status[str(exc.status_code)] += 1
    if exc.status_code == 404:
        problem = Problem(404, "not-found", "Not Found", f"no resource at {request.url.path}")
    elif exc.status_code == 405:
        problem = Problem(
            405,
            "method-not-allowed",
            "Method Not Allowed",
            f"{request.method} is not supported here",
            headers=dict(exc.headers or {}),
        )
    else:
        problem = Problem(exc.status_code, "error", str(exc.detail))
    return problem_response(problem, request.url.path)


async def server_error(request: Request, exc: Exception) -> Response:
    print(f"andsend emulator: unhandled {type(exc).__name__}: {exc}", file=sys.stderr)
    return problem_response(Problem(500, "internal-error", "Internal Server Error"), request.url.path)


def create_app(
    db_path: str,
    seed: int = 1,
    *,
    prospects: int = 2000,
    purchased_share: float = 0.6,
    users: int = 20,
    campaigns: int = 8,
    searches: int = 10,
    results_per_search: int = 40,
    now: str = DEFAULT_NOW,
    api_key: str = DEFAULT_API_KEY,
    workspaces: Mapping[str, str] | None = None,
) -> Starlette:
    """The emulator app. An existing ``db_path`` with data is reused as is (the size flags are then ignored).

    ``workspaces`` (name -> API key) adds workspaces beside the default one (``api_key``, ``db_path``):
    each has its own data set, generated with the same sizes and the seed :func:`workspace_seed`
    gives it, in ``workspace_db_path(db_path, name)``; a key sees its own workspace only."""
    config = GeneratorConfig(
        seed=seed,
        prospects=prospects,
        purchased_share=purchased_share,
        users=users,
        campaigns=campaigns,
        searches=searches,
        results_per_search=results_per_search,
        now=now,
    )
    store = _open_store(db_path, config)
    extra = []
    for name, key in (workspaces or {}).items():
        if name == DEFAULT_WORKSPACE or not _WORKSPACE_NAME.fullmatch(name):
            raise ValueError(f"workspace name {name!r}: letters, digits, '-' and '_' only, not {DEFAULT_WORKSPACE!r}")
        if key == api_key or key in (w.api_key for w in extra):
            raise ValueError(f"workspace {name!r}: every workspace needs its own API key")
        ws_config = GeneratorConfig.from_dict({**config.to_dict(), "seed": workspace_seed(seed, name)})
        extra.append(Workspace(name, key, _open_store(workspace_db_path(db_path, name), ws_config)))
    routes = [
        api_route("/v1/users", list_handler("users"), ["GET"]),
        api_route("/v1/campaigns", list_handler("campaigns"), ["GET"]),
        api_route("/v1/prospects", list_handler("prospects", _prospect_filters), ["GET"]),
        api_route("/v1/prospects/crm-status", get_crm_status, ["GET"]),
        api_route("/v1/prospects/crm-status", put_crm_status, ["PUT"]),
        api_route("/v1/prospects/{id}", get_prospect, ["GET"]),
        api_route("/v1/searches", list_handler("searches"), ["GET"]),
        api_route("/v1/search-results/badges", get_badges, ["GET"]),
        api_route("/v1/search-results/badges", put_badges, ["PUT"]),
        api_route("/v1/search-results", list_handler("search_results", _result_filters), ["GET"]),
        api_route("/v1/touchpoints", list_handler("touchpoints"), ["GET"]),
        Route("/__emulator__/activity", control(activity), methods=["POST"]),
        Route("/__emulator__/faults", control(set_faults), methods=["POST"]),
        Route("/__emulator__/faults", control(clear_faults), methods=["DELETE"]),
        Route("/__emulator__/stats", control(get_stats), methods=["GET"]),
        Route("/__emulator__/stats/reset", control(reset_stats), methods=["POST"]),
        Route("/__emulator__/reset", control(reset), methods=["POST"]),
        Route("/__emulator__/clock", control(set_clock), methods=["POST"]),
        Route("/__emulator__/badges", control(all_badges), methods=["GET"]),
        Route("/__emulator__/crm-status", control(all_crm_status), methods=["GET"]),
        Route("/__emulator__/config", control(get_config), methods=["GET"]),
        Route("/openapi.yaml", openapi, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_exception, Exception: server_error},
    )
    app.state.emulator = Emulator(store, api_key, extra)
    return app


_WORKSPACE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def workspace_seed(seed: int, name: str) -> int:
    """A workspace's generator seed: stable per (seed, name), so its data (and ids) differ from
    every other workspace's."""
    return seed * 1_000_003 + zlib.crc32(name.encode())


def workspace_db_path(db_path: str, name: str) -> str:
    """``andsend.sqlite`` -> ``andsend.<name>.sqlite`` (in memory stays in memory)."""
    if db_path == ":memory:":
        return db_path
    path = Path(db_path)
    return str(path.with_name(f"{path.stem}.{name}{path.suffix}"))


def _open_store(db_path: str, config: GeneratorConfig) -> Store:
    store = Store(db_path)
    if store.config() is None:
        store.load(generate(config))
    return store
