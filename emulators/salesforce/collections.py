"""sObject Collections (``/composite/sobjects``, reference §8).

One SQLite transaction per request and a SAVEPOINT per record: with ``allOrNone=false`` each record
commits on its own merits; with ``allOrNone=true`` any failure rolls the whole request back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emulators.salesforce import dml, ids
from emulators.salesforce.core import Call, Resp, error, method_not_allowed
from emulators.salesforce.registry import ObjectSchema
from emulators.salesforce.state import Emulator
from emulators.salesforce.validation import RecordError, RequestError, coerce

MAX_RECORDS = 200
MAX_RETRIEVE_POST = 2000
ROLLED_BACK = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
               "message": "Record rolled back because not all records were valid and the request was using "
                          "AllOrNone header", "fields": []}


class _Rollback(Exception):
    pass


_MISSING = object()


def _too_many() -> RequestError:
    return RequestError("EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")


def _body(call: Call) -> tuple[bool, list[Any]]:
    body = call.json()
    if not isinstance(body, dict):
        raise RequestError("JSON_PARSER_ERROR", "Cannot deserialize instance of collection request from START_ARRAY")
    records = body.get("records")
    if not isinstance(records, list):
        raise RequestError("JSON_PARSER_ERROR", "The request body needs a 'records' array")
    all_or_none = body.get("allOrNone", False)
    if not isinstance(all_or_none, bool):
        raise RequestError("JSON_PARSER_ERROR", f"Cannot deserialize instance of boolean from value {all_or_none}")
    if len(records) > MAX_RECORDS:
        raise _too_many()
    return all_or_none, records


def _record_schema(emu: Emulator, rec: Any) -> ObjectSchema:
    if not isinstance(rec, dict):
        raise RequestError("JSON_PARSER_ERROR", "Each record must be a JSON object")
    attrs = rec.get("attributes")
    sobject = attrs.get("type") if isinstance(attrs, dict) else None
    if not sobject:
        raise RequestError("INVALID_TYPE", "Must specify a type in attributes for every record")
    schema = emu.registry.get(str(sobject))
    if schema is None:
        raise RequestError("INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
    return schema


def _run(emu: Emulator, all_or_none: bool, items: list[Any],
         op: Callable[[Any], dict[str, Any]], *, single_write: bool = False,
         objects: list[str] | None = None) -> list[dict[str, Any]]:
    """Apply ``op`` to every item in one transaction, a savepoint per item; returns ordered results.

    ``single_write``: ``op`` validates first and writes one statement as its very last step (a
    create), so a failing record has written nothing and needs no savepoint (SQLite undoes a failed
    statement by itself). That saves two of a create's four statements per record."""
    results: list[dict[str, Any]] = []
    failed = False
    lock_rate = emu.faults.lock_row_rate
    held = _ParentCheck(emu, objects, items)
    try:
        with emu.store.transaction():
            execute = emu.store.conn.execute
            if single_write:
                for item in items:
                    try:
                        if (lock_rate and emu.lock_fault()) or held.blocked(len(results)):
                            raise RecordError("UNABLE_TO_LOCK_ROW",
                                              "unable to obtain exclusive access to this record or 1 records", [])
                        results.append(op(item))
                    except RecordError as exc:
                        failed = True
                        results.append({"success": False, "errors": exc.errors, "_item": item})
                items = []
            for item in items:
                # A SAVEPOINT per record: its work is undone alone when it fails (inlined: hot loop).
                execute("SAVEPOINT rec")
                try:
                    if (lock_rate and emu.lock_fault()) or held.blocked(len(results)):
                        raise RecordError("UNABLE_TO_LOCK_ROW",
                                          "unable to obtain exclusive access to this record or 1 records", [])
                    results.append(op(item))
                    execute("RELEASE rec")
                except RecordError as exc:
                    execute("ROLLBACK TO rec")
                    execute("RELEASE rec")
                    failed = True
                    results.append({"success": False, "errors": exc.errors, "_item": item})
                except BaseException:
                    execute("ROLLBACK TO rec")
                    execute("RELEASE rec")
                    raise
            if failed and all_or_none:
                raise _Rollback
            cpu = _automation_limit(emu, objects, results)
            if cpu is not None:
                raise _CpuLimit(cpu)
    except _CpuLimit as exc:
        # The org's automation ran out of CPU time on the whole batch: Salesforce rolls the trigger's
        # transaction back, and every record of the call fails with the automation's error.
        error = {"statusCode": "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", "message": exc.message, "fields": []}
        results = [{"success": False, "errors": [dict(error)]} for _ in results]
    except _Rollback:
        out = []
        for r in results:
            if r["success"]:
                rolled = {"success": False, "errors": [dict(ROLLED_BACK)]}
                if "id" in r and r.get("_keep_id"):
                    rolled = {"id": r["id"], **rolled}
                out.append(rolled)
            else:
                out.append(r)
        results = out
    held.commit(results)
    for r in results:
        r.pop("_item", None)
        r.pop("_keep_id", None)
    return results


class _ParentCheck:
    """The parent locks of one Collections call (fault ``parent_lock_ms``, parent_locks.py)."""

    def __init__(self, emu: Emulator, objects: list[str] | None, items: list[Any]) -> None:
        self.ms = emu.faults.parent_lock_ms
        self.locks = getattr(emu, "parent_locks", None)
        self.objects, self.items = objects, items
        self.call = object()

    def _values(self, i: int) -> dict[str, Any]:
        item = self.items[i] if i < len(self.items) else None
        if isinstance(item, dict):
            return item
        return next((x for x in item if isinstance(x, dict)), {}) if isinstance(item, tuple) else {}

    def blocked(self, i: int) -> bool:
        if not self.ms or self.locks is None or not self.objects:
            return False
        return self.locks.blocked(self.objects[i], self._values(i), self.call)

    def commit(self, results: list[dict[str, Any]]) -> None:
        if not self.ms or self.locks is None or not self.objects:
            return
        from emulators.salesforce.parent_locks import parents

        touched = [pid for i, r in enumerate(results) if r.get("success")
                   for pid in parents(self.objects[i], self._values(i))]
        self.locks.hold(touched, self.call, self.ms / 1000)


class _CpuLimit(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _automation_limit(emu: Emulator, objects: list[str] | None, results: list[dict[str, Any]]) -> str | None:
    if not objects or not emu.org_rules.automation:
        return None
    written: dict[str, int] = {}
    for obj, r in zip(objects, results, strict=True):
        if r.get("success"):
            written[obj] = written.get(obj, 0) + 1
    return next((m for obj, n in written.items() if (m := emu.org_rules.batch_failure(obj, n))), None)


def create(emu: Emulator, call: Call) -> Resp:
    all_or_none, records = _body(call)
    prepared = []
    chunks = 0
    last = None
    for rec in records:
        schema = _record_schema(emu, rec)
        if schema.name != last:
            chunks += 1
            last = schema.name
        values = coerce(schema, rec)
        has_id = values.pop("Id", _MISSING) is not _MISSING
        prepared.append((schema, values, has_id))
    if chunks > 10:
        return error(400, "INVALID_BATCH", "Cannot have more than 10 chunks in a single operation. Please rearrange "
                     "the data to reduce chunking.")
    ctx = emu.write_context(call.user_id, api_version=call.api_version, allow_save=call.allow_save(),
                            auto_assign=call.auto_assign())

    def op(item: tuple[ObjectSchema, dict[str, Any], bool]) -> dict[str, Any]:
        schema, values, has_id = item
        if has_id:
            raise RecordError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        return {"id": dml.insert(emu, ctx, schema, values), "success": True, "errors": []}

    return Resp(200, _run(emu, all_or_none, prepared, op, single_write=True,
                          objects=[schema.name for schema, _, _ in prepared]))


def update(emu: Emulator, call: Call) -> Resp:
    all_or_none, records = _body(call)
    prepared = []
    for rec in records:
        schema = _record_schema(emu, rec)
        rid = next((v for k, v in rec.items() if k.lower() == "id"), None)
        values = coerce(schema, {k: v for k, v in rec.items() if k.lower() != "id"})
        prepared.append((schema, rid, values))
    ctx = emu.write_context(call.user_id, api_version=call.api_version, allow_save=call.allow_save(),
                            auto_assign=call.auto_assign())

    def op(item: tuple[ObjectSchema, Any, dict[str, Any]]) -> dict[str, Any]:
        schema, rid, values = item
        if not rid:
            raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        canonical = dml.resolve_id(schema, rid)
        dml.update(emu, ctx, schema, canonical, values)
        return {"id": canonical, "success": True, "errors": [], "_keep_id": True}

    results = _run(emu, all_or_none, prepared, op, objects=[schema.name for schema, _, _ in prepared])
    for (_, rid, _), r in zip(prepared, results, strict=True):
        if "id" not in r and ids.normalize(rid):
            r["id"] = ids.normalize(rid)
        _order(r)
    return Resp(200, results)


def _order(r: dict[str, Any]) -> None:
    keys = ["id", "success", "errors", "created"]
    items = {k: r.pop(k) for k in keys if k in r}
    r.update(items)


def upsert(emu: Emulator, call: Call, obj: str, field_name: str) -> Resp:
    schema = emu.registry.get(obj)
    if schema is None:
        return error(404, "NOT_FOUND", "The requested resource does not exist")
    field = schema.field(field_name)
    if field is None or not (field.get("externalId") or field.get("idLookup")):
        return error(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {field_name}")
    all_or_none, records = _body(call)
    prepared = []
    seen: dict[str, int] = {}
    for rec in records:
        rec_schema = _record_schema(emu, rec)
        if rec_schema.name != schema.name:
            raise RequestError("INVALID_TYPE", f"The record type {rec_schema.name} does not match {schema.name}")
        values = coerce(schema, rec)
        key = values.get(field["name"])
        if key is not None:
            norm = key if field.get("caseSensitive") else str(key).lower()
            seen[norm] = seen.get(norm, 0) + 1
        prepared.append(values)
    ctx = emu.write_context(call.user_id, api_version=call.api_version, allow_save=call.allow_save(),
                            auto_assign=call.auto_assign())

    def op(values: dict[str, Any]) -> dict[str, Any]:
        key = values.get(field["name"])
        norm = key if field.get("caseSensitive") or key is None else str(key).lower()
        if key is not None and seen.get(norm, 0) > 1:
            raise RecordError("DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {key}", [field["name"]])
        rid, created = dml.upsert(emu, ctx, schema, field, key, dict(values))
        return {"id": rid, "success": True, "errors": [], "created": created}

    results = _run(emu, all_or_none, prepared, op, objects=[schema.name] * len(prepared))
    for r in results:
        _order(r)
    return Resp(200, results)


def delete(emu: Emulator, call: Call) -> Resp:
    raw = call.query.get("ids", "")
    id_list = [i.strip() for i in raw.split(",") if i.strip()]
    if not id_list:
        return error(400, "MISSING_ARGUMENT", "ids parameter is required")
    if len(id_list) > MAX_RECORDS:
        raise _too_many()
    all_or_none = call.query.get("allOrNone", "false").lower() == "true"
    ctx = emu.write_context(call.user_id, api_version=call.api_version)

    def op(rid: str) -> dict[str, Any]:
        canonical = ids.normalize(rid)
        schema = emu.registry.by_prefix(canonical[:3]) if canonical else None
        if canonical is None or schema is None:
            raise RecordError("MALFORMED_ID", f"malformed id {rid}", [])
        dml.delete(emu, ctx, schema, canonical)
        return {"id": canonical, "success": True, "errors": [], "_keep_id": True}

    results = _run(emu, all_or_none, id_list, op)
    for rid, r in zip(id_list, results, strict=True):
        if "id" not in r:
            r["id"] = ids.normalize(rid) or rid
        _order(r)
    return Resp(200, results)


def retrieve(emu: Emulator, call: Call, obj: str) -> Resp:
    schema = emu.registry.get(obj)
    if schema is None:
        return error(404, "NOT_FOUND", "The requested resource does not exist")
    if call.method == "GET":
        id_list = [i.strip() for i in call.query.get("ids", "").split(",") if i.strip()]
        fields_spec: Any = call.query.get("fields")
        limit = 800
    elif call.method == "POST":
        body = call.json()
        if not isinstance(body, dict) or not isinstance(body.get("ids"), list):
            raise RequestError("JSON_PARSER_ERROR", "The request body needs 'ids' and 'fields' arrays")
        id_list = [str(i) for i in body["ids"]]
        fields_spec = body.get("fields")
        limit = MAX_RETRIEVE_POST
    else:
        return method_not_allowed(call.method, ["GET", "POST"])
    if not fields_spec:
        return error(400, "MISSING_ARGUMENT", "fields parameter is required")
    if not id_list:
        return error(400, "MISSING_ARGUMENT", "ids parameter is required")
    if len(id_list) > limit:
        return error(400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than {limit} records "
                     "into this call")
    fields = dml.resolve_fields(schema, fields_spec)
    canon = [ids.normalize(i) for i in id_list]
    rows = emu.store.get_many(schema.name, [c for c in canon if c and c[:3] == schema.key_prefix])
    out: list[dict[str, Any] | None] = []
    for c in canon:
        row = rows.get(c) if c else None
        out.append(None if row is None or row.get("IsDeleted") else
                   dml.record_json(emu, schema, row, call.api_version, ["Id", *[f for f in fields or [] if f != "Id"]]))
    return Resp(200, out)
