"""What a search result's badge says: pure (the `search_results` role's planning).

Nothing here speaks HTTP: `badges.py` looks the results up in Salesforce, hands each result and its
Match (or None) in, and writes the badges out (file, Andsend write-back).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .crm_status import rfc3339
from .normalize import normalize_email, own_company_domain


def result_key(result: dict) -> str:
    return f"{result.get('search_id')}\x1f{result.get('id')}"


def prospect_key(result: dict) -> str | None:
    if result.get("prospect_id"):
        return str(result["prospect_id"])
    email = normalize_email(result.get("email"))
    return f"email:{email}" if email else None


def person_key_fields(result: dict) -> dict[str, Any]:
    """The PersonKey fields for one search result (key = its unique result key)."""
    domain = own_company_domain(result)
    return {
        "key": result_key(result),
        "prospect_id": result.get("prospect_id") or None,
        "email": result.get("email") or None,
        "domain": domain,
        "company": result.get("company_name") or None,
        "country": result.get("company_country") or None,
        "domain_source": "company" if domain else None,
    }


def badge_for(result: dict, match: Any, *, record_link: Callable[[str], str], checked_at: str,
              owners: dict[str, dict | None] | None = None,
              do_not_contact: Callable[[Any], bool | None] | None = None) -> dict:
    """Badge dict for one result given its Match (or None)."""
    exists = match is not None
    owner_id = match.record.get("OwnerId") if exists else None
    owner = ((owners or {}).get(owner_id) or {"id": owner_id, "name": None, "email": None}) if owner_id else None
    return {
        "result_id": str(result["id"]),
        "search_id": str(result["search_id"]),
        "prospect_key": prospect_key(result),
        "exists": exists,
        "crm": "salesforce",
        "object_type": match.object_type if exists else None,
        "record_id": match.record_id if exists else None,
        "record_url": record_link(match.record_id) if exists else None,
        "checked_at": checked_at,
        "owner": owner,
        "do_not_contact": do_not_contact(match) if exists and do_not_contact is not None else None,
        "lead_status": match.record.get("Status") if exists and match.object_type == "Lead" else None,
        "last_modified_at": rfc3339(match.record.get("LastModifiedDate")) if exists else None,
    }
