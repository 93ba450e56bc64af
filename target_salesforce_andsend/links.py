"""LinkStore: what this target knows between runs, in `<output_dir>/links.sqlite`.

* `links`: Andsend prospect id -> the Salesforce record it was created as or linked to
  (object, id, account id, email). Lets activities find their person without a query and lets
  later runs find email-less prospects in orgs without the external-id field.
* `andsend_users`: Andsend user id -> email (from the users stream and denormalised fields), so
  a later run that sees only `purchased_by_user_id` still resolves the owner.
* `meta`: small named values (`get_meta`/`put_meta`), e.g. the CRM-status watermarks.
* `pending`: generic parked work (`kind`, `key`, JSON payload), e.g. touchpoints whose person
  is not in Salesforce yet; the owner of the kind retries and deletes them.

SQLite in WAL mode, one connection per thread (sinks may drain in parallel threads).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS links (
    prospect_id TEXT PRIMARY KEY, object TEXT NOT NULL, record_id TEXT NOT NULL,
    account_id TEXT, email TEXT, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS links_email ON links(email);
CREATE TABLE IF NOT EXISTS andsend_users (user_id TEXT PRIMARY KEY, email TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending (
    kind TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (kind, key));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);
"""

_CHUNK = 500  # bound parameters per statement, well under SQLite's limit


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class LinkStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.Lock()
        with self._lock:
            conn = self._conn()
            conn.executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def _write_many(self, sql: str, data: list[tuple[Any, ...]]) -> None:
        """One transaction for the whole batch: the connection autocommits, and a commit per row
        (5,000 a batch) cost 40 us each; all rows or none also suits a killed run."""
        with self._lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(sql, data)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- prospect links -------------------------------------------------------------------

    def put_links(self, rows: Iterable[dict[str, Any]]) -> None:
        """rows: {prospect_id, object, record_id, account_id?, email?}; last write wins."""
        data = [(r["prospect_id"], r["object"], r["record_id"], r.get("account_id"), r.get("email"), _now())
                for r in rows if r.get("prospect_id") and r.get("record_id")]
        if not data:
            return
        self._write_many(
            "INSERT INTO links(prospect_id, object, record_id, account_id, email, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(prospect_id) DO UPDATE SET object=excluded.object, "
            "record_id=excluded.record_id, account_id=excluded.account_id, "
            "email=COALESCE(excluded.email, links.email), updated_at=excluded.updated_at",
            data,
        )

    def get_many(self, prospect_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = [p for p in dict.fromkeys(prospect_ids) if p]
        out: dict[str, dict[str, Any]] = {}
        conn = self._conn()
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(
                f"SELECT prospect_id, object, record_id, account_id, email FROM links WHERE prospect_id IN ({marks})",  # noqa: S608 - placeholders only
                chunk,
            ):
                out[row[0]] = {"prospect_id": row[0], "object": row[1], "record_id": row[2],
                               "account_id": row[3], "email": row[4]}
        return out

    def get(self, prospect_id: str) -> dict[str, Any] | None:
        return self.get_many([prospect_id]).get(prospect_id)

    def iter_links(self, *, updated_since: str | None = None) -> list[dict[str, Any]]:
        """Every link (with its ``updated_at``), or those updated at or after ``updated_since``."""
        sql = "SELECT prospect_id, object, record_id, account_id, email, updated_at FROM links"
        params: tuple[Any, ...] = ()
        if updated_since:
            sql += " WHERE updated_at >= ?"
            params = (updated_since,)
        return [{"prospect_id": r[0], "object": r[1], "record_id": r[2], "account_id": r[3], "email": r[4],
                 "updated_at": r[5]} for r in self._conn().execute(sql + " ORDER BY prospect_id", params)]

    def count_links(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM links").fetchone()[0]

    # -- Andsend users --------------------------------------------------------------------

    def put_users(self, users: dict[str, str]) -> None:
        data = [(uid, email, _now()) for uid, email in users.items() if uid and email]
        if not data:
            return
        self._write_many(
            "INSERT INTO andsend_users(user_id, email, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(user_id) DO UPDATE SET email=excluded.email, updated_at=excluded.updated_at",
            data,
        )

    def users(self) -> dict[str, str]:
        return dict(self._conn().execute("SELECT user_id, email FROM andsend_users"))

    # -- named values ---------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put_meta(self, key: str, value: str) -> None:
        self._write_many(
            "INSERT INTO meta(key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
            [(key, value, _now())],
        )

    # -- parked work ----------------------------------------------------------------------

    def pending_put(self, kind: str, items: dict[str, Any]) -> None:
        """Park payloads under (kind, key); re-parking a key replaces its payload, counts attempts."""
        now = _now()
        data = [(kind, key, json.dumps(payload, default=str), now, now) for key, payload in items.items()]
        if not data:
            return
        self._write_many(
            "INSERT INTO pending(kind, key, payload, attempts, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?) "
            "ON CONFLICT(kind, key) DO UPDATE SET payload=excluded.payload, attempts=pending.attempts + 1, "
            "updated_at=excluded.updated_at",
            data,
        )

    def pending_list(self, kind: str, *, limit: int | None = None) -> dict[str, Any]:
        sql = "SELECT key, payload FROM pending WHERE kind = ? ORDER BY created_at, key"
        params: list[Any] = [kind]
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        return {key: json.loads(payload) for key, payload in self._conn().execute(sql, params)}

    def pending_delete(self, kind: str, keys: Iterable[str]) -> None:
        data = [(kind, k) for k in keys]
        if not data:
            return
        self._write_many("DELETE FROM pending WHERE kind = ? AND key = ?", data)

    def pending_count(self, kind: str) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM pending WHERE kind = ?", (kind,)).fetchone()[0]

    # -- touchpoints waiting for their person (used by activities.py) ---------------------

    def pending_touchpoints(self) -> list[dict]:
        return list(self.pending_list("touchpoint").values())

    def add_pending_touchpoints(self, touchpoints: Iterable[dict]) -> None:
        self.pending_put("touchpoint", {str(tp["id"]): tp for tp in touchpoints if tp.get("id") is not None})

    def remove_pending_touchpoints(self, touchpoint_ids: Iterable[str]) -> None:
        self.pending_delete("touchpoint", [str(t) for t in touchpoint_ids])
