"""Shared pytest fixtures: the emulators, started in-process on 127.0.0.1 with ephemeral ports."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

# --- Andsend emulator ------------------------------------------------------------------------------

ANDSEND_TEST_SIZES: dict[str, Any] = {"seed": 7, "prospects": 500, "searches": 5, "results_per_search": 30}


@dataclass
class AndsendEmulator:
    """A running Andsend emulator plus helpers for its control plane (``/__emulator__``)."""

    base_url: str
    api_key: str
    db_path: Path

    def _control(self, method: str, path: str, body: Any = None) -> Any:
        response = requests.request(method, f"{self.base_url}/__emulator__/{path}", json=body, timeout=60)
        response.raise_for_status()
        return response.json()

    def get(self, path: str, *, api_key: str | None = None, **params: Any) -> requests.Response:
        """An authenticated ``GET /v1/...`` (counted in stats, like any client call)."""
        headers = {"Authorization": f"Bearer {self.api_key if api_key is None else api_key}"}
        return requests.get(f"{self.base_url}{path}", params=params, headers=headers, timeout=30)

    def stats(self) -> dict[str, Any]:
        return self._control("GET", "stats")

    def reset_stats(self) -> dict[str, Any]:
        return self._control("POST", "stats/reset")

    def activity(self, **counts: int) -> dict[str, list[str]]:
        """e.g. ``activity(new_purchases=3, new_touchpoints=5)`` -> ids touched per kind."""
        return self._control("POST", "activity", counts)

    def faults(self, **faults: Any) -> dict[str, Any]:
        """Set faults (``latency_ms``, ``rate_429``, ``retry_after_seconds``, ``rate_5xx``, ``random_seed``,
        ``rate_limit_per_minute``); with no arguments, clear them."""
        if not faults:
            return self._control("DELETE", "faults")
        return self._control("POST", "faults", faults)

    def clock(self, now: str | None) -> dict[str, Any]:
        return self._control("POST", "clock", {"now": now})

    def badges(self) -> list[dict[str, Any]]:
        return self._control("GET", "badges")["data"]

    def reset(self) -> dict[str, Any]:
        return self._control("POST", "reset")


@pytest.fixture(scope="session")
def andsend_template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated once per session; each test serves its own copy."""
    from emulators.andsend.generator import GeneratorConfig, generate
    from emulators.andsend.store import Store

    path = tmp_path_factory.mktemp("andsend-template") / "andsend.sqlite"
    store = Store(str(path))
    store.load(generate(GeneratorConfig(**ANDSEND_TEST_SIZES)))
    store.close()  # checkpoints the WAL into the main file, so a plain copy is complete
    return path


@pytest.fixture
def andsend_emulator(andsend_template_db: Path, tmp_path: Path) -> Iterator[AndsendEmulator]:
    """A fresh Andsend emulator (seed 7, 500 prospects) on an ephemeral port, stopped after the test."""
    from emulators.andsend.server import DEFAULT_API_KEY, create_app
    from emulators.serving import serve_in_thread

    db_path = tmp_path / "andsend.sqlite"
    shutil.copyfile(andsend_template_db, db_path)
    app = create_app(str(db_path))
    server = serve_in_thread(app)
    try:
        yield AndsendEmulator(server.base_url, DEFAULT_API_KEY, db_path)
    finally:
        server.stop()
        app.state.emulator.store.close()


# --- Salesforce emulator ---------------------------------------------------------------------------


@dataclass
class SalesforceEmulator:
    """A running Salesforce emulator plus helpers for its control plane (``/__emulator__``).

    ``app`` is the Starlette app; ``state`` the in-process ``Emulator`` (store, registry, auth).
    Default org: ``admin@example.com`` / ``emulator`` + token ``token``; app ``emulator-client-id`` /
    ``emulator-client-secret``.
    """

    base_url: str
    app: Any
    username: str = "admin@example.com"
    password: str = "emulator"
    security_token: str = "token"
    client_id: str = "emulator-client-id"
    client_secret: str = "emulator-client-secret"
    api_version: str = "60.0"

    @property
    def state(self) -> Any:
        return self.app.state.emulator

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/services/data/v{self.api_version}"

    def _control(self, method: str, path: str, body: Any = None) -> Any:
        response = requests.request(method, f"{self.base_url}/__emulator__/{path}", json=body, timeout=60)
        response.raise_for_status()
        return response.json()

    def token(self) -> str:
        """A fresh access token (OAuth password flow; not counted as an API call)."""
        response = requests.post(f"{self.base_url}/services/oauth2/token", data={
            "grant_type": "password", "client_id": self.client_id, "client_secret": self.client_secret,
            "username": self.username, "password": self.password + self.security_token}, timeout=30)
        response.raise_for_status()
        return response.json()["access_token"]

    def session(self) -> requests.Session:
        """A ``requests.Session`` carrying a Bearer token for ``api_url`` calls."""
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {self.token()}"
        return s

    def stats(self) -> dict[str, Any]:
        return self._control("GET", "stats")

    def reset_stats(self) -> dict[str, Any]:
        return self._control("POST", "stats/reset")

    def records(self, sobject: str) -> list[dict[str, Any]]:
        """Every stored row of ``sobject`` (deleted ones included), uncounted."""
        return self._control("GET", f"records/{sobject}")

    def seed(self, fixture: dict[str, Any]) -> dict[str, str]:
        """Add a fixture (docs/DESIGN.md format); returns ``{ref: id}``."""
        return self._control("POST", "seed", fixture)["refs"]

    def faults(self, **faults: Any) -> dict[str, Any]:
        """Set faults (``latency_ms``, ``error_503_rate``, ``lock_row_rate``, ``revoke_tokens_every``,
        ``limit_exceeded_after``, ``random_seed``...); with no arguments, clear them."""
        if not faults:
            return self._control("DELETE", "faults")
        return self._control("POST", "faults", faults)

    def settings(self, **settings: Any) -> dict[str, Any]:
        return self._control("PUT", "settings", settings)

    def limits(self, **limits: int) -> dict[str, Any]:
        return self._control("PUT", "limits", limits)

    def clock(self, now: str | None) -> dict[str, Any]:
        return self._control("POST", "clock", {"now": now})

    def revoke_tokens(self) -> dict[str, Any]:
        return self._control("POST", "revoke-tokens")

    def add_field(self, sobject: str, field: dict[str, Any]) -> dict[str, Any]:
        return self._control("POST", f"describe/{sobject}/fields", field)

    def reset(self) -> dict[str, Any]:
        return self._control("POST", "reset")


def _start_salesforce(fixture: Any = None, **kwargs: Any) -> tuple[Any, Any]:
    from emulators.salesforce.server import create_app
    from emulators.serving import serve_in_thread

    app = create_app(":memory:", fixture, **kwargs)
    cert, key = app.state.tls or (None, None)
    return app, serve_in_thread(app, ssl_certfile=cert, ssl_keyfile=key)


@pytest.fixture
def sf_emulator() -> Iterator[SalesforceEmulator]:
    """A fresh in-memory Salesforce emulator (default org) on an ephemeral port, stopped after the test."""
    app, server = _start_salesforce()
    try:
        yield SalesforceEmulator(server.base_url, app)
    finally:
        server.stop()
        app.state.emulator.store.close()


@pytest.fixture
def sf_emulator_factory() -> Iterator[Callable[..., SalesforceEmulator]]:
    """Start Salesforce emulators loaded with a fixture (org options such as sandbox or field security
    take effect only at start); every one is stopped after the test."""
    started: list[tuple[Any, Any]] = []

    def start(fixture: Any = None, **kwargs: Any) -> SalesforceEmulator:
        app, server = _start_salesforce(fixture, **kwargs)
        started.append((app, server))
        return SalesforceEmulator(server.base_url, app)

    try:
        yield start
    finally:
        for app, server in started:
            server.stop()
            app.state.emulator.store.close()


@pytest.fixture(scope="session")
def sf_emulator_session() -> Iterator[SalesforceEmulator]:
    """One Salesforce emulator for a whole session (call ``.reset()`` between uses)."""
    app, server = _start_salesforce()
    try:
        yield SalesforceEmulator(server.base_url, app)
    finally:
        server.stop()
        app.state.emulator.store.close()


# --- PostgreSQL (the durable state store's backend) -------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A real PostgreSQL server for the session (tests/postgres_server.py)."""
    from tests.postgres_server import PostgresServer

    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: Any) -> str:
    """A fresh, empty database on the session's server."""
    import uuid

    return postgres_server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(autouse=True)
def _state_store_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """ANDSEND_TEST_STORE=postgres: every test's target runs on a fresh PostgreSQL database."""
    import os
    import uuid

    if os.environ.get("ANDSEND_TEST_STORE") != "postgres":
        return
    from tests.postgres_server import TEST_STORE_URL_VAR

    server = request.getfixturevalue("postgres_server")
    monkeypatch.setenv(TEST_STORE_URL_VAR, server.create_database(f"t_{uuid.uuid4().hex[:12]}"))
