"""Record validation and coercion as Salesforce does it (reference §11).

Two phases:

* :func:`coerce` turns request data (JSON values or CSV strings) into storage values. Unknown fields and
  (for JSON) values of the wrong type fail the whole request, as Salesforce's deserializer does.
* :func:`validate_create` / :func:`validate_update` apply the org's rules to one record and raise
  :class:`RecordError` with Salesforce's status codes and messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from emulators.salesforce import address_picklists, ids
from emulators.salesforce.org_rules import OrgRules, RuleError, duplicate_matches
from emulators.salesforce.registry import TEXT_TYPES, ObjectSchema
from emulators.salesforce.store import Store

EMAIL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@"
                      r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_DT_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)
NAME_FROM_PARTS = ("Lead", "Contact", "User")


class RequestError(Exception):
    """The whole request is refused (HTTP ``status``)."""

    def __init__(self, error_code: str, message: str, status: int = 400, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.status = status
        self.fields = fields

    def body(self) -> list[dict[str, Any]]:
        err: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            err["fields"] = self.fields
        return [err]


class RecordError(Exception):
    """One record failed; ``errors`` are collection-style ``{statusCode, message, fields}`` entries."""

    def __init__(self, status_code: str, message: str, fields: list[str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        err: dict[str, Any] = {"statusCode": status_code, "message": message, "fields": fields or []}
        err.update(extra)
        self.errors = [err]
        self.status_code = status_code

    def rest_body(self) -> list[dict[str, Any]]:
        """Single-record REST error body: ``[{"message","errorCode","fields"}]``."""
        out = []
        for e in self.errors:
            item = {k: v for k, v in e.items() if k not in ("statusCode",)}
            item["errorCode"] = e["statusCode"]
            out.append(item)
        return out


@dataclass
class WriteContext:
    store: Store
    user_id: str
    now: str  # storage datetime text
    api_version: str = "60.0"
    allow_save: bool = False
    # Active Lead assignment rules ({object: owner id}) and whether this call runs them
    # (``Sforce-Auto-Assign``, TRUE unless the caller says FALSE).
    assignment: dict[str, str] = field(default_factory=dict)
    auto_assign: bool = True
    user_cache: dict[str, Any] = field(default_factory=dict)
    system: bool = False  # fixture seeding: data-load semantics (inactive owners allowed)
    org: OrgRules | None = None  # validation rules, record types, duplicate rules, automation


# ---- coercion -----------------------------------------------------------------------------------
def format_datetime(dt: datetime) -> str:
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000+0000")  # Salesforce keeps datetimes to the second


def parse_datetime(text: str) -> str | None:
    m = _DT_RE.match(text.strip())
    if not m:
        return None
    y, mo, d, hh, mm, ss, frac, tz = m.groups()
    try:
        base = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0),
                        int((frac or "0")[:6].ljust(6, "0")), tzinfo=timezone.utc)
    except ValueError:
        return None
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        from datetime import timedelta

        base -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return format_datetime(base)


def parse_date(text: str) -> str | None:
    try:
        return date.fromisoformat(text.strip()).isoformat() if len(text.strip()) == 10 else None
    except ValueError:
        return None


class _TypeMismatch(Exception):
    pass


def _coerce_value(f: dict[str, Any], value: Any, *, csv: bool) -> Any:
    t = f["type"]
    if value is None:
        return None
    if t in TEXT_TYPES:
        if isinstance(value, bool):
            if csv:
                return value
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return str(value)
        if isinstance(value, str):
            return value
        raise _TypeMismatch
    if t == "boolean":
        if isinstance(value, bool):
            return 1 if value else 0
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0") and (
            csv or value.strip().lower() in ("true", "false")
        ):
            return 1 if value.strip().lower() in ("true", "1") else 0
        raise _TypeMismatch
    if t == "int":
        if isinstance(value, bool):
            raise _TypeMismatch
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                try:
                    fv = float(value)
                except ValueError:
                    raise _TypeMismatch from None
                if fv.is_integer():
                    return int(fv)
        raise _TypeMismatch
    if t in ("double", "currency", "percent"):
        if isinstance(value, bool):
            raise _TypeMismatch
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                raise _TypeMismatch from None
        raise _TypeMismatch
    if t == "date":
        if isinstance(value, str):
            parsed = parse_date(value)
            if parsed is None and csv:
                dt = parse_datetime(value)
                parsed = dt[:10] if dt else None
            if parsed:
                return parsed
        raise _TypeMismatch
    if t == "datetime":
        if isinstance(value, str):
            parsed = parse_datetime(value)
            if parsed:
                return parsed
        raise _TypeMismatch
    if isinstance(value, (str, int, float)):
        return value
    raise _TypeMismatch


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, int):
        return "VALUE_NUMBER_INT"
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT"
    if isinstance(value, str):
        return "VALUE_STRING"
    if isinstance(value, list):
        return "START_ARRAY"
    return "START_OBJECT"


_JAVA_TYPES = {"boolean": "boolean", "int": "int", "double": "double", "currency": "double", "percent": "double",
               "date": "date", "datetime": "datetime"}


def coerce(schema: ObjectSchema, raw: dict[str, Any], *, csv: bool = False,
           skip: tuple[str, ...] = ("attributes",)) -> dict[str, Any]:
    """Request data -> {canonical field name: storage value}.

    JSON: unknown field -> RequestError INVALID_FIELD; wrong type -> RequestError JSON_PARSER_ERROR.
    CSV: "" is omitted, "#N/A" is null, wrong type -> RecordError INVALID_TYPE_ON_FIELD_IN_RECORD.
    """
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in skip:
            continue
        f = schema.by_lower.get(key.lower())
        if f is None:
            raise RequestError("INVALID_FIELD", f"No such column '{key}' on sobject of type {schema.name}")
        if f["type"] in ("address", "location"):
            out[f["name"]] = value  # compound fields are read-only: refused with the other unwritable fields
            continue
        if csv:
            if value == "" or value is None:
                continue
            if value == "#N/A":
                out[f["name"]] = None
                continue
        try:
            out[f["name"]] = _coerce_value(f, value, csv=csv)
        except _TypeMismatch:
            if csv:
                raise RecordError(
                    "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{f['label']}: value not of required type: {value}", [f["name"]]
                ) from None
            kind = _JAVA_TYPES.get(f["type"], "java.lang.String")
            raise RequestError(
                "JSON_PARSER_ERROR",
                f"Cannot deserialize instance of {kind} from {_json_kind(value)} value {value} "
                "or request may be missing a required field at [line:1, column:1]",
            ) from None
    return out


# ---- validation ---------------------------------------------------------------------------------
def _check_values(ctx: WriteContext, schema: ObjectSchema, values: dict[str, Any], record_id: str | None,
                  names: list[str] | None = None) -> None:
    for name in names if names is not None else list(values):
        value = values[name]
        f = schema.fields[name]
        t = f["type"]
        if value is None:
            continue
        if t in TEXT_TYPES and t not in ("id", "reference"):
            length = f.get("length") or 0
            # Salesforce counts UTF-16 code units: an emoji is two (Salesforce Help 005166849).
            if length and len(value) > length // 2 and len(value.encode("utf-16-le")) // 2 > length:
                raise RecordError("STRING_TOO_LONG",
                                  f"{f['label']}: data value too large: {value} (max length={length})", [name])
            if t == "email" and value and not EMAIL_RE.match(value):
                raise RecordError("INVALID_EMAIL_ADDRESS", f"{f['label']}: invalid email address: {value}", [name])
            if t in ("picklist", "multipicklist") and f.get("restrictedPicklist") and value != "":
                allowed = {p["value"] for p in f["picklistValues"] if p.get("active", True)}
                parts = value.split(";") if t == "multipicklist" else [value]
                if any(p not in allowed for p in parts):
                    raise RecordError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                      f"{f['label']}: bad value for restricted picklist field: {value}", [name])
        elif t == "reference" and name == "RecordTypeId":
            canonical = ids.normalize(value)
            if canonical is None:
                raise RecordError("MALFORMED_ID", f"{f['label']}: id value of incorrect type: {value}", [name])
            values[name] = canonical  # which record types exist is the org rules' to check
        elif t == "reference":
            canonical = ids.normalize(value)
            if canonical is None:
                raise RecordError("MALFORMED_ID", f"{f['label']}: id value of incorrect type: {value}", [name])
            values[name] = canonical
            target = ctx.store.registry.by_prefix(canonical[:3])
            if target is None or target.name not in f.get("referenceTo", []):
                raise RecordError("FIELD_INTEGRITY_EXCEPTION",
                                  f"{f['label']}: id value of incorrect type: {canonical}", [name])
            if target.name == "User":
                row = ctx.user_cache.get(canonical)
                if row is None:
                    row = ctx.store.conn.execute(
                        'SELECT IsActive FROM "User" WHERE Id = ? AND IsDeleted = 0', (canonical,)).fetchone()
                    if row is not None:
                        ctx.user_cache[canonical] = row  # users do not change within one request
                if row is None:
                    raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [name])
                if name == "OwnerId" and not row[0] and not ctx.system:
                    raise RecordError("INACTIVE_OWNER_OR_USER", "operation performed with inactive user", [name])
            elif not ctx.store.exists_live(target.name, canonical):
                raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [name])
        elif t == "int" and abs(value) > 2147483647:
            raise RecordError("NUMBER_OUTSIDE_VALID_RANGE", f"{f['label']}: value outside of valid range", [name])
    # Unique fields (external ids, Username): case-insensitive unless caseSensitive.
    for name in schema.unique_fields:
        value = values.get(name)
        if value is None or value == "":
            continue
        f = schema.fields[name]
        dup = ctx.store.find(schema.name, name, value, nocase=not f.get("caseSensitive"), exclude_id=record_id, limit=1)
        if dup:
            raise RecordError("DUPLICATE_VALUE",
                              f"duplicate value found: {name} duplicates value on record with id: {dup[0]}", [name])


def _object_rules(ctx: WriteContext, schema: ObjectSchema, merged: dict[str, Any]) -> None:
    if schema.name == "Task":
        who, what = merged.get("WhoId"), merged.get("WhatId")
        if who and what and who.startswith("00Q"):
            raise RecordError("FIELD_INTEGRITY_EXCEPTION",
                              "Related To ID: id value of incorrect type: a task related to a lead cannot "
                              "also be related to another record", ["WhatId"])


def _duplicates(ctx: WriteContext, schema: ObjectSchema, values: dict[str, Any], record_id: str | None) -> None:
    if ctx.org is None:
        return
    for rule in ctx.org.duplicate_rules_for(schema.name):
        block = rule.action == "block"
        if not block and ctx.allow_save:
            continue
        found = duplicate_matches(ctx.store, ctx.store.registry, rule, values, record_id)
        if not found:
            continue
        dup = {
            "allowSave": not block,
            "duplicateRule": rule.name,
            "duplicateRuleEntityType": schema.name,
            "errorMessage": "Use one of these records?",
            "matchResults": [{
                "entityType": obj, "errors": [], "matchEngine": "ExactMatchEngine",
                "matchRecords": [{
                    "additionalInformation": [], "fieldDiffs": [], "matchConfidence": 100.0,
                    "record": {"attributes": {"type": obj,
                                              "url": f"/services/data/v{ctx.api_version}/sobjects/{obj}/{m}"},
                               "Id": m},
                } for m in matches],
                "rule": f"{rule.name}_{obj}_Matching_Rule", "size": len(matches), "success": True,
            } for obj, matches in found],
        }
        raise RecordError("DUPLICATES_DETECTED", "Use one of these records?", [], duplicateResult=dup)


def _org_rules(ctx: WriteContext, schema: ObjectSchema, row: dict[str, Any], given: dict[str, Any], *,
               create: bool, system: bool = False) -> None:
    """Record types, country/state picklists, validation rules and automation of the org (org_rules.py).
    A data load (``system``, fixture seeding) gets the first two, which shape the stored data."""
    if ctx.org is None:
        return
    if ctx.org.state_country:
        try:
            address_picklists.apply(schema.fields, row, given)
        except address_picklists.AddressError as exc:
            raise RecordError("FIELD_INTEGRITY_EXCEPTION", exc.message, [exc.field]) from None
    try:
        ctx.org.apply_record_type(schema.name, row, given, create=create)
        if not system:
            ctx.org.check(schema.name, row, create=create)
    except RuleError as exc:
        raise RecordError(exc.code, exc.message, exc.fields, **exc.extra) from None


def _derive(schema: ObjectSchema, merged: dict[str, Any], values: dict[str, Any], now: str) -> None:
    """Maintain fields Salesforce computes (Name from its parts, Task closure)."""
    if schema.name in NAME_FROM_PARTS and "Name" in schema.fields and ("FirstName" in values or "LastName" in values):
        values["Name"] = " ".join(p for p in (merged.get("FirstName"), merged.get("LastName")) if p)
    if schema.name == "Task" and "Status" in values and "IsClosed" in schema.fields:
        closed = 1 if merged.get("Status") == "Completed" else 0
        values["IsClosed"] = closed
        if "CompletedDateTime" in schema.fields:
            values["CompletedDateTime"] = now if closed else None


def _required_missing(schema: ObjectSchema, merged: dict[str, Any], names: list[str]) -> None:
    missing = []
    for name in names:
        f = schema.fields[name]
        if f["nillable"] or not (f["createable"] or f["updateable"]) or f["type"] == "boolean":
            continue
        v = merged.get(name)
        if v is None or v == "":
            missing.append(name)
    if missing:
        raise RecordError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)


def validate_create(ctx: WriteContext, schema: ObjectSchema, values: dict[str, Any], *,
                    system: bool = False) -> dict[str, Any]:
    """Coerced values -> the full row to insert (defaults, derived and system fields); raises RecordError.

    ``system`` (fixture seeding) skips field-level security and duplicate rules, as a data load would.
    """
    if "Id" in values:
        raise RecordError("INVALID_FIELD", "The Id field should not be specified in the sobject data.", ["Id"])
    if not system:
        bad = [n for n in values if not schema.fields[n]["createable"]]
        if bad:
            raise RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(bad)}. Please check the security settings of this "
                "field and verify that it is read/write for your profile or permission set.", bad)
    row = {**schema.create_defaults, **values}
    for name, value in values.items():
        if value is None and name in schema.create_defaults and schema.fields[name]["type"] == "boolean":
            row[name] = schema.create_defaults[name]
    if "OwnerId" in schema.fields:
        rule_owner = ctx.assignment.get(schema.name) if ctx.auto_assign and not system else None
        if rule_owner:
            row["OwnerId"] = rule_owner  # an active assignment rule wins over a given owner, as in Salesforce
        elif not row.get("OwnerId"):
            row["OwnerId"] = ctx.user_id
    _required_missing(schema, row, schema.required)
    # Defaults come from the describe and are valid by construction: check what the caller sent (+ owner).
    _check_values(ctx, schema, row, None, names=[*values, "OwnerId"] if "OwnerId" in row else list(values))
    _object_rules(ctx, schema, row)
    _org_rules(ctx, schema, row, values, create=True, system=system)
    if not system:
        _duplicates(ctx, schema, row, None)
    _derive(schema, row, row, ctx.now)
    fields = schema.fields
    if "IsDeleted" in fields:
        row["IsDeleted"] = 0
    # Every key of ``row`` is a field of the schema (coerced names, describe defaults, derived and
    # system fields only when the describe has them), so the row needs no filtering before the INSERT.
    for k in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
        if k in fields and (not system or not row.get(k)):
            row[k] = ctx.now
    for k in ("CreatedById", "LastModifiedById"):
        if k in fields and (not system or not row.get(k)):
            row[k] = ctx.user_id
    return row


def validate_update(ctx: WriteContext, schema: ObjectSchema, existing: dict[str, Any],
                    values: dict[str, Any]) -> dict[str, Any]:
    """Coerced values for an existing row -> the column changes to apply; raises RecordError."""
    values = {k: v for k, v in values.items() if k != "Id"}
    if existing.get("IsDeleted"):
        raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [])
    if schema.name == "Lead" and existing.get("IsConverted"):
        raise RecordError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [])
    bad = [n for n in values if not schema.fields[n]["updateable"]]
    if bad:
        raise RecordError(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"Unable to create/update fields: {', '.join(bad)}. Please check the security settings of this "
            "field and verify that it is read/write for your profile or permission set.", bad)
    for name in list(values):
        f = schema.fields[name]
        if f["type"] == "boolean" and values[name] is None:
            values[name] = 0
    merged = {**existing, **values}
    _required_missing(schema, merged, list(values))
    _check_values(ctx, schema, values, existing["Id"])
    _object_rules(ctx, schema, merged)
    if ctx.org is not None and not ctx.system:
        before = dict(merged)
        _org_rules(ctx, schema, merged, values, create=False)
        values.update({k: v for k, v in merged.items() if k in schema.fields and before.get(k) != v})
        dup_fields = {f.lower() for r in ctx.org.duplicate_rules_for(schema.name) for m in r.match
                      for f in m.get("fields") or []}
        if any(n.lower() in dup_fields for n in values):
            _duplicates(ctx, schema, merged, existing["Id"])
    _derive(schema, merged, values, ctx.now)
    values["LastModifiedDate"] = ctx.now
    values["SystemModstamp"] = ctx.now
    values["LastModifiedById"] = ctx.user_id
    return {k: v for k, v in values.items() if k in schema.fields}
