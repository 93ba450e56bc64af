"""CallPool: the one executor for Salesforce calls sent on another thread's behalf (the query
bundler's Composite calls, a query's later pages, a write's Composite/Collections chunks).

The client's in-flight semaphore caps the calls sent at once, whichever thread sends them, and
the writer's governor its write calls; the pool only gives those calls threads. A task running
on the pool that submits to it again (a pool thread reading through ``query_many``) runs the new
task itself: it never waits for a thread of the pool it holds. Threads, locks and their order:
docs/DESIGN.md, "Concurrency model".
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
THREAD_PREFIX = "sf-call"


class CallPool:
    """Threads started as needed, up to ``workers``; reopens after ``close`` if used again."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._local = threading.local()

    def inside(self) -> bool:
        """True on one of the pool's threads, inside a task."""
        return bool(getattr(self._local, "inside", False))

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        if self.inside():
            future: Future[T] = Future()
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to whoever reads the future, as the pool would
                future.set_exception(exc)
            return future
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix=THREAD_PREFIX)
            return self._executor.submit(self._run, fn, *args)

    def _run(self, fn: Callable[..., T], *args: Any) -> T:
        self._local.inside = True
        try:
            return fn(*args)
        finally:
            self._local.inside = False

    def close(self) -> None:
        """Wait for the tasks submitted and stop the threads."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
