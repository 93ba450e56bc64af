"""batch_worker.BatchWorker: batches in order, bounded, failures surface before any STATE."""

from __future__ import annotations

import threading
import time

import pytest

from target_salesforce_andsend.batch_worker import BatchWorker


def test_batches_run_in_order_off_the_calling_thread() -> None:
    seen: list[tuple[str, int, str]] = []
    worker = BatchWorker(lambda role, n: seen.append((role, n, threading.current_thread().name)))
    for i in range(20):
        worker.submit("prospects" if i % 2 else "touchpoints", i)
    worker.wait()
    assert [n for _, n, _ in seen] == list(range(20))
    assert {name for *_, name in seen} == {"batch-worker"}
    worker.close()


def test_submit_blocks_while_depth_batches_wait() -> None:
    release = threading.Event()
    started = threading.Event()

    def slow(n: int) -> None:
        started.set()
        release.wait(5)

    worker = BatchWorker(slow, depth=1)
    worker.submit(1)
    started.wait(5)
    worker.submit(2)  # waits in the queue
    blocked = threading.Thread(target=worker.submit, args=(3,))
    blocked.start()
    time.sleep(0.2)
    assert blocked.is_alive()  # a third batch is not taken while one runs and one waits
    release.set()
    blocked.join(5)
    worker.wait()
    worker.close()


def test_a_failure_is_raised_by_wait_and_submit_and_later_batches_are_dropped() -> None:
    done: list[int] = []

    def process(n: int) -> None:
        if n == 2:
            raise RuntimeError("quota")
        done.append(n)

    worker = BatchWorker(process, depth=10)
    for n in range(5):
        worker.submit(n)
    with pytest.raises(RuntimeError, match="quota"):
        worker.wait()
    assert done == [0, 1]  # nothing after the failed batch was written
    assert worker.failed
    with pytest.raises(RuntimeError, match="quota"):
        worker.submit(9)
    worker.close()


def test_wait_from_inside_a_batch_does_not_deadlock() -> None:
    calls: list[str] = []
    worker: BatchWorker

    def process(tag: str) -> None:
        worker.wait()  # e.g. the report written by a failing batch
        calls.append(tag)

    worker = BatchWorker(process)
    worker.submit("a")
    worker.wait()
    assert calls == ["a"]
    worker.close()
