"""A messy org on top of any fixture: `fixtures/messy.json`'s org options, rules, users and records
added to, e.g., an org that shares people with the Andsend data (`andsend-emulators
salesforce-fixture --messy`, the demo's `--messy`, tests/reliability/messy.py).

The fixture's existing records are made what they would be in such an org: countries as ISO codes
(State and Country/Territory Picklists accept only valid ones) and no LeadSource (its values are
restricted per record type; a record gets its record type's default).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MESSY = Path(__file__).parent / "fixtures" / "messy.json"
RULE_KEYS = ("field_security", "record_types", "validation_rules", "duplicate_rules", "automation")
#: What an admin changes after reading the rejects' hints (`POST /__emulator__/org-rules/relax`): every
#: validation rule, trigger/flow and duplicate rule off, Andsend's LeadSource added to the record types.
RELAX: dict[str, Any] = {"validation_rules": True, "automation": True, "duplicate_rules": True,
                         "picklist_values": {"Lead": {"LeadSource": ["Andsend"]},
                                             "Contact": {"LeadSource": ["Andsend"]}}}


def _as_in_messy_org(record: dict[str, Any]) -> dict[str, Any]:
    import pycountry

    out = {k: v for k, v in record.items() if k != "LeadSource"}
    for key, value in record.items():
        if key.endswith("Country") and isinstance(value, str) and value:
            try:
                out[key] = pycountry.countries.lookup(value).alpha_2
            except LookupError:
                try:
                    out[key] = pycountry.countries.search_fuzzy(value)[0].alpha_2
                except LookupError:
                    out.pop(key)
    return out


def with_messy_org(fixture: dict[str, Any]) -> dict[str, Any]:
    """``fixture`` with messy.json's org options, rules, users and records."""
    messy = json.loads(MESSY.read_text(encoding="utf-8"))
    out = dict(fixture)
    out["org"] = {**(fixture.get("org") or {}), **messy.get("org", {})}
    for key in RULE_KEYS:
        if key in messy:
            out[key] = messy[key]
    out["users"] = list(fixture.get("users") or []) + list(messy.get("users") or [])
    records = {obj: [_as_in_messy_org(r) for r in rows] for obj, rows in (fixture.get("records") or {}).items()}
    for obj, rows in (messy.get("records") or {}).items():
        records.setdefault(obj, []).extend(rows)
    out["records"] = records
    return out
