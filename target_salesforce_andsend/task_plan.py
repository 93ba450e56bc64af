"""Which touchpoints become which completed Tasks: pure planning for the `touchpoints` role.

Nothing here speaks HTTP: `activities.py` reads the org facts, people, owners and existing Tasks and
hands them in; `tasks.py` builds each Task's fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import tasks
from .tasks import TaskOrgFacts

TOUCHPOINT_ID_FIELD = "Andsend_Touchpoint_Id__c"
PERSON_OBJECTS = ("Lead", "Contact")
PERSON_MATCH_ORDER = ["external_id", "contact_email", "lead_email"]  # lead_email follows converted Leads

REASON_SWITCH_OFF = "sync_activities_off"
REASON_NO_PERSON = "person_not_in_salesforce"
REASON_ALREADY = "already_synced"
REASON_INVALID = "invalid_touchpoint"


@dataclass(frozen=True)
class Person:
    object_type: str  # "Lead" | "Contact"
    record_id: str
    account_id: str | None = None


@dataclass
class TaskPlan:
    writes: list[tuple[dict, dict]] = field(default_factory=list)  # (touchpoint, Task fields)
    skipped: list[tuple[dict, str]] = field(default_factory=list)  # (touchpoint, reason)
    pending: list[dict] = field(default_factory=list)  # waiting for their person


def task_facts(describe: dict) -> TaskOrgFacts:
    """What the org's Task describe allows (external id, subtypes, writable completion time)."""
    fields = {f["name"].lower(): f for f in describe.get("fields", [])}
    ext = fields.get(TOUCHPOINT_ID_FIELD.lower())
    ext_name = ext["name"] if ext and ext.get("externalId") and ext.get("createable") else None
    subtype = fields.get("tasksubtype")
    subtypes: frozenset[str] = frozenset()
    if subtype and subtype.get("createable"):
        subtypes = frozenset(
            p["value"] for p in subtype.get("picklistValues") or [] if p.get("active", True)
        )
    completed = fields.get("completeddatetime")
    return TaskOrgFacts(
        external_id_field=ext_name,
        subtypes=subtypes,
        completed_datetime_writable=bool(completed and completed.get("createable")),
        external_id_case_sensitive=bool(ext.get("caseSensitive")) if ext_name and ext else True,
    )


def valid_touchpoint(tp: dict) -> bool:
    if not tp.get("id") or not tp.get("prospect_id") or not tp.get("executed_at"):
        return False
    try:
        tasks.parse_time(str(tp["executed_at"]))
    except ValueError:
        return False
    return True


def plan_tasks(
    touchpoints: list[dict],
    *,
    people: dict[str, Person],
    owners: dict[str, str | None],
    facts: TaskOrgFacts,
    include_content: bool,
    object_mode: str,
) -> TaskPlan:
    """Pure: touchpoints + resolved people/owners (by touchpoint id) -> Task writes, skips, pending."""
    plan = TaskPlan()
    for tp in touchpoints:
        if not valid_touchpoint(tp):
            plan.skipped.append((tp, REASON_INVALID))
            continue
        person = people.get(str(tp["prospect_id"]))
        if person is None or person.object_type not in PERSON_OBJECTS:
            plan.pending.append(tp)
            plan.skipped.append((tp, REASON_NO_PERSON))
            continue
        what_id = None
        if object_mode == "contact_account" and person.object_type == "Contact":
            what_id = person.account_id or None
        task = tasks.build_task(
            tp,
            facts=facts,
            include_content=include_content,
            who_id=person.record_id,
            what_id=what_id,
            owner_id=owners.get(str(tp["id"])),
        )
        plan.writes.append((tp, task))
    return plan


def sort_writes(facts: TaskOrgFacts, writes: list[tuple[dict, dict]],
                existing: set[str]) -> list[tuple[str, dict, dict, str | None]]:
    """Pure: (decision, touchpoint, Task fields, the id it collides with) per write, in order; the
    decision is ``send``, ``already`` (its Task exists: an executed step does not change, and the
    Task may since have been edited by sales, so it is never overwritten) or ``case_conflict``."""
    # A case-insensitive external id (not the shipped metadata) cannot keep tp_X and tp_x apart:
    # the upsert of the second would overwrite the first's Task. Refuse it, saying why.
    check_case = bool(facts.external_id_field) and not facts.external_id_case_sensitive
    folded: dict[str, str] = {e.casefold(): e for e in existing} if check_case else {}
    out: list[tuple[str, dict, dict, str | None]] = []
    for tp, task in writes:
        tid = str(tp["id"])
        key = tid if facts.external_id_field else tasks.marker_id(tid)
        if key in existing:
            out.append(("already", tp, task, None))
        elif folded.get(tid.casefold(), tid) != tid:
            out.append(("case_conflict", tp, task, folded[tid.casefold()]))
        else:
            if check_case:
                folded.setdefault(tid.casefold(), tid)
            out.append(("send", tp, task, None))
    return out
