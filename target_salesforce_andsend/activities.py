"""Touchpoints -> completed Salesforce Tasks (the `touchpoints` role).

One executed outreach step (an email sent, a LinkedIn action) becomes one completed Task on the
prospect's Lead or Contact; which touchpoints become which Task writes is decided in
task_plan.py (pure), Task fields are built in tasks.py. ``sync_activities`` off: every
touchpoint is counted as skipped and nothing is written. ``include_message_content`` off: no
subject line and no body leaves Andsend (Subject carries only channel and type).

Person: the link store (prospects synced this run or earlier), else the prospect's external id on
Lead/Contact, else its email (from the touchpoint's ``prospect_email`` or the link store), through
the Matcher in one batched lookup. Not found (prospect sync off, not purchased yet): counted as
skipped (``person_not_in_salesforce``) and kept pending in the link store; ``process_pending(run)``
writes them once the person exists (the target calls it after prospects have drained, and every
touchpoint batch retries the pending ones too).

WhoId = the Lead or Contact; WhatId = the Contact's Account in contact_account mode, never with a
Lead. OwnerId = the active User whose email is the touchpoint's Andsend user's email, else the
configured ``owner_fallback`` (``user``: the User of ``fallback_owner_email``; otherwise no OwnerId,
so the Task belongs to the integration user: Task assignment rules do not exist).

Exactly once, across reruns and a crash between the write and STATE:

* Org has ``Andsend_Touchpoint_Id__c`` (external id on Task): one batched query finds which
  touchpoint ids already have a Task (skipped as ``already_synced``: an executed step never
  changes, and sales may have edited its Task since), then the new ones go out as Collections
  upserts on the external id (200 a call), so even a concurrent run cannot create a second Task.
* No external-id field: Subject ends with the deterministic marker ``[andsend:<touchpoint id>]``
  (Subject is filterable; Description is not). Before creating, one batched query
  ``SELECT Id, Subject FROM Task WHERE WhoId IN (<the batch's people>) AND Subject LIKE
  '%[andsend:%'`` lists the markers already written; those touchpoints are skipped as
  ``already_synced``, the rest created. A Task written just before a crash carries its marker, so
  the rerun finds it and creates nothing. (A Task whose marker someone edits away by hand will be
  written again, and two runs racing on the same touchpoints could both create: that is the price
  of having no external id.)

``prepare`` resolves people, owners and Task fields; the prepared batch's ``commit`` parks the
touchpoints without a person, checks for existing Tasks and writes. Two batches are prepared at
once, their commits run in input order (docs/DESIGN.md, "Concurrency model"), so a touchpoint
sent again in the next batch finds its Task instead of racing to create a second one.

Writes go through ``run.writer`` (Collections of 200, Bulk 2.0 at/above ``bulk_threshold``), under
the client's quota governor and retries; Tasks Salesforce refuses go to the rejects file with the
error code and message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import tasks
from .batch_worker import PreparedBatch
from .normalize import keep_latest, normalize_email
from .salesforce.soql import chunked_in_queries, like_pattern
from .task_plan import (
    PERSON_MATCH_ORDER,
    PERSON_OBJECTS,
    REASON_ALREADY,
    REASON_INVALID,
    REASON_NO_PERSON,
    REASON_SWITCH_OFF,
    Person,
    plan_tasks,
    sort_writes,
    task_facts,
    valid_touchpoint,
)
from .tasks import TaskOrgFacts

if TYPE_CHECKING:
    from .context import RunContext

ROLE = "touchpoints"
OBJECT = "Task"
# A dry run's stand-in id for a person (or Account) the same plan would create.
PLANNED_PREFIX = "(new "


# --------------------------------------------------------------------------- execution


def _object_mode(run: RunContext) -> str:
    return run.settings.object_mode or run.object_mode or "lead"


def resolve_people(run: RunContext, touchpoints: list[dict]) -> dict[str, Person]:
    """prospect_id -> Person: link store first, then one batched Matcher lookup for the rest."""
    from .matching import PersonKey

    prospect_ids = list(dict.fromkeys(str(tp["prospect_id"]) for tp in touchpoints))
    people: dict[str, Person] = {}
    known_emails: dict[str, str | None] = {}
    for pid, link in _links_get(run, prospect_ids).items():
        obj, rid, email = link.get("object"), link.get("record_id"), link.get("email")
        if obj in PERSON_OBJECTS and rid:
            people[pid] = Person(obj, rid, link.get("account_id"))
        elif email:
            known_emails[pid] = email
    missing = [pid for pid in prospect_ids if pid not in people]
    if not missing:
        return people
    emails: dict[str, str | None] = dict(known_emails)
    for tp in touchpoints:
        pid = str(tp["prospect_id"])
        if pid in missing and not emails.get(pid):
            emails[pid] = normalize_email(tp.get("prospect_email"))
    keys = [PersonKey(key=pid, prospect_id=pid, email=emails.get(pid), domain=None, company=None) for pid in missing]
    matches = run.matcher.match(keys, order=PERSON_MATCH_ORDER)
    found: list[dict] = []
    for pid in missing:
        m = matches.get(pid)
        if m is not None and m.object_type in PERSON_OBJECTS:
            people[pid] = Person(m.object_type, m.record_id, m.account_id)
            found.append({"prospect_id": pid, "object": m.object_type, "record_id": m.record_id,
                          "account_id": m.account_id, "email": emails.get(pid)})
    unfound = [pid for pid in missing if pid not in people]
    for pid, person in (merged_people(run, unfound) if unfound else {}).items():
        people[pid] = person
        found.append({"prospect_id": pid, "object": person.object_type, "record_id": person.record_id,
                      "account_id": person.account_id, "email": emails.get(pid)})
    if found and not run.dry_run:
        run.links.put_links(found)  # later batches and runs find them without a query
    if run.dry_run:
        # People this dry run plans to link or create: a real run would write their Tasks too.
        for pid in missing:
            if pid not in people and pid in run.planned_people:
                obj, record_id, account = run.planned_people[pid]
                people[pid] = Person(obj, record_id or f"{PLANNED_PREFIX}{obj} of prospect {pid})", account)
    return people


# LIKE patterns per statement: each `Andsend_Prospect_Ids__c LIKE '%;id;%'` scans (the field holds
# several ids), so only touchpoints nothing else placed are looked up this way.
_MERGED_LIKES_PER_STATEMENT = 200


def merged_people(run: RunContext, prospect_ids: list[str]) -> dict[str, Person]:
    """Prospects merged into a person created for another prospect (same e-mail): their ids are in
    the person's `Andsend_Prospect_Ids__c` (where the org has it), so they are found without the
    link store (a fresh runner, a lost output_dir)."""
    out: dict[str, Person] = {}
    for sobject in ("Contact", "Lead"):
        field_name = run.org.prospect_ids_field(sobject)
        wanted = [p for p in prospect_ids if p not in out and ";" not in p]
        if not field_name or not wanted:
            continue
        extra = ", AccountId" if sobject == "Contact" else ", IsConverted, ConvertedContactId, ConvertedAccountId"
        statements = []
        for i in range(0, len(wanted), _MERGED_LIKES_PER_STATEMENT):
            likes = " OR ".join(f"{field_name} LIKE {like_pattern(f';{p};', contains=True)}"
                                for p in wanted[i : i + _MERGED_LIKES_PER_STATEMENT])
            statements.append(f"SELECT Id, {field_name}{extra} FROM {sobject} WHERE {likes}")  # noqa: S608 - quoted
        for rows in run.client.query_many(statements):
            for row in rows:
                ids = set((row.get(field_name) or "").split(";"))
                if sobject == "Lead" and row.get("IsConverted"):
                    person = Person("Contact", row.get("ConvertedContactId"), row.get("ConvertedAccountId"))
                    if not person.record_id:
                        continue
                else:
                    person = Person(sobject, row["Id"], row.get("AccountId"))
                for pid in wanted:
                    if pid in ids and pid not in out:
                        out[pid] = person
    return out


def resolve_owners(run: RunContext, touchpoints: list[dict],
                   statuses: dict[str, str] | None = None) -> dict[str, str | None]:
    """touchpoint id -> OwnerId (or None: the Task then belongs to the integration user).

    The touchpoint's Andsend user email (``user_email``, else the users stream's email for
    ``user_id``) -> the active User with that email (one cached, batched query); otherwise the
    configured fallback (``run.fallback_owner_id`` for ``owner_fallback: user``, else none).
    ``statuses`` receives each touchpoint's owner outcome instead of the report, so only the
    Tasks really written are counted (a rerun's existing Tasks are no change)."""
    by_tp: dict[str, str | None] = {}
    for tp in touchpoints:
        email = normalize_email(tp.get("user_email")) or normalize_email(run.user_email(tp.get("user_id")))
        by_tp[str(tp["id"])] = email
    wanted = sorted({e for e in by_tp.values() if e})
    resolved = run.owners.resolve(wanted) if wanted else {}
    fallback_id = run.fallback_owner_id
    out: dict[str, str | None] = {}
    for tid, email in by_tp.items():
        owner = resolved.get(email) if email else None
        out[tid] = owner or fallback_id
        status = "resolved" if owner else ("fallback_user" if fallback_id else "integration_user")
        if statuses is None:
            _count_owner(run, status)
        else:
            statuses[tid] = status
    return out


def existing_touchpoint_ids(run: RunContext, facts: TaskOrgFacts, writes: list[tuple[dict, dict]]) -> set[str]:
    """Touchpoint ids (marker-encoded without external id) that already have a Task."""
    found: set[str] = set()
    if not writes:
        return found
    if facts.external_id_field:
        return tasks_with_external_ids(run, facts, [str(tp["id"]) for tp, _ in writes])
    # A person the dry run only plans to create has no Task yet (and no id to query by).
    who_ids = sorted({task["WhoId"] for _, task in writes if not str(task["WhoId"]).startswith(PLANNED_PREFIX)})
    if not who_ids:
        return found
    suffix = " AND Subject LIKE " + like_pattern("[andsend:", contains=True)
    for rows in run.client.query_many(list(chunked_in_queries("SELECT Id, Subject FROM Task WHERE", "WhoId",
                                                               who_ids, suffix=suffix))):
        for row in rows:
            found |= tasks.markers_in(row.get("Subject"))
    return found


def tasks_with_external_ids(run: RunContext, facts: TaskOrgFacts, ids: list[str]) -> set[str]:
    """The touchpoint ids among ``ids`` whose Task exists (orgs with the Task external id)."""
    f = facts.external_id_field
    prefix = f"SELECT Id, {f} FROM Task WHERE"  # noqa: S608 - field name from describe; values quoted
    found: set[str] = set()
    for rows in run.client.query_many(list(chunked_in_queries(prefix, f, ids))):
        found.update(str(row[f]) for row in rows if row.get(f))
    return found


def _classify(run: RunContext, facts: TaskOrgFacts, writes: list[tuple[dict, dict]]) -> list[tuple[dict, dict]]:
    """The (touchpoint, Task fields) still to write (``sort_writes``, after one read of the Tasks
    that exist); a touchpoint that already has its Task is skipped as already_synced."""
    existing = existing_touchpoint_ids(run, facts, writes)
    out: list[tuple[dict, dict]] = []
    done: list[str] = []
    for decision, tp, task, other in sort_writes(facts, writes, existing):
        tid = str(tp["id"])
        if decision == "already":
            _skip(run, tp, REASON_ALREADY)
            done.append(tid)
        elif decision == "case_conflict":
            _reject(run, tp, task, {"statusCode": "TOUCHPOINT_ID_CASE_CONFLICT", "fields": [facts.external_id_field],
                                    "message": f"touchpoint {tid} differs only in letter case from "
                                               f"{other}, "
                                               f"and the org's {facts.external_id_field} is case-insensitive: deploy "
                                               "salesforce-metadata/ (a case-sensitive field) and rerun"})
            done.append(tid)
        else:
            out.append((tp, task))
    if done and not run.dry_run:
        _links_resolve_pending(run, done)
        run.rejects.resolved(ROLE, done)  # its Task exists: an earlier reject of it is resolved
    return out


def _write(run: RunContext, facts: TaskOrgFacts, to_send: list[tuple[dict, dict]]) -> list[tuple[dict, Any]]:
    if not to_send:
        return []
    records = [task for _, task in to_send]
    if facts.external_id_field:
        results = run.writer.upsert(OBJECT, facts.external_id_field, records)
    else:
        results = run.writer.create(OBJECT, records)
    return list(zip([tp for tp, _ in to_send], results, strict=True))


def _report_dry_run(run: RunContext, facts: TaskOrgFacts, to_send: list[tuple[dict, dict]]) -> None:
    for tp, task in to_send:
        _count(run, "created")
        run.report.plan_action({"kind": "create", "object": OBJECT, "touchpoint_id": str(tp["id"]),
                                "prospect_id": str(tp["prospect_id"]), "fields": task,
                                **({"external_id_field": facts.external_id_field} if facts.external_id_field else {})})


def _written_concurrently(run: RunContext, facts: TaskOrgFacts, sent: list[tuple[dict, Any]]) -> set[str]:
    """Touchpoints whose upsert was refused only because another run created their Task first:
    upserting onto an existing Task makes it an update, and fields Salesforce lets you set only on
    create (TaskSubtype) are then refused. Their Task exists: they are done, not rejected."""
    suspects = [str(tp["id"]) for tp, r in sent
                if not r.success and facts.external_id_field and r.error_code == "INVALID_FIELD_FOR_INSERT_UPDATE"]
    return tasks_with_external_ids(run, facts, suspects) if suspects else set()


def _handle_results(run: RunContext, sent: list[tuple[dict, Any]], tasks_by_tp: dict[str, dict],
                    facts: TaskOrgFacts | None = None) -> None:
    done: list[str] = []
    concurrent = _written_concurrently(run, facts, sent) if facts is not None else set()
    for tp, result in sent:
        tid = str(tp["id"])
        if result.success:
            # created=False only when a concurrent run wrote the same external id first
            outcome = "created" if result.created in (True, None) else "updated"
            _count(run, outcome)
            done.append(tid)
            run.rejects.resolved(ROLE, [tid])
        elif str(tp["id"]) in concurrent:
            _skip(run, tp, REASON_ALREADY)
            _count(run, "created_concurrently")
            done.append(tid)
            run.rejects.resolved(ROLE, [tid])
        else:
            err = (result.errors or [{}])[0]
            _reject(run, tp, tasks_by_tp.get(tid, {}), err, counted=True)
            done.append(tid)  # a refused Task goes to the rejects file, not back to pending
    _links_resolve_pending(run, done)


_RETRY_ONCE = threading.Lock()


def process_batch(run: RunContext, records: list[dict], *, consume: bool = False) -> None:
    """Prepare and commit one batch at once (outside the target's batch worker)."""
    prepare(run, records, consume=consume).commit()


def prepare(run: RunContext, records: list[dict], *, consume: bool = False) -> PreparedBatch:
    """Plan one batch of touchpoints (plus any touchpoints still pending); the commit writes them.
    ``consume``: ``records`` is emptied once read, so the records can be freed while the batch
    waits for its turn and writes (the target hands over a list only the batch holds)."""
    touchpoints = keep_latest(records, lambda tp: str(tp.get("id")))
    if not run.settings.sync_activities:
        for tp in touchpoints:
            _skip(run, tp, REASON_SWITCH_OFF)
        return PreparedBatch()
    pending: list[dict] = []
    section = run.report.section("activities")
    with _RETRY_ONCE:  # two batches may start together: only one takes the pending touchpoints
        first = not section.get("pending_retried")
        section["pending_retried"] = True
    if first:  # once per run here, once more at the end of the run
        ids = {str(t.get("id")) for t in touchpoints}
        pending = [tp for tp in _links_pending(run) if str(tp.get("id")) not in ids]
    work, retrying = pending + touchpoints, len(pending)
    # From here the batch's records are referenced only by ``work`` (and ``records`` unless
    # consumed), which _plan lets go once their Tasks are planned.
    del touchpoints, pending
    if consume:
        records.clear()
    commit = _plan(run, work, retrying=retrying)

    def commit_and_finish() -> None:
        commit()
        _finish(run)

    return PreparedBatch(commit_and_finish)


def _stub(tp: dict) -> dict:
    """What the checks, writes, rejects and report need of a planned touchpoint."""
    return {"id": tp.get("id"), "prospect_id": tp.get("prospect_id")}


def _finish(run: RunContext) -> None:
    run.report.section("activities")["pending_touchpoints"] = run.links.pending_count("touchpoint")
    run.check_reject_threshold()


def process_pending(run: RunContext) -> None:
    """Write touchpoints kept pending (their person was not in Salesforce) whose person now exists."""
    if not run.settings.sync_activities:
        return
    pending = _links_pending(run)
    if pending:
        _plan(run, pending, retrying=len(pending))()
        _finish(run)


def _nothing() -> None:
    return None


def _plan(run: RunContext, touchpoints: list[dict], *, retrying: int = 0) -> Callable[[], None]:
    """Plan ``touchpoints`` (the first ``retrying`` are pending ones); returns the step that
    writes them. Consumes the list: it is emptied once the Tasks are planned, so the records can
    be freed."""
    if not touchpoints:
        return _nothing
    facts = task_facts(run.client.describe(OBJECT))
    # People, owners and the Task fields: reads and local work, done while another batch writes.
    valid = [tp for tp in touchpoints if valid_touchpoint(tp)]
    people = resolve_people(run, valid) if valid else {}
    resolvable = [tp for tp in valid if str(tp["prospect_id"]) in people]
    owner_statuses: dict[str, str] = {}
    owners = resolve_owners(run, resolvable, owner_statuses) if resolvable else {}
    plan = plan_tasks(
        touchpoints,
        people=people,
        owners=owners,
        facts=facts,
        include_content=run.settings.include_message_content,
        object_mode=_object_mode(run),
    )
    retry_ids = {str(tp.get("id")) for tp in touchpoints[:retrying]}
    for tp, reason in plan.skipped:
        if reason == REASON_NO_PERSON and str(tp.get("id")) in retry_ids:
            continue  # still waiting; counted when it first arrived
        _skip(run, tp, reason)
        if reason == REASON_INVALID:
            _reject(run, tp, {}, {"statusCode": "INVALID_TOUCHPOINT",
                                  "message": "touchpoint lacks id, prospect_id or a valid executed_at"})
    new_pending = [tp for tp in plan.pending if str(tp.get("id")) not in retry_ids]
    # Only a written touchpoint's ids are needed from here: its record (2 KB as parsed) is let go
    # while the batch waits for its turn and its writes (the next batch's records are in memory).
    plan.writes = [(_stub(tp), task) for tp, task in plan.writes]
    plan.skipped.clear()
    plan.pending.clear()
    touchpoints.clear()
    del valid, resolvable, people, owners

    def write() -> None:
        # The commit: the check for existing Tasks and the writes, after every earlier batch's.
        if new_pending and not run.dry_run:
            _links_add_pending(run, new_pending)
        if not plan.writes:
            return
        to_send = _classify(run, facts, plan.writes)
        for tp, _ in to_send:
            _count_owner(run, owner_statuses.get(str(tp["id"]), "integration_user"))
        if run.dry_run:  # reads only: report what would be written
            _report_dry_run(run, facts, to_send)
            return
        sent = _write(run, facts, to_send)
        _handle_results(run, sent, {str(tp["id"]): task for tp, task in plan.writes}, facts)

    return write


# --------------------------------------------------------------------------- adapters
# Thin calls into the link store, report and rejects file (owned by other modules).


def _links_get(run: RunContext, prospect_ids: list[str]) -> dict[str, dict[str, Any]]:
    return run.links.get_many(prospect_ids)


def _links_pending(run: RunContext) -> list[dict]:
    return list(run.links.pending_touchpoints())


def _links_add_pending(run: RunContext, touchpoints: list[dict]) -> None:
    run.links.add_pending_touchpoints(touchpoints)


def _links_resolve_pending(run: RunContext, touchpoint_ids: list[str]) -> None:
    if touchpoint_ids:
        run.links.remove_pending_touchpoints(touchpoint_ids)


def _count(run: RunContext, outcome: str, n: int = 1) -> None:
    run.report.count(ROLE, OBJECT, outcome, n)


def _count_owner(run: RunContext, status: str) -> None:
    run.report.count(ROLE, "TaskOwner", status)


def _skip(run: RunContext, tp: dict, reason: str) -> None:
    run.report.skip(ROLE, reason, str(tp.get("id")))


def _reject(run: RunContext, tp: dict, task: dict, err: dict, *, counted: bool = False) -> None:
    run.reject(
        role=ROLE,
        key=str(tp.get("id")),
        object=OBJECT,
        error_code=err.get("statusCode") or "UNKNOWN",  # WriteResult errors are {statusCode, message, fields}
        message=err.get("message") or "",
        fields=err.get("fields") or [],
        record=task,
        counted_as=OBJECT if counted else None,
    )
