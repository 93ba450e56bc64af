"""``/query`` and ``/queryAll`` with server-side cursors (reference §6).

The SOQL compiler (``soql/``) produces parameterised SQL; this module executes it once, keeps the
snapshot of rows behind a ``01g…`` locator and serves it page by page, as Salesforce's query cursors do.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from emulators.salesforce.core import Call, Resp, error
from emulators.salesforce.ids import make_id
from emulators.salesforce.state import Emulator

CURSOR_IDLE_SECONDS = 15 * 60
MAX_CURSORS = 2000
_BATCH_RE = re.compile(r"batchsize\s*=\s*(\d+)", re.I)


@dataclass
class Cursor:
    compiled: Any
    rows: list[tuple]
    last_used: float
    batch: int = 2000  # the page size asked for when the query started; later pages keep it


class CompileCache:
    """Compiled SOQL by (text, queryAll, today, schema generation): the compiler reads the clock only
    for the date (relative date literals), so a repeated statement need not be parsed again."""

    def __init__(self, size: int = 1024) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self.size = size

    def get(self, key: tuple) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: tuple, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            if len(self._items) > self.size:
                self._items.popitem(last=False)


class Cursors:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[str, Cursor] = OrderedDict()
        self._n = 0
        self.compiled = CompileCache()  # per emulator: keys hold its schema generation

    def add(self, cursor: Cursor) -> str:
        with self._lock:
            self._n += 1
            loc = make_id("01g", self._n)
            self._items[loc] = cursor
            now = time.monotonic()
            while self._items and (len(self._items) > MAX_CURSORS or
                                   next(iter(self._items.values())).last_used < now - CURSOR_IDLE_SECONDS):
                self._items.popitem(last=False)
            return loc

    def get(self, loc: str) -> Cursor | None:
        with self._lock:
            cur = self._items.get(loc)
            if cur is None or cur.last_used < time.monotonic() - CURSOR_IDLE_SECONDS:
                self._items.pop(loc, None)
                return None
            cur.last_used = time.monotonic()
            self._items.move_to_end(loc)
            return cur

    def drop(self, loc: str) -> None:
        with self._lock:
            self._items.pop(loc, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def batch_size(emu: Emulator, call: Call) -> int:
    size = 2000
    m = _BATCH_RE.search(call.header("sforce-query-options"))
    if m:
        size = min(2000, max(200, int(m.group(1))))
    return max(1, min(size, int(emu.settings.get("query_batch_size") or 2000)))


def _page(emu: Emulator, call: Call, cursor: Cursor, loc: str | None, offset: int, size: int,
          resource: str) -> dict[str, Any]:
    chunk = cursor.rows[offset : offset + size]
    shape = cursor.compiled.shape
    records = [shape(r, api_version=call.api_version) for r in chunk]
    end = offset + len(chunk)
    done = end >= len(cursor.rows)
    body: dict[str, Any] = {"totalSize": len(cursor.rows), "done": done}
    if not done:
        if loc is None:
            loc = emu.query_cursors.add(cursor)
        body["nextRecordsUrl"] = f"{call.base}/{resource}/{loc}-{end}"
    elif loc is not None:
        emu.query_cursors.drop(loc)
    body["records"] = records
    return body


def execute(emu: Emulator, text: str, *, include_deleted: bool) -> tuple[Any, list[tuple]]:
    """Compile (cached) and run one statement: (compiled query, every row). Raises SoqlError. Shared
    by the REST query resources and the Bulk query jobs, so both answer the same statement alike."""
    from emulators.salesforce import soql

    now = emu.now()
    key = (text, include_deleted, now.date(), emu.registry.generation)
    cache = emu.query_cursors.compiled
    compiled = cache.get(key)
    if compiled is None:
        compiled = soql.compile_query(text, emu.registry.lookup, now=now, include_deleted=include_deleted)
        cache.put(key, compiled)
    with emu.store.lock:
        rows = emu.store.conn.execute(compiled.sql, compiled.params).fetchall()
    return compiled, rows


def run_query(emu: Emulator, call: Call, *, include_deleted: bool) -> Resp:
    from emulators.salesforce import soql

    text = call.query.get("q")
    if text is None or not text.strip():
        return error(400, "MALFORMED_QUERY", "A query string has to be specified")
    try:
        compiled, rows = execute(emu, text, include_deleted=include_deleted)
    except soql.SoqlError as exc:
        return error(400, exc.error_code, exc.message)
    if compiled.is_count:
        total = rows[0][0] if rows and len(rows) == 1 and len(rows[0]) == 1 else len(rows)
        return Resp(200, {"totalSize": int(total), "done": True, "records": []})
    cursor = Cursor(compiled, rows, time.monotonic(), batch_size(emu, call))
    resource = "queryAll" if include_deleted else "query"
    return Resp(200, _page(emu, call, cursor, None, 0, cursor.batch, resource))


def query_more(emu: Emulator, call: Call, locator: str, *, include_deleted: bool) -> Resp:
    loc, _, offset_text = locator.partition("-")
    cursor = emu.query_cursors.get(loc)
    if cursor is None or not offset_text.isdigit() or int(offset_text) > len(cursor.rows):
        return error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    resource = "queryAll" if include_deleted else "query"
    size = batch_size(emu, call) if call.header("sforce-query-options") else cursor.batch
    return Resp(200, _page(emu, call, cursor, loc, int(offset_text), size, resource))
