"""Field access: which fields the target writes that the signed-in user may not.

Field-level security hides a field from a user (it is then absent from describe and refused as
``INVALID_FIELD`` in queries and writes) or makes it read-only (``createable``/``updateable``
false in describe, ``INVALID_FIELD_FOR_INSERT_UPDATE`` when written) [Help: "Field-Level Security";
REST API, sObject Describe field properties]. Describe is read at the start of every run, so both
are known before any write: catalog fields are checked by ``catalog.check_catalog`` (a run does
not start with a catalog naming a field it cannot write); the fields the target writes on its own
(the Andsend id fields, owner, Account, record type, country/state codes) are listed here, left
out of writes, and reported. A write refused anyway (access changed during the run) is sent once
more without the fields named (``refusals.second_attempts``).
"""

from __future__ import annotations

from typing import Any

from .catalog import (
    ACCOUNT_KEY_FIELD,
    CREATED_OBJECTS,
    EXTERNAL_ID_FIELD,
    PROSPECT_IDS_FIELD,
    Catalog,
    field_index,
)

# Fields the target writes besides the catalog's, per object (when the org has them).
IMPLICIT = {
    "Lead": (EXTERNAL_ID_FIELD, PROSPECT_IDS_FIELD, "OwnerId", "RecordTypeId", "CountryCode", "StateCode"),
    "Contact": (EXTERNAL_ID_FIELD, PROSPECT_IDS_FIELD, "OwnerId", "AccountId", "RecordTypeId",
                "MailingCountryCode", "MailingStateCode"),
    "Account": (ACCOUNT_KEY_FIELD, "OwnerId", "RecordTypeId", "BillingCountryCode", "BillingStateCode"),
}


def access(desc: dict[str, Any] | None) -> str:
    """``write`` | ``read_only`` | ``create_only`` | ``update_only`` | ``hidden`` (absent)."""
    if desc is None:
        return "hidden"
    create, update = bool(desc.get("createable")), bool(desc.get("updateable"))
    return {(True, True): "write", (True, False): "create_only", (False, True): "update_only"}.get(
        (create, update), "read_only")


def report(catalog: Catalog, describes: dict[str, dict]) -> dict[str, list[dict[str, str]]]:
    """object -> [{field, access, source}] for every field the target writes that the user cannot
    write fully (``source``: ``catalog`` or ``target``). Hidden implicit fields are not listed: the
    org may simply not have them (the Andsend fields are optional)."""
    created = set(CREATED_OBJECTS[catalog.object_mode])
    out: dict[str, list[dict[str, str]]] = {}
    for sobject in sorted({*created, *catalog.objects()}):
        describe = describes.get(sobject)
        if describe is None:
            continue
        fields = field_index(describe)
        rows = []
        seen: set[str] = set()
        for m in catalog.for_object(sobject):
            seen.add(m.field.casefold())
            kind = access(fields.get(m.field.casefold()))
            if kind != "write":
                rows.append({"field": m.field, "access": kind, "source": "catalog"})
        for name in IMPLICIT.get(sobject, ()):
            desc = fields.get(name.casefold())
            if name.casefold() in seen or desc is None:
                continue
            kind = access(desc)
            if kind != "write":
                rows.append({"field": desc["name"], "access": kind, "source": "target"})
        if rows:
            out[sobject] = rows
    return out


def unwritable_implicit(catalog: Catalog, describes: dict[str, dict]) -> dict[str, list[str]]:
    """object -> the target's own fields the user cannot create (left out of this run's writes)."""
    out: dict[str, list[str]] = {}
    for sobject, rows in report(catalog, describes).items():
        names = [r["field"] for r in rows if r["source"] == "target" and r["access"] in ("read_only", "update_only")]
        if names:
            out[sobject] = names
    return out
