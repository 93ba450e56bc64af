"""Background workers that process the sinks' batches: one lane per kind of work, each lane in
the order its batches were handed over, lanes overlapping only where the work is independent.

The SDK drains a full sink synchronously: while a batch waits on Salesforce, no input line is
read. Handing the batch to a lane lets the SDK's thread parse and validate the next records
meanwhile. Guarantees:

* order: within a lane, one batch at a time, first in first out (a lane with several
  ``workers`` overlaps its batches instead; their turns keep the order). A batch also waits for the
  batches handed over before it in the lanes it depends on (``waits_for``; the target's lanes
  are in roles.py, why they are so in docs/DESIGN.md, "Concurrency model");
* turns: a batch is processed in two steps: ``process(*args)`` does its own work and returns a
  prepared batch (or None: nothing to commit), whose ``commit()`` (its output: writes, a file, a
  write-back) the worker runs in the batch's turn. Batches of one ``turn_of`` group may prepare
  on several threads at once (badges of different search results are independent reads), yet
  their commits run one after the other in submission order, so outputs stay in input order (a
  result seen twice ends as its later version). Batches without a group commit at once;
* bounded memory: at most ``depth`` batches wait per lane (``submit`` blocks beyond that);
* exactly once: ``wait()`` returns only when every batch handed over is done and re-raises the
  first failure (``submit`` after a failure does the same); the target calls it before every
  STATE message and at the end of input, so STATE never moves past records not yet written.
  After a failure, batches not yet started are dropped unprocessed, and a prepared batch waiting
  for its turn is dropped without committing (its output would follow a gap; the run fails; the
  next run starts from the last STATE).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol


class Prepared(Protocol):
    """What ``process`` returns: the batch's ordered step."""

    def commit(self) -> None: ...


class PreparedBatch:
    """A batch whose own work is done; ``commit()`` runs its ordered step (once) and nothing when
    built without one."""

    __slots__ = ("_commit",)

    def __init__(self, commit: Callable[[], None] | None = None) -> None:
        self._commit = commit

    def commit(self) -> None:
        step, self._commit = self._commit, None  # the step (and what it holds) is let go once run
        if step is not None:
            step()


class _Batch:
    __slots__ = ("args", "deps", "done", "turn")

    def __init__(self, args: tuple[Any, ...], deps: list[_Batch], turn: tuple[str, int] | None) -> None:
        self.args = args
        self.deps = deps
        self.done = threading.Event()
        self.turn = turn  # (group, sequence number in the group) or None


class _Turns:
    """Sequence numbers of one group whose turn is over; ``next`` is the first still to come."""

    __slots__ = ("issued", "next", "over")

    def __init__(self) -> None:
        self.issued = 0
        self.next = 0
        self.over: set[int] = set()


class BatchWorker:
    """``process(*args)`` prepares a batch and returns a ``Prepared`` (or None); ``lane_of(*args)``
    names a batch's lane (called in submission order); ``waits_for[lane]`` lists the other lanes
    whose earlier batches it waits for (missing or None: every lane); ``workers[lane]`` threads
    take that lane's batches (default 1: one at a time, in order; more: batches of the lane
    overlap, and only their commits keep the order); ``turn_of(*args)`` names the group whose
    commits run in submission order (None: no group). One lane by default."""

    def __init__(self, process: Callable[..., Prepared | None], *, depth: int = 1,
                 lane_of: Callable[..., str] | None = None,
                 waits_for: Mapping[str, Collection[str] | None] | None = None,
                 turn_of: Callable[..., str | None] | None = None,
                 workers: Mapping[str, int] | None = None) -> None:
        self._process = process
        self._depth = max(1, depth)
        self._lane_of = lane_of or (lambda *args: "batch-worker")
        self._waits_for = dict(waits_for or {})
        self._turn_of = turn_of or (lambda *args: None)
        self._turns: dict[str, _Turns] = {}
        self._queues: dict[str, queue.Queue[_Batch | None]] = {}
        self._workers = {lane: max(1, n) for lane, n in (workers or {}).items()}
        self._threads: dict[str, list[threading.Thread]] = {}
        self._unfinished: dict[str, list[_Batch]] = {}  # handed over and not done, per lane
        self._submit_lock = threading.Lock()
        self._cond = threading.Condition()
        self._outstanding = 0
        self._running: set[int] = set()  # idents of lane threads inside a batch
        self._waiting_inside: set[int] = set()  # ... of those calling wait() from there
        self._error: BaseException | None = None

    def submit(self, *args: Any) -> None:
        """Queue one batch (blocks while ``depth`` batches wait in its lane); raises an earlier
        failure, once every batch handed over has ended (the failing one writes its report)."""
        if self._error is not None:
            self.wait()
        with self._submit_lock:
            lane = self._lane_of(*args)
            group = self._turn_of(*args)
            turn = None
            if group is not None:
                with self._cond:
                    turns = self._turns.setdefault(group, _Turns())
                    turn = (group, turns.issued)
                    turns.issued += 1
            waits = self._waits_for.get(lane)
            workers = self._workers.get(lane, 1)
            lanes = set(self._unfinished) if waits is None else {*waits, lane}
            if workers > 1:
                lanes.discard(lane)  # its own lane's batches overlap (their turns keep the order)
            with self._cond:
                deps = [b for name in lanes for b in self._unfinished.get(name, ())]
                batch = _Batch(args, deps, turn)
                self._unfinished.setdefault(lane, []).append(batch)
                self._outstanding += 1
            if lane not in self._queues:
                self._queues[lane] = queue.Queue(maxsize=self._depth)
                self._threads[lane] = [
                    threading.Thread(target=self._run, args=(lane, self._queues[lane]),
                                     name=lane if workers == 1 else f"{lane}-{i}", daemon=True)
                    for i in range(workers)]
                for thread in self._threads[lane]:
                    thread.start()
        self._queues[lane].put(batch)

    def _run(self, name: str, lane: queue.Queue[_Batch | None]) -> None:
        me = threading.get_ident()
        while True:
            batch = lane.get()
            if batch is None:
                return
            try:
                for dep in batch.deps:
                    dep.done.wait()
                batch.deps = []  # let finished batches (and their records) be freed
                if self._error is None:
                    with self._cond:
                        self._running.add(me)
                    try:
                        prepared = self._process(*batch.args)
                        batch.args = ()  # the prepared batch holds what its commit needs
                        if prepared is not None:
                            with self._in_turn(batch):
                                prepared.commit()
                            del prepared
                    finally:
                        with self._cond:
                            self._running.discard(me)
                            self._cond.notify_all()
            except BaseException as exc:  # handed to the SDK's thread by wait()/submit()
                with self._cond:
                    self._error = self._error or exc
            finally:
                batch.args = ()
                self._end_turn(batch)  # a batch that never took its turn does not hold up the rest
                batch.done.set()
                with self._cond:
                    self._unfinished[name].remove(batch)
                    self._outstanding -= 1
                    self._cond.notify_all()

    @contextmanager
    def _in_turn(self, batch: _Batch) -> Iterator[None]:
        """The batch's commit: entered once every batch of its turn group handed over before it
        has committed (or ended without a commit); at once for a batch without a group. Raises the
        run's first failure instead of entering when a batch has failed meanwhile (its output
        must not be written after the gap)."""
        if batch.turn is None:
            yield
            return
        group, seq = batch.turn
        with self._cond:
            turns = self._turns[group]
            self._cond.wait_for(lambda: turns.next == seq or self._error is not None)
            if self._error is not None:
                raise self._error
        try:
            yield
        finally:
            self._end_turn(batch)

    def _end_turn(self, batch: _Batch) -> None:
        if batch.turn is None:
            return
        group, seq = batch.turn
        with self._cond:
            turns = self._turns[group]
            if seq < turns.next or seq in turns.over:
                return  # ended already (the commit's end, then the batch's end)
            turns.over.add(seq)
            while turns.next in turns.over:
                turns.over.discard(turns.next)
                turns.next += 1
            self._cond.notify_all()

    def wait(self) -> None:
        """Block until every batch handed over is processed; re-raise the first failure.

        Called from inside a batch (the report a failing batch writes), it waits only until no
        other lane is inside a batch, except lanes doing the same, so the report sees their
        counts and two failing lanes do not wait for each other."""
        me = threading.get_ident()
        if any(t.ident == me for threads in self._threads.values() for t in threads):
            with self._cond:
                self._waiting_inside.add(me)
                self._cond.notify_all()
                try:
                    self._cond.wait_for(lambda: not (self._running - self._waiting_inside - {me}))
                finally:
                    self._waiting_inside.discard(me)
            return
        with self._cond:
            self._cond.wait_for(lambda: self._outstanding == 0)
        self.raise_failure()

    def note_failure(self, exc: BaseException) -> None:
        """Record a failure now (from inside the failing batch, before its report is written), so
        no lane starts another batch meanwhile."""
        with self._cond:
            self._error = self._error or exc

    def raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    @property
    def failed(self) -> bool:
        return self._error is not None

    def close(self) -> None:
        me = threading.current_thread()
        for name, threads in list(self._threads.items()):
            others = [t for t in threads if t is not me and t.is_alive()]
            for _ in others:
                self._queues[name].put(None)
            for thread in others:
                thread.join()
