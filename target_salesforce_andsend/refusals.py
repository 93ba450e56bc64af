"""Second attempts for prospect writes Salesforce refused for a reason one more try can settle.

After each write round of ``prospects`` (``_write_round``), the refused records get, together, one
more ``write_together`` round: a field-level-security refusal (``INVALID_FIELD_FOR_INSERT_UPDATE``)
is resent without the fields named; a duplicate-rule refusal (``DUPLICATES_DETECTED``,
``duplicates.py``) becomes a link to the record the rule names, a resend with the allowSave
header, or stays refused, per ``duplicate_rule_action``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import duplicates
from .duplicates import DuplicateMatch
from .normalize import normalize_email
from .salesforce.soql import chunked_in_queries
from .salesforce.writer import Write

if TYPE_CHECKING:
    from .context import RunContext
    from .prospects.plan import Action

ROLE = "prospects"


@dataclass(frozen=True)
class Linked:
    """A create a duplicate rule refused, settled by linking to the record the rule named."""

    object: str
    record_id: str
    match: DuplicateMatch


def second_attempts(run: RunContext, done: list[tuple[str, Action, Any, Write]],
                    groups: dict[str, Any]) -> Iterator[tuple[str, Action, Any, Linked | None]]:
    """Settle the refusals worth one more try, all in one ``write_together`` round:

    * ``INVALID_FIELD_FOR_INSERT_UPDATE`` (field-level security took the write access away after
      describe was read): the record again without the fields named, which are left out for the
      rest of the run and reported (``field_access`` section);
    * ``DUPLICATES_DETECTED`` (``duplicates.py``): linked to the record the rule names, sent again
      with the allowSave header, or left refused, per ``duplicate_rule_action``. A refusal that
      names no record (a Bulk row) is sent again through Collections, which names them.
    """
    retry: dict[tuple[str, str, str | None, str], list[tuple[int, dict]]] = defaultdict(list)
    out: list[list[Any]] = []
    other_people, named = _named_records(run, done)
    for n, (op, action, result, w) in enumerate(done):
        out.append([op, action, result, None])
        if result.success:
            continue
        fields = dict(action.fields) if op == "create" else {"Id": action.record_id, **action.fields}
        headers = dict(w.headers or {})
        dup = duplicates.parse(result.errors)
        if result.error_code == "INVALID_FIELD_FOR_INSERT_UPDATE":
            refused_names = {f.casefold() for f in (result.errors[0].get("fields") or [])}
            keep = {"id", (w.external_id_field or "").casefold()}
            drop = [k for k in fields if k.casefold() in refused_names and k.casefold() not in keep]
            if not drop:
                continue
            run.org.refuse_fields(action.object, drop)
            for name in drop:
                fields.pop(name)
        elif dup is not None:
            choice = duplicates.action_for(run.settings, action.object)
            if choice == "reject":
                continue  # for an update too: the admin wants the rule to decide
            linked = _duplicate_link(run, op, action, dup)
            stranger = linked is not None and linked.record_id in other_people.get(action.email or "", ())
            if linked is not None and not stranger:
                out[-1][3] = linked
                continue
            if dup.records and not dup.allow_save:
                continue  # a block rule, and nothing (else) to link to: refused as it stands
            if dup.records and not (stranger or choice == "allow_save" or op != "create"):
                continue  # link, but the rule named nothing a prospect can be linked to
            if dup.allow_save or choice == "allow_save" or op != "create":
                # allow_save; or the rule named someone with another e-mail address (a different
                # person: the alert is overridden rather than the prospect merged into a stranger);
                # or an update of a record already ours.
                headers.update(duplicates.ALLOW_SAVE_HEADER)
            elif not dup.records:
                # A Bulk row names no record: sent again through Collections, which names them. The
                # header (its documented default) is one Bulk cannot carry, so the resend stays there.
                headers.update(duplicates.NAME_MATCHES_HEADER)
        else:
            continue
        wop = "update" if op == "update" else w.op
        retry[(wop, w.sobject, w.external_id_field, json.dumps(headers, sort_keys=True))].append((n, fields))
    if retry:
        keys = list(retry)
        writes = [Write(wop, sobject, [f for _, f in retry[k]], ext, json.loads(h) or None)
                  for k in keys for (wop, sobject, ext, h) in [k]]
        outcomes = run.writer.write_together(writes)
        section = run.report.section("field_access")
        for key, outcome in zip(keys, outcomes, strict=True):
            if isinstance(outcome, Exception):
                run.logger.warning("second attempt of %d %s record(s) failed: %s", len(retry[key]), key[1], outcome)
                continue  # the first refusal stands: rejected with its reason
            for (n, fields), result in zip(retry[key], outcome, strict=True):
                op, action = out[n][0], out[n][1]
                first = out[n][2]
                if first.error_code == "INVALID_FIELD_FOR_INSERT_UPDATE":
                    left_out = sorted(set(action.fields) - set(fields))
                    for name in left_out:
                        label = f"{action.object}.{name}"
                        refused = section.setdefault("left_out_after_refusal", {})
                        refused[label] = refused.get(label, 0) + 1
                    action.fields = {k: v for k, v in action.fields.items() if k in fields}
                elif result.success and "allowSave=true" in key[3]:
                    run.report.count(ROLE, action.object, "saved_despite_duplicate_rule")
                dup = duplicates.parse(result.errors) if not result.success else None
                linked = _duplicate_link(run, op, action, dup) if dup is not None else None
                out[n][2], out[n][3] = result, linked
        # Links the resends found (a Bulk row's records, named by Collections): the same check
        # against strangers and the same read for the update.
        late = [(o[0], o[1], o[2], done[n][3]) for n, o in enumerate(out) if o[3] is not None
                and o[3].record_id[:15] not in named]
        if late:
            strangers, rows = _named_records(run, late)
            named.update(rows)
            for o in out:
                if o[3] is not None and o[3].record_id in strangers.get(o[1].email or "", ()):
                    o[3] = None  # someone else: the refusal stands (rejected with the rule's names)
    _enrich(run, out, named, groups)
    for op, action, result, linked in out:
        yield op, action, result, linked


def _named_records(run: RunContext, done: list[tuple[str, Action, Any, Write]]) -> tuple[
        dict[str, set[str]], dict[str, dict]]:
    """The records duplicate rules named, read in one batch with the matcher's select list (their
    current values, for the same update policies as any match): prospect e-mail -> ids of named
    people whose own e-mail is another one (a rule matching on name or company alone must not
    merge two different people), and id (15) -> record."""
    wanted: dict[str, set[str]] = defaultdict(set)  # object -> ids
    pairs = []
    for op, action, result, _w in done:
        dup = duplicates.parse(result.errors) if not result.success else None
        linked = _duplicate_link(run, op, action, dup) if dup is not None else None
        if linked is not None:
            wanted[linked.object].add(linked.record_id)
            pairs.append((action, linked))
    if not wanted:
        return {}, {}
    statements = []
    for obj, ids in wanted.items():
        # Object and field names come from describe, never from input; the ids go through quote().
        select = ", ".join(run.matcher.select_fields(obj))
        statements += list(chunked_in_queries(f"SELECT {select} FROM {obj} WHERE", "Id", sorted(ids)))  # noqa: S608
    rows = {row["Id"][:15]: row for found in run.client.query_many(statements) for row in found}
    others: dict[str, set[str]] = defaultdict(set)
    for action, linked in pairs:
        theirs = normalize_email((rows.get(linked.record_id[:15]) or {}).get("Email"))
        if linked.object != "Account" and action.email and theirs and theirs != action.email:
            others[action.email].add(linked.record_id)
    return others, rows


def _enrich(run: RunContext, out: list[list[Any]], rows: dict[str, dict], groups: dict[str, Any]) -> None:
    """A linked record is updated as any matched one would be (the catalog's policies, and
    ``Andsend_Prospect_Id__c`` where empty, so the next run's external_id step finds it): one write
    for all of them. A refused update leaves the link in place; it is counted and logged, and
    planned again next run."""
    from .match_rules import Match
    from .prospects.execute import plan_inputs
    from .prospects.plan import Plan, _plan_link
    from .transforms import CoercionError

    inputs = plan_inputs(run)
    plan = Plan()
    for _op, action, _r, linked in out:
        row = rows.get(linked.record_id[:15]) if linked is not None else None
        group = groups.get(action.group_keys[0]) if linked is not None and action.group_keys else None
        if row is None or group is None:
            continue
        account = row.get("AccountId") if linked.object == "Contact" else (
            row.get("Id") if linked.object == "Account" else row.get("ConvertedAccountId"))
        match = Match(object_type=linked.object, record_id=linked.record_id, account_id=account,
                      via="duplicate_rule", candidates=[linked.record_id], record=row)
        try:
            _plan_link(plan, inputs, group, match, owner_id=None)
        except CoercionError as exc:  # a value the field cannot take: linked, not enriched
            run.logger.warning("record %s linked by a duplicate rule is not updated: %s", linked.record_id, exc)
    by_object: dict[str, list[Action]] = defaultdict(list)
    for action in plan.updates.values():
        by_object[action.object].append(action)
    if not by_object:
        return
    objects = list(by_object)
    writes = [Write("update", obj, [{"Id": a.record_id, **a.fields} for a in by_object[obj]]) for obj in objects]
    for obj, outcome in zip(objects, run.writer.write_together(writes), strict=True):
        results = outcome if isinstance(outcome, list) else [None] * len(by_object[obj])
        for action, result in zip(by_object[obj], results, strict=True):
            if result is not None and result.success:
                run.report.count(ROLE, obj, "updated")
                continue
            reason = outcome if result is None else f"{result.error_code}: {result.error_message}"
            run.report.count(ROLE, obj, "linked_not_updated")
            run.logger.warning("%s %s, linked by a duplicate rule, was not updated (%s); the next run plans "
                               "the update again", obj, action.record_id, reason)


def _duplicate_link(run: RunContext, op: str, action: Action, dup: DuplicateMatch) -> Linked | None:
    """The record a refused create is linked to, when the object's action (or a block rule under
    allow_save) says so and the rule named one."""
    if op != "create":
        return None
    choice = duplicates.action_for(run.settings, action.object)
    if choice == "reject" or (choice == "allow_save" and dup.allow_save):
        return None
    best = dup.best(action.object)
    if best is None:
        return None
    return Linked(best[0], best[1], dup)



def report_duplicate_link(run: RunContext, action: Action, linked: Linked) -> None:
    """A duplicate-rule link is a match: counted as one, with its reason in the match audit."""
    run.report.count(ROLE, linked.object, "matched")
    run.report.count(ROLE, linked.object, "matched_by_duplicate_rule")
    for pid in action.prospect_ids:
        run.report.match_audit(ROLE, {
            "prospect_id": pid, "key": action.group_keys[0] if action.group_keys else None,
            "outcome": "duplicate_rule_match", "object": linked.object, "record_id": linked.record_id,
            "reason": f"creating the {action.object} was refused: {linked.match.describe()}; linked to "
                      f"{linked.object} {linked.record_id}"})
