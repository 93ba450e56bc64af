"""One background worker that processes the sinks' batches, in the order they were handed over.

The SDK drains a full sink synchronously: while a batch waits on Salesforce, no input line is
read. Handing the batch to this worker lets the SDK's thread parse and validate the next records
meanwhile (the two overlap: the worker mostly waits on sockets). Guarantees:

* order: one worker, first in first out, so prospects are still written before the touchpoints
  and badges that need them, exactly as when batches ran inline;
* bounded memory: at most ``depth`` batches wait (``submit`` blocks beyond that);
* exactly once: ``wait()`` returns only when every batch handed over is done and re-raises the
  first failure; the target calls it before every STATE message and at the end of input, so
  STATE never moves past records not yet written. After a failure, later batches are dropped
  unprocessed (the run fails; the next run starts from the last STATE).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any


class BatchWorker:
    def __init__(self, process: Callable[..., None], *, depth: int = 1) -> None:
        self._process = process
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def submit(self, *args: Any) -> None:
        """Queue one batch (blocks while ``depth`` batches wait); raises an earlier failure."""
        self.raise_failure()
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="batch-worker", daemon=True)
                self._thread.start()
        self._queue.put(args)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._error is None:
                    self._process(*item)
            except BaseException as exc:  # handed to the SDK's thread by wait()/submit()
                self._error = exc
            finally:
                self._queue.task_done()

    def wait(self) -> None:
        """Block until every batch handed over is processed; re-raise the first failure."""
        if threading.current_thread() is self._thread:
            return  # called from a batch itself (e.g. the report on failure): nothing to wait for
        self._queue.join()
        self.raise_failure()

    def raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    @property
    def failed(self) -> bool:
        return self._error is not None

    def close(self) -> None:
        thread = self._thread
        if thread is not None and thread is not threading.current_thread() and thread.is_alive():
            self._queue.put(None)
            thread.join()
