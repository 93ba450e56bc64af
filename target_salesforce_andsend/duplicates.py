"""Salesforce duplicate rules: what to do when a write is refused with ``DUPLICATES_DETECTED``.

Salesforce answers a create (or an update of a matched field) that a duplicate rule catches with
``DUPLICATES_DETECTED`` and a ``duplicateResult`` whose ``matchResults`` name the records it
matched, per object, and say whether the rule lets the record be saved anyway (``allowSave``: an
*alert* rule; a *block* rule never does). The REST API saves it anyway when the request carries
``Sforce-Duplicate-Rule-Header: allowSave=true`` (REST API Developer Guide, "Duplicate Rule
Header"). Per object the admin picks (setting ``duplicate_rule_action``):

* ``link`` (default): the prospect is linked to the record the rule names (the org's own rule
  says it is that person / company), counted as a match with the rule as its reason;
* ``allow_save``: the record is sent again with the header (an alert rule; a block rule's match is
  linked instead, the only way the prospect reaches Salesforce);
* ``reject``: the prospect goes to the rejects file with the records the rule named.

Pure: no I/O here; prospects/execute.py applies the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import Settings

DUPLICATES_DETECTED = "DUPLICATES_DETECTED"
ACTIONS = ("link", "allow_save", "reject")
DEFAULT_ACTION = "link"
ALLOW_SAVE_HEADER = {"Sforce-Duplicate-Rule-Header": "allowSave=true"}
# The header's default spelled out: what a resend to learn the matched records carries (no Bulk job
# can carry a header, so such a resend always goes through Collections, whose results name them).
NAME_MATCHES_HEADER = {"Sforce-Duplicate-Rule-Header": "allowSave=false"}
# Which matched objects a refused create of each object may be linked to: a person to a person
# (a Lead matching a Contact is linked to the Contact, as the matcher's contact_email step does),
# an Account to an Account.
LINKABLE = {"Lead": ("Lead", "Contact"), "Contact": ("Contact", "Lead"), "Account": ("Account",)}


@dataclass(frozen=True)
class DuplicateMatch:
    """What one ``DUPLICATES_DETECTED`` refusal says."""

    rule: str
    allow_save: bool
    records: tuple[tuple[str, str, float], ...]  # (object, id, matchConfidence), in Salesforce's order

    def best(self, sobject: str) -> tuple[str, str] | None:
        """(object, id) of the record to link a refused ``sobject`` create to: the same object
        first, then the highest confidence, then the smallest id (stable across reruns)."""
        allowed = LINKABLE.get(sobject, (sobject,))
        candidates = [r for r in self.records if r[0] in allowed]
        if not candidates:
            return None
        obj, rid, _ = min(candidates, key=lambda r: (allowed.index(r[0]), -r[2], r[1]))
        return obj, rid

    def describe(self) -> str:
        named = ", ".join(f"{obj} {rid}" for obj, rid, _ in self.records[:5]) or "no record"
        return f"duplicate rule {self.rule or '(unnamed)'} matched {named}"


def parse(errors: list[dict[str, Any]]) -> DuplicateMatch | None:
    """The duplicate-rule refusal among a result's errors, or None. A refusal without a
    ``duplicateResult`` (Bulk API rows carry only the code) gives a match naming no record."""
    for err in errors or []:
        if str(err.get("statusCode")) != DUPLICATES_DETECTED:
            continue
        result = err.get("duplicateResult") or {}
        records: list[tuple[str, str, float]] = []
        for mr in result.get("matchResults") or []:
            entity = str(mr.get("entityType") or "")
            for item in mr.get("matchRecords") or []:
                record = item.get("record") or {}
                rid = record.get("Id")
                obj = (record.get("attributes") or {}).get("type") or entity
                if rid:
                    records.append((str(obj), str(rid), float(item.get("matchConfidence") or 0)))
        return DuplicateMatch(rule=str(result.get("duplicateRule") or ""),
                              allow_save=bool(result.get("allowSave", False)), records=tuple(records))
    return None


def action_for(settings: Settings, sobject: str) -> str:
    """The configured action for ``sobject`` (``duplicate_rule_action``: one value for every
    object, or an object of per-object values; checked by Settings)."""
    return settings.duplicate_action(sobject)
