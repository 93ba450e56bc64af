"""Record-level DML shared by the REST, Collections, Composite and Bulk handlers.

Every function runs inside the caller's :meth:`Store.transaction` and raises
:class:`~emulators.salesforce.validation.RecordError` for a record Salesforce would refuse.
"""

from __future__ import annotations

from typing import Any

from emulators.salesforce import ids
from emulators.salesforce.registry import ObjectSchema
from emulators.salesforce.state import Emulator
from emulators.salesforce.store import to_json_record
from emulators.salesforce.validation import RecordError, WriteContext, validate_create, validate_update


def insert(emu: Emulator, ctx: WriteContext, schema: ObjectSchema, values: dict[str, Any]) -> str:
    if not schema.describe.get("createable", True):
        raise RecordError("INSUFFICIENT_ACCESS_OR_READONLY", f"entity type {schema.name} does not support insert")
    row = validate_create(ctx, schema, values)
    rid = emu.store.new_id(schema.key_prefix)
    row["Id"] = rid
    emu.store.insert(schema.name, row)
    return rid


def resolve_id(schema: ObjectSchema, value: Any) -> str:
    """A record id for ``schema`` in 18-char form, or RecordError MALFORMED_ID."""
    canonical = ids.normalize(value)
    if canonical is None or canonical[:3] != schema.key_prefix:
        raise RecordError("MALFORMED_ID", f"{schema.name} ID: id value of incorrect type: {value}", ["Id"])
    return canonical


def update(emu: Emulator, ctx: WriteContext, schema: ObjectSchema, record_id: str, values: dict[str, Any]) -> None:
    if not schema.describe.get("updateable", True):
        raise RecordError("INSUFFICIENT_ACCESS_OR_READONLY", f"entity type {schema.name} does not support update")
    existing = emu.store.get(schema.name, record_id)
    if existing is None:
        raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
    changes = validate_update(ctx, schema, existing, values)
    emu.store.update(schema.name, record_id, changes)


def delete(emu: Emulator, ctx: WriteContext, schema: ObjectSchema, record_id: str) -> None:
    if not schema.describe.get("deletable", True):
        raise RecordError("INSUFFICIENT_ACCESS_OR_READONLY", f"entity type {schema.name} does not support delete")
    state = emu.store.exists_live(schema.name, record_id)
    if state is None:
        raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
    if state is False:
        raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [])
    emu.store.update(schema.name, record_id,
                     {"IsDeleted": 1, "LastModifiedDate": ctx.now, "SystemModstamp": ctx.now,
                      "LastModifiedById": ctx.user_id})


def match_external(emu: Emulator, schema: ObjectSchema, field: dict[str, Any], value: Any) -> list[str]:
    if field["name"] == "Id":
        canonical = ids.normalize(value)
        if canonical is None or canonical[:3] != schema.key_prefix:
            return []
        return [canonical] if emu.store.exists_live(schema.name, canonical) else []
    return emu.store.find(schema.name, field["name"], value, nocase=not field.get("caseSensitive"), limit=50)


def upsert(emu: Emulator, ctx: WriteContext, schema: ObjectSchema, field: dict[str, Any], value: Any,
           values: dict[str, Any], *, update_only: bool = False) -> tuple[str, bool]:
    """Insert or update by external id -> (id, created). Several matches -> DUPLICATE_EXTERNAL_ID."""
    if value is None or value == "":
        raise RecordError("MISSING_ARGUMENT", f"{field['name']} not specified", [field["name"]])
    matches = match_external(emu, schema, field, value)
    if len(matches) > 1:
        raise RecordError("DUPLICATE_EXTERNAL_ID",
                          f"{field['label']}: more than one record found for external id field: "
                          f"[{', '.join(matches)}]", [field["name"]])
    values = {k: v for k, v in values.items() if k != field["name"] or field["name"] == "Id"}
    if matches:
        update(emu, ctx, schema, matches[0], {k: v for k, v in values.items() if k != "Id"})
        return matches[0], False
    if update_only or field["name"] == "Id":
        raise RecordError("NOT_FOUND", "The requested resource does not exist", [])
    values[field["name"]] = value
    return insert(emu, ctx, schema, values), True


def record_json(emu: Emulator, schema: ObjectSchema, row: dict[str, Any], api_version: str,
                fields: list[str] | None = None) -> dict[str, Any]:
    data = to_json_record(schema, row)
    out: dict[str, Any] = {"attributes": {"type": schema.name,
                                          "url": f"/services/data/v{api_version}/sobjects/{schema.name}/{row['Id']}"}}
    names = fields if fields is not None else schema.field_names
    for name in names:
        out[name] = data.get(name)
    return out


def resolve_fields(schema: ObjectSchema, spec: str | list[str] | None) -> list[str] | None:
    """``fields=A,b`` -> canonical names (RequestError INVALID_FIELD on an unknown one)."""
    from emulators.salesforce.validation import RequestError

    if spec is None:
        return None
    if not isinstance(spec, (str, list)) or (isinstance(spec, list) and not all(isinstance(n, str) for n in spec)):
        raise RequestError("JSON_PARSER_ERROR", "fields must be a list of field names")
    names = [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec) if n and n.strip()]
    out = []
    for n in names:
        f = schema.field(n)
        if f is None:
            raise RequestError(
                "INVALID_FIELD",
                f"No such column '{n}' on entity '{schema.name}'. If you are attempting to use a custom field, be "
                "sure to append the '__c' after the custom field name. Please reference your WSDL or the describe "
                "call for the appropriate names.")
        out.append(f["name"])
    return out
