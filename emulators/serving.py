"""Run an ASGI app on 127.0.0.1 in a background thread (tests, demo, benchmarks).

Both emulators use this so a test can start a real HTTP server on an ephemeral
port inside the test process, while the CLI runs the same app in the foreground.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn


def _bind(host: str, port: int) -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto is TCP, and
    # without it every response written as headers + body waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.set_inheritable(True)
    return sock


@dataclass
class RunningServer:
    """A server started by :func:`serve_in_thread`; ``stop()`` shuts it down."""

    base_url: str
    port: int
    server: uvicorn.Server
    thread: threading.Thread
    app: Any = field(repr=False, default=None)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_config(app: Any, *, ssl_certfile: str | None = None, ssl_keyfile: str | None = None) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        # Many concurrent clients (tests ask for 25+ in flight): keep the backlog deep.
        backlog=512,
        timeout_keep_alive=30,
        # Idle TLS keep-alive sockets can hold a graceful shutdown for ~30 s (close handshake); cap it.
        timeout_graceful_shutdown=3,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )


def serve_in_thread(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
) -> RunningServer:
    """Start ``app`` on ``host:port`` (0 = a free port) and return once it accepts connections."""
    sock = _bind(host, port)
    actual_port = sock.getsockname()[1]
    config = make_config(app, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("emulator server failed to start")
        time.sleep(0.01)
    scheme = "https" if ssl_certfile else "http"
    return RunningServer(f"{scheme}://{host}:{actual_port}", actual_port, server, thread, app)


def serve_forever(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    announce: bool = True,
) -> None:
    """Foreground mode for the CLI: print the base URL as the first line, then serve until terminated."""
    sock = _bind(host, port)
    actual_port = sock.getsockname()[1]
    scheme = "https" if ssl_certfile else "http"
    if announce:
        print(f"{scheme}://{host}:{actual_port}", flush=True)
    server = uvicorn.Server(make_config(app, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile))
    server.run(sockets=[sock])
