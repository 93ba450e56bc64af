"""Progress in the log (never stdout): records processed, rate, Salesforce calls and quota."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any


class Progress:
    def __init__(self, logger: logging.Logger, *, every_seconds: float = 30.0,
                 api_figures: Callable[[], dict[str, Any]] | None = None):
        self.logger = logger
        self.every = every_seconds
        self.api_figures = api_figures
        self.started = time.monotonic()
        self._last = self.started
        self._lock = threading.Lock()
        self.records = 0

    def add(self, n: int, *, force: bool = False) -> None:
        with self._lock:
            self.records += n
            now = time.monotonic()
            due = force or now - self._last >= self.every
            if due:
                self._last = now
        if due:
            self.log()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        text = f"Progress: {self.records} records in {elapsed:.1f}s ({self.records / elapsed:.1f}/s)"
        figures = self.api_figures() if self.api_figures else {}
        if figures.get("calls") is not None:
            text += f"; Salesforce calls {figures['calls']}"
        if figures.get("daily_used") is not None and figures.get("daily_max"):
            text += f"; org quota {figures['daily_used']}/{figures['daily_max']}"
        if figures.get("remaining") is not None:
            text += f"; calls left for this run {figures['remaining']}"
        return text

    def log(self) -> None:
        self.logger.info(self.line())
