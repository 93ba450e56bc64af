"""Control plane ``/__emulator__/...`` (docs/DESIGN.md): never counted, no auth. Tests and benchmarks
use it to inject faults, freeze the clock, make activity, read counters and written data, and reset.

Every handler is ``(request, emu) -> Response``; :func:`control_endpoint` renders a raised
:class:`~emulators.andsend.problems.Problem`. ``?workspace=<name>`` picks the workspace where the
call is about data (default: the default workspace). The paths are in ``routes.py``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulators.andsend.activity import ACTIVITY_KINDS, MAX_PER_KIND, run_activity
from emulators.andsend.contract import openapi_text
from emulators.andsend.generator import GeneratorConfig, format_ts, generate, parse_ts
from emulators.andsend.problems import Problem, bad_param, problem_response
from emulators.andsend.state import DEFAULT_WORKSPACE, Emulator, Faults, Workspace


def control_endpoint(
    fn: Callable[[Request, Emulator], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await fn(request, request.app.state.emulator)
        except Problem as problem:
            return problem_response(problem, request.url.path)

    return endpoint


def _workspace(request: Request, emu: Emulator) -> Workspace:
    """The control plane's ``?workspace=<name>`` (default: the default workspace)."""
    name = request.query_params.get("workspace", DEFAULT_WORKSPACE)
    ws = emu.workspaces.get(name)
    if ws is None:
        raise bad_param("workspace", f"no workspace {name!r} (known: {', '.join(sorted(emu.workspaces))})")
    return ws


async def _control_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise Problem(400, "invalid-body", "Invalid request body", "body must be JSON") from None


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
    """The contract itself (``GET /openapi.yaml``): public, uncounted, no auth."""
    return Response(openapi_text(), media_type="application/yaml")
