"""The CRM's answer for linked prospects (owner, Lead status, conversion, do-not-contact): pure planning.

Which columns to read (from describe and the per-field choice), the SOQL statements (a changed-records
window chained through Composite references, and Id lookups for newly linked records), the status
record per prospect, what changed against the last delivered status, and the watermarks. No I/O
here: crm_status_sync.py reads Salesforce, writes the file and calls Andsend.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .salesforce.soql import chunked_in_queries, quote

ROLE = "crm_status"
OBJECTS = ("Lead", "Contact")
PAGE = 2000  # rows in a REST query page (the maximum batch size)
CHAIN = 5  # query subrequests Salesforce allows in one Composite request
# What can be chosen (crm_status_fields); every group is on by default.
FIELD_GROUPS = ("record_url", "owner", "lead_status", "conversion", "email_opt_out", "do_not_call",
                "custom_do_not_contact", "last_modified")
_GROUP_FIELDS: dict[str, tuple[str, ...]] = {
    "owner": ("OwnerId",),
    "lead_status": ("Status",),
    "conversion": ("IsConverted", "ConvertedContactId", "ConvertedAccountId"),
    "email_opt_out": ("HasOptedOutOfEmail",),
    "do_not_call": ("DoNotCall",),
    "last_modified": ("LastModifiedDate",),
}
_LEAD_ONLY = frozenset({"lead_status", "conversion"})
# Owner is a User or, for Leads, a queue: both answer Name and Email through the polymorphic Owner.
OWNER_COLUMNS = ("Owner.Name", "Owner.Email")
STANDARD_DNC = (("email_opt_out", "HasOptedOutOfEmail"), ("do_not_call", "DoNotCall"))
# Members compared to decide whether a status changed (checked_at always differs).
_VOLATILE = frozenset({"checked_at"})

DncField = tuple[str, "tuple[str, ...] | None"]


def chosen_groups(value: Iterable[str] | None) -> frozenset[str]:
    """The per-field choice (crm_status_fields); None or empty means every group."""
    groups = [g for g in (value or []) if g]
    unknown = sorted(set(groups) - set(FIELD_GROUPS))
    if unknown:
        raise ValueError(f"crm_status_fields: unknown {', '.join(unknown)}; choose from {', '.join(FIELD_GROUPS)}")
    return frozenset(groups or FIELD_GROUPS)


@dataclass(frozen=True)
class ReadPlan:
    sobject: str
    fields: tuple[str, ...]  # the select list, describe's spelling; Id and SystemModstamp first
    groups: frozenset[str]
    standard_dnc: tuple[str, ...]  # readable standard do-not-contact fields
    custom_dnc: tuple[DncField, ...]  # readable custom do-not-contact fields
    skipped: tuple[str, ...]  # asked for, absent from describe (no read access): reported


def read_plan(sobject: str, field_name: Callable[[str], str | None], groups: frozenset[str],
              custom: Iterable[DncField] = ()) -> ReadPlan | None:
    """What to select on ``sobject`` given ``field_name`` (describe: name -> canonical or None).
    None when even Id or SystemModstamp cannot be read (nothing incremental is possible)."""
    base = [field_name("Id"), field_name("SystemModstamp")]
    if not all(base):
        return None
    fields: list[str] = [str(f) for f in base]
    skipped: list[str] = []
    for group in FIELD_GROUPS:
        if group not in groups or (group in _LEAD_ONLY and sobject != "Lead"):
            continue
        for name in _GROUP_FIELDS.get(group, ()):
            canonical = field_name(name)
            if canonical is None:
                skipped.append(f"{sobject}.{name}")
            elif canonical not in fields:
                fields.append(canonical)
                if name == "OwnerId":
                    fields.extend(OWNER_COLUMNS)
    standard = tuple(f for g, f in STANDARD_DNC if g in groups and field_name(f))
    readable_custom: list[DncField] = []
    if "custom_do_not_contact" in groups:
        for name, values in custom:
            canonical = field_name(name)
            if canonical is None:
                skipped.append(f"{sobject}.{name}")
                continue
            readable_custom.append((canonical, values))
            if canonical not in fields:
                fields.append(canonical)
    return ReadPlan(sobject=sobject, fields=tuple(fields), groups=groups, standard_dnc=standard,
                    custom_dnc=tuple(readable_custom), skipped=tuple(skipped))


# -- statements -----------------------------------------------------------------------------------


def window_start(since: str, lookback_seconds: float = 0) -> datetime:
    """Where the next changed-records window starts: the watermark's second (SOQL literals have no
    fractions, so rows of that second are read again and dropped as unchanged), minus a lookback."""
    return parse_sf_datetime(since).replace(microsecond=0) - timedelta(seconds=max(0.0, lookback_seconds))


def changed_chain(plan: ReadPlan, start: datetime, after_id: str | None = None) -> list[str]:
    """Up to CHAIN statements reading, in Id order, every row changed at or after ``start``: each
    one continues after the last Id of the one before it (``@{cN.records[1999].Id}``), so one
    Composite call reads up to CHAIN * PAGE rows. The last one has no LIMIT, so its ``done`` says
    whether anything is left (no second call just to find nothing). ``after_id`` continues a
    previous call."""
    head = f"SELECT {', '.join(plan.fields)} FROM {plan.sobject} WHERE SystemModstamp >= {quote(start)}"  # noqa: S608 - names from describe
    out = []
    for i in range(CHAIN):
        cursor = quote(f"@{{c{i - 1}.records[{PAGE - 1}].Id}}") if i else (quote(after_id) if after_id else None)
        where = f" AND Id > {cursor}" if cursor else ""
        out.append(f"{head}{where} ORDER BY Id" + (f" LIMIT {PAGE}" if i < CHAIN - 1 else ""))
    return out


def by_id_statements(plan: ReadPlan, record_ids: Iterable[str]) -> list[str]:
    """Statements reading ``record_ids`` (newly linked records), at most one page of Ids each."""
    prefix = f"SELECT {', '.join(plan.fields)} FROM {plan.sobject} WHERE"  # noqa: S608 - names from describe
    return list(chunked_in_queries(prefix, "Id", record_ids, max_values=PAGE))


# -- the status record ----------------------------------------------------------------------------


def parse_sf_datetime(value: str) -> datetime:
    """Salesforce's ``2026-01-02T03:04:05.000+0000`` (or any ISO form) as an aware datetime."""
    text = value.strip().replace("Z", "+00:00")
    if len(text) >= 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def rfc3339(value: Any) -> str | None:
    if not value:
        return None
    moment = parse_sf_datetime(str(value)).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _flag(value: Any, values: tuple[str, ...] | None) -> bool:
    if values is None:  # a checkbox, or any field whose non-empty value means do not contact
        if isinstance(value, str):
            return value.strip().casefold() not in ("", "false", "no", "0")
        return bool(value)
    wanted = {v.casefold() for v in values}
    if isinstance(value, str):  # a multi-select picklist holds "a;b"
        return any(part.strip().casefold() in wanted for part in value.split(";"))
    return value is not None and str(value).casefold() in wanted


def do_not_contact_reasons(plan: ReadPlan, row: Mapping[str, Any]) -> list[str]:
    """The fields of ``row`` that make the person do-not-contact (standard first, then custom)."""
    reasons = [f for f in plan.standard_dnc if row.get(f) in (True, "true")]
    return reasons + [name for name, values in plan.custom_dnc if _flag(row.get(name), values)]


def status_record(prospect_id: str, plan: ReadPlan, row: Mapping[str, Any], *,
                  record_url: Callable[[str], str], checked_at: str) -> dict[str, Any]:
    """The status for one prospect linked to ``row`` (schemas/crm_status.json)."""
    groups = plan.groups
    status: dict[str, Any] = {"prospect_id": prospect_id, "crm": "salesforce", "object_type": plan.sobject,
                              "record_id": row["Id"]}
    if "record_url" in groups:
        status["record_url"] = record_url(row["Id"])
    if "OwnerId" in plan.fields:
        owner = row.get("Owner") if isinstance(row.get("Owner"), dict) else {}
        status["owner"] = ({"id": row["OwnerId"], "name": owner.get("Name"), "email": owner.get("Email")}
                           if row.get("OwnerId") else None)
    if "Status" in plan.fields:
        status["lead_status"] = row.get("Status")
    if "IsConverted" in plan.fields:
        status["converted"] = bool(row.get("IsConverted"))
        status["converted_contact_id"] = row.get("ConvertedContactId")
        status["converted_account_id"] = row.get("ConvertedAccountId")
    if "HasOptedOutOfEmail" in plan.standard_dnc:
        status["has_opted_out_of_email"] = bool(row.get("HasOptedOutOfEmail"))
    if "DoNotCall" in plan.standard_dnc:
        status["do_not_call"] = bool(row.get("DoNotCall"))
    reasons = do_not_contact_reasons(plan, row)
    status["do_not_contact"] = bool(reasons)
    status["do_not_contact_reasons"] = reasons
    if "LastModifiedDate" in plan.fields:
        status["last_modified_at"] = rfc3339(row.get("LastModifiedDate"))
    status["checked_at"] = checked_at
    return status


def statuses_for(plan: ReadPlan, rows: Iterable[Mapping[str, Any]], prospects_of: Mapping[str, list[str]], *,
                 record_url: Callable[[str], str], checked_at: str) -> dict[str, dict[str, Any]]:
    """prospect id -> status for every row some prospect links to (a person linked from two
    prospects gives two statuses); rows nobody links to are ignored."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        for pid in prospects_of.get(row["Id"], ()):
            out[pid] = status_record(pid, plan, row, record_url=record_url, checked_at=checked_at)
    return out


def changed(new: Mapping[str, dict[str, Any]], delivered: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The statuses that differ from the last one delivered for their prospect (checked_at aside)."""
    def same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
        return {k: v for k, v in a.items() if k not in _VOLATILE} == {k: v for k, v in b.items() if k not in _VOLATILE}

    return [s for pid, s in sorted(new.items()) if pid not in delivered or not same(s, delivered[pid])]


# -- watermarks (kept in the link store's meta) -----------------------------------------------------


def watermark_key(sobject: str) -> str:
    return f"crm_status.{sobject}.since"


LINKS_KEY = "crm_status.links"


def advance(since: str | None, rows: Iterable[Mapping[str, Any]]) -> str | None:
    """The newest SystemModstamp among ``since`` and ``rows`` (Salesforce's clock, not ours)."""
    newest = parse_sf_datetime(since) if since else None
    text = since
    for row in rows:
        stamp = row.get("SystemModstamp")
        if not stamp:
            continue
        moment = parse_sf_datetime(stamp)
        if newest is None or moment > newest:
            newest, text = moment, stamp
    return text


@dataclass
class LinksMark:
    """Links already read: those updated before ``since``, and ``seen`` (prospect -> updated_at) at it."""
    since: str | None = None
    seen: dict[str, str] | None = None

    @classmethod
    def load(cls, text: str | None) -> LinksMark:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(since=data.get("since"), seen=dict(data.get("seen") or {}))

    def dump(self) -> str:
        return json.dumps({"since": self.since, "seen": self.seen or {}}, sort_keys=True)

    def new_links(self, links: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        seen = self.seen or {}
        return [link for link in links if not self.since or link["updated_at"] > self.since
                or (link["updated_at"] == self.since and seen.get(link["prospect_id"]) != link["updated_at"])]

    def advanced(self, links: Iterable[Mapping[str, Any]]) -> LinksMark:
        links = list(links)
        if not links:
            return self
        top = max(link["updated_at"] for link in links)
        since = max(top, self.since) if self.since else top
        seen = {link["prospect_id"]: link["updated_at"] for link in links if link["updated_at"] == since}
        if self.since == since:
            seen = {**(self.seen or {}), **seen}
        return LinksMark(since=since, seen=seen)
