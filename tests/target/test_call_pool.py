"""CallPool, the run's one executor for Salesforce calls sent on another thread's behalf."""

from __future__ import annotations

import threading

import pytest

from target_salesforce_andsend.salesforce.pool import CallPool


def test_a_task_submitting_to_its_own_pool_runs_the_new_task_itself() -> None:
    pool = CallPool(1)  # one thread: waiting for a second task on it would never end

    def outer() -> tuple[str, str]:
        inner = pool.submit(lambda: threading.current_thread().name)
        return threading.current_thread().name, inner.result(timeout=5)

    outer_thread, inner_thread = pool.submit(outer).result(timeout=5)
    assert outer_thread == inner_thread and outer_thread.startswith("sf-call")
    pool.close()


def test_a_failure_reaches_the_future_and_the_pool_reopens_after_close() -> None:
    pool = CallPool(2)

    def fail() -> None:
        raise ValueError("refused")

    def nested_failure() -> BaseException | None:
        return pool.submit(fail).exception()

    with pytest.raises(ValueError, match="refused"):
        pool.submit(fail).result(timeout=5)
    assert isinstance(pool.submit(nested_failure).result(timeout=5), ValueError)
    assert not pool.inside()
    pool.close()
    assert pool.submit(lambda: 7).result(timeout=5) == 7
    pool.close()
