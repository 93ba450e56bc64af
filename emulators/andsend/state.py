"""The Andsend emulator's state: workspaces (a SQLite :class:`Store` and an API key each), the clock,
injected faults, request counters and the rate-limit window, all in one :class:`Emulator` per app.

Route handlers reach it as ``request.app.state.emulator``; the API pipeline (``api.py``) reads the
faults and the window, the control plane (``control.py``) changes them.
"""

from __future__ import annotations

import hmac
import random
import re
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulators.andsend.generator import GeneratorConfig, generate
from emulators.andsend.problems import Problem
from emulators.andsend.store import Store

DEFAULT_API_KEY = "andsend-demo-key"
DEFAULT_WORKSPACE = "default"
DEFAULT_RATE_LIMIT = 100_000  # per minute; effectively unlimited unless a test lowers it


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


def open_store(db_path: str, config: GeneratorConfig) -> Store:
    """The store at ``db_path``, generated from ``config`` if it holds no data set yet."""
    store = Store(db_path)
    if store.config() is None:
        store.load(generate(config))
    return store


def build_emulator(
    db_path: str, config: GeneratorConfig, api_key: str, workspaces: dict[str, str]
) -> Emulator:
    """The default workspace at ``db_path`` plus one per ``workspaces`` entry (name -> API key), each
    generated with ``config``'s sizes and its own :func:`workspace_seed`."""
    store = open_store(db_path, config)
    extra: list[Workspace] = []
    for name, key in workspaces.items():
        if name == DEFAULT_WORKSPACE or not _WORKSPACE_NAME.fullmatch(name):
            raise ValueError(f"workspace name {name!r}: letters, digits, '-' and '_' only, not {DEFAULT_WORKSPACE!r}")
        if key == api_key or key in (w.api_key for w in extra):
            raise ValueError(f"workspace {name!r}: every workspace needs its own API key")
        ws_config = GeneratorConfig.from_dict({**config.to_dict(), "seed": workspace_seed(config.seed, name)})
        extra.append(Workspace(name, key, open_store(workspace_db_path(db_path, name), ws_config)))
    return Emulator(store, api_key, extra)
