"""The field-mapping catalog: loading, schema validation and describe checks.

A catalog says, per Andsend prospect field, which Salesforce object/field receives it, how the
value is transformed, when an existing Salesforce value may be replaced (`policy`) and what
happens to over-long text (`on_overlength`). The same catalog can serve both modes: `object_mode`
decides which objects are *created*; entries for the other objects are used to enrich records
the prospect is linked to (a Contact found in lead mode, a Lead found in contact_account mode).
The values an entry gives (its transforms) and their coercion to the field types: transforms.py.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .settings import Settings
from .transforms import NUMBER_TYPES, OWNER_SOURCE, TEXT_TYPES

OBJECT_MODES = ("lead", "contact_account")
POLICIES = ("overwrite", "if_empty", "on_create")
EXTERNAL_ID_FIELD = "Andsend_Prospect_Id__c"
# Optional companions (salesforce-metadata/): every Andsend id merged into a person (Lead, Contact),
# and the normalised company key Accounts are upserted on.
PROSPECT_IDS_FIELD = "Andsend_Prospect_Ids__c"
ACCOUNT_KEY_FIELD = "Andsend_Account_Key__c"

# Objects each mode creates (required fields must be mapped) and which it may link to.
CREATED_OBJECTS = {"lead": ("Lead",), "contact_account": ("Account", "Contact")}
LINKED_OBJECTS = {"lead": ("Lead", "Contact"), "contact_account": ("Lead", "Contact", "Account")}

UNWRITABLE_TYPES = {"id", "address", "location", "base64", "anyType", "complexvalue"}

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
