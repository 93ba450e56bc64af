"""Describe registry: the data-driven schema of every emulated sObject.

Loads ``describes/<Object>.json`` (the same shape as ``GET /sobjects/<Object>/describe``), applies the
fixture's ``describe`` overrides (``omit_fields``, ``add_fields``, ``picklists``) and fields added at run
time through the control plane. Lookups are case-insensitive; results are cached so a request does no
per-call describe work.
"""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

DEFAULT_DESCRIBE_DIR = Path(__file__).parent / "describes"

TEXT_TYPES = frozenset(
    {"id", "reference", "string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox",
     "encryptedstring"}
)
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})

# Defaults for a field added by a fixture or the control plane with only a few keys given.
_FIELD_DEFAULTS: dict[str, Any] = {
    "aggregatable": True, "autoNumber": False, "byteLength": 0, "calculated": False, "caseSensitive": False,
    "createable": True, "custom": True, "defaultValue": None, "defaultedOnCreate": False, "digits": 0,
    "externalId": False, "filterable": True, "groupable": True, "idLookup": False, "length": 0,
    "nameField": False, "nillable": True, "permissionable": True, "picklistValues": [], "precision": 0,
    "referenceTo": [], "relationshipName": None, "restrictedPicklist": False, "scale": 0, "soapType": "xsd:string",
    "sortable": True, "unique": False, "updateable": True,
}


def complete_field(field: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(field, dict) or not isinstance(field.get("name"), str) or not field.get("type"):
        raise ValueError("a describe field needs at least 'name' and 'type'")
    out = dict(_FIELD_DEFAULTS)
    out["label"] = field["name"].removesuffix("__c").replace("_", " ")
    out.update(field)
    if out["type"] in ("id", "reference"):
        out["length"] = 18
    if out["type"] in TEXT_TYPES and not out.get("byteLength"):
        out["byteLength"] = int(out.get("length") or 0) * 3
    if out.get("externalId") or out.get("unique"):
        out["idLookup"] = True
    return out


class ObjectSchema:
    """One object's describe plus fast lookup tables derived from it."""

    def __init__(self, describe: dict[str, Any]) -> None:
        self.describe = describe
        self.name: str = describe["name"]
        self.key_prefix: str = describe.get("keyPrefix") or ""
        self.fields: dict[str, dict[str, Any]] = {}
        self.by_lower: dict[str, dict[str, Any]] = {}
        self._reindex()

    def _reindex(self) -> None:
        self.fields = {f["name"]: f for f in self.describe["fields"]}
        self.by_lower = {n.lower(): f for n, f in self.fields.items()}
        self.field_names = list(self.fields)
        self.external_ids = [f["name"] for f in self.describe["fields"] if f.get("externalId")]
        self.unique_fields = [f["name"] for f in self.describe["fields"] if f.get("unique") and f["type"] != "id"]
        self.references = {n: f for n, f in self.fields.items() if f["type"] == "reference"}
        # Precomputed per describe change, so a create does no per-field describe work.
        self.create_defaults: dict[str, Any] = {}
        for n, f in self.fields.items():
            if f["type"] == "boolean":
                self.create_defaults[n] = 1 if f.get("defaultValue") is True else 0
            elif f.get("defaultedOnCreate") and f.get("defaultValue") is not None:
                self.create_defaults[n] = f["defaultValue"]
            elif f.get("defaultedOnCreate") and f["type"] == "picklist":
                default = next((p["value"] for p in f["picklistValues"] if p.get("defaultValue")), None)
                if default is not None:
                    self.create_defaults[n] = default
        self.required = [n for n, f in self.fields.items()
                         if not f["nillable"] and (f["createable"] or f["updateable"]) and f["type"] != "boolean"]

    def field(self, name: str) -> dict[str, Any] | None:
        return self.by_lower.get(name.lower())


class DescribeRegistry:
    def __init__(self, describe_dir: str | Path | None = None, overrides: dict[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self.describe_dir = Path(describe_dir) if describe_dir else DEFAULT_DESCRIBE_DIR
        self._objects: dict[str, ObjectSchema] = {}
        self._by_lower: dict[str, ObjectSchema] = {}
        self._by_prefix: dict[str, ObjectSchema] = {}
        self.generation = 0  # bumped on every schema change, so caches keyed on it stay correct
        self.load(overrides or {})

    def load(self, overrides: dict[str, Any]) -> None:
        objects: dict[str, ObjectSchema] = {}
        paths = sorted(self.describe_dir.glob("*.json"))
        if self.describe_dir != DEFAULT_DESCRIBE_DIR:
            # A custom directory may hold only some objects; the shipped ones fill the rest.
            have = {p.stem for p in paths}
            paths += [p for p in sorted(DEFAULT_DESCRIBE_DIR.glob("*.json")) if p.stem not in have]
        for path in paths:
            doc = json.loads(path.read_text(encoding="utf-8"))
            objects[doc["name"]] = ObjectSchema(doc)
        for obj, names in (overrides.get("omit_fields") or {}).items():
            schema = objects[_canon(objects, obj)]
            drop = {n.lower() for n in names}
            schema.describe["fields"] = [f for f in schema.describe["fields"] if f["name"].lower() not in drop]
            schema._reindex()
        security = overrides.get("field_security") or {}
        for obj, names in (security.get("hidden") or {}).items():
            # Hidden by field-level security: absent from describe, so unknown to queries and writes.
            schema = objects[_canon(objects, obj)]
            drop = {n.lower() for n in names}
            schema.describe["fields"] = [f for f in schema.describe["fields"] if f["name"].lower() not in drop]
            schema._reindex()
        for obj, names in (security.get("read_only") or {}).items():
            schema = objects[_canon(objects, obj)]
            for name in names:
                f = schema.field(name)
                if f is None:
                    raise ValueError(f"field_security: unknown field {obj}.{name}")
                f["createable"] = f["updateable"] = False
            schema._reindex()
        if overrides.get("state_country_picklists"):
            from emulators.salesforce.address_picklists import code_fields

            for schema in objects.values():
                for f in code_fields(schema.fields):
                    _add(schema, complete_field(f))
        for obj, fields in (overrides.get("add_fields") or {}).items():
            schema = objects[_canon(objects, obj)]
            for field in fields:
                _add(schema, complete_field(field))
        for key, values in (overrides.get("picklists") or {}).items():
            obj, _, fname = key.partition(".")
            schema = objects[_canon(objects, obj)]
            field = schema.field(fname)
            if field is None:
                raise ValueError(f"picklist override for unknown field {key}")
            default = next((p["value"] for p in field["picklistValues"] if p.get("defaultValue")), None)
            field["picklistValues"] = [
                {"active": True, "defaultValue": v == default, "label": v, "validFor": None, "value": v} for v in values
            ]
            schema._reindex()
        with self._lock:
            self._objects = objects
            self._by_lower = {n.lower(): s for n, s in objects.items()}
            self._by_prefix = {s.key_prefix: s for s in objects.values() if s.key_prefix}
            self.generation += 1

    def add_field(self, obj: str, field: dict[str, Any]) -> dict[str, Any]:
        schema = self.get(obj)
        if schema is None:
            raise KeyError(obj)
        full = complete_field(field)
        with self._lock:
            if schema.field(full["name"]) is not None:
                raise ValueError(f"field {full['name']} already exists on {schema.name}")
            _add(schema, full)
            self.generation += 1
        return full

    def get(self, name: str) -> ObjectSchema | None:
        return self._by_lower.get(name.lower())

    def by_prefix(self, prefix: str) -> ObjectSchema | None:
        return self._by_prefix.get(prefix)

    def lookup(self, name: str) -> dict[str, Any] | None:
        """The describe document of an object (case-insensitive) or None: the SOQL compiler's view."""
        schema = self._by_lower.get(name.lower())
        return schema.describe if schema else None

    def names(self) -> list[str]:
        return list(self._objects)

    def describe_copy(self, name: str) -> dict[str, Any]:
        schema = self._by_lower[name.lower()]
        return copy.deepcopy(schema.describe)


def _canon(objects: dict[str, ObjectSchema], name: str) -> str:
    for n in objects:
        if n.lower() == name.lower():
            return n
    raise ValueError(f"describe override for unknown object {name}")


def _add(schema: ObjectSchema, field: dict[str, Any]) -> None:
    if schema.field(field["name"]) is not None:
        raise ValueError(f"field {field['name']} already exists on {schema.name}")
    schema.describe["fields"] = [*schema.describe["fields"], field]
    schema._reindex()
