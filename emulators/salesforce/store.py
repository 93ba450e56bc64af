"""SQLite storage for the Salesforce emulator (layout in docs/DESIGN.md).

One table per object named by its API name, one column per describe field, plus ``_rowid`` (insertion
order). A single connection is shared by all threads and guarded by a re-entrant lock; callers that
write wrap their work in :meth:`Store.transaction`, which nests with SAVEPOINTs so that a request can
roll back one record (collections) or everything (allOrNone).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from emulators.salesforce.ids import make_id
from emulators.salesforce.registry import NUMBER_TYPES, DescribeRegistry, ObjectSchema

_SQL_TYPES = {"boolean": "INTEGER", "int": "INTEGER", "double": "REAL", "currency": "REAL", "percent": "REAL"}


def q(name: str) -> str:
    """Quote an identifier taken from a describe document (never from request data unchecked)."""
    return '"' + name.replace('"', '""') + '"'


def column_type(field: dict[str, Any]) -> str:
    return _SQL_TYPES.get(field["type"], "TEXT")


class Store:
    def __init__(self, path: str, registry: DescribeRegistry) -> None:
        self.path = path
        self.registry = registry
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, cached_statements=512)
        if path != ":memory:" and not path.startswith("file::memory:"):
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA busy_timeout=10000")
        from emulators.salesforce.soql import register_sqlite_functions

        register_sqlite_functions(self.conn)  # sf_fold / sf_sortkey used by compiled SOQL
        self._depth = 0
        self._sp = 0
        self._counters: dict[str, int] = {}
        self._dirty_counters = False
        self.records_written = 0
        with self.lock:
            self.conn.execute("CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value TEXT)")
            self.ensure_tables()
            for key, value in self.conn.execute("SELECT key, value FROM _meta WHERE key LIKE 'counter:%'"):
                self._counters[key[8:]] = int(value)
        self._cols: dict[str, list[str]] = {}
        self._insert_sql: dict[tuple[str, tuple[str, ...]], str] = {}

    # ---- schema -------------------------------------------------------------------------------
    def ensure_tables(self) -> None:
        with self.lock:
            for name in self.registry.names():
                schema = self.registry.get(name)
                assert schema is not None
                self.ensure_table(schema)

    def ensure_table(self, schema: ObjectSchema) -> None:
        t = q(schema.name)
        existing = {r[1] for r in self.conn.execute(f"PRAGMA table_info({t})")}
        if not existing:
            cols = ['"_rowid" INTEGER PRIMARY KEY', '"Id" TEXT NOT NULL UNIQUE']
            for f in schema.describe["fields"]:
                if f["name"] != "Id" and f["type"] not in ("address", "location"):  # compound: a view
                    cols.append(f"{q(f['name'])} {column_type(f)}")
            self.conn.execute(f"CREATE TABLE {t} ({', '.join(cols)})")
        else:
            for f in schema.describe["fields"]:
                if f["name"] not in existing and f["type"] not in ("address", "location"):
                    self.conn.execute(f"ALTER TABLE {t} ADD COLUMN {q(f['name'])} {column_type(f)}")
        for f in schema.describe["fields"]:
            idx = q(f"ix_{schema.name}_{f['name']}")
            if f["type"] == "reference" and f["name"] not in ("CreatedById", "LastModifiedById"):
                self.conn.execute(f"CREATE INDEX IF NOT EXISTS {idx} ON {t} ({q(f['name'])})")
            elif f["type"] != "id" and (f.get("externalId") or f.get("unique") or f["type"] == "email"
                                         or f.get("nameField")):  # Salesforce indexes Name fields too
                collate = "" if f.get("caseSensitive") else " COLLATE NOCASE"
                self.conn.execute(f"CREATE INDEX IF NOT EXISTS {idx} ON {t} ({q(f['name'])}{collate})")
        self._forget(schema.name)

    def _forget(self, obj: str) -> None:
        if hasattr(self, "_cols"):
            self._cols.pop(obj, None)
            for key in [k for k in self._insert_sql if k[0] == obj]:
                del self._insert_sql[key]

    def columns(self, obj: str) -> list[str]:
        cols = self._cols.get(obj)
        if cols is None:
            cols = [r[1] for r in self.conn.execute(f"PRAGMA table_info({q(obj)})") if r[1] != "_rowid"]
            self._cols[obj] = cols
        return cols

    # ---- meta ---------------------------------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        with self.lock:
            row = self.conn.execute("SELECT value FROM _meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value: Any) -> None:
        with self.lock:
            self.conn.execute(
                "INSERT INTO _meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    # ---- transactions -------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Outermost call: BEGIN IMMEDIATE ... COMMIT; nested calls: SAVEPOINT ... RELEASE."""
        with self.lock:
            if self._depth == 0:
                self.conn.execute("BEGIN IMMEDIATE")
                self._depth = 1
                try:
                    yield
                    self._flush_counters()
                    self.conn.execute("COMMIT")
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                finally:
                    self._depth = 0
            else:
                self._sp += 1
                name = f"sp{self._sp}"
                self.conn.execute(f"SAVEPOINT {name}")
                self._depth += 1
                try:
                    yield
                    self.conn.execute(f"RELEASE {name}")
                except BaseException:
                    self.conn.execute(f"ROLLBACK TO {name}")
                    self.conn.execute(f"RELEASE {name}")
                    raise
                finally:
                    self._depth -= 1

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A SAVEPOINT inside the current transaction (cheaper than a nested :meth:`transaction`)."""
        conn = self.conn
        conn.execute("SAVEPOINT rec")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK TO rec")
            conn.execute("RELEASE rec")
            raise
        conn.execute("RELEASE rec")

    def _flush_counters(self) -> None:
        if self._dirty_counters:
            self.conn.executemany(
                "INSERT INTO _meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [(f"counter:{p}", str(n)) for p, n in self._counters.items()],
            )
            self._dirty_counters = False

    # ---- ids ----------------------------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        with self.lock:
            n = self._counters.get(prefix, 0) + 1
            self._counters[prefix] = n
            self._dirty_counters = True
            if self._depth == 0:
                self.set_meta(f"counter:{prefix}", str(n))
                self._dirty_counters = False
        return make_id(prefix, n)

    def reset_counters(self) -> None:
        with self.lock:
            self._counters.clear()
            self.conn.execute("DELETE FROM _meta WHERE key LIKE 'counter:%'")

    # ---- rows ---------------------------------------------------------------------------------
    def insert(self, obj: str, values: dict[str, Any]) -> None:
        keys = tuple(values)
        sql = self._insert_sql.get((obj, keys))
        if sql is None:
            sql = f"INSERT INTO {q(obj)} ({', '.join(q(k) for k in keys)}) VALUES ({', '.join('?' * len(keys))})"  # noqa: S608 - identifiers from describes, values bound
            self._insert_sql[(obj, keys)] = sql
        with self.lock:
            self.conn.execute(sql, tuple(values.values()))
            self.records_written += 1

    def update(self, obj: str, record_id: str, values: dict[str, Any]) -> None:
        if not values:
            return
        sets = ", ".join(f"{q(k)} = ?" for k in values)
        with self.lock:
            self.conn.execute(f"UPDATE {q(obj)} SET {sets} WHERE Id = ?", (*values.values(), record_id))  # noqa: S608 - identifiers from describes, values bound
            self.records_written += 1

    def get(self, obj: str, record_id: str) -> dict[str, Any] | None:
        with self.lock:
            cur = self.conn.execute(f"SELECT * FROM {q(obj)} WHERE Id = ?", (record_id,))  # noqa: S608 - identifiers from describes, values bound
            row = cur.fetchone()
            if row is None:
                return None
            names = [d[0] for d in cur.description]
        out = dict(zip(names, row, strict=True))
        out.pop("_rowid", None)
        return out

    def get_many(self, obj: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        with self.lock:
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                cur = self.conn.execute(
                    f"SELECT * FROM {q(obj)} WHERE Id IN ({', '.join('?' * len(chunk))})", chunk  # noqa: S608 - identifiers from describes, values bound
                )
                names = [d[0] for d in cur.description]
                for row in cur.fetchall():
                    rec = dict(zip(names, row, strict=True))
                    rec.pop("_rowid", None)
                    out[rec["Id"]] = rec
        return out

    def exists_live(self, obj: str, record_id: str) -> bool | None:
        """True live, False soft-deleted, None missing."""
        with self.lock:
            row = self.conn.execute(f"SELECT IsDeleted FROM {q(obj)} WHERE Id = ?", (record_id,)).fetchone()  # noqa: S608 - identifiers from describes, values bound
        return None if row is None else not row[0]

    def find(self, obj: str, field: str, value: Any, *, nocase: bool, exclude_id: str | None = None,
             limit: int = 10) -> list[str]:
        collate = " COLLATE NOCASE" if nocase else ""
        sql = f"SELECT Id FROM {q(obj)} WHERE {q(field)} = ?{collate} AND IsDeleted = 0"  # noqa: S608 - identifiers from describes, values bound
        params: list[Any] = [value]
        if exclude_id:
            sql += " AND Id != ?"
            params.append(exclude_id)
        sql += f" ORDER BY _rowid LIMIT {int(limit)}"
        with self.lock:
            return [r[0] for r in self.conn.execute(sql, params)]

    def all_rows(self, obj: str) -> list[dict[str, Any]]:
        schema = self.registry.get(obj)
        assert schema is not None
        with self.lock:
            cur = self.conn.execute(f"SELECT * FROM {q(schema.name)} ORDER BY _rowid")  # noqa: S608 - identifiers from describes, values bound
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        out = []
        for row in rows:
            rec = dict(zip(names, row, strict=True))
            rec.pop("_rowid", None)
            out.append(to_json_record(schema, rec))
        return out

    def wipe(self) -> None:
        with self.lock:
            for name in self.registry.names():
                self.conn.execute(f"DELETE FROM {q(name)}")  # noqa: S608 - identifiers from describes, values bound

    def close(self) -> None:
        with self.lock:
            self.conn.close()


def to_json_value(field: dict[str, Any] | None, value: Any) -> Any:
    if value is None or field is None:
        return value
    t = field["type"]
    if t == "boolean":
        return bool(value)
    if t in NUMBER_TYPES:
        return int(value) if t == "int" else float(value)
    return value


def to_json_record(schema: ObjectSchema, rec: dict[str, Any]) -> dict[str, Any]:
    fields = schema.fields
    out = {k: to_json_value(fields.get(k), v) for k, v in rec.items()}
    for f in fields.values():
        if f["type"] in ("address", "location"):
            out[f["name"]] = compound_value(schema, f["name"], out)
    return out


def compound_value(schema: ObjectSchema, name: str, rec: dict[str, Any]) -> dict[str, Any] | None:
    """A compound address from its components in ``rec`` (None when every component is empty), with
    the same keys as a SOQL query returns."""
    from emulators.salesforce.soql import compound_key

    parts = {compound_key(name, f["name"]): rec.get(f["name"]) for f in schema.fields.values()
             if f.get("compoundFieldName") == name}
    parts.pop(None, None)
    return dict(sorted(parts.items())) if any(v is not None for v in parts.values()) else None
