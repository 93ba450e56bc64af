"""SQLite storage of the Andsend emulator: one table per API resource, keyset pages on (updated_at, id).

Timestamps are stored as fixed-width UTC text (``2025-01-02T03:04:05.678Z``), so text order is
time order and ``(updated_at, id)`` row-value comparisons walk the index. Every write stamps
``updated_at`` strictly later than any stamp already stored (see :meth:`Store.write_stamp`): a
record changed after a client read it always moves behind the client's cursor, so a paging
client reads it again instead of skipping anything.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from emulators.andsend.generator import Dataset, GeneratorConfig, format_ts, parse_ts


@dataclass(frozen=True)
class Resource:
    table: str
    columns: tuple[str, ...]
    json_columns: frozenset[str] = frozenset()
    bool_columns: frozenset[str] = frozenset()


RESOURCES: dict[str, Resource] = {
    "users": Resource("users", ("id", "email", "name", "team", "created_at", "updated_at")),
    "campaigns": Resource("campaigns", ("id", "name", "status", "owner_user_id", "created_at", "updated_at")),
    "prospects": Resource(
        "prospects",
        (
            "id",
            "first_name",
            "last_name",
            "full_name",
            "title",
            "email",
            "phone",
            "linkedin_url",
            "company_name",
            "company_domain",
            "company_website",
            "company_industry",
            "company_size",
            "company_country",
            "location",
            "city",
            "country",
            "status",
            "purchased",
            "purchased_at",
            "purchased_by_user_id",
            "campaign_ids",
            "custom_fields",
            "created_at",
            "updated_at",
        ),
        json_columns=frozenset({"campaign_ids", "custom_fields"}),
        bool_columns=frozenset({"purchased"}),
    ),
    "searches": Resource("searches", ("id", "name", "user_id", "created_at", "updated_at")),
    "search_results": Resource(
        "search_results",
        (
            "id",
            "search_id",
            "search_name",
            "prospect_id",
            "first_name",
            "last_name",
            "full_name",
            "title",
            "email",
            "company_name",
            "company_domain",
            "company_website",
            "linkedin_url",
            "created_at",
            "updated_at",
        ),
    ),
    "touchpoints": Resource(
        "touchpoints",
        (
            "id",
            "prospect_id",
            "campaign_id",
            "user_id",
            "user_email",
            "channel",
            "type",
            "subject",
            "body",
            "executed_at",
            "created_at",
            "updated_at",
        ),
    ),
}

BADGE_COLUMNS = (
    "result_id",
    "search_id",
    "prospect_key",
    "exists",
    "crm",
    "object_type",
    "record_id",
    "record_url",
    "checked_at",
    "owner",
    "do_not_contact",
    "lead_status",
    "last_modified_at",
)
# Contact data is what a purchase buys: the API shows these only for purchased prospects.
HIDDEN_UNTIL_PURCHASED = ("email", "phone")

def _badge_cell(column: str, value: Any) -> Any:
    if column in ("exists", "do_not_contact"):
        return None if value is None else int(value)
    if column == "owner":
        return None if value is None else json.dumps(value, ensure_ascii=False)
    return value


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS badges (
    result_id TEXT PRIMARY KEY, search_id TEXT NOT NULL, prospect_key TEXT, "exists" INTEGER NOT NULL,
    crm TEXT NOT NULL, object_type TEXT, record_id TEXT, record_url TEXT, checked_at TEXT,
    owner TEXT, do_not_contact INTEGER, lead_status TEXT, last_modified_at TEXT, written_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS badges_search ON badges (search_id, result_id);
CREATE TABLE IF NOT EXISTS crm_status (
    prospect_id TEXT PRIMARY KEY, do_not_contact INTEGER NOT NULL, payload TEXT NOT NULL, written_at TEXT NOT NULL
);
"""
# Secondary indexes are dropped before a bulk load and built afterwards (much faster than
# maintaining them row by row for 100k+ rows).
_INDEXES = {
    "users_page": "users (updated_at, id)",
    "campaigns_page": "campaigns (updated_at, id)",
    "prospects_page": "prospects (updated_at, id)",
    "searches_page": "searches (updated_at, id)",
    "search_results_page": "search_results (updated_at, id)",
    "touchpoints_page": "touchpoints (updated_at, id)",
    "prospects_purchased": "prospects (purchased, updated_at, id)",
    "prospects_status": "prospects (status)",
    "search_results_search": "search_results (search_id, updated_at, id)",
    "touchpoints_prospect": "touchpoints (prospect_id)",
}

MAX_STAMP_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the widest fixed-width stamp


@cache
def _json_expr(res: Resource) -> str:
    """``json_object(...)`` rendering one row exactly as the API shows it."""
    parts = []
    for col in res.columns:
        if col in res.bool_columns:
            value = f"json(CASE WHEN {col} THEN 'true' ELSE 'false' END)"
        elif col in res.json_columns:
            value = f"json({col})"
        elif res.table == "prospects" and col in HIDDEN_UNTIL_PURCHASED:
            value = f"CASE WHEN purchased THEN {col} END"
        else:
            value = col
        parts.append(f"'{col}', {value}")
    return f"json_object({', '.join(parts)})"


class CursorError(ValueError):
    pass


def encode_cursor(*parts: str) -> str:
    raw = json.dumps(list(parts), separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> tuple[str, ...]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise CursorError("cursor is not one this API issued") from exc
    if not isinstance(parts, list) or len(parts) != arity or not all(isinstance(p, str) for p in parts):
        raise CursorError("cursor is not one this API issued")
    return tuple(parts)


def stamp_key(ms: int) -> str:
    """A bound for ``updated_at >= ?`` comparisons; clamped so the text stays fixed-width."""
    return format_ts(min(max(ms, 0), MAX_STAMP_MS))


class Store:
    """All SQL of the emulator. Thread-safe: one connection behind a lock (the server is small)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL" if path != ":memory:" else "PRAGMA journal_mode=MEMORY")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA cache_size=-65536")  # 64 MB: bulk loads and index builds stay in memory
        with self.lock:
            for res in RESOURCES.values():
                cols = ", ".join(
                    f"{c} TEXT PRIMARY KEY"
                    if c == "id"
                    else f"{c} {'INTEGER' if c in res.bool_columns else 'TEXT'}"
                    for c in res.columns
                )
                self.conn.execute(f"CREATE TABLE IF NOT EXISTS {res.table} ({cols})")
                self.conn.execute(
                    f"CREATE INDEX IF NOT EXISTS {res.table}_page ON {res.table} (updated_at, id)"
                )
            self.conn.executescript(_SCHEMA)

    @staticmethod
    def _create_indexes(conn: sqlite3.Connection) -> None:
        for name, target in _INDEXES.items():
            conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    # -- generated data ---------------------------------------------------------------------------

    def config(self) -> GeneratorConfig | None:
        with self.lock:
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
        return GeneratorConfig.from_dict(json.loads(row[0])) if row else None

    def load(self, dataset: Dataset) -> None:
        """Replace every row with ``dataset`` in one transaction (executemany: 100k prospects in seconds)."""
        with self.transaction() as conn:
            for name in _INDEXES:
                conn.execute(f"DROP INDEX IF EXISTS {name}")
            for res in RESOURCES.values():
                conn.execute(f"DELETE FROM {res.table}")  # noqa: S608 (identifiers are constants; values are bound)
            conn.execute("DELETE FROM badges")
            conn.execute("DELETE FROM crm_status")
            conn.execute("DELETE FROM meta")
            for name, rows in (
                ("users", dataset.users),
                ("campaigns", dataset.campaigns),
                ("prospects", dataset.prospects),
                ("searches", dataset.searches),
                ("search_results", dataset.search_results),
                ("touchpoints", dataset.touchpoints),
            ):
                self._insert(conn, name, rows)
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('config', ?)", (json.dumps(dataset.config.to_dict()),)
            )
            conn.execute("INSERT INTO meta (key, value) VALUES ('activity_runs', '0')")
            self._create_indexes(conn)

    def _insert(self, conn: sqlite3.Connection, name: str, rows: Sequence[dict[str, Any]]) -> None:
        res = RESOURCES[name]
        placeholders = ", ".join("?" for _ in res.columns)
        conn.executemany(
            f"INSERT INTO {res.table} ({', '.join(res.columns)}) VALUES ({placeholders})",  # noqa: S608 (identifiers are constants; values are bound)
            # In primary-key order: appends to the id index instead of random B-tree inserts.
            sorted((self._to_row(res, r) for r in rows), key=lambda row: row[0]),
        )

    def insert(self, conn: sqlite3.Connection, name: str, rows: Sequence[dict[str, Any]]) -> None:
        self._insert(conn, name, rows)

    @staticmethod
    def _to_row(res: Resource, record: dict[str, Any]) -> tuple[Any, ...]:
        out = []
        for col in res.columns:
            value = record.get(col)
            if col in res.json_columns and value is not None:
                value = json.dumps(value, ensure_ascii=False)
            elif col in res.bool_columns:
                value = int(bool(value))
            out.append(value)
        return tuple(out)

    @staticmethod
    def _decode(res: Resource, row: Sequence[Any]) -> dict[str, Any]:
        record = dict(zip(res.columns, row, strict=True))
        for col in res.json_columns:
            if record[col] is not None:
                record[col] = json.loads(record[col])
        for col in res.bool_columns:
            record[col] = bool(record[col])
        return record

    # -- reads --------------------------------------------------------------------------------------

    def page_json(
        self,
        name: str,
        *,
        limit: int,
        since_ms: int | None = None,
        after: tuple[str, str] | None = None,
        filters: dict[str, Any] | None = None,
    ) -> tuple[list[str], bool, tuple[str, str] | None]:
        """Up to ``limit`` records (as JSON text) after ``after`` in (updated_at, id) order.

        Returns the records, whether more exist, and the (updated_at, id) of the last one. SQLite
        renders the JSON itself (``json_object``): no per-record Python objects on the hot path.
        """
        res = RESOURCES[name]
        where: list[str] = []
        params: list[Any] = []
        for col, value in (filters or {}).items():
            if col not in res.columns:
                raise KeyError(col)
            where.append(f"{col} = ?")
            params.append(int(value) if isinstance(value, bool) else value)
        if since_ms is not None:
            where.append("updated_at >= ?")
            params.append(stamp_key(since_ms))
        if after is not None:
            where.append("(updated_at, id) > (?, ?)")
            params.extend(after)
        sql = f"SELECT {_json_expr(res)}, updated_at, id FROM {res.table}"  # noqa: S608 (identifiers are constants; values are bound)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY updated_at, id LIMIT ?"
        params.append(limit + 1)
        with self.lock:
            rows = self.conn.execute(sql, params).fetchall()
        page = rows[:limit]
        last = (page[-1][1], page[-1][2]) if page else None
        return [row[0] for row in page], len(rows) > limit, last

    def page(self, name: str, *, limit: int, **kwargs: Any) -> tuple[list[dict[str, Any]], bool]:
        """:meth:`page_json` as dicts."""
        texts, more, _ = self.page_json(name, limit=limit, **kwargs)
        return [json.loads(t) for t in texts], more

    def get(self, name: str, record_id: str) -> dict[str, Any] | None:
        res = RESOURCES[name]
        with self.lock:
            row = self.conn.execute(
                f"SELECT {_json_expr(res)} FROM {res.table} WHERE id = ?",  # noqa: S608 (identifiers are constants; values are bound)
                (record_id,),
            ).fetchone()
        return json.loads(row[0]) if row else None

    def raw(self, name: str, record_id: str) -> dict[str, Any] | None:
        """A record as stored (prospect contact data included): for the control plane and activity."""
        res = RESOURCES[name]
        with self.lock:
            row = self.conn.execute(
                f"SELECT {', '.join(res.columns)} FROM {res.table} WHERE id = ?",  # noqa: S608 (identifiers are constants; values are bound)
                (record_id,),
            ).fetchone()
        return self._decode(res, row) if row else None

    def count(self, name: str) -> int:
        with self.lock:
            return self.conn.execute(f"SELECT count(*) FROM {RESOURCES[name].table}").fetchone()[0]  # noqa: S608 (identifiers are constants; values are bound)

    # -- writes -------------------------------------------------------------------------------------

    def write_stamp(self, conn: sqlite3.Connection, now_ms: int) -> tuple[int, str]:
        """The ``updated_at`` for a write at ``now_ms``: never earlier than 1 ms after the newest stamp.

        Real clocks are not monotonic across hosts and the test clock can be frozen; keyset
        pagination is only gap-free if a changed record sorts after everything already stored.
        """
        newest = 0
        for res in RESOURCES.values():
            value = conn.execute(f"SELECT max(updated_at) FROM {res.table}").fetchone()[0]  # noqa: S608 (identifiers are constants; values are bound)
            if value:
                newest = max(newest, parse_ts(value))
        ms = max(now_ms, newest + 1)
        return ms, format_ts(ms)

    # -- badges -------------------------------------------------------------------------------------

    def result_search_ids(self, result_ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        with self.lock:
            for start in range(0, len(result_ids), 500):
                chunk = list(result_ids[start : start + 500])
                marks = ", ".join("?" for _ in chunk)
                for rid, sid in self.conn.execute(
                    f"SELECT id, search_id FROM search_results WHERE id IN ({marks})",  # noqa: S608 (identifiers are constants; values are bound)
                    chunk,
                ):
                    found[rid] = sid
        return found

    def upsert_badges(self, badges: Sequence[dict[str, Any]], written_at: str) -> int:
        cols = ", ".join(f'"{c}"' for c in BADGE_COLUMNS)
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in BADGE_COLUMNS[1:])
        rows = [
            tuple(_badge_cell(c, b.get(c)) for c in BADGE_COLUMNS) + (written_at,)
            for b in badges
        ]
        with self.transaction() as conn:
            conn.executemany(
                # Identifiers are constants; values are bound.
                f"INSERT INTO badges ({cols}, written_at) VALUES ({', '.join('?' * (len(BADGE_COLUMNS) + 1))}) "  # noqa: S608
                f"ON CONFLICT (result_id) DO UPDATE SET {updates}, written_at = excluded.written_at",
                rows,
            )
        return len(rows)

    def badges_page(
        self,
        *,
        limit: int,
        search_id: str | None = None,
        result_ids: Sequence[str] = (),
        after: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        where: list[str] = []
        params: list[Any] = []
        if search_id is not None:
            where.append("search_id = ?")
            params.append(search_id)
        if result_ids:
            where.append(f"result_id IN ({', '.join('?' for _ in result_ids)})")
            params.extend(result_ids)
        if after is not None:
            where.append("result_id > ?")
            params.append(after)
        cols = ", ".join(f'"{c}"' for c in BADGE_COLUMNS)
        sql = f"SELECT {cols} FROM badges"  # noqa: S608 (identifiers are constants; values are bound)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY result_id LIMIT ?"
        params.append(limit + 1)
        with self.lock:
            rows = self.conn.execute(sql, params).fetchall()
        return [self._badge(r) for r in rows[:limit]], len(rows) > limit

    def all_badges(self) -> list[dict[str, Any]]:
        cols = ", ".join(f'"{c}"' for c in BADGE_COLUMNS)
        with self.lock:
            rows = self.conn.execute(f"SELECT {cols} FROM badges ORDER BY result_id").fetchall()  # noqa: S608 (identifiers are constants; values are bound)
        return [self._badge(r) for r in rows]

    @staticmethod
    def _badge(row: Sequence[Any]) -> dict[str, Any]:
        badge = dict(zip(BADGE_COLUMNS, row, strict=True))
        badge["exists"] = bool(badge["exists"])
        # These came later: badges written without them read back without them.
        for key in ("owner", "do_not_contact", "lead_status", "last_modified_at"):
            if badge[key] is None:
                del badge[key]
        if "owner" in badge:
            badge["owner"] = json.loads(badge["owner"])
        if "do_not_contact" in badge:
            badge["do_not_contact"] = bool(badge["do_not_contact"])
        return badge

    # -- CRM status (PUT/GET /v1/prospects/crm-status) ------------------------------------------------

    def known_prospects(self, prospect_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self.lock:
            for start in range(0, len(prospect_ids), 500):
                chunk = list(prospect_ids[start : start + 500])
                marks = ", ".join("?" for _ in chunk)
                found.update(
                    row[0]
                    for row in self.conn.execute(f"SELECT id FROM prospects WHERE id IN ({marks})", chunk)  # noqa: S608 (placeholders only)
                )
        return found

    def upsert_crm_status(self, statuses: Sequence[dict[str, Any]], written_at: str) -> int:
        rows = [
            (s["prospect_id"], int(bool(s.get("do_not_contact"))), json.dumps(s, ensure_ascii=False), written_at)
            for s in statuses
        ]
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO crm_status (prospect_id, do_not_contact, payload, written_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (prospect_id) DO UPDATE SET do_not_contact = excluded.do_not_contact, "
                "payload = excluded.payload, written_at = excluded.written_at",
                rows,
            )
        return len(rows)

    def crm_status_page(
        self, *, limit: int, prospect_ids: Sequence[str] = (), after: str | None = None
    ) -> tuple[list[dict[str, Any]], bool]:
        where: list[str] = []
        params: list[Any] = []
        if prospect_ids:
            where.append(f"prospect_id IN ({', '.join('?' for _ in prospect_ids)})")
            params.extend(prospect_ids)
        if after is not None:
            where.append("prospect_id > ?")
            params.append(after)
        sql = "SELECT payload FROM crm_status"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY prospect_id LIMIT ?"
        params.append(limit + 1)
        with self.lock:
            rows = self.conn.execute(sql, params).fetchall()
        return [json.loads(r[0]) for r in rows[:limit]], len(rows) > limit

    def all_crm_status(self) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.conn.execute("SELECT payload FROM crm_status ORDER BY prospect_id").fetchall()
        return [json.loads(r[0]) for r in rows]

    @staticmethod
    def do_not_contact_ids(conn: Any) -> set[str]:
        """Prospects the CRM marks do-not-contact (opted out of e-mail, do not call, a custom flag)."""
        return {row[0] for row in conn.execute("SELECT prospect_id FROM crm_status WHERE do_not_contact = 1")}
