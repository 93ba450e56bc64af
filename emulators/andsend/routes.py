"""Every path the Andsend emulator serves, in one table: path, method, plane, handler.

The plane decides the wrapping: ``api`` routes go through :func:`~emulators.andsend.api.api_endpoint`
(counted in stats ``by_path`` under the path text, Bearer key, faults, rate limit); ``control`` routes
through :func:`~emulators.andsend.control.control_endpoint` (uncounted, no auth); ``public`` is served
as is. Starlette tries the routes in this order, so ``/v1/prospects/crm-status`` comes before
``/v1/prospects/{id}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulators.andsend import api, control


@dataclass(frozen=True)
class Endpoint:
    path: str
    method: str
    plane: Literal["api", "control", "public"]
    handler: Callable[..., Awaitable[Response]]  # api/control: (request, emu); public: (request)


def _api(path: str, method: str, handler: api.Handler) -> Endpoint:
    return Endpoint(path, method, "api", handler)


def _control(path: str, method: str, handler: api.Handler) -> Endpoint:
    return Endpoint(path, method, "control", handler)


ROUTES: tuple[Endpoint, ...] = (
    _api("/v1/users", "GET", api.list_handler("users")),
    _api("/v1/campaigns", "GET", api.list_handler("campaigns")),
    _api("/v1/prospects", "GET", api.list_handler("prospects", api.prospect_filters)),
    _api("/v1/prospects/crm-status", "GET", api.get_crm_status),
    _api("/v1/prospects/crm-status", "PUT", api.put_crm_status),
    _api("/v1/prospects/{id}", "GET", api.get_prospect),
    _api("/v1/searches", "GET", api.list_handler("searches")),
    _api("/v1/search-results/badges", "GET", api.get_badges),
    _api("/v1/search-results/badges", "PUT", api.put_badges),
    _api("/v1/search-results", "GET", api.list_handler("search_results", api.result_filters)),
    _api("/v1/touchpoints", "GET", api.list_handler("touchpoints")),
    _control("/__emulator__/activity", "POST", control.activity),
    _control("/__emulator__/faults", "POST", control.set_faults),
    _control("/__emulator__/faults", "DELETE", control.clear_faults),
    _control("/__emulator__/stats", "GET", control.get_stats),
    _control("/__emulator__/stats/reset", "POST", control.reset_stats),
    _control("/__emulator__/reset", "POST", control.reset),
    _control("/__emulator__/clock", "POST", control.set_clock),
    _control("/__emulator__/badges", "GET", control.all_badges),
    _control("/__emulator__/crm-status", "GET", control.all_crm_status),
    _control("/__emulator__/config", "GET", control.get_config),
    Endpoint("/openapi.yaml", "GET", "public", control.openapi),
)


def starlette_routes() -> list[Route]:
    """:data:`ROUTES` as Starlette routes, each wrapped for its plane."""
    return [Route(e.path, _wrap(e), methods=[e.method]) for e in ROUTES]


def _wrap(e: Endpoint) -> Callable[[Request], Awaitable[Any]]:
    if e.plane == "api":
        return api.api_endpoint(e.path, e.handler)
    if e.plane == "control":
        return control.control_endpoint(e.handler)
    return e.handler
