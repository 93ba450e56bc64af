"""Andsend API emulator: the contract in ``schemas/andsend-api.openapi.yaml``, served from SQLite.

``create_app(db_path, seed, ...)`` returns a Starlette app. ``/v1/...`` is the API (Bearer key,
counted, subject to injected faults and the rate limit); ``/__emulator__/...`` is the uncounted,
unauthenticated control plane tests use (docs/DESIGN.md, "Andsend emulator"). The parts:
``problems.py`` (RFC 9457 errors), ``state.py`` (workspaces, faults, counters), ``api.py`` (the /v1
pipeline and handlers), ``control.py`` (the control plane), ``routes.py`` (the one route table).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from emulators.andsend.generator import DEFAULT_NOW, GeneratorConfig
from emulators.andsend.problems import http_exception, server_error
from emulators.andsend.routes import starlette_routes
from emulators.andsend.state import (
    DEFAULT_API_KEY,
    DEFAULT_WORKSPACE,
    build_emulator,
    workspace_db_path,
    workspace_seed,
)

__all__ = ["DEFAULT_API_KEY", "DEFAULT_WORKSPACE", "create_app", "workspace_db_path", "workspace_seed"]


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
    emulator = build_emulator(db_path, config, api_key, dict(workspaces or {}))
    app = Starlette(
        routes=starlette_routes(),
        exception_handlers={HTTPException: http_exception, Exception: server_error},
    )
    app.state.emulator = emulator
    return app
