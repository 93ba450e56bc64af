"""Record types: the one the catalog names per object, and the picklist values it allows.

Where the object has record types, describe's ``recordTypeInfos`` lists them (``developerName``,
``recordTypeId``, ``active``/``available`` to this user, ``defaultRecordTypeMapping``; the Master
record type ``012000000000000AAA`` is always there) [REST API, sObject Describe]. So the catalog's
``record_types: {Lead: Outbound}`` costs no call to resolve. A record type restricts its
picklists to a subset of the field's values; the UI API gives them per record type
(``GET ui-api/object-info/{object}/picklist-values/{recordTypeId}``, one call per object a run
creates records of) [UI API, "Get Values for All Picklist Fields of a Record Type"]. Values are
checked before sending: a value outside the list is a per-record reject with the allowed values,
never a wasted call.

With no record type named, records get the user's default record type: its values are checked
the same way, but no ``RecordTypeId`` is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .catalog import CREATED_OBJECTS, Catalog, Issue, Mapping, field_index
from .transforms import CoercionError

MASTER_RECORD_TYPE = "012000000000000AAA"
PICKLIST_TYPES = ("picklist", "multipicklist")


class PicklistValueError(CoercionError):
    """A value the record type does not allow (rejected before any call)."""

    code = "INVALID_PICKLIST_VALUE"


@dataclass
class RecordTypeChoice:
    object: str
    developer_name: str
    id: str
    send: bool                      # named in the catalog: RecordTypeId is set on created records
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # field (casefolded) -> {value casefolded: value}

    def check(self, field_name: str, value: Any) -> Any:
        """``value`` in the record type's own spelling; raises PicklistValueError outside the list."""
        allowed = self.values.get(field_name.casefold())
        if allowed is None or value is None:
            return value
        parts = str(value).split(";")
        out = []
        for part in parts:
            canon = allowed.get(part.strip().casefold())
            if canon is None:
                shown = ", ".join(sorted(allowed.values())) or "none"
                raise PicklistValueError(
                    f"{self.object}.{field_name}: {part.strip()!r} is not a value of record type "
                    f"{self.developer_name} (allowed: {shown}); map it in the catalog (a map transform) or add "
                    f"the value to the record type in Salesforce")
            out.append(canon)
        return ";".join(out)


def _infos(describe: dict) -> list[dict]:
    return [i for i in describe.get("recordTypeInfos") or [] if not i.get("master")
            and i.get("recordTypeId") != MASTER_RECORD_TYPE]


def find(describe: dict, developer_name: str) -> dict | None:
    """The active record type available to the user with this DeveloperName (case-insensitive)."""
    want = developer_name.casefold()
    usable = [i for i in _infos(describe) if i.get("active", True) and i.get("available", True)]
    return (next((i for i in usable if str(i.get("developerName") or "").casefold() == want), None)
            # API versions before 43.0 have no developerName in recordTypeInfos: the label then
            or next((i for i in usable if not i.get("developerName") and str(i.get("name")).casefold() == want),
                    None))


def default(describe: dict) -> dict | None:
    """The user's default record type, when the object has record types besides Master."""
    return next((i for i in _infos(describe) if i.get("defaultRecordTypeMapping")), None)


def resolve(catalog: Catalog, describes: dict[str, dict]) -> tuple[dict[str, dict], list[Issue]]:
    """object -> recordTypeInfo for the objects the run creates (named, or the default one), and
    the problems: a named record type the org (or this user) does not have."""
    chosen: dict[str, dict] = {}
    issues: list[Issue] = []
    for sobject, name in catalog.record_types.items():
        describe = describes.get(sobject)
        if describe is None:
            continue
        info = find(describe, name)
        if info is None:
            known = ", ".join(sorted(str(i.get("developerName")) for i in _infos(describe)
                                     if i.get("active", True) and i.get("available", True))) or "none"
            issues.append(Issue(sobject, "RecordTypeId", "unknown_record_type",
                                f"record type {name!r} of {sobject} does not exist or is not available to the "
                                f"integration user (available: {known}): fix record_types in the catalog, or "
                                f"assign the record type to the user's profile (Setup → Profiles → Record Types)"))
            continue
        chosen[sobject] = {**info, "_send": True}
    for sobject in CREATED_OBJECTS[catalog.object_mode]:
        if sobject not in chosen and sobject not in catalog.record_types and describes.get(sobject):
            info = default(describes[sobject])
            if info is not None:
                chosen[sobject] = {**info, "_send": False}
    return chosen, issues


def load(picklist_values: Callable[[str, str], dict[str, Any]], catalog: Catalog,
         describes: dict[str, dict]) -> tuple[dict[str, RecordTypeChoice], list[Issue]]:
    """Resolve the record types and read their picklist values through ``picklist_values(object,
    record type id)`` (``SalesforceClient.picklist_values``: one UI API call per object with a
    record type that the run creates records of and whose mapped fields include a picklist)."""
    chosen, issues = resolve(catalog, describes)
    out: dict[str, RecordTypeChoice] = {}
    created = set(CREATED_OBJECTS[catalog.object_mode])
    for sobject, info in chosen.items():
        choice = RecordTypeChoice(sobject, str(info.get("developerName")), str(info["recordTypeId"]),
                                  send=bool(info["_send"]) and sobject in created)
        fields = field_index(describes.get(sobject) or {})
        picklists = [m for m in catalog.for_object(sobject)
                     if (fields.get(m.field.casefold()) or {}).get("type") in PICKLIST_TYPES]
        if picklists and sobject in created:
            for name, spec in (picklist_values(sobject, choice.id).get("picklistFieldValues") or {}).items():
                choice.values[name.casefold()] = {str(v["value"]).casefold(): str(v["value"])
                                                  for v in spec.get("values") or []}
        out[sobject] = choice
        issues += fixed_value_issues(catalog.for_object(sobject), choice)
    return out, issues


def _fixed_values(m: Mapping) -> list[Any]:
    """Values a mapping can produce that the catalog itself spells (constant, default, map)."""
    out: list[Any] = []
    for t in m.transforms:
        if t["type"] in ("constant", "default"):
            out.append(t["value"])
        elif t["type"] == "map":
            out += [v for v in t["values"].values() if v is not None]
            if t.get("default") is not None:
                out.append(t["default"])
    return out


def fixed_value_issues(mappings: list[Mapping], choice: RecordTypeChoice) -> list[Issue]:
    """Catalog values the record type does not allow: every record would be refused."""
    issues = []
    for m in mappings:
        for value in _fixed_values(m):
            try:
                choice.check(m.field, str(value))
            except PicklistValueError as exc:
                issues.append(Issue(m.object, m.field, "picklist_value", str(exc)))
    return issues
