"""What makes a real org messy, defined by the fixture: validation rules, record types, duplicate rules
across objects, automation that fails, and the sandbox and State/Country options.

Sources (Salesforce Help and developer guides): "Validation Rules" and "Validation Rules Fields"
(``FIELD_CUSTOM_VALIDATION_EXCEPTION`` with the rule's error message and error location field);
"Record Types" and the sObject Describe ``recordTypeInfos`` (the Master record type
``012000000000000AAA``); UI API "Get Values for All Picklist Fields of a Record Type"; "Duplicate
Rules" and "Standard Duplicate Rules" (Leads compared with Leads and Contacts, Accounts with
Accounts), REST ``DUPLICATES_DETECTED`` with ``duplicateResult.matchResults``; Apex "Execution
Governors and Limits" (``Apex CPU time limit exceeded``) and trigger errors surfacing as
``CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY``; "Sandbox Setup Considerations" (user emails get
``.invalid`` appended); "State and Country/Territory Picklists" (integration values, ``CountryCode``
and ``StateCode`` ISO codes, ``FIELD_INTEGRITY_EXCEPTION`` for a value not in the list).

The rule language is declarative JSON (nothing is evaluated as code); docs/DESIGN.md lists it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

MASTER_RECORD_TYPE = "012000000000000AAA"
AUTOMATION_ERROR = "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
VALIDATION_ERROR = "FIELD_CUSTOM_VALIDATION_EXCEPTION"


class RuleError(Exception):
    """One record refused by an org rule: the caller turns it into a RecordError."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or []
        self.extra = extra


# ------------------------------------------------------------------------------ conditions


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _get(record: dict[str, Any], name: str) -> Any:
    if name in record:
        return record[name]
    low = name.lower()
    return next((v for k, v in record.items() if k.lower() == low), None)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().casefold() == b.strip().casefold()
    if isinstance(b, bool):
        return bool(a) == b
    return a == b


def holds(cond: dict[str, Any] | None, record: dict[str, Any]) -> bool:
    """A condition: ``{"field", "equals"}``, ``{"field", "in": [...]}``, ``{"field", "blank": bool}``,
    ``{"field", "matches": regex}``, ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": cond}``."""
    if not cond:
        return True
    if "all" in cond:
        return all(holds(c, record) for c in cond["all"])
    if "any" in cond:
        return any(holds(c, record) for c in cond["any"])
    if "not" in cond:
        return not holds(cond["not"], record)
    value = _get(record, cond["field"])
    if "equals" in cond:
        return _same(value, cond["equals"])
    if "in" in cond:
        return any(_same(value, v) for v in cond["in"])
    if "blank" in cond:
        return _blank(value) == bool(cond["blank"])
    if "matches" in cond:
        return not _blank(value) and re.fullmatch(cond["matches"], str(value)) is not None
    raise ValueError(f"unknown condition {cond}")


# ------------------------------------------------------------------------------ rules


@dataclass
class ValidationRule:
    name: str
    object: str
    kind: str
    spec: dict[str, Any]
    message: str
    error_field: str | None = None
    when: dict[str, Any] | None = None

    def fails(self, record: dict[str, Any]) -> bool:
        if not holds(self.when, record):
            return False
        s = self.spec
        if self.kind == "required_if":
            return _blank(_get(record, s["field"]))
        if self.kind == "regex":
            value = _get(record, s["field"])
            return not _blank(value) and re.fullmatch(s["pattern"], str(value)) is None
        if self.kind == "length":
            value = _get(record, s["field"])
            n = 0 if _blank(value) else len(str(value))
            too_long = s.get("max") is not None and n > int(s["max"])
            return too_long or (s.get("min") is not None and 0 < n < int(s["min"]))
        if self.kind == "allowed_combinations":
            values = [_get(record, f) for f in s["fields"]]
            if any(_blank(v) for v in values):
                return False
            return not any(all(_same(v, a) for v, a in zip(values, combo, strict=True)) for combo in s["values"])
        if self.kind == "forbidden":  # the condition in `when` alone refuses the record
            return True
        raise ValueError(f"unknown validation rule kind {self.kind}")


@dataclass
class RecordType:
    id: str
    developer_name: str
    name: str
    default: bool = False
    active: bool = True
    picklists: dict[str, dict[str, Any]] = field(default_factory=dict)  # field -> {values, default}

    def info(self, obj: str, api_version: str = "60.0") -> dict[str, Any]:
        return {"active": self.active, "available": self.active, "defaultRecordTypeMapping": self.default,
                "developerName": self.developer_name, "master": False, "name": self.name,
                "recordTypeId": self.id,
                "urls": {"layout": f"/services/data/v{api_version}/sobjects/{obj}/describe/layouts/{self.id}"}}


@dataclass
class DuplicateRule:
    name: str
    object: str
    action: str  # alert | block
    match: list[dict[str, Any]]  # [{"object", "fields": [...], "compare": "exact" | "domain"}]


@dataclass
class Automation:
    name: str
    object: str
    when: dict[str, Any] | None = None
    message: str = "execution failed"
    cpu_limit_batch: int | None = None  # a DML batch of more records fails as a whole


def domain_of(value: Any) -> str | None:
    if _blank(value):
        return None
    text = str(value).strip().lower()
    if "://" not in text:
        text = "//" + text
    try:
        host = urlsplit(text).hostname or ""
    except ValueError:
        return None
    return host[4:] if host.startswith("www.") else host or None


@dataclass
class OrgRules:
    validation: list[ValidationRule] = field(default_factory=list)
    record_types: dict[str, list[RecordType]] = field(default_factory=dict)
    duplicates: list[DuplicateRule] = field(default_factory=list)
    automation: list[Automation] = field(default_factory=list)
    state_country: bool = False  # State and Country/Territory Picklists (address_picklists.py)

    # -- loading ------------------------------------------------------------------------------

    @classmethod
    def from_fixture(cls, fixture: dict[str, Any], new_id: Any) -> OrgRules:
        rules = cls()
        rules.extend(fixture, new_id)
        return rules

    def extend(self, fixture: dict[str, Any], new_id: Any) -> None:
        for r in fixture.get("validation_rules") or []:
            if not r.get("active", True):
                continue
            kind = r["rule"]["kind"]
            self.validation.append(ValidationRule(
                name=r["name"], object=r["object"], kind=kind, spec=r["rule"], message=r["message"],
                error_field=r.get("error_field"), when=r.get("when")))
        for obj, types in (fixture.get("record_types") or {}).items():
            for t in types:
                rt = RecordType(id=t.get("id") or new_id(), developer_name=t["developer_name"],
                                name=t.get("name") or t["developer_name"], default=bool(t.get("default")),
                                active=t.get("active", True), picklists={
                                    f: (p if isinstance(p, dict) else {"values": list(p)})
                                    for f, p in (t.get("picklists") or {}).items()})
                self.record_types.setdefault(obj, []).append(rt)
        for r in fixture.get("duplicate_rules") or []:
            match = r.get("match") or [{"object": r["object"], "fields": [r.get("field", "Email")]}]
            self.duplicates.append(DuplicateRule(
                name=r.get("name") or f"Emulator_{r['object']}_Rule", object=r["object"],
                action=r.get("action", "alert"), match=match))
        for a in fixture.get("automation") or []:
            self.automation.append(Automation(name=a["name"], object=a["object"], when=a.get("when"),
                                              message=a.get("message", "execution failed"),
                                              cpu_limit_batch=a.get("cpu_limit_batch")))

    def as_fixture(self) -> dict[str, Any]:
        """The rules in fixture form (persisted in the store's meta table across restarts)."""
        return {
            "validation_rules": [{"name": r.name, "object": r.object, "rule": r.spec, "message": r.message,
                                  "error_field": r.error_field, "when": r.when} for r in self.validation],
            "record_types": {obj: [{"id": t.id, "developer_name": t.developer_name, "name": t.name,
                                    "default": t.default, "active": t.active, "picklists": t.picklists}
                                   for t in types] for obj, types in self.record_types.items()},
            "duplicate_rules": [{"name": d.name, "object": d.object, "action": d.action, "match": d.match}
                                for d in self.duplicates],
            "automation": [{"name": a.name, "object": a.object, "when": a.when, "message": a.message,
                            "cpu_limit_batch": a.cpu_limit_batch} for a in self.automation],
        }

    def relax(self, spec: dict[str, Any]) -> dict[str, list[str]]:
        """What an admin does in Setup to let records through: deactivate validation rules, triggers or
        flows, and duplicate rules (``{"validation_rules": [names] | true, "automation": ...,
        "duplicate_rules": ...}``; true = every rule of that kind), and add values to a picklist of every
        record type that restricts it (``"picklist_values": {Object: {Field: [values]}}``). Returns what
        was removed or added."""
        kinds = {"validation_rules": "validation", "automation": "automation", "duplicate_rules": "duplicates"}
        unknown = set(spec) - set(kinds) - {"picklist_values"}
        if unknown:
            raise ValueError(f"cannot relax {', '.join(sorted(unknown))}; kinds: {', '.join(kinds)}")
        removed: dict[str, list[str]] = {}
        for kind, attr in kinds.items():
            names = spec.get(kind)
            if not names:
                continue
            rules = getattr(self, attr)
            wanted = None if names is True else {str(n).lower() for n in names}
            if wanted is not None:
                missing = wanted - {r.name.lower() for r in rules}
                if missing:
                    raise ValueError(f"no {kind} named {', '.join(sorted(missing))}")
            setattr(self, attr, [r for r in rules if wanted is not None and r.name.lower() not in wanted])
            removed[kind] = [r.name for r in rules if wanted is None or r.name.lower() in wanted]
        for obj, fields in (spec.get("picklist_values") or {}).items():
            for rt in self.types_of(obj):
                for fname, values in fields.items():
                    pick = next((p for f, p in rt.picklists.items() if f.lower() == fname.lower()), None)
                    if pick is None:
                        continue
                    new = [v for v in values if v not in pick.setdefault("values", [])]
                    pick["values"].extend(new)
                    if new:
                        removed.setdefault("picklist_values", []).append(f"{obj}.{rt.developer_name}.{fname}: "
                                                                         + ", ".join(new))
        return removed

    # -- record types ---------------------------------------------------------------------------

    def types_of(self, obj: str) -> list[RecordType]:
        return next((v for k, v in self.record_types.items() if k.lower() == obj.lower()), [])

    def record_type(self, obj: str, rt_id: str | None) -> RecordType | None:
        types = self.types_of(obj)
        if not types:
            return None
        if rt_id:
            return next((t for t in types if t.id[:15] == rt_id[:15]), None)
        return next((t for t in types if t.default), types[0])

    def record_type_infos(self, obj: str, api_version: str = "60.0") -> list[dict[str, Any]]:
        types = self.types_of(obj)
        master = {"active": True, "available": True, "defaultRecordTypeMapping": not types,
                  "developerName": "Master", "master": True, "name": "Master", "recordTypeId": MASTER_RECORD_TYPE,
                  "urls": {"layout": f"/services/data/v{api_version}/sobjects/{obj}/describe/layouts/"
                                     f"{MASTER_RECORD_TYPE}"}}
        return [*(t.info(obj, api_version) for t in types), master]

    def apply_record_type(self, obj: str, row: dict[str, Any], given: dict[str, Any], *, create: bool) -> None:
        """Default the record type and its picklist defaults on create; check RecordTypeId and the
        picklist values the record type allows. Mutates ``row`` (the values to write)."""
        types = self.types_of(obj)
        if not types:
            if given.get("RecordTypeId"):
                raise RuleError("INVALID_CROSS_REFERENCE_KEY",
                                "Record Type ID: this ID value isn't valid for the user: "
                                f"{given['RecordTypeId']}", ["RecordTypeId"])
            return
        rt_id = row.get("RecordTypeId")
        rt = self.record_type(obj, rt_id)
        if rt is None or not rt.active:
            raise RuleError("INVALID_CROSS_REFERENCE_KEY",
                            f"Record Type ID: this ID value isn't valid for the user: {rt_id}", ["RecordTypeId"])
        if create:
            row["RecordTypeId"] = rt.id
        for fname, spec in rt.picklists.items():
            value = _get(row, fname)
            if create and _blank(value) and spec.get("default") is not None and fname not in given:
                row[fname] = spec["default"]
                continue
            if fname in given and not _blank(value):
                allowed = spec.get("values") or []
                if not any(str(value) == v for v in allowed):
                    raise RuleError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                    f"{fname}: bad value for restricted picklist field: {value}", [fname])

    # -- validation rules and automation ------------------------------------------------------------

    def check(self, obj: str, record: dict[str, Any], *, create: bool) -> None:
        for rule in self.validation:
            if rule.object.lower() == obj.lower() and rule.fails(record):
                raise RuleError(VALIDATION_ERROR, rule.message, [rule.error_field] if rule.error_field else [])
        for auto in self.automation:
            if auto.object.lower() == obj.lower() and auto.when is not None and holds(auto.when, record):
                event = "BeforeInsert" if create else "BeforeUpdate"
                raise RuleError(AUTOMATION_ERROR, f"{auto.name}: execution of {event} caused by: {auto.message}")

    def batch_failure(self, obj: str, size: int) -> str | None:
        """The message every record of a DML batch of ``size`` gets when automation on ``obj`` runs out
        of CPU time for it (Salesforce fails the whole trigger transaction), else None."""
        for auto in self.automation:
            if auto.object.lower() == obj.lower() and auto.cpu_limit_batch and size > auto.cpu_limit_batch:
                return f"{auto.name}: System.LimitException: Apex CPU time limit exceeded"
        return None

    # -- duplicate rules ------------------------------------------------------------------------------

    def duplicate_rules_for(self, obj: str) -> list[DuplicateRule]:
        return [d for d in self.duplicates if d.object.lower() == obj.lower()]


def duplicate_matches(store: Any, registry: Any, rule: DuplicateRule, record: dict[str, Any],
                      record_id: str | None) -> list[tuple[str, list[str]]]:
    """[(matched object, [ids])] for one rule: every listed field equal (case-insensitive), or the same
    website domain for ``compare: domain``; the record itself excluded."""
    out = []
    for m in rule.match:
        schema = registry.get(m["object"])
        if schema is None:
            continue
        fields = m.get("fields") or []
        values = [_get(record, f) for f in fields]
        if not fields or any(_blank(v) for v in values):
            continue
        if m.get("compare") == "domain":
            want = domain_of(values[0])
            fname = schema.field(fields[0])["name"]
            with store.lock:
                rows = store.conn.execute(
                    f'SELECT Id, "{fname}" FROM "{schema.name}" WHERE IsDeleted = 0 AND "{fname}" LIKE ?',  # noqa: S608
                    (f"%{want}%",)).fetchall()
            ids = [r[0] for r in rows if domain_of(r[1]) == want and r[0] != record_id]
        else:
            ids = None
            for fname, value in zip(fields, values, strict=True):
                f = schema.field(fname)
                if f is None:
                    ids = []
                    break
                found = set(store.find(schema.name, f["name"], str(value).strip(), nocase=True,
                                       exclude_id=record_id, limit=10))
                ids = found if ids is None else ids & found
            ids = sorted(ids or [])
        if ids:
            out.append((schema.name, ids[:10]))
    return out
