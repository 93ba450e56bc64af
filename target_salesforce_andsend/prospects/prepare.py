"""Prospects, step 1 (pure): what to sync, what to reject before any call, and the groups (one
Salesforce person per normalised e-mail) the later steps work on."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..match_rules import PersonKey
from ..normalize import company_domain_for, keep_latest, normalize_email, own_company_domain
from ..settings import Settings
from ..transforms import is_empty_value

_STRING_FIELDS = (
    "first_name", "last_name", "full_name", "title", "email", "phone", "linkedin_url", "company_name",
    "company_domain", "company_website", "company_industry", "company_size", "company_country", "location",
    "city", "country", "purchased_by_user_id", "purchased_by_user_email", "purchased_at",
)



@dataclass
class Group:
    """One Salesforce person for one or more prospects (same normalised email)."""

    key: str
    prospect_ids: list[str]
    record: dict
    email: str | None
    # (purchaser e-mail, purchaser user id) of each merged prospect, in input order: the owner is
    # the latest one with a Salesforce User, never "no owner" when an earlier one has one.
    sellers: list[tuple[str | None, str | None]] = field(default_factory=list)

    @property
    def prospect_id(self) -> str:
        return self.prospect_ids[0]

    def person_key(self) -> PersonKey:
        own = own_company_domain(self.record)
        domain = own or company_domain_for(self.record)
        return PersonKey(key=self.key, prospect_id=self.prospect_id, email=self.email, domain=domain,
                         company=self.record.get("company_name") or None,
                         country=self.record.get("company_country") or None,
                         domain_source=("company" if own else "email") if domain else None)


@dataclass
class Prepared:
    groups: list[Group] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)          # (prospect id, reason)
    rejected: list[tuple[dict, str, str]] = field(default_factory=list)   # (record, code, message)
    merged: int = 0


def _is_purchased(record: dict) -> bool:
    return record.get("purchased") is True or (
        record.get("purchased") is None and record.get("status") == "purchased")


def input_problem(record: dict) -> tuple[str, str] | None:
    """(error code, reason) when the record is unusable as it stands, else None."""
    pid = record.get("id")
    if not isinstance(pid, str) or not pid.strip():
        return "INVALID_INPUT", "the prospect has no id"
    for name in _STRING_FIELDS:
        value = record.get(name)
        if value is not None and not isinstance(value, str):
            return "INVALID_INPUT", f"field {name} must be a string, got {type(value).__name__}"
    if record.get("purchased") is not None and not isinstance(record.get("purchased"), bool):
        return "INVALID_INPUT", "field purchased must be a boolean"
    if record.get("custom_fields") is not None and not isinstance(record.get("custom_fields"), dict):
        return "INVALID_INPUT", "field custom_fields must be an object"
    raw_email = (record.get("email") or "").strip()
    email = normalize_email(raw_email)
    if raw_email and email is None:
        return "INVALID_EMAIL", f"email {raw_email!r} is not a valid address"
    if not (record.get("last_name") or "").strip() and not (record.get("full_name") or "").strip() and not email:
        return "MISSING_NAME_AND_EMAIL", "the prospect has neither a last name nor an email"
    return None


def prepare(records: list[dict], settings: Settings | Mapping[str, Any]) -> Prepared:
    out = Prepared()
    sync_on = Settings.of(settings).sync_prospects
    accepted: list[dict] = []
    for record in records:
        pid = record.get("id")
        if not sync_on:
            out.skipped.append((str(pid), "sync_prospects_off"))
            continue
        problem = input_problem(record)
        if problem:
            out.rejected.append((record, *problem))
            continue
        if not _is_purchased(record):
            out.skipped.append((pid, "not_purchased"))
            continue
        accepted.append(record)
    groups: OrderedDict[str, Group] = OrderedDict()
    # The later copy of a re-sent prospect wins, in its new position.
    for record in keep_latest(accepted, lambda r: r.get("id")):
        pid = record.get("id")
        email = normalize_email(record.get("email"))
        key = f"email:{email}" if email else f"prospect:{pid}"
        group = groups.get(key)
        seller = (record.get("purchased_by_user_email") or None, record.get("purchased_by_user_id") or None)
        if group is None:
            groups[key] = Group(key=key, prospect_ids=[pid], record=dict(record), email=email, sellers=[seller])
        else:
            group.sellers.append(seller)
            out.merged += 1
            group.prospect_ids.append(pid)
            for name, value in record.items():
                if name != "id" and not is_empty_value(value):
                    group.record[name] = value
    out.groups = list(groups.values())
    return out

