"""RFC 9457 problem responses: every error the Andsend emulator answers, API and control plane alike.

A handler raises :class:`Problem`; the API pipeline (``api.py``), the control wrapper (``control.py``)
and the app's exception handlers here render it with :func:`problem_response`.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from emulators.andsend.state import Emulator

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


# -- errors outside the handlers (unknown path, wrong method, a bug) --------------------------------


async def http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's 404/405 as problems; under ``/v1`` they count as API requests (path ``(unmatched)``)."""
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
