"""The run lease: one writer per Salesforce org and pipeline, wherever runs are scheduled.

A row in the state store's `leases` table (links.py) names its holder (host, pid, a random part)
and an expiry. The target takes it after signing in (the org id is only known then) and before
its first read of people or write, renews it from a heartbeat thread every `ttl / 3` seconds, and
deletes it at the end of the run. A run that finds a live lease of another holder waits, checking
every few seconds, up to `lease_wait_seconds`, then fails with a message naming the holder: it has
written nothing. A holder killed with SIGKILL stops renewing: its lease expires `lease_ttl_seconds`
after its last heartbeat and the next run takes it. With the PostgreSQL store the lease holds
across hosts, measured by the server's clock; with the SQLite store, between the processes of one
host sharing the `output_dir`.

A holder whose heartbeat could not renew in time (a stalled host) may find its lease taken: the
heartbeat notices, and the run stops before its next batch (`check()`), never writing alongside
the new holder knowingly.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

from .links import LinkStore, holder_id

DEFAULT_TTL_SECONDS = 60.0
DEFAULT_WAIT_SECONDS = 300.0
POLL_SECONDS = 2.0


class LeaseBusy(Exception):
    """Another run holds the lease for this org and pipeline (past the wait)."""


class LeaseLost(Exception):
    """This run's lease expired and another run took it."""


class RunLease:
    def __init__(self, store: LinkStore, name: str, *, ttl: float = DEFAULT_TTL_SECONDS,
                 wait: float = DEFAULT_WAIT_SECONDS, logger: logging.Logger | None = None) -> None:
        self.store = store
        self.name = name
        self.ttl = max(float(ttl), 1.0)
        self.wait = max(float(wait), 0.0)
        self.log = logger or logging.getLogger(__name__)
        self.holder = holder_id()
        self.info = {"host": socket.gethostname(), "pid": os.getpid()}
        self.waited = 0.0
        self.waited_for: dict[str, Any] | None = None
        self.lost = False
        self.held = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        start = time.monotonic()
        announced = False
        while True:
            other = self.store.lease_try(self.name, self.holder, self.info, self.ttl)
            if other is None:
                break
            self.waited_for = other
            left = other["expires_at"] - other["now"]
            if not announced:
                self.log.warning("Run lease %s is held by another run (%s, pid %s; heartbeat %.0f s ago); "
                                 "waiting up to %.0f s for it to finish", self.name, other["info"].get("host"),
                                 other["info"].get("pid"), other["now"] - other["heartbeat_at"], self.wait)
                announced = True
            elapsed = time.monotonic() - start
            if elapsed >= self.wait:
                raise LeaseBusy(
                    f"another run is writing to this Salesforce org (lease {self.name} held by "
                    f"{other['info'].get('host')} pid {other['info'].get('pid')}, alive for {left:.0f} s more "
                    f"unless renewed); waited {elapsed:.0f} s (lease_wait_seconds={self.wait:g}). Nothing was "
                    "written: the Singer state did not move, the next run picks the records up.")
            time.sleep(min(POLL_SECONDS, max(self.wait - elapsed, 0.05), max(left, 0.05)))
        self.waited = time.monotonic() - start
        self.held = True
        self.log.info("Run lease %s taken (%s; waited %.1f s; expires %.0f s after the last heartbeat)",
                      self.name, self.store.describe(), self.waited, self.ttl)
        self._thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                if not self.store.lease_renew(self.name, self.holder, self.ttl):
                    self.lost = True
                    self.log.error("Run lease %s was lost (it expired and another run took it): "
                                   "stopping before the next batch", self.name)
                    return
            except Exception as exc:  # the database is unreachable: the lease may expire
                self.log.warning("Run lease %s heartbeat failed: %s", self.name, exc)

    def check(self) -> None:
        if self.lost:
            raise LeaseLost(f"run lease {self.name} was lost (expired after {self.ttl:g} s without a heartbeat "
                            "and taken by another run); stopped before writing more")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.held and not self.lost:
            try:
                self.store.lease_release(self.name, self.holder)
            except Exception as exc:  # it expires on its own
                self.log.warning("Run lease %s not released (%s); it expires in %.0f s", self.name, exc, self.ttl)
        self.held = False

    def as_report(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "store": self.store.describe(), "holder": self.info,
                               "ttl_seconds": self.ttl, "waited_seconds": round(self.waited, 1)}
        if self.waited_for is not None:
            out["waited_for"] = self.waited_for.get("info")
        if self.lost:
            out["lost"] = True
        return out


def lease_name(org_id: str, pipeline: str) -> str:
    return f"org:{org_id}/pipeline:{pipeline}"
