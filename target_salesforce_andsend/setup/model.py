"""The setup page's draft and its rules, with no I/O: catalog document <-> form rows, candidates, checks.

The draft is the catalog document (``object_mode`` + ``mappings``, exactly the catalog file's shape)
plus the switches. Form rows are one per (Salesforce object, Andsend prospect field); an entry the
rows cannot express (several sources are kept, a constant or a template transform, a
``custom_fields.*`` source) survives every edit untouched, so the page never loses what a data
engineer wrote by hand.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .. import settings as target_settings
from ..catalog import (
    CREATED_OBJECTS,
    EXTERNAL_ID_FIELD,
    LINKED_OBJECTS,
    OBJECT_MODES,
    OWNER_SOURCE,
    POLICIES,
    Catalog,
    CatalogError,
    Issue,
    Mapping,
    _source_type,
    _type_compatible,
    check_catalog,
    default_catalog_document,
    parse_catalog,
)

SIMPLE_TRANSFORMS = ("trim", "lowercase", "uppercase", "domain_from_website")
SWITCHES = ("sync_prospects", "sync_activities", "include_message_content")
OWNER_FALLBACKS = target_settings.OWNER_FALLBACKS
# The target's own defaults (settings.py); the page's empty email field is "".
SETTING_DEFAULTS: dict[str, Any] = {
    **{k: getattr(target_settings.Settings(), k) for k in (*SWITCHES, "owner_fallback")}, "fallback_owner_email": ""}
# Prospect fields that never go to a Salesforce field: the id is the target's own external id,
# the rest are lists, objects or Andsend-internal references.
_NOT_MAPPABLE = {"id", "campaign_ids", "custom_fields", "purchased_by_user_id"}


def prospect_schema() -> dict:
    """schemas/prospects.json: packaged copy first, the repository's schemas/ dir next."""
    try:
        text = resources.files("target_salesforce_andsend").joinpath("prospects.schema.json").read_text()
    except (FileNotFoundError, OSError):
        text = (Path(__file__).resolve().parents[2] / "schemas" / "prospects.json").read_text()
    return json.loads(text)


def prospect_fields() -> list[tuple[str, str]]:
    """(name, JSON type) of every Andsend prospect field a Salesforce field can take."""
    out = []
    for name, spec in prospect_schema()["properties"].items():
        if name in _NOT_MAPPABLE:
            continue
        types = spec.get("type")
        kind = next((t for t in (types if isinstance(types, list) else [types]) if t != "null"), "string")
        out.append((name, spec.get("format") or kind))
    return out


@dataclass
class Draft:
    """What the admin is editing; saved to the catalog file and the plugin settings."""

    catalog: dict[str, Any]                  # {"object_mode": ..., "mappings": [entry, ...]}
    settings: dict[str, Any] = field(default_factory=lambda: dict(SETTING_DEFAULTS))

    @property
    def object_mode(self) -> str:
        return self.catalog["object_mode"]

    def copy(self) -> Draft:
        return Draft(copy.deepcopy(self.catalog), dict(self.settings))


def sources_of(entry: dict) -> list[str]:
    src = entry.get("source")
    return list(src) if isinstance(src, list) else ([src] if src else [])


def transforms_of(entry: dict) -> list[dict]:
    t = entry.get("transform")
    return list(t) if isinstance(t, list) else ([t] if t else [])


def sections(mode: str) -> list[tuple[str, bool]]:
    """(object, created?) in page order: the objects the mode creates, then those it only enriches."""
    created = sorted(CREATED_OBJECTS[mode], key=_PAGE_ORDER.index)  # the person first, then the company
    return [(o, True) for o in created] + [(o, False) for o in LINKED_OBJECTS[mode] if o not in created]


_PAGE_ORDER = ["Lead", "Contact", "Account"]


def row_entry(catalog: dict, sobject: str, source: str) -> dict | None:
    """The entry a form row edits: this object's entry whose first source is this Andsend field."""
    for entry in catalog["mappings"]:
        srcs = sources_of(entry)
        if entry["object"] == sobject and srcs and srcs[0] == source:
            return entry
    return None


def is_row_entry(entry: dict, row_sources: set[str]) -> bool:
    srcs = sources_of(entry)
    return bool(srcs) and srcs[0] in row_sources


def is_fixed(entry: dict) -> bool:
    """A fixed value: no source, one constant transform (e.g. LeadSource = Andsend)."""
    t = transforms_of(entry)
    return not sources_of(entry) and len(t) == 1 and t[0]["type"] == "constant"


def fixed_entries(catalog: dict, sobject: str) -> list[dict]:
    return [e for e in catalog["mappings"] if e["object"] == sobject and is_fixed(e)]


def other_entries(catalog: dict, sobject: str, row_sources: set[str]) -> list[dict]:
    """Entries of this object neither a row nor a fixed value edits (templates, joins,
    custom_fields.*): kept as written."""
    return [e for e in catalog["mappings"]
            if e["object"] == sobject and not is_row_entry(e, row_sources) and not is_fixed(e)]


def fixed_candidates(describe: dict, catalog: dict, sobject: str, created: bool) -> list[dict]:
    """Fields that can take a fixed text value and that this object's entries do not fill yet."""
    taken = {e["field"].casefold() for e in catalog["mappings"] if e["object"] == sobject}
    probe = Mapping(object=sobject, field="", transforms=({"type": "constant", "value": ""},))
    kind = _source_type(probe)
    return sorted((d for d in describe.get("fields", [])
                   if d["name"].casefold() not in taken and d["name"].casefold() != EXTERNAL_ID_FIELD.casefold()
                   and _writable(d, created) and _type_compatible(kind, d)),
                  key=lambda d: (str(d.get("label") or d["name"]).casefold(), d["name"]))


@dataclass
class FixedUpdate:
    field: str
    value: str
    policy: str = "on_create"
    remove: bool = False


def apply_fixed(catalog: dict, sobject: str, edits: list[FixedUpdate], new: FixedUpdate | None) -> dict:
    """Change, remove (also: an emptied value) or add this object's fixed values."""
    out = {**catalog, "mappings": copy.deepcopy(catalog["mappings"])}
    by_field = {u.field.casefold(): u for u in edits}
    kept = []
    for entry in out["mappings"]:
        u = by_field.get(entry["field"].casefold()) if entry["object"] == sobject and is_fixed(entry) else None
        if u is None:
            kept.append(entry)
        elif not u.remove and u.value.strip():
            kept.append({**entry, "transform": {"type": "constant", "value": u.value.strip()},
                         "policy": u.policy if u.policy in POLICIES else "on_create"})
    out["mappings"] = kept
    if new is not None and new.field and new.value.strip():
        entry = {"object": sobject, "field": new.field, "policy": new.policy if new.policy in POLICIES else "on_create",
                 "transform": {"type": "constant", "value": new.value.strip()}}
        last = max((i for i, e in enumerate(kept) if e["object"] == sobject), default=len(kept) - 1)
        kept.insert(last + 1, entry)
    return out


def simple_transform(entry: dict | None) -> str:
    for t in transforms_of(entry or {}):
        if t["type"] in SIMPLE_TRANSFORMS:
            return t["type"]
    return ""


def default_value(entry: dict | None) -> str:
    for t in transforms_of(entry or {}):
        if t["type"] == "default":
            return str(t["value"])
    return ""


def kept_transforms(entry: dict | None) -> list[dict]:
    """Transforms the row's controls do not show (map, join, template, constant): kept in order."""
    return [t for t in transforms_of(entry or {}) if t["type"] not in (*SIMPLE_TRANSFORMS, "default")]


def _writable(desc: dict, created: bool) -> bool:
    return bool(desc.get("createable")) if created else bool(desc.get("updateable"))


def candidates(describe: dict, sobject: str, source: str, created: bool, entry: dict | None) -> list[dict]:
    """The fields of ``sobject`` that can take ``source``: writable for the signed-in user (createable
    where the object is created, updateable where it is only enriched) and type-compatible by the
    same rule `mapping validate` applies."""
    probe = Mapping(object=sobject, field="", source=(source,),
                    transforms=tuple(transforms_of(entry or {})))
    kind = _source_type(probe)
    out = []
    for desc in describe.get("fields", []):
        name = desc["name"]
        if name.casefold() == EXTERNAL_ID_FIELD.casefold():
            continue  # the target writes the prospect id there itself
        if _writable(desc, created) and _type_compatible(kind, desc):
            out.append(desc)
    return sorted(out, key=lambda d: (str(d.get("label") or d["name"]).casefold(), d["name"]))


@dataclass
class RowUpdate:
    sobject: str
    source: str
    field: str                 # "" = not mapped
    policy: str
    transform: str = ""        # one of SIMPLE_TRANSFORMS or ""
    default: str = ""


def apply_rows(catalog: dict, updates: list[RowUpdate]) -> dict:
    """A new catalog document with the rows' choices; entries no row edits stay as they were."""
    out = {**catalog, "mappings": copy.deepcopy(catalog["mappings"])}
    for u in updates:
        entry = row_entry(out, u.sobject, u.source)
        if not u.field:
            if entry is not None:
                out["mappings"].remove(entry)
            continue
        transforms = kept_transforms(entry)
        if u.transform in SIMPLE_TRANSFORMS:
            transforms.append({"type": u.transform})
        if u.default.strip() and u.source != OWNER_SOURCE:
            transforms.append({"type": "default", "value": u.default.strip()})
        new = dict(entry) if entry is not None else {"source": u.source, "object": u.sobject}
        new["field"] = u.field
        new["policy"] = u.policy if u.policy in POLICIES else "if_empty"
        new.pop("transform", None)
        if transforms:
            new["transform"] = transforms[0] if len(transforms) == 1 else transforms
        if entry is None:
            # next to the object's other entries, so the file reads object by object
            last = max((i for i, e in enumerate(out["mappings"]) if e["object"] == u.sobject), default=None)
            out["mappings"].insert(len(out["mappings"]) if last is None else last + 1, new)
        else:
            out["mappings"][out["mappings"].index(entry)] = new
    return out


def change_mode(catalog: dict, mode: str) -> dict:
    """Switch object_mode. The objects the new mode creates get the packaged default catalog's
    entries for the fields the draft does not fill yet (a Contact that was only enriched in lead
    mode needs LastName once it is created), so the admin starts from a catalog that works; what
    the draft already says wins."""
    if mode not in OBJECT_MODES:
        raise ValueError(f"object mode must be one of {', '.join(OBJECT_MODES)}")
    out = {**catalog, "object_mode": mode, "mappings": copy.deepcopy(catalog["mappings"])}
    for entry in default_catalog_document(mode)["mappings"]:
        if entry["object"] not in CREATED_OBJECTS[mode]:
            continue
        mine = [e for e in out["mappings"] if e["object"] == entry["object"]]
        srcs = sources_of(entry)
        if any(e["field"].casefold() == entry["field"].casefold() for e in mine):
            continue
        if srcs and any(sources_of(e)[:1] == srcs[:1] for e in mine):
            continue  # that Andsend field already goes somewhere on this object
        out["mappings"].append(copy.deepcopy(entry))
    return out


@dataclass
class Check:
    """The draft against the org: the catalog's own errors and every `mapping validate` issue."""

    catalog: Catalog | None
    error: str | None                          # malformed catalog (e.g. a field mapped twice)
    issues: list[Issue]
    settings_errors: list[str]

    @property
    def valid(self) -> bool:
        return self.error is None and not self.issues and not self.settings_errors

    def issue_for(self, sobject: str, field_name: str) -> Issue | None:
        key = (sobject, field_name.casefold())
        return next((i for i in self.issues if (i.object, i.field.casefold()) == key
                     and i.status != "required_unmapped"), None)

    def required_unmapped(self, sobject: str) -> list[Issue]:
        return [i for i in self.issues if i.object == sobject and i.status == "required_unmapped"]

    def messages(self) -> list[str]:
        return ([self.error] if self.error else []) + [i.message for i in self.issues] + self.settings_errors


def check(draft: Draft, describes: dict[str, dict]) -> Check:
    settings_errors = []
    if draft.settings.get("owner_fallback") == "user" and not str(draft.settings.get("fallback_owner_email")
                                                                   or "").strip():
        settings_errors.append("Owner fallback \"a fixed user\" needs that user's email address (Switches).")
    try:
        catalog = parse_catalog(draft.catalog, origin="(setup page)")
    except CatalogError as exc:
        return Check(None, str(exc), [], settings_errors)
    return Check(catalog, None, check_catalog(catalog, describes), settings_errors)


def row_sources() -> list[str]:
    return [OWNER_SOURCE] + [name for name, _ in prospect_fields()]


def settings_from_config(config: dict[str, Any]) -> dict[str, Any]:
    out = dict(SETTING_DEFAULTS)
    for key in (*SWITCHES, "owner_fallback", "fallback_owner_email"):
        if config.get(key) not in (None, ""):
            value = config[key]
            if key in SWITCHES and isinstance(value, str):
                value = value.strip().casefold() in ("true", "1", "yes", "on")
            out[key] = value
    return out
