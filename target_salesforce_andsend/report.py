"""Run report (JSON at `report_path`, a readable summary in the log) and the rejects file.

Report API for every role module (thread-safe):

* `count(role, object, outcome, n=1)`: outcomes such as matched, created, updated, unchanged,
  skipped, rejected (prospects) or whatever a role needs (activities, badges).
* `skip(role, reason, key)`: one skipped input with its reason (counted per reason; the first
  keys per reason are kept as examples).
* `ambiguous(role, key, object, via, candidates, chosen)`: several Salesforce records matched.
* `match_audit(entry)`: a match that was not exact, or a near miss that led to a create (with its
  score), so an admin can audit the matching.
* `owner(status)`: resolved / not_found / inactive / no_email / fallback_user.
* `plan_action(dict)`: one planned action (dry run and `plan`), `note(text)`: free-form lines.
* `section(name)`: a dict a role module may fill with its own figures.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

_EXAMPLES_PER_REASON = 20
_MAX_AMBIGUOUS = 1000
_MAX_PLAN = 100_000
_MAX_AUDIT = 10_000


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunReport:
    def __init__(self, *, dry_run: bool = False, object_mode: str | None = None):
        self._lock = threading.Lock()
        self.started_at = _now()
        self.finished_at: str | None = None
        self.dry_run = dry_run
        self.object_mode = object_mode
        self.counts: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
        self.skips: dict[str, Counter[str]] = defaultdict(Counter)
        self.skip_examples: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        self.ambiguous_matches: list[dict[str, Any]] = []
        self.match_audits: list[dict[str, Any]] = []
        self.owners: Counter[str] = Counter()
        self.plan: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.sections: dict[str, dict[str, Any]] = {}
        self.api_calls: dict[str, int] = {}
        self.quota: dict[str, Any] = {}
        self.rejects_total = 0
        self.status = "running"
        self.error: str | None = None

    # -- recording ------------------------------------------------------------------------

    def count(self, role: str, object: str, outcome: str, n: int = 1) -> None:
        if n:
            with self._lock:
                self.counts[role][object][outcome] += n

    def get(self, role: str, object: str, outcome: str) -> int:
        with self._lock:
            return self.counts.get(role, {}).get(object, Counter()).get(outcome, 0)

    def skip(self, role: str, reason: str, key: str | None = None) -> None:
        with self._lock:
            self.skips[role][reason] += 1
            examples = self.skip_examples[role][reason]
            if key is not None and len(examples) < _EXAMPLES_PER_REASON:
                examples.append(str(key))

    def ambiguous(self, role: str, key: str, object: str, via: str, candidates: list[str],
                  chosen: str) -> None:
        with self._lock:
            if len(self.ambiguous_matches) < _MAX_AMBIGUOUS:
                self.ambiguous_matches.append({"role": role, "key": key, "object": object, "via": via,
                                               "candidates": list(candidates), "chosen": chosen})
            self.counts[role][object]["ambiguous"] += 1

    def match_audit(self, role: str, entry: dict[str, Any]) -> None:
        with self._lock:
            if len(self.match_audits) < _MAX_AUDIT:
                self.match_audits.append({"role": role, **entry})

    def owner(self, status: str, n: int = 1) -> None:
        with self._lock:
            self.owners[status] += n

    def plan_action(self, action: dict[str, Any]) -> None:
        with self._lock:
            if len(self.plan) < _MAX_PLAN:
                self.plan.append(action)

    def note(self, text: str) -> None:
        with self._lock:
            self.notes.append(text)

    def section(self, name: str) -> dict[str, Any]:
        with self._lock:
            return self.sections.setdefault(name, {})

    def rejected(self, n: int = 1) -> None:
        with self._lock:
            self.rejects_total += n

    # -- output ---------------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "status": self.status,
                "error": self.error,
                "dry_run": self.dry_run,
                "object_mode": self.object_mode,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "counts": {role: {obj: dict(c) for obj, c in objs.items()} for role, objs in self.counts.items()},
                "skipped": {role: dict(c) for role, c in self.skips.items()},
                "skipped_examples": {role: {r: list(v) for r, v in d.items()}
                                     for role, d in self.skip_examples.items()},
                "owners": dict(self.owners),
                "ambiguous_matches": list(self.ambiguous_matches),
                "match_audit": list(self.match_audits),
                "rejects": self.rejects_total,
                "api_calls": dict(self.api_calls),
                "api_calls_total": sum(self.api_calls.values()),
                "quota": dict(self.quota),
                "plan": list(self.plan),
                "notes": list(self.notes),
                **{name: dict(body) for name, body in self.sections.items()},
            }

    def write(self, path: str | Path) -> Path:
        """Atomically replace the report file (a crash never leaves half a report)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".report-", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.as_dict(), fh, indent=2, ensure_ascii=False, default=str)
            fh.write("\n")
        os.replace(tmp, path)
        return path

    def summary_lines(self) -> list[str]:
        data = self.as_dict()
        lines = [f"Run {data['status']}{' (dry run)' if self.dry_run else ''}"
                 + (f", mode {self.object_mode}" if self.object_mode else "")]
        for role, objs in sorted(data["counts"].items()):
            for obj, outcomes in sorted(objs.items()):
                parts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(outcomes.items()))
                lines.append(f"  {count_label(role, obj)}: {parts}")
        for role, reasons in sorted(data["skipped"].items()):
            lines.append(f"  {role} skipped: " + ", ".join(f"{r} {n}" for r, n in sorted(reasons.items())))
        if data["owners"]:
            lines.append("  owners: " + ", ".join(f"{k} {v}" for k, v in sorted(data["owners"].items())))
        if data["ambiguous_matches"]:
            lines.append(f"  ambiguous matches: {len(data['ambiguous_matches'])} (listed in the report)")
        if data["match_audit"]:
            lines.append(f"  non-exact matches and near misses: {len(data['match_audit'])} (listed in the report)")
        index = data.get("account_index")
        if index:
            lines.append(f"  account index: {index.get('mode')}, {index.get('refresh_calls', 0)} call(s), "
                         f"{index.get('rows_read', 0)} Accounts read, {index.get('removed', 0)} removed, "
                         f"{index.get('accounts_indexed', 0)} indexed; "
                         f"{index.get('matches_via_index', 0)} linked through it")
        if data["rejects"]:
            lines.append(f"  rejected records: {data['rejects']} (see the rejects file)")
        calls = ", ".join(f"{k}: {v}" for k, v in sorted(data["api_calls"].items()))
        lines.append(f"  Salesforce API calls: {data['api_calls_total']} ({calls or 'none'})")
        if data["quota"]:
            lines.append("  quota: " + ", ".join(f"{k} {v}" for k, v in data["quota"].items() if v is not None))
        if data["error"]:
            lines.append(f"  error: {data['error']}")
        return lines

    def log_summary(self, logger: logging.Logger) -> None:
        for line in self.summary_lines():
            logger.info(line)


def count_label(role: str, obj: str) -> str:
    """A person's words for a (role, object) pair of the report's counts."""
    if role == "ignore":
        return "streams without a role (not written, e.g. campaigns)"
    if obj == "TaskOwner":
        return "Task owners"
    if obj == "Prospect":
        return "prospects"
    return f"{role.replace('_', ' ')} / {obj.replace('_', ' ')}"


class RejectsFile:
    """JSON lines: run_id, status, role, key, object, error_code, message, fields, record. Appends
    and flushes each line, so what was rejected is on disk even if the run dies right after.

    The file keeps every run's rejects (a record rejected once is not sent again by the tap; the
    state store keeps it as retryable work, rejects_replay.py), each
    line marked with the run that wrote it and a status: ``open`` until a later run writes the same
    record (``resolved``, with ``resolved_by_run``) or rejects it again (``superseded``: the newer
    line stands). The report gives this run's rejects and the open lines of all runs, so the two
    agree; ``finish`` updates earlier runs' lines at the end of each run."""

    def __init__(self, path: str | Path, logger: logging.Logger | None = None, *, run_id: str | None = None):
        self.path = Path(path)
        self.logger = logger or logging.getLogger("target_salesforce_andsend")
        self._lock = threading.Lock()
        self.count = 0
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self._rejected: set[tuple[str, str]] = set()
        self._resolved: set[tuple[str, str]] = set()
        # rejects_replay.RetryQueue.on_reject: keeps the record as retryable work; True for a replayed
        # record refused again (counted in `replayed`, not as a new reject of this run)
        self.listener: Any = None
        self.replayed = 0

    def resolved(self, role: str, keys: Iterable[Any]) -> None:
        """Records of ``role`` this run wrote (or found already written): earlier rejects of them are resolved."""
        with self._lock:
            self._resolved.update((role, str(k)) for k in keys if k is not None and k != "")

    def finish(self) -> dict[str, int]:
        """Mark earlier runs' open lines resolved or superseded; returns the file's line counts by status."""
        counts: Counter[str] = Counter()
        with self._lock:
            if not self.path.exists():
                return {}
            fd, tmp = tempfile.mkstemp(prefix=".rejects-", dir=self.path.parent)
            changed = False
            with os.fdopen(fd, "w", encoding="utf-8") as out, self.path.open(encoding="utf-8") as lines:
                for raw in lines:
                    try:
                        line = json.loads(raw)
                    except ValueError:  # a line torn by a crash: kept as it is
                        out.write(raw)
                        continue
                    status = line.get("status", "open")
                    if status == "open" and line.get("run_id") != self.run_id:
                        key = (str(line.get("role")), str(line.get("key")))
                        if key in self._rejected:
                            line.update(status="superseded", superseded_by_run=self.run_id)
                        elif key in self._resolved:
                            line.update(status="resolved", resolved_by_run=self.run_id)
                        changed = changed or line.get("status", "open") != status
                    counts[line.get("status", "open")] += 1
                    out.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
            if changed:
                os.replace(tmp, self.path)
            else:
                os.unlink(tmp)
        return dict(counts)

    def add(self, *, role: str, key: str | None, object: str | None, error_code: str,
            message: str, fields: list[str] | None = None, record: dict | None = None) -> bool:
        """Append one line; True when it counts as a reject of this run (not a replayed record
        refused again). Role modules call ``RunContext.reject``, which also counts it in the report."""
        from .reject_hints import hint_for

        hint = hint_for(error_code)
        line = {"at": _now(), "run_id": self.run_id, "status": "open", "role": role, "key": key, "object": object,
                "error_code": error_code, "message": message, "fields": list(fields or []), "record": record,
                "hint": hint.text, "cause": hint.cause}
        replayed = bool(self.listener(line)) if self.listener is not None else False
        with self._lock:
            self._rejected.add((role, str(key)))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
            if replayed:
                self.replayed += 1
            else:
                self.count += 1
        self.logger.warning("Rejected %s %s (%s): %s %s", role, key, object or "-", error_code, message)
        return not replayed
