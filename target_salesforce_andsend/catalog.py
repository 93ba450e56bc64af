"""The field-mapping catalog: loading, schema validation, describe checks, values and coercion.

A catalog says, per Andsend prospect field, which Salesforce object/field receives it, how the
value is transformed, when an existing Salesforce value may be replaced (`policy`) and what
happens to over-long text (`on_overlength`). The same catalog can serve both modes: `object_mode`
decides which objects are *created*; entries for the other objects are used to enrich records
the prospect is linked to (a Contact found in lead mode, a Lead found in contact_account mode).
"""

from __future__ import annotations

import json
import math
import re
import string
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .normalize import normalize_domain
from .settings import Settings
from .tasks import cut_units, sf_len

OBJECT_MODES = ("lead", "contact_account")
POLICIES = ("overwrite", "if_empty", "on_create")
OWNER_SOURCE = "$owner"
EXTERNAL_ID_FIELD = "Andsend_Prospect_Id__c"
# Optional companions (salesforce-metadata/): every Andsend id merged into a person (Lead, Contact),
# and the normalised company key Accounts are upserted on.
PROSPECT_IDS_FIELD = "Andsend_Prospect_Ids__c"
ACCOUNT_KEY_FIELD = "Andsend_Account_Key__c"

# Objects each mode creates (required fields must be mapped) and which it may link to.
CREATED_OBJECTS = {"lead": ("Lead",), "contact_account": ("Account", "Contact")}
LINKED_OBJECTS = {"lead": ("Lead", "Contact"), "contact_account": ("Lead", "Contact", "Account")}

TEXT_TYPES = {
    "string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox",
    "encryptedstring",
}
NUMBER_TYPES = {"int", "double", "currency", "percent", "long"}
UNWRITABLE_TYPES = {"id", "address", "location", "base64", "anyType", "complexvalue"}

# What Salesforce accepts in an Email field (RFC 5322 dot-atom, ASCII): checked before sending so
# such values are rejected as bad input with a clear reason instead of costing a call.
SALESFORCE_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")

# Types of the prospect stream's fields (schemas/prospects.json), for the describe type check.
_PROSPECT_SOURCE_TYPES: dict[str, str] = {
    "purchased": "boolean", "purchased_at": "datetime", "created_at": "datetime",
    "updated_at": "datetime", "campaign_ids": "array", "custom_fields": "object",
}


class CatalogError(Exception):
    """The catalog is malformed or does not fit the org; the message says what to fix."""

    def __init__(self, message: str, issues: list[Issue] | None = None):
        super().__init__(message)
        self.issues = issues or []


class CoercionError(ValueError):
    """A value cannot be written to a field of this type (bad input: the record is rejected)."""


@dataclass(frozen=True)
class Mapping:
    object: str
    field: str
    source: tuple[str, ...] = ()
    transforms: tuple[dict, ...] = ()
    policy: str = "if_empty"
    on_overlength: str = "truncate"

    @property
    def is_owner(self) -> bool:
        return self.source == (OWNER_SOURCE,)

    @property
    def label(self) -> str:
        return f"{self.object}.{self.field}"


@dataclass
class Catalog:
    object_mode: str
    mappings: list[Mapping]
    origin: str = "default"
    # crm_status.do_not_contact_fields: object -> [(field, values meaning do-not-contact or None)]
    do_not_contact_fields: dict[str, list[tuple[str, tuple[str, ...] | None]]] = field(default_factory=dict)
    # object -> record type DeveloperName its created records get (record_types.py)
    record_types: dict[str, str] = field(default_factory=dict)

    def for_object(self, sobject: str) -> list[Mapping]:
        return [m for m in self.mappings if m.object == sobject]

    def objects(self) -> list[str]:
        return sorted({m.object for m in self.mappings})


@dataclass
class Issue:
    object: str
    field: str
    status: str          # missing | not_writable | type_mismatch | required_unmapped | unknown_source
    message: str


# ----------------------------------------------------------------------------------- loading


def load_schema() -> dict:
    """The mapping-catalog JSON Schema: packaged copy first, the repository's schemas/ dir next."""
    try:
        text = resources.files("target_salesforce_andsend").joinpath("mapping-catalog.schema.json").read_text()
    except (FileNotFoundError, OSError):
        text = (Path(__file__).resolve().parent.parent / "schemas" / "mapping-catalog.schema.json").read_text()
    return json.loads(text)


def default_catalog_document(mode: str) -> dict:
    text = resources.files("target_salesforce_andsend").joinpath(f"catalogs/{mode}.yaml").read_text()
    return yaml.safe_load(text)


def parse_catalog(document: Any, *, origin: str) -> Catalog:
    if not isinstance(document, dict):
        raise CatalogError(f"mapping catalog {origin}: expected an object with object_mode and mappings")
    validator = jsonschema.Draft202012Validator(load_schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  at {'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}" for e in errors[:10]]
        raise CatalogError(f"mapping catalog {origin} is invalid:\n" + "\n".join(lines))
    mappings = []
    seen: set[tuple[str, str]] = set()
    for entry in document["mappings"]:
        source = entry.get("source")
        sources = tuple(source) if isinstance(source, list) else ((source,) if source else ())
        transform = entry.get("transform")
        transforms = tuple(transform) if isinstance(transform, list) else ((transform,) if transform else ())
        if OWNER_SOURCE in sources and sources != (OWNER_SOURCE,):
            raise CatalogError(f"mapping catalog {origin}: {OWNER_SOURCE} cannot be combined with other sources")
        if not sources and not any(t["type"] in ("join", "template", "constant") for t in transforms):
            raise CatalogError(
                f"mapping catalog {origin}: {entry['object']}.{entry['field']} needs a source "
                "or a join/template/constant transform"
            )
        key = (entry["object"], entry["field"].casefold())
        if key in seen:
            raise CatalogError(f"mapping catalog {origin}: {entry['object']}.{entry['field']} is mapped twice")
        seen.add(key)
        mappings.append(
            Mapping(
                object=entry["object"], field=entry["field"], source=sources, transforms=transforms,
                policy=entry.get("policy", "if_empty"), on_overlength=entry.get("on_overlength", "truncate"),
            )
        )
    dnc: dict[str, list[tuple[str, tuple[str, ...] | None]]] = {}
    for sobject, items in ((document.get("crm_status") or {}).get("do_not_contact_fields") or {}).items():
        dnc[sobject] = [(i, None) if isinstance(i, str) else (i["field"], tuple(i["values"])) for i in items]
    return Catalog(object_mode=document["object_mode"], mappings=mappings, origin=origin,
                   do_not_contact_fields=dnc, record_types=dict(document.get("record_types") or {}))


def load_catalog(config: Settings | dict[str, Any]) -> Catalog:
    """Inline catalog, else the catalog file, else the default for the configured mode."""
    settings = Settings.of(config)
    mode_override = settings.object_mode
    if settings.mapping_catalog_inline:
        catalog = parse_catalog(settings.mapping_catalog_inline, origin="mapping_catalog_inline")
    elif settings.mapping_catalog_file is not None:
        path = settings.mapping_catalog_file
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogError(f"mapping catalog {path}: cannot read ({exc.strerror}); "
                               "check the mapping_catalog setting") from exc
        try:
            document = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise CatalogError(f"mapping catalog {path}: not valid YAML/JSON ({exc})") from exc
        catalog = parse_catalog(document, origin=str(path))
    else:
        mode = mode_override or "lead"
        catalog = parse_catalog(default_catalog_document(mode), origin=f"default ({mode})")
    if mode_override:
        if mode_override not in OBJECT_MODES:
            raise CatalogError(f"object_mode must be one of {', '.join(OBJECT_MODES)}, not {mode_override!r}")
        catalog.object_mode = mode_override
    return catalog


# ---------------------------------------------------------------------------- describe check


def fix_hint(sobject: str) -> str:
    return f"create the field in Salesforce (Setup → Object Manager → {sobject} → Fields) and rerun"


def _source_type(mapping: Mapping) -> str:
    if mapping.is_owner:
        return "owner"
    if any(t["type"] in ("join", "template", "constant", "domain_from_website") for t in mapping.transforms):
        return "string"
    kinds = set()
    for src in mapping.source:
        head = src.split(".", 1)[0]
        if head == "custom_fields" and "." in src:
            kinds.add("any")
        else:
            kinds.add(_PROSPECT_SOURCE_TYPES.get(head, "string"))
    return kinds.pop() if len(kinds) == 1 else "any"


def _type_compatible(source_type: str, field_desc: dict) -> bool:
    ftype = field_desc.get("type")
    if source_type == "owner":
        return ftype == "reference" and "User" in (field_desc.get("referenceTo") or ["User"])
    if ftype in UNWRITABLE_TYPES or ftype == "reference":
        return False
    if source_type in ("array", "object"):
        return False
    if source_type == "any":
        return True
    if ftype in TEXT_TYPES:
        return True
    if ftype == "boolean":
        return source_type == "boolean"
    if ftype in ("date", "datetime"):
        return source_type == "datetime"
    if ftype in NUMBER_TYPES:
        return False
    return False


def required_fields(describe: dict) -> list[str]:
    """Fields Salesforce insists on at create: not nillable, createable, not defaulted."""
    return [
        f["name"] for f in describe.get("fields", [])
        if not f.get("nillable", True) and f.get("createable") and not f.get("defaultedOnCreate")
    ]


def prospect_properties() -> frozenset[str]:
    """The properties of a prospect record (the tap's prospects schema, which other taps' stream
    maps rename their fields to)."""
    from tap_andsend.schemas import load_schema

    return frozenset(load_schema("prospects")["properties"])


def _source_paths(mapping: Mapping) -> list[str]:
    """Every prospect property a mapping reads: its sources, join fields and template fields."""
    paths = [src for src in mapping.source if src != OWNER_SOURCE]
    for t in mapping.transforms:
        if t["type"] == "join":
            paths += list(t.get("fields") or [])
        elif t["type"] == "template":
            paths += [name for _, name, _, _ in string.Formatter().parse(t["template"]) if name]
    return paths


def check_sources(catalog: Catalog) -> list[Issue]:
    """Sources naming no prospect property would silently map nothing: each is a problem."""
    known = prospect_properties()
    issues = []
    for m in catalog.mappings:
        unknown = [p for p in _source_paths(m) if p.split(".", 1)[0] not in known]
        if unknown:
            issues.append(Issue(m.object, m.field, "unknown_source",
                                f"{m.label}: source {', '.join(unknown)} is not a prospect property "
                                f"(known: {', '.join(sorted(known))}; custom_fields.<name> for custom fields)"))
    return issues


def check_catalog(catalog: Catalog, describes: dict[str, dict]) -> list[Issue]:
    """Every problem between the catalog and the org's describe data (empty list = fits)."""
    issues: list[Issue] = check_sources(catalog)
    created = CREATED_OBJECTS[catalog.object_mode]
    for m in catalog.mappings:
        describe = describes.get(m.object)
        if describe is None:
            continue
        desc = field_index(describe).get(m.field.casefold())
        if desc is None:
            issues.append(Issue(m.object, m.field, "missing",
                                f"{m.label} does not exist in Salesforce: {fix_hint(m.object)}, "
                                "or remove the mapping from the catalog"))
            continue
        if m.object in created and not desc.get("createable"):
            issues.append(Issue(m.object, m.field, "not_writable",
                                f"{m.label} is not createable for the integration user: grant field-level "
                                f"edit access (Setup → Object Manager → {m.object} → Fields → {desc['name']} → "
                                "Set Field-Level Security) or remove the mapping"))
            continue
        if m.policy != "on_create" and not desc.get("updateable"):
            issues.append(Issue(m.object, m.field, "not_writable",
                                f"{m.label} is not updateable: use policy on_create or grant edit access "
                                f"(Setup → Object Manager → {m.object} → Fields → {desc['name']})"))
            continue
        if m.object not in created and m.policy == "on_create" and not m.is_owner:
            # Harmless (never applied to linked records) but worth knowing.
            pass
        if not _type_compatible(_source_type(m), desc):
            issues.append(Issue(m.object, m.field, "type_mismatch",
                                f"{m.label} is of type {desc.get('type')}, which cannot hold "
                                f"{' / '.join(m.source) or 'the transformed value'}: map it to a field of a "
                                "matching type or change the field type in Salesforce"))
    for sobject in created:
        describe = describes.get(sobject)
        if describe is None:
            continue
        mapped = {m.field.casefold() for m in catalog.for_object(sobject)}
        implied = {"accountid"} if sobject == "Contact" else set()
        for name in required_fields(describe):
            if name.casefold() not in mapped | implied:
                issues.append(Issue(sobject, name, "required_unmapped",
                                    f"{sobject}.{name} is required by Salesforce but no catalog entry fills it: "
                                    f"add a mapping for {sobject}.{name} (a default or constant transform works) "
                                    "or make the field optional in Salesforce"))
    return issues


def raise_for_issues(issues: list[Issue]) -> None:
    if issues:
        lines = "\n".join(f"  - {i.message}" for i in issues)
        raise CatalogError(f"the mapping catalog does not fit the Salesforce org ({len(issues)} problem(s)):\n{lines}",
                           issues)


def field_index(describe: dict) -> dict[str, dict]:
    return {f["name"].casefold(): f for f in describe.get("fields", [])}


# ------------------------------------------------------------------------------ values


def _lookup(record: dict, path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def source_value(record: dict, mapping: Mapping) -> Any:
    """The mapped value for one prospect, transforms applied; None means "nothing to write"."""
    value: Any = None
    for src in mapping.source:
        if src == OWNER_SOURCE:
            continue
        candidate = _lookup(record, src)
        if not _empty(candidate):
            value = candidate
            break
    for t in mapping.transforms:
        kind = t["type"]
        if kind == "domain_from_website":
            value = normalize_domain(value) if isinstance(value, str) else None
        elif kind == "lowercase":
            value = value.lower() if isinstance(value, str) else value
        elif kind == "uppercase":
            value = value.upper() if isinstance(value, str) else value
        elif kind == "trim":
            value = value.strip() if isinstance(value, str) else value
        elif kind == "join":
            parts = [_lookup(record, f) for f in t["fields"]]
            text = t.get("separator", " ").join(str(p).strip() for p in parts if not _empty(p))
            value = text or None
        elif kind == "template":
            flat = _Blank({k: ("" if v is None else v) for k, v in record.items()})
            text = re.sub(r"\s+", " ", t["template"].format_map(flat)).strip()
            value = text or None
        elif kind == "default":
            value = t["value"] if _empty(value) else value
        elif kind == "constant":
            value = t["value"]
        elif kind == "map":
            key = value if not isinstance(value, str) else value.strip()
            table = {str(k).casefold(): v for k, v in t["values"].items()}
            value = table.get(str(key).casefold(), t.get("default")) if key is not None else t.get("default")
    if isinstance(value, str):
        value = value.strip()
    return None if _empty(value) else value


# ------------------------------------------------------------------------------ coercion


def _parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        if re.fullmatch(r".*[+-]\d{4}$", text):
            text = text[:-2] + ":" + text[-2:]
        dt = datetime.fromisoformat(text)
    else:
        raise CoercionError(f"not a date/time: {value!r}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def coerce(value: Any, desc: dict, *, on_overlength: str = "truncate") -> Any:
    """Convert a mapped value to what the Salesforce field accepts, or raise CoercionError."""
    ftype = desc.get("type")
    name = desc.get("name")
    if value is None:
        return None
    if ftype in TEXT_TYPES or ftype == "reference":
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (dict, list)):
            raise CoercionError(f"{name}: expected text, got {type(value).__name__}")
        elif isinstance(value, float) and value.is_integer():
            text = str(int(value))
        else:
            text = str(value).strip()
        if ftype == "email" and not SALESFORCE_EMAIL_RE.match(text):
            raise CoercionError(f"{name}: invalid email address {text!r}")
        if ftype in ("picklist", "multipicklist") and desc.get("restrictedPicklist"):
            allowed = {p["value"].casefold(): p["value"]
                       for p in desc.get("picklistValues", []) if p.get("active", True)}
            parts = text.split(";") if ftype == "multipicklist" else [text]
            canon = []
            for part in parts:
                if part.strip().casefold() not in allowed:
                    raise CoercionError(f"{name}: {part!r} is not an allowed picklist value")
                canon.append(allowed[part.strip().casefold()])
            text = ";".join(canon)
        # Salesforce counts a field's length in UTF-16 code units (an emoji or a supplementary-plane
        # CJK character counts as two): the one rule, tasks.sf_len, as for Task Subject/Description.
        limit = desc.get("length") or 0
        if limit and sf_len(text) > limit:
            if on_overlength == "reject" or ftype in ("email", "url", "reference"):
                raise CoercionError(f"{name}: value of {sf_len(text)} characters exceeds the field length {limit}")
            text = cut_units(text, limit)
        return text
    if ftype == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)):
            return bool(value)
        text = str(value).strip().casefold()
        if text in ("true", "yes", "y", "1", "on"):
            return True
        if text in ("false", "no", "n", "0", "off", ""):
            return False
        raise CoercionError(f"{name}: not a boolean: {value!r}")
    if ftype in ("int", "long"):
        try:
            number = float(str(value).strip()) if not isinstance(value, (int, float)) else float(value)
        except ValueError as exc:
            raise CoercionError(f"{name}: not a whole number: {value!r}") from exc
        if isinstance(value, bool) or not number.is_integer():
            raise CoercionError(f"{name}: not a whole number: {value!r}")
        return int(number)
    if ftype in ("double", "currency", "percent"):
        if isinstance(value, bool):
            raise CoercionError(f"{name}: not a number: {value!r}")
        try:
            number = float(str(value).strip().replace(",", "")) if isinstance(value, str) else float(value)
        except (TypeError, ValueError) as exc:
            raise CoercionError(f"{name}: not a number: {value!r}") from exc
        if math.isnan(number) or math.isinf(number):
            raise CoercionError(f"{name}: not a finite number: {value!r}")
        return number
    if ftype == "date":
        try:
            if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
                return date.fromisoformat(value.strip()).isoformat()
            return _parse_datetime(value).date().isoformat()
        except (ValueError, CoercionError) as exc:
            raise CoercionError(f"{name}: not a date: {value!r}") from exc
    if ftype == "datetime":
        try:
            return _parse_datetime(value).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        except (ValueError, CoercionError) as exc:
            raise CoercionError(f"{name}: not a date-time: {value!r}") from exc
    raise CoercionError(f"{name}: fields of type {ftype} cannot be written by the target")


def same_value(new: Any, current: Any, desc: dict) -> bool:
    """Whether writing `new` would leave the field as it is (so the update is not sent)."""
    if _empty(current):
        return _empty(new)
    if new is None:
        return False
    ftype = desc.get("type")
    try:
        if ftype == "email":
            return str(new).strip().casefold() == str(current).strip().casefold()
        if ftype == "boolean":
            return bool(new) == (current if isinstance(current, bool) else str(current).casefold() == "true")
        if ftype in NUMBER_TYPES:
            return float(new) == float(current)
        if ftype == "date":
            return str(new)[:10] == str(current)[:10]
        if ftype == "datetime":
            return _parse_datetime(new) == _parse_datetime(current)
        if ftype == "reference":
            return str(new)[:15] == str(current)[:15]
    except (TypeError, ValueError, CoercionError):
        return False
    return str(new) == str(current)


def is_empty_value(value: Any) -> bool:
    return _empty(value)
