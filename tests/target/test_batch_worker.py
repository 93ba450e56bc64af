"""batch_worker.BatchWorker: batches in order, bounded, failures surface before any STATE."""

from __future__ import annotations

import threading
import time

import pytest

from target_salesforce_andsend.batch_worker import BatchWorker, PreparedBatch


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


LANES = {"p": "people", "t": "touchpoints", "s": "search-results"}
WAITS = {"people": None, "touchpoints": ("people",), "search-results": ("people",)}


def _laned(process) -> BatchWorker:
    return BatchWorker(process, lane_of=lambda kind, n: LANES[kind], waits_for=WAITS, depth=4)


def test_lanes_overlap_only_independent_work() -> None:
    """Tasks and badges overlap each other; both wait for the people before them; people wait
    for everything before them."""
    events: list[tuple[str, str, int]] = []
    lock = threading.Lock()
    both_inside = threading.Barrier(2, timeout=5)

    def process(kind: str, n: int) -> None:
        with lock:
            events.append(("start", kind, n))
        if n == 1:  # the first t and s batches meet inside: they must be able to run together
            both_inside.wait()
        time.sleep(0.05)
        with lock:
            events.append(("end", kind, n))

    worker = _laned(process)
    for kind, n in [("p", 0), ("t", 1), ("s", 1), ("t", 2), ("p", 3), ("s", 4), ("t", 4)]:
        worker.submit(kind, n)
    worker.wait()
    worker.close()
    at = {(e, k, n): i for i, (e, k, n) in enumerate(events)}
    assert at[("start", "t", 1)] > at[("end", "p", 0)] and at[("start", "s", 1)] > at[("end", "p", 0)]
    assert at[("start", "t", 2)] > at[("end", "t", 1)]  # one lane: in order, one at a time
    for before in [("t", 1), ("s", 1), ("t", 2)]:  # people wait for everything handed over before
        assert at[("start", "p", 3)] > at[("end", *before)]
    assert at[("start", "s", 4)] > at[("end", "p", 3)] and at[("start", "t", 4)] > at[("end", "p", 3)]
    assert len(events) == 14


def test_a_failure_in_one_lane_stops_every_lane() -> None:
    done: list[tuple[str, int]] = []

    def process(kind: str, n: int) -> None:
        if (kind, n) == ("t", 1):
            raise RuntimeError("quota")
        done.append((kind, n))

    worker = _laned(process)
    for kind, n in [("p", 0), ("t", 1), ("p", 2), ("s", 3)]:
        worker.submit(kind, n)
    with pytest.raises(RuntimeError, match="quota"):
        worker.wait()
    assert ("p", 2) not in done and ("s", 3) not in done  # handed over after the failed batch
    worker.close()


def test_two_failing_lanes_reporting_from_inside_do_not_wait_for_each_other() -> None:
    both_inside = threading.Barrier(2, timeout=5)

    def process(kind: str, n: int) -> None:
        both_inside.wait()  # both lanes are inside a batch
        worker.note_failure(RuntimeError(kind))
        worker.wait()  # each writes the report: must not wait for the other forever
        raise RuntimeError(kind)

    worker = _laned(process)
    worker.submit("t", 1)
    worker.submit("s", 1)
    raised: list[BaseException] = []

    def wait() -> None:
        try:
            worker.wait()
        except RuntimeError as exc:
            raised.append(exc)

    finished = threading.Thread(target=wait)
    finished.start()
    finished.join(5)
    assert not finished.is_alive(), "the two reporting lanes waited for each other"
    assert len(raised) == 1 and str(raised[0]) in ("t", "s")  # the first failure reaches the caller
    worker.close()


def _turned(process, workers: int = 2) -> BatchWorker:  # type: ignore[no-untyped-def]
    """Badge-like batches: one lane with ``workers`` threads, one turn group, outputs in order."""
    return BatchWorker(process, lane_of=lambda *_: "s", waits_for={"s": ()}, workers={"s": workers},
                       turn_of=lambda *_: "badges")


def test_turns_let_batches_overlap_but_keep_their_outputs_in_order() -> None:
    outputs: list[int] = []
    both_inside = threading.Barrier(2, timeout=5)

    def process(n: int, work_s: float) -> PreparedBatch:
        if n < 2:
            both_inside.wait()  # batches 0 and 1 run at the same time (two lanes)
        time.sleep(work_s)  # the later batches finish their own work first ...
        return PreparedBatch(lambda: outputs.append(n))  # ... yet write in the order they were handed over

    worker = _turned(process)
    for n, work_s in enumerate([0.3, 0.0, 0.2, 0.0, 0.1, 0.0]):
        worker.submit(n, work_s)
    worker.wait()
    worker.close()
    assert outputs == [0, 1, 2, 3, 4, 5]


def test_a_batch_ending_without_its_turn_does_not_hold_up_the_next() -> None:
    outputs: list[int] = []

    def process(n: int) -> PreparedBatch | None:
        if n % 2:
            return None  # nothing to write (every result was rejected): never enters its turn
        return PreparedBatch(lambda: outputs.append(n))

    worker = _turned(process)
    for n in range(6):
        worker.submit(n)
    worker.wait()
    worker.close()
    assert outputs == [0, 2, 4]


def test_a_failure_before_its_turn_stops_the_later_outputs() -> None:
    outputs: list[int] = []
    later_waiting = threading.Event()

    def process(n: int) -> PreparedBatch:
        if n == 0:
            later_waiting.wait(5)
            time.sleep(0.1)  # batch 1 is prepared, its commit waiting for batch 0's turn
            raise RuntimeError("lookup failed")
        later_waiting.set()
        return PreparedBatch(lambda: outputs.append(n))

    worker = _turned(process)
    worker.submit(0)
    worker.submit(1)
    with pytest.raises(RuntimeError, match="lookup failed"):
        worker.wait()
    worker.close()
    assert outputs == []  # batch 1's output would have followed a gap: it is not written


def test_a_prepared_batch_outside_the_worker_commits_at_once() -> None:
    outputs: list[int] = []
    prepared = PreparedBatch(lambda: outputs.append(1))
    prepared.commit()
    prepared.commit()  # once only
    assert outputs == [1]


def test_a_lane_waiting_for_a_multi_worker_lane_waits_for_all_its_unfinished_batches() -> None:
    """People wait for every touchpoints batch before them, also a slow one overtaken by a later one."""
    events: list[tuple[str, str, int]] = []
    lock = threading.Lock()

    def process(kind: str, n: int) -> None:
        with lock:
            events.append(("start", kind, n))
        time.sleep(0.4 if (kind, n) == ("t", 1) else 0.01)
        with lock:
            events.append(("end", kind, n))

    worker = BatchWorker(process, lane_of=lambda kind, _n: kind, waits_for={"p": None, "t": ("p",)},
                         workers={"t": 2})
    for kind, n in [("t", 1), ("t", 2), ("p", 3)]:
        worker.submit(kind, n)
    worker.wait()
    worker.close()
    at = {(e, k, n): i for i, (e, k, n) in enumerate(events)}
    assert at[("end", "t", 2)] < at[("end", "t", 1)]  # two workers: batch 2 overtook batch 1
    assert at[("start", "p", 3)] > at[("end", "t", 1)]
