"""LinkStore: what this target knows between runs, behind one small interface, two backends.

* SQLite in `<output_dir>/links.sqlite` (`LinkStore`, the embedded default: one host);
* PostgreSQL (`PostgresLinkStore`, setting `state_store_url`, optional extra `[postgres]`): for
  runners that start clean (containers, CI, Kubernetes CronJobs) and for runs on several hosts.

Everything Salesforce-specific is kept per org: the store is opened for the org id the target
signed in to (`Token.org_id`), so a refreshed sandbox or a switched environment never sees another
org's record ids (`org_switch` tells when the last run of a pipeline signed in elsewhere).

Tables (the same in both backends):

* `links`: (org, Andsend prospect id) -> the Salesforce record it was created as or linked to
  (object, id, account id, email). Lets activities find their person without a query and lets
  later runs find email-less prospects in orgs without the external-id field.
* `andsend_users`: Andsend user id -> email (Andsend facts, not the org's), so a later run that
  sees only `purchased_by_user_id` still resolves the owner.
* `pending`: (org, kind, key) -> parked JSON payload, e.g. touchpoints whose person is not in
  Salesforce yet; the owner of the kind retries and deletes them.
* `meta`: (org, key) -> text (`get_meta` / `put_meta`), small facts such as watermarks.
* `leases`: the run lease (lease.py): one writer per org and pipeline.
* `retry_rejects`: (org, role, record key) -> a rejected record kept as retryable work, with its
  refusal, attempts and next try (rejects_replay.py; created on first use).

Rows written before the store knew orgs (org `''`) belong to the first org that opens it.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .settings import Settings

UNCLAIMED = ""  # org of rows written before the store was keyed by org (or before sign-in)
_GLOBAL = "*"   # org of store-wide meta (the last org each pipeline signed in to)

_TABLES = """
CREATE TABLE IF NOT EXISTS links (
    org_id TEXT NOT NULL, prospect_id TEXT NOT NULL, object TEXT NOT NULL, record_id TEXT NOT NULL,
    account_id TEXT, email TEXT, updated_at TEXT NOT NULL, PRIMARY KEY (org_id, prospect_id));
CREATE INDEX IF NOT EXISTS links_email ON links(org_id, email);
CREATE TABLE IF NOT EXISTS andsend_users (user_id TEXT PRIMARY KEY, email TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending (
    org_id TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (org_id, kind, key));
CREATE TABLE IF NOT EXISTS meta (
    org_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (org_id, key));
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY, holder TEXT NOT NULL, info TEXT NOT NULL, acquired_at DOUBLE PRECISION NOT NULL,
    heartbeat_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL);
"""

_CONNS_LOCK = threading.Lock()
_CHUNK = 500  # bound parameters per statement, well under SQLite's limit


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def holder_id() -> str:
    """Who holds a lease: host, process and a random part (a restarted pid is another holder)."""
    import os
    import secrets

    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class LinkStore:
    """The SQLite backend, and the interface both backends share. Subclasses change only how
    statements reach the database (`_conn`, `_write_many`, `_rows`, `_tx`, `now`)."""

    backend = "sqlite"

    def __init__(self, path: str | Path, org_id: str | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.org_id = org_id or UNCLAIMED
        self._local = threading.local()
        self._lock = threading.Lock()
        with self._lock:
            conn = self._conn()
            _migrate_sqlite_v1(conn)
            conn.executescript(_TABLES)
        self._claim_unclaimed()

    def describe(self) -> str:
        return f"SQLite {self.path}"

    # -- backend primitives (SQLite) ----------------------------------------------------------

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            self._remember_conn(conn)
        return conn

    def _remember_conn(self, conn: Any) -> None:
        with _CONNS_LOCK:
            if not hasattr(self, "_conns"):
                self._conns: list[Any] = []
            self._conns.append(conn)

    def _write_many(self, sql: str, data: list[tuple[Any, ...]]) -> None:
        """One transaction for the whole batch: the connection autocommits, and a commit per row
        would pay a commit for each of a batch's rows; all rows or none also suits a killed run."""
        with self._tx() as cur:
            cur.executemany(sql, data)

    def _tx(self) -> Any:
        """A write transaction (serialised with every other writer of the file)."""
        store = self

        class _Tx:
            def __enter__(self) -> Any:
                store._lock.acquire()
                self.conn = store._conn()
                self.conn.execute("BEGIN IMMEDIATE")
                return self.conn

            def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
                try:
                    self.conn.execute("ROLLBACK" if kind else "COMMIT")
                finally:
                    store._lock.release()

        return _Tx()

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        return list(self._conn().execute(sql, list(params)))

    def now(self) -> float:
        """The clock leases are measured by (SQLite: this host's; PostgreSQL: the server's)."""
        return time.time()

    def close(self) -> None:
        for conn in getattr(self, "_conns", []):
            try:
                conn.close()
            except Exception:  # closing is best effort
                pass
        self._conns = []
        self._local = threading.local()

    # -- org scope ----------------------------------------------------------------------------

    def _claim_unclaimed(self) -> None:
        if self.org_id == UNCLAIMED:
            return
        with self._tx() as cur:
            for table in ("links", "pending", "meta"):
                # Rows of the same key already under this org win over unclaimed ones.
                keys = {"links": "prospect_id", "pending": "kind, key", "meta": "key"}[table]
                cur.execute(
                    f"DELETE FROM {table} WHERE org_id = ? AND ({keys}) IN "  # noqa: S608 - names from code
                    f"(SELECT {keys} FROM {table} WHERE org_id = ?)", (UNCLAIMED, self.org_id))
                cur.execute(f"UPDATE {table} SET org_id = ? WHERE org_id = ?",  # noqa: S608 - names from code
                            (self.org_id, UNCLAIMED))

    def org_switch(self, pipeline: str) -> str | None:
        """Record that `pipeline` now writes to this org; return the org its last run signed in
        to when that was another one (else None). Parked touchpoints (Andsend data, no Salesforce
        ids) follow the pipeline to the new org; links and create intents stay with their org."""
        key = f"last_org:{pipeline}"
        previous = self._meta(_GLOBAL, key)
        if previous == self.org_id:
            return None
        if previous:
            with self._tx() as cur:
                cur.execute(
                    "INSERT INTO pending(org_id, kind, key, payload, attempts, created_at, updated_at) "
                    "SELECT ?, kind, key, payload, attempts, created_at, updated_at FROM pending "
                    "WHERE org_id = ? AND kind = 'touchpoint' ON CONFLICT(org_id, kind, key) DO NOTHING",
                    (self.org_id, previous))
        self._put_meta(_GLOBAL, key, self.org_id)
        return previous

    # -- generic key-value --------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        return self._meta(self.org_id, key)

    def put_meta(self, key: str, value: str) -> None:
        self._put_meta(self.org_id, key, value)

    def _meta(self, org: str, key: str) -> str | None:
        rows = self._rows("SELECT value FROM meta WHERE org_id = ? AND key = ?", (org, key))
        return rows[0][0] if rows else None

    def _put_meta(self, org: str, key: str, value: str) -> None:
        self._write_many(
            "INSERT INTO meta(org_id, key, value, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(org_id, key) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
            [(org, key, str(value), _now())])

    # -- prospect links -------------------------------------------------------------------

    def put_links(self, rows: Iterable[dict[str, Any]]) -> None:
        """rows: {prospect_id, object, record_id, account_id?, email?}; last write wins."""
        data = [(self.org_id, r["prospect_id"], r["object"], r["record_id"], r.get("account_id"), r.get("email"),
                 _now()) for r in rows if r.get("prospect_id") and r.get("record_id")]
        if not data:
            return
        self._write_many(
            "INSERT INTO links(org_id, prospect_id, object, record_id, account_id, email, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(org_id, prospect_id) DO UPDATE SET object=excluded.object, "
            "record_id=excluded.record_id, account_id=excluded.account_id, "
            "email=COALESCE(excluded.email, links.email), updated_at=excluded.updated_at",
            data,
        )

    def get_many(self, prospect_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = [p for p in dict.fromkeys(prospect_ids) if p]
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in self._rows(
                "SELECT prospect_id, object, record_id, account_id, email FROM links "  # noqa: S608 - placeholders only
                f"WHERE org_id = ? AND prospect_id IN ({marks})",
                [self.org_id, *chunk],
            ):
                out[row[0]] = {"prospect_id": row[0], "object": row[1], "record_id": row[2],
                               "account_id": row[3], "email": row[4]}
        return out

    def get(self, prospect_id: str) -> dict[str, Any] | None:
        return self.get_many([prospect_id]).get(prospect_id)

    def iter_links(self, *, updated_since: str | None = None) -> list[dict[str, Any]]:
        """Every link of this org (with its ``updated_at``), or those updated at or after ``updated_since``."""
        sql = "SELECT prospect_id, object, record_id, account_id, email, updated_at FROM links WHERE org_id = ?"
        params: tuple[Any, ...] = (self.org_id,)
        if updated_since:
            sql += " AND updated_at >= ?"
            params = (self.org_id, updated_since)
        return [{"prospect_id": r[0], "object": r[1], "record_id": r[2], "account_id": r[3], "email": r[4],
                 "updated_at": r[5]} for r in self._rows(sql + " ORDER BY prospect_id", params)]

    def iter_link_pages(self, size: int = 10_000) -> Iterator[list[tuple[str, str, str, str]]]:
        """Every link of this org as (prospect_id, object, record_id, updated_at), ``size`` rows at a
        time in prospect id order (the primary key): a run's links are never all held at once."""
        after = ""
        while True:
            rows = self._rows("SELECT prospect_id, object, record_id, updated_at FROM links "
                              "WHERE org_id = ? AND prospect_id > ? ORDER BY prospect_id LIMIT ?",
                              (self.org_id, after, size))
            if rows:
                yield rows
            if len(rows) < size:
                return
            after = rows[-1][0]

    def any_links(self) -> bool:
        """Whether any org has a link (before signing in, when the org is not known yet)."""
        return bool(self._rows("SELECT 1 FROM links LIMIT 1"))

    def count_links(self) -> int:
        return self._rows("SELECT COUNT(*) FROM links WHERE org_id = ?", (self.org_id,))[0][0]

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
        return dict(self._rows("SELECT user_id, email FROM andsend_users"))

    # -- parked work ----------------------------------------------------------------------

    def pending_put(self, kind: str, items: dict[str, Any]) -> None:
        """Park payloads under (kind, key); re-parking a key replaces its payload, counts attempts."""
        now = _now()
        data = [(self.org_id, kind, key, json.dumps(payload, default=str), now, now)
                for key, payload in items.items()]
        if not data:
            return
        self._write_many(
            "INSERT INTO pending(org_id, kind, key, payload, attempts, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, 0, ?, ?) "
            "ON CONFLICT(org_id, kind, key) DO UPDATE SET payload=excluded.payload, attempts=pending.attempts + 1, "
            "updated_at=excluded.updated_at",
            data,
        )

    def pending_list(self, kind: str, *, limit: int | None = None) -> dict[str, Any]:
        sql = "SELECT key, payload FROM pending WHERE org_id = ? AND kind = ? ORDER BY created_at, key"
        params: list[Any] = [self.org_id, kind]
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        return {key: json.loads(payload) for key, payload in self._rows(sql, params)}

    def pending_since(self, kind: str) -> list[tuple[Any, str]]:
        """(payload, parked-at ISO time) of every item of `kind`, oldest first."""
        return [(json.loads(payload), created) for payload, created in self._rows(
            "SELECT payload, created_at FROM pending WHERE org_id = ? AND kind = ? ORDER BY created_at, key",
            (self.org_id, kind))]

    def pending_delete(self, kind: str, keys: Iterable[str]) -> None:
        data = [(self.org_id, kind, k) for k in keys]
        if not data:
            return
        self._write_many("DELETE FROM pending WHERE org_id = ? AND kind = ? AND key = ?", data)

    def pending_count(self, kind: str) -> int:
        return self._rows("SELECT COUNT(*) FROM pending WHERE org_id = ? AND kind = ?", (self.org_id, kind))[0][0]

    # -- touchpoints waiting for their person (used by activities.py) ---------------------

    def pending_touchpoints(self) -> list[dict]:
        return list(self.pending_list("touchpoint").values())

    def add_pending_touchpoints(self, touchpoints: Iterable[dict]) -> None:
        self.pending_put("touchpoint", {str(tp["id"]): tp for tp in touchpoints if tp.get("id") is not None})

    def remove_pending_touchpoints(self, touchpoint_ids: Iterable[str]) -> None:
        self.pending_delete("touchpoint", [str(t) for t in touchpoint_ids])

    # -- rejected records kept as retryable work (rejects_replay.py) -----------------------
    # One row per (org, role, record key): the record as the tap sent it, the last refusal, how
    # often it was tried, and when a run may try it again (next_at; NULL = only on `rejects
    # replay`, which sets replay = 1). The table is created on first use.

    _REJECT_COLUMNS = ("org_id", "role", "key", "object", "error_code", "cause", "message", "hint", "record",
                       "attempts", "first_at", "last_at", "next_at", "replay")

    def _rejects_table(self) -> None:
        if getattr(self, "_rejects_ready", False):
            return
        with self._tx() as cur:
            if self.backend == "postgresql":
                cur.execute("SELECT pg_advisory_xact_lock(7239412)")
            cur.execute(
                "CREATE TABLE IF NOT EXISTS retry_rejects (org_id TEXT NOT NULL, role TEXT NOT NULL, "
                "key TEXT NOT NULL, object TEXT, error_code TEXT NOT NULL, cause TEXT NOT NULL, message TEXT, "
                "hint TEXT, record TEXT NOT NULL, attempts INTEGER NOT NULL, first_at TEXT NOT NULL, "
                "last_at TEXT NOT NULL, next_at TEXT, replay INTEGER NOT NULL DEFAULT 0, "
                "PRIMARY KEY (org_id, role, key))")
        self._rejects_ready = True

    def _reject_rows(self, where: str, params: list[Any]) -> list[dict[str, Any]]:
        self._rejects_table()
        cols = ", ".join(self._REJECT_COLUMNS)
        sql = f"SELECT {cols} FROM retry_rejects WHERE {where} ORDER BY first_at, role, key"  # noqa: S608 - values bound
        rows = self._rows(sql, params)
        out = []
        for row in rows:
            item = dict(zip(self._REJECT_COLUMNS, row, strict=True))
            item["record"] = json.loads(item["record"])
            item["replay"] = bool(item["replay"])
            out.append(item)
        return out

    def rejects_put(self, rows: Iterable[dict[str, Any]]) -> None:
        """Insert or replace rows (every column but org_id given; ``record`` a dict)."""
        self._rejects_table()
        data = [(self.org_id, r["role"], str(r["key"]), r.get("object"), r["error_code"], r["cause"],
                 r.get("message"), r.get("hint"), json.dumps(r["record"], default=str), int(r["attempts"]),
                 r["first_at"], r["last_at"], r.get("next_at"), 1 if r.get("replay") else 0) for r in rows]
        if data:
            self._write_many(
                "INSERT INTO retry_rejects(org_id, role, key, object, error_code, cause, message, hint, record, "
                "attempts, first_at, last_at, next_at, replay) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(org_id, role, key) DO UPDATE SET object=excluded.object, "
                "error_code=excluded.error_code, cause=excluded.cause, message=excluded.message, "
                "hint=excluded.hint, record=excluded.record, attempts=excluded.attempts, "
                "first_at=excluded.first_at, last_at=excluded.last_at, next_at=excluded.next_at, "
                "replay=excluded.replay", data)

    def rejects_get(self, role: str, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        keys = [str(k) for k in keys]
        for start in range(0, len(keys), _CHUNK):
            part = keys[start:start + _CHUNK]
            marks = ", ".join("?" for _ in part)
            for row in self._reject_rows(f"org_id = ? AND role = ? AND key IN ({marks})", [self.org_id, role, *part]):
                out[row["key"]] = row
        return out

    def rejects_due(self, role: str, now: str) -> list[dict[str, Any]]:
        """Rows of this org and role a run retries now: asked for by `rejects replay`, or due by back-off."""
        return self._reject_rows("org_id = ? AND role = ? AND (replay = 1 OR (next_at IS NOT NULL AND next_at <= ?))",
                                 [self.org_id, role, now])

    def rejects_delete(self, role: str, keys: Iterable[str]) -> None:
        self._rejects_table()
        self._write_many("DELETE FROM retry_rejects WHERE org_id = ? AND role = ? AND key = ?",
                         [(self.org_id, role, str(k)) for k in keys])

    @staticmethod
    def _reject_filter(org: str | None, role: str | None, codes: Iterable[str] | None,
                       keys: Iterable[str] | None) -> tuple[str, list[Any]]:
        where, params = ["1 = 1"], []
        for column, value in (("org_id", org), ("role", role)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        for column, values in (("error_code", list(codes or [])), ("key", [str(k) for k in keys or []])):
            if values:
                where.append(f"{column} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
        return " AND ".join(where), params

    def rejects_query(self, *, org: str | None = None, role: str | None = None, codes: Iterable[str] | None = None,
                      keys: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Rows of every org (or ``org``) matching the filters, oldest first (for `rejects list`)."""
        return self._reject_rows(*self._reject_filter(org, role, codes, keys))

    def rejects_request_replay(self, **filters: Any) -> int:
        """Mark matching rows for the next run (whatever their back-off or cause); returns how many."""
        where, params = self._reject_filter(filters.get("org"), filters.get("role"), filters.get("codes"),
                                            filters.get("keys"))
        self._rejects_table()
        with self._tx() as cur:
            sql = f"UPDATE retry_rejects SET replay = 1 WHERE {where}"  # noqa: S608 - values bound
            return cur.execute(sql, params).rowcount

    def rejects_clear(self, **filters: Any) -> int:
        """Forget matching rows (they are not retried again); returns how many."""
        where, params = self._reject_filter(filters.get("org"), filters.get("role"), filters.get("codes"),
                                            filters.get("keys"))
        self._rejects_table()
        with self._tx() as cur:
            sql = f"DELETE FROM retry_rejects WHERE {where}"  # noqa: S608 - values bound
            return cur.execute(sql, params).rowcount

    # -- leases (the protocol is in lease.py) ---------------------------------------------

    def lease_try(self, name: str, holder: str, info: dict, ttl: float) -> dict | None:
        """Take or renew lease `name` for `holder` unless another holder's is still alive.
        Returns None on success, else the live holder's row."""
        with self._tx() as cur:
            now = self.now()
            # One atomic statement: a conflicting row is taken over only if it is this holder's or
            # expired (PostgreSQL locks that row and re-checks the condition; SQLite writes serially).
            taken = cur.execute(
                "INSERT INTO leases(name, holder, info, acquired_at, heartbeat_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET holder=excluded.holder, info=excluded.info, "
                "acquired_at=excluded.acquired_at, heartbeat_at=excluded.heartbeat_at, expires_at=excluded.expires_at "
                "WHERE leases.holder = excluded.holder OR leases.expires_at <= ?",
                (name, holder, json.dumps(info), now, now, now + ttl, now))
            if taken.rowcount == 1:
                return None
            row = cur.execute("SELECT holder, info, acquired_at, heartbeat_at, expires_at FROM leases "
                              "WHERE name = ?", (name,)).fetchone()
            return {"holder": row[0], "info": json.loads(row[1]), "acquired_at": row[2],
                    "heartbeat_at": row[3], "expires_at": row[4], "now": now}

    def lease_renew(self, name: str, holder: str, ttl: float) -> bool:
        """Extend `holder`'s lease; False when it is no longer theirs (expired and taken)."""
        with self._tx() as cur:
            now = self.now()
            done = cur.execute("UPDATE leases SET heartbeat_at = ?, expires_at = ? WHERE name = ? AND holder = ?",
                               (now, now + ttl, name, holder))
            return done.rowcount == 1

    def lease_release(self, name: str, holder: str) -> None:
        with self._tx() as cur:
            cur.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))

    # -- account index (account_index.py): the org's Accounts by name key and domain -----------
    # Its own table, created on first use (stores that never index Accounts never get it). Rows:
    # (org, Account Id) -> name key, registrable domain, SystemModstamp. Looked up by key through
    # SQL indexes, never loaded whole; its watermarks live in `meta`.

    _ACCOUNT_INDEX_DDL = (
        "CREATE TABLE IF NOT EXISTS account_index (org_id TEXT NOT NULL, account_id TEXT NOT NULL, "
        "name_key TEXT, domain TEXT, modstamp TEXT, PRIMARY KEY (org_id, account_id))",
        "CREATE INDEX IF NOT EXISTS account_index_name ON account_index(org_id, name_key)",
        "CREATE INDEX IF NOT EXISTS account_index_domain ON account_index(org_id, domain)",
    )

    def _account_index_ready(self) -> None:
        if getattr(self, "_account_index_made", False):
            return
        with self._tx() as cur:
            if self.backend == "postgresql":
                cur.execute("SELECT pg_advisory_xact_lock(7239412)")  # concurrent first runs
            for statement in self._ACCOUNT_INDEX_DDL:
                cur.execute(statement)
        self._account_index_made = True

    def account_index_put(self, rows: Iterable[tuple[str, str | None, str | None, str | None]]) -> int:
        """rows: (Account Id, name key, registrable domain, SystemModstamp); last write wins."""
        self._account_index_ready()
        data = [(self.org_id, rid, key, domain, stamp) for rid, key, domain, stamp in rows if rid]
        if data:
            self._write_many(
                "INSERT INTO account_index(org_id, account_id, name_key, domain, modstamp) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(org_id, account_id) DO UPDATE SET name_key=excluded.name_key, domain=excluded.domain, "
                "modstamp=excluded.modstamp", data)
        return len(data)

    def account_index_delete(self, account_ids: Iterable[str]) -> int:
        self._account_index_ready()
        data = [(self.org_id, rid) for rid in dict.fromkeys(account_ids) if rid]
        if data:
            self._write_many("DELETE FROM account_index WHERE org_id = ? AND account_id = ?", data)
        return len(data)

    def account_index_find(self, name_keys: Iterable[str] = (), domains: Iterable[str] = (),
                           *, per_value: int = 50) -> list[tuple[str, str | None, str | None]]:
        """(Account Id, name key, domain) of the Accounts whose name key or domain is one of those
        given, at most ``per_value`` per value (the most recently modified)."""
        self._account_index_ready()
        out: list[tuple[str, str | None, str | None]] = []
        for column, values in (("name_key", name_keys), ("domain", domains)):
            wanted = [v for v in dict.fromkeys(values) if v]
            for i in range(0, len(wanted), _CHUNK):
                chunk = wanted[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                counts: dict[str, int] = {}
                for rid, key, domain in self._rows(
                        f"SELECT account_id, name_key, domain FROM account_index WHERE org_id = ? "  # noqa: S608
                        f"AND {column} IN ({marks}) ORDER BY {column}, modstamp DESC, account_id",
                        [self.org_id, *chunk]):
                    value = key if column == "name_key" else domain
                    counts[value] = counts.get(value, 0) + 1
                    if counts[value] <= per_value:
                        out.append((rid, key, domain))
        return out

    def account_index_count(self) -> int:
        self._account_index_ready()
        return self._rows("SELECT COUNT(*) FROM account_index WHERE org_id = ?", (self.org_id,))[0][0]

    def account_index_clear(self) -> None:
        self._account_index_ready()
        self._write_many("DELETE FROM account_index WHERE org_id = ?", [(self.org_id,)])


def _migrate_sqlite_v1(conn: sqlite3.Connection) -> None:
    """Stores written before org keys: their rows become unclaimed (org '')."""
    cols = [r[1] for r in conn.execute("PRAGMA table_info(links)")]
    if not cols or "org_id" in cols:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("ALTER TABLE links RENAME TO links_v1")
        conn.execute("DROP INDEX IF EXISTS links_email")
        conn.execute("ALTER TABLE pending RENAME TO pending_v1")
        for statement in _TABLES.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("INSERT INTO links SELECT '', prospect_id, object, record_id, account_id, email, updated_at "
                     "FROM links_v1")
        conn.execute("INSERT INTO pending SELECT '', kind, key, payload, attempts, created_at, updated_at "
                     "FROM pending_v1")
        conn.execute("DROP TABLE links_v1")
        conn.execute("DROP TABLE pending_v1")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class PostgresLinkStore(LinkStore):
    """The same store in PostgreSQL (psycopg 3): one connection per thread, autocommit, one
    transaction per batch. Lease times come from the server's clock, so hosts with skewed clocks
    agree on expiry."""

    backend = "postgresql"

    def __init__(self, url: str, org_id: str | None = None):
        try:
            import psycopg  # noqa: F401 - fail here with the install hint, not on first use
        except ImportError:
            raise RuntimeError(
                "state_store_url names a PostgreSQL database, but psycopg is not installed: "
                "pip install 'andsend-salesforce-connectors[postgres]'") from None
        self.url = url
        self.org_id = org_id or UNCLAIMED
        self._local = threading.local()
        self._lock = threading.Lock()
        with self._tx() as cur:
            # Two runs creating the tables at once would collide in the catalog: one at a time.
            cur.execute("SELECT pg_advisory_xact_lock(7239411)")
            for statement in _TABLES.split(";"):
                if statement.strip():
                    cur.execute(statement)
        self._claim_unclaimed()

    def describe(self) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        return f"PostgreSQL {parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"

    def _conn(self) -> Any:
        import psycopg

        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=30,
                                   application_name="target-salesforce-andsend")
            self._local.conn = conn
            self._remember_conn(conn)
        return conn

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def _tx(self) -> Any:
        store = self

        class _Tx:
            def __enter__(self) -> Any:
                self.conn = store._conn()
                self.tx = self.conn.transaction()
                self.tx.__enter__()
                return _PgCursor(self.conn.cursor())

            def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
                self.tx.__exit__(kind, exc, tb)

        return _Tx()

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        with self._conn().cursor() as cur:
            cur.execute(self._sql(sql), list(params))
            return list(cur.fetchall())

    def now(self) -> float:
        return float(self._rows("SELECT EXTRACT(EPOCH FROM clock_timestamp())")[0][0])


class _PgCursor:
    """A psycopg cursor that takes the SQLite-style statements above (`?` placeholders)."""

    def __init__(self, cur: Any):
        self._cur = cur

    def execute(self, sql: str, params: Iterable[Any] = ()) -> _PgCursor:
        self._cur.execute(PostgresLinkStore._sql(sql), list(params))
        return self

    def executemany(self, sql: str, data: list[tuple[Any, ...]]) -> None:
        self._cur.executemany(PostgresLinkStore._sql(sql), data)

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount


def open_store(settings: Settings | Mapping[str, Any], default_path: Path, org_id: str | None = None) -> LinkStore:
    """The store the settings name: `state_store_url` (postgresql://...) or the SQLite file."""
    url = str(Settings.of(settings).state_store_url or "").strip()
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresLinkStore(url, org_id)
    if url.startswith("sqlite:///"):
        return LinkStore(Path(url[len("sqlite:///"):]).expanduser(), org_id)
    if url:
        raise ValueError("state_store_url must be postgresql://... (or sqlite:///path); "
                         "leave it empty for <output_dir>/links.sqlite")
    return LinkStore(default_path, org_id)
