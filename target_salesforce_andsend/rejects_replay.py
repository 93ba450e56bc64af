"""Rejected records stay retryable work: the record as the tap sent it is kept in the state store
(`links.py`, table `retry_rejects`, per org) with its last refusal, its attempts and when it may be
tried again; later runs retry it, and `target-salesforce-andsend rejects list|replay|clear` lets an
admin act once the org is fixed.

* Which records: those of the roles that write to Salesforce (prospects, touchpoints). A refusal
  whose cause an org change can clear (validation rule, automation, access, lock, blocking
  duplicate rule: `reject_hints.RETRYABLE_CAUSES`) is retried by later runs with back-off:
  `rejects_retry_backoff_minutes` x 2^(attempts-1), at most 7 days, up to
  `rejects_retry_max_attempts` attempts. Bad input is kept but retried only when an admin asks
  (`rejects replay`), since nothing changes it by itself (a new version from the tap is written
  as any record).
* When: once per run, after the last input batch (`replay_due`), prospects before touchpoints (Tasks
  need their people), and never for a record this run already received from the tap (its newer
  version won). `rejects replay` only marks rows for the next run: a replay then runs under the
  run lease, with the run's catalog and after the new input, like any other batch.
* Exactly once: a replayed record goes through the role's own `process_batch`, whose matching
  (external ids, e-mails, the Task existence check) finds what an earlier attempt or run wrote, so
  a replay and a rerun update or skip instead of creating again. The store row is deleted only
  after the record was written (or found written); a crash in between only means the next run
  finds it written.
* STATE: a reject is written to the rejects file and this store within its batch, before any
  STATE passing it is emitted (target.py waits for the batch), so STATE acknowledges only
  records that are written or kept as work. The bookmark is not held back for them: the record
  itself is in the store, and re-reading the tap's stream would not change the org.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from .links import open_store
from .reject_hints import hint_for, retried_automatically
from .settings import Settings

REPLAYABLE_ROLES = ("prospects", "touchpoints")  # in replay order
MAX_BACKOFF = timedelta(days=7)
REPLAY_BATCH = 5000


def _record(raw: dict[str, Any] | str) -> dict[str, Any]:
    """A record kept as sent: a packed one decoded as the sink would (``sinks.unpack``)."""
    return json.loads(raw, parse_float=Decimal) if isinstance(raw, str) else raw


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def store_has_due(settings: Settings, default_path: Path) -> bool:
    """Whether the state store holds rejects, of any org, that a run would retry now: a run without
    input then still signs in to retry them."""
    if not settings.state_store_url and not Path(default_path).exists():
        return False
    store = open_store(settings, Path(default_path))
    try:
        now = _iso(datetime.now(timezone.utc))
        return any(r["replay"] or (r["next_at"] and r["next_at"] <= now)
                   for r in store.rejects_query() if r["role"] in REPLAYABLE_ROLES)
    finally:
        store.close()


def next_attempt(now: datetime, attempts: int, backoff_minutes: float) -> datetime:
    """When a record refused ``attempts`` times may be tried again (exponential, capped)."""
    delay = timedelta(minutes=backoff_minutes) * (2 ** max(0, attempts - 1))
    return now + min(delay, MAX_BACKOFF)


class RetryQueue:
    """The run's side of the store's ``retry_rejects`` rows. Thread-safe (lanes run in parallel).

    ``batch(role, records)`` wraps each role batch: its records are known by key while it runs, so a
    reject can keep the record as sent; at its end the batch's rejects and writes reach the store."""

    def __init__(self, store: Any, config: Settings | Mapping[str, Any], logger: logging.Logger | None = None,
                 *, clock: Callable[[], datetime] | None = None) -> None:
        settings = Settings.of(config)
        self.store = store
        self.log = logger or logging.getLogger("target_salesforce_andsend")
        self.enabled = settings.rejects_retry
        self.backoff_minutes = settings.rejects_retry_backoff_minutes
        self.max_attempts = settings.rejects_retry_max_attempts
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._lock = threading.Lock()
        self._raw: dict[tuple[str, str], dict[str, Any] | str] = {}  # a dict, or packed (sinks.pack)
        self._seen: set[tuple[str, str]] = set()
        self._replaying: set[tuple[str, str]] = set()
        # (role, key) -> the batch's last word on it: a reject line, or None (written)
        self._events: dict[tuple[str, str], dict[str, Any] | None] = {}
        self.figures: dict[str, Any] = {"kept": 0, "resolved": 0, "replayed": 0, "replay_cleared": 0,
                                        "replay_rejected_again": 0}

    # -- hooks (RejectsFile calls them) -----------------------------------------------------------

    def on_reject(self, line: dict[str, Any]) -> bool:
        """A reject line was written; True when it is a replayed record's (not a new loss)."""
        key = (str(line.get("role")), str(line.get("key")))
        with self._lock:
            if key in self._raw:
                self._events[key] = line
            return key in self._replaying

    # -- batches --------------------------------------------------------------------------------

    @contextmanager
    def batch(self, role: str, records: list[dict[str, Any]], *, replay: bool = False,
              packed: Sequence[str] | None = None) -> Iterator[None]:
        """``packed``: the same records as the sink packed them (compact JSON, aligned with
        ``records``), kept instead of the dicts so the role module can free those while the batch
        waits and writes. Roles never retried keep nothing."""
        if role not in REPLAYABLE_ROLES:
            yield
            return
        raws: Sequence[Any] = records if packed is None else packed
        # Only the keys stay referenced here while the batch runs (this frame lives until its end).
        keyed = {(role, str(r["id"])): raw for r, raw in zip(records, raws, strict=True)
                 if isinstance(r, dict) and r.get("id") not in (None, "")}
        keys = list(keyed)
        del raws
        with self._lock:
            if keys and all(k in self._raw for k in keys):  # a replay batch on the target's own path
                nested = True
            else:
                nested = False
                for k, raw in keyed.items():
                    self._raw[k] = raw
                    self._seen.add(k)
                    if replay:
                        self._replaying.add(k)
        keyed.clear()
        if nested:
            yield
            return
        try:
            yield
            self._flush(role, keys, replay=replay)
        finally:
            with self._lock:
                for k in keys:
                    self._raw.pop(k, None)
                    self._events.pop(k, None)
                    self._replaying.discard(k)

    def _flush(self, role: str, keys: list[tuple[str, str]], *, replay: bool) -> None:
        """The batch's outcome reaches the store: its rejects are kept (attempts, next try); every other
        record of it (written, found written, skipped, parked: handled) leaves the store."""
        if role not in REPLAYABLE_ROLES or not keys:
            return
        with self._lock:
            rejected = {k: (self._events[(r, k)], _record(self._raw[(r, k)])) for r, k in keys
                        if self._events.get((r, k)) is not None}
        stored = self.store.rejects_get(role, [k for _, k in keys])
        handled = [k for k in stored if k not in rejected]
        now = self.clock()
        rows = []
        for key, (line, record) in rejected.items():
            before = stored.get(key)
            # A replay counts as one more attempt; a record from the tap starts over (new data).
            attempts = (before["attempts"] + 1) if (before and replay) else 1
            code = str(line.get("error_code"))
            hint = hint_for(code)
            automatic = self.enabled and retried_automatically(code) and attempts < self.max_attempts
            rows.append({"role": role, "key": key, "object": line.get("object"), "error_code": code,
                         "cause": hint.cause, "message": line.get("message"), "hint": hint.text,
                         "record": record, "attempts": attempts,
                         "first_at": before["first_at"] if before else _iso(now), "last_at": _iso(now),
                         "next_at": _iso(next_attempt(now, attempts, self.backoff_minutes)) if automatic else None,
                         "replay": False})
        self.store.rejects_put(rows)
        self.store.rejects_delete(role, handled)
        with self._lock:
            self.figures["kept"] += len(rows)
            self.figures["resolved"] += len(handled)
            if replay:
                self.figures["replay_cleared"] += len(handled)
                self.figures["replay_rejected_again"] += len(rows)

    # -- replay ---------------------------------------------------------------------------------

    def replay_due(self, process: Callable[[str, list[dict[str, Any]]], None]) -> dict[str, int]:
        """Retry the rows that are due (or asked for), role by role; ``process(role, records)`` runs
        a role batch (the target's own path). Returns records replayed per role."""
        done: dict[str, int] = {}
        for role in REPLAYABLE_ROLES:
            rows = [r for r in self.store.rejects_due(role, _iso(self.clock())) if (role, r["key"]) not in self._seen]
            if not rows:
                continue
            self.log.info("Retrying %d %s record(s) rejected by earlier runs (%s)", len(rows), role,
                          ", ".join(sorted({r["error_code"] for r in rows})))
            for start in range(0, len(rows), REPLAY_BATCH):
                records = [r["record"] for r in rows[start:start + REPLAY_BATCH]]
                with self.batch(role, records, replay=True):
                    process(role, records)
            done[role] = len(rows)
            with self._lock:
                self.figures["replayed"] += len(rows)
        return done
