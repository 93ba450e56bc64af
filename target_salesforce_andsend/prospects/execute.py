"""Prospects, steps 2 and 4 (I/O): the batch's lookups (Matcher, owners), then the plan's writes
through the Writer (Accounts first, then the people that need their ids), the link rows and the
report; on a dry run only the plan goes to the report."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import duplicates
from ..normalize import normalize_email
from ..refusals import Linked, report_duplicate_link, second_attempts
from ..salesforce.writer import Write
from ..transforms import is_empty_value
from .plan import Action, Plan, PlanInputs, match_order, plan_batch
from .prepare import Group, prepare

if TYPE_CHECKING:
    from ..context import RunContext

ROLE = "prospects"


def plan_inputs(run: RunContext) -> PlanInputs:
    objects = ("Lead", "Contact", "Account")
    refused = run.org.refused_fields()

    def writable(sobject: str, name: str | None) -> str | None:
        return name if name and name.casefold() not in refused.get(sobject, set()) else None

    addresses = {o: {k: a for k, a in run.org.address_fields(o).items() if writable(o, a.code)}
                 for o in objects if o in {"Lead", "Contact", *run.catalog.objects()}}
    return PlanInputs(
        catalog=run.catalog,
        fields={o: run.org.fields(o) for o in objects if o in {"Lead", "Contact", *run.catalog.objects()}},
        external_id={o: writable(o, run.org.external_id_field(o)) for o in ("Lead", "Contact")},
        owner_fallback=run.settings.owner_fallback,
        fallback_owner_id=run.fallback_owner_id,
        person_sources=run.person_sources,
        prospect_ids={o: writable(o, run.org.prospect_ids_field(o)) for o in ("Lead", "Contact")},
        account_key=writable("Account", run.org.account_key_field()) if run.object_mode == "contact_account" else None,
        record_types=run.org.record_types,
        addresses=addresses,
        refused=refused,
    )


def _reject_group(run: RunContext, group: Group, sobject: str | None, code: str, message: str,
                  fields: list[str] | None = None, record: dict | None = None) -> None:
    for pid in group.prospect_ids:
        run.reject(role=ROLE, key=pid, object=sobject, error_code=code, message=message, fields=fields,
                   record=record if record is not None else group.record, counted_as=sobject or "Prospect")


def process_batch(run: RunContext, records: list[dict]) -> None:
    prepared = prepare(records, run.settings)
    for pid, reason in prepared.skipped:
        run.report.skip(ROLE, reason, pid)
        run.report.count(ROLE, "Prospect", "skipped")
    for record, code, message in prepared.rejected:
        run.reject(role=ROLE, key=str(record.get("id")), object=None, error_code=code, message=message,
                   record=record, counted_as="Prospect")
    if prepared.merged:
        run.report.count(ROLE, "Prospect", "merged_same_email", prepared.merged)
    groups = prepared.groups
    if groups:
        _sync(run, groups)
    run.check_reject_threshold()


def _sync(run: RunContext, groups: list[Group]) -> None:
    mode = run.object_mode
    keys = [g.person_key() for g in groups]
    # Owner emails: the purchasing user's email, or the users stream / link store by user id.
    run.remember_users({str(g.record["purchased_by_user_id"]): g.record["purchased_by_user_email"]
                        for g in groups
                        if g.record.get("purchased_by_user_id") and g.record.get("purchased_by_user_email")})
    emails = [normalize_email(g.record.get("purchased_by_user_email"))
              or run.user_email(g.record.get("purchased_by_user_id")) for g in groups]
    emails += [normalize_email(e) or run.user_email(u) for g in groups if len(g.sellers) > 1 for e, u in g.sellers]
    # The owners' User lookup and the people lookups are independent reads: both at once, their
    # statements in the same Composite call(s).
    audit: list[dict] = []
    resolve, match = run.client.together(run.owners.resolve), run.client.together(run.matcher.match)
    with ThreadPoolExecutor(1, thread_name_prefix="owners") as pool:
        owners_read = pool.submit(resolve, emails)
        matches = match(keys, order=match_order(run.settings, mode), audit=audit)
    owners = owners_read.result()
    prospect_of = {g.key: g.prospect_id for g in groups}
    for entry in audit:
        run.report.match_audit(ROLE, {"prospect_id": prospect_of.get(entry["key"]), **entry})
    statuses = {e: run.owners.status(e) for e in emails if e}
    plan = plan_batch(groups, matches, owners, plan_inputs(run), user_emails=run.andsend_user_emails,
                      owner_statuses=statuses)
    for group, match in plan.ambiguous:
        run.report.ambiguous(ROLE, group.prospect_id, match.object_type, match.via, match.candidates, match.record_id)
    for group, obj, code, message in plan.rejected:
        _reject_group(run, group, obj, code, message)
    rejected_keys = {g.key for g, *_ in plan.rejected}
    _report_addresses(run, plan)
    for key, status in plan.owner_status.items():
        if key not in rejected_keys:
            run.report.owner(status)
    if run.dry_run:
        _report_plan(run, plan)
        return
    _execute(run, plan, {g.key: g for g in groups})


ADDRESS_EXAMPLES = 50


def _report_addresses(run: RunContext, plan: Plan) -> None:
    """Country/state values left blank because no code of the org's picklists fits them: the
    record is written without them, and each is counted and shown (value, reason, prospect)."""
    if not plan.address_dropped:
        return
    section = run.report.section("addresses")
    for group, sobject, name, value, reason in plan.address_dropped:
        run.report.count(ROLE, sobject, "address_value_left_blank")
        label = f"{sobject}.{name}"
        section.setdefault("left_blank", {}).setdefault(label, 0)
        section["left_blank"][label] += 1
        examples = section.setdefault("examples", [])
        if len(examples) < ADDRESS_EXAMPLES:
            examples.append({"prospect_id": group.prospect_id, "field": label, "value": value, "reason": reason})
    run.logger.warning("%d country/state value(s) matched no code of the org's State and Country picklists "
                       "and were left blank (report section 'addresses')", len(plan.address_dropped))


def _report_plan(run: RunContext, plan: Plan) -> None:
    for group, match in plan.matched:
        run.report.count(ROLE, match.object_type, "matched")
        if match.object_type in ("Lead", "Contact"):
            for pid in group.prospect_ids:
                run.planned_people[str(pid)] = (match.object_type, match.record_id, match.account_id)
    for action in plan.account_creates.values():
        run.report.count(ROLE, "Account", "created")
        run.report.plan_action(action.describe())
    for action in plan.creates:
        run.report.count(ROLE, action.object, "created")
        run.report.plan_action(action.describe())
        account = action.account_id or (f"(new Account {action.account_ref})" if action.account_ref else None)
        for pid in action.prospect_ids:
            run.planned_people[str(pid)] = (action.object, None, account)
    for action in plan.updates.values():
        run.report.count(ROLE, action.object, "updated")
        run.report.plan_action(action.describe())
    for action in plan.links:
        run.report.count(ROLE, action.object, "unchanged")
        run.report.plan_action(action.describe())


@dataclass(frozen=True)
class WriteGroup:
    """What the actions sent in one Write share: object, operation, Sforce-Auto-Assign header and
    the external id a create is upserted on."""

    object: str
    op: str = "create"               # create | update
    auto_assign: bool | None = None  # None: the header is not sent
    upsert_on: str | None = None

    @classmethod
    def of_create(cls, action: Action, upsert_on: str | None = None) -> WriteGroup:
        return cls(action.object, "create", action.auto_assign, upsert_on)

    @property
    def headers(self) -> dict[str, str] | None:
        if self.auto_assign is None:
            return None
        return {"Sforce-Auto-Assign": "TRUE" if self.auto_assign else "FALSE"}

    @property
    def bulk(self) -> bool:
        """Whether the Writer may send it through Bulk API (which cannot run assignment rules)."""
        return not (self.op == "create" and self.auto_assign is True)


def _reject_action(run: RunContext, action: Action, result: Any, groups_by_key: dict[str, Group]) -> None:
    err = (result.errors or [{}])[0] if result is not None else {}
    code = str(err.get("statusCode") or "UNKNOWN_ERROR")
    message = str(err.get("message") or "")
    dup = duplicates.parse(result.errors) if result is not None else None
    if dup is not None:
        choice = duplicates.action_for(run.settings, action.object)
        message = f"{message} ({dup.describe()}; duplicate_rule_action for {action.object} is {choice})"
    for key in action.group_keys:
        group = groups_by_key[key]
        _reject_group(run, group, action.object, code, message, list(err.get("fields") or []), action.fields)


def estimate_write_calls(run: RunContext, plan: Plan) -> int:
    """Calls the plan's writes need (per object and Sforce-Auto-Assign group)."""
    sizes: Counter[WriteGroup] = Counter()
    for action in [*plan.account_creates.values(), *plan.creates]:
        sizes[WriteGroup.of_create(action)] += 1
    for action in plan.updates.values():
        sizes[WriteGroup(action.object, "update")] += 1
    return sum(run.writer.estimate_calls(n, bulk=group.bulk) for group, n in sizes.items())


def _execute(run: RunContext, plan: Plan, groups_by_key: dict[str, Group]) -> None:
    """All of a batch's writes are admitted by the quota governor together, so a quota stop
    happens between batches, never with half a batch written."""
    estimate = estimate_write_calls(run, plan)
    if estimate == 0:
        _execute_admitted(run, plan, groups_by_key)
        return
    # What the badges remembered may change now; forgotten again once written, because a badge
    # lookup running meanwhile may have read the org before these writes.
    run.matcher.forget()
    try:
        with run.client.quota.batch(estimate, f"writes of {len(groups_by_key)} prospects"):
            _execute_admitted(run, plan, groups_by_key)
    finally:
        run.matcher.forget()


def _execute_admitted(run: RunContext, plan: Plan, groups_by_key: dict[str, Group]) -> None:
    """Two rounds of writes, each round's writes together (``Writer.write_together``): their
    records are distinct, so only the rounds need an order. Whatever a round wrote is recorded
    (report, links) before a failure in it fails the batch."""
    # 1. Accounts: those the new Contacts need, and the matched ones' updates. The updates go
    # before the Contacts created under them: a run stopped after those creates finds the
    # Contacts on its rerun and never plans their Account's update again.
    refs = list(plan.account_creates)
    account_ids: dict[str, str] = {}
    failed_keys: set[str] = set()
    round_1 = _writes(run, "Account", [plan.account_creates[r] for r in refs],
                      [a for a in plan.updates.values() if a.object == "Account"])
    for op, action, result, linked in _write_round(run, round_1, groups_by_key):
        if linked is not None:  # a duplicate rule named the company's Account: the Contacts go under it
            account_ids[str(action.ref)] = linked.record_id
            report_duplicate_link(run, action, linked)
        elif result.success:
            if op == "create":
                account_ids[str(action.ref)] = result.id
            run.report.count(ROLE, "Account", _outcome(op, result))
        else:
            _reject_action(run, action, result, groups_by_key)
            if op == "create":
                failed_keys.update(action.group_keys)

    # 2. People (Leads or Contacts): the new ones and the matched ones' updates.
    creates: list[Action] = []
    for action in plan.creates:
        if any(k in failed_keys for k in action.group_keys):
            continue  # its Account was refused; already in the rejects file
        if action.account_ref is not None:
            action.account_id = account_ids.get(action.account_ref)
            if action.account_id:
                action.fields["AccountId"] = action.account_id
        creates.append(action)
    for sobject in dict.fromkeys(a.object for a in creates):
        intents = create_intents(run, sobject, [a for a in creates if a.object == sobject])
        if intents:
            run.links.pending_put(CREATE_INTENT, intents)
    round_2: list[tuple[str, list[Action], Write]] = []
    for sobject in dict.fromkeys([*(a.object for a in creates), *(a.object for a in plan.updates.values())]):
        if sobject != "Account":
            round_2 += _writes(run, sobject, [a for a in creates if a.object == sobject],
                               [a for a in plan.updates.values() if a.object == sobject])
    links: list[dict] = []
    try:
        for op, action, result, linked in _write_round(run, round_2, groups_by_key):
            if linked is not None:  # the person the org's duplicate rule named: linked, never created twice
                report_duplicate_link(run, action, linked)
                links += [{**row, "object": linked.object, "account_id": None}
                          for row in _link_rows(action, linked.record_id)]
                run.person_sources.setdefault(linked.record_id[:15], action.prospect_ids[0])
            elif result.success:
                run.report.count(ROLE, action.object, _outcome(op, result))
                links += _link_rows(action, result.id if op == "create" else action.record_id)
                if op == "create" and result.id:
                    run.person_sources.setdefault(result.id[:15], action.prospect_ids[0])
            else:
                _reject_action(run, action, result, groups_by_key)
    finally:
        run.links.put_links(links)  # what was written is known before the batch can fail
        run.rejects.resolved(ROLE, [row["prospect_id"] for row in links])
    run.links.pending_delete(CREATE_INTENT, [pid for g in groups_by_key.values() for pid in g.prospect_ids])

    links = []
    for action in plan.links:
        run.report.count(ROLE, action.object, "unchanged")
        if action.object != "Account":
            links += _link_rows(action, action.record_id)
    for _group, match in plan.matched:
        run.report.count(ROLE, match.object_type, "matched")
    run.links.put_links(links)
    run.rejects.resolved(ROLE, [row["prospect_id"] for row in links])


def _outcome(op: str, result: Any) -> str:
    """created, updated, or created_concurrently: an upsert found the record another run had
    just created (same external id) and updated it instead of creating a second one."""
    if op != "create":
        return "updated"
    return "created_concurrently" if result.created is False else "created"


def _writes(run: RunContext, sobject: str, creates: list[Action],
            updates: list[Action]) -> list[tuple[str, list[Action], Write]]:
    """The writes of one object: its creates, one per Sforce-Auto-Assign header value (upserts on
    the object's external id where the org has it), and its updates."""
    out: list[tuple[str, list[Action], Write]] = []
    by_header: dict[WriteGroup, list[Action]] = defaultdict(list)
    ext = run.org.account_key_field() if sobject == "Account" else run.org.external_id_field(sobject)
    for action in creates:
        upsert_on = ext if ext and not is_empty_value(action.fields.get(ext)) else None
        by_header[WriteGroup.of_create(action, upsert_on)].append(action)
    for key, group in by_header.items():
        # Upserted on the external id where the record carries one: a concurrent run that created
        # the same person or company first is updated, never duplicated (nor refused as a duplicate).
        op = "upsert" if key.upsert_on else "create"
        out.append(("create", group, Write(op, sobject, [a.fields for a in group], key.upsert_on, key.headers)))
    if updates:
        out.append(("update", updates, Write("update", sobject, [{"Id": a.record_id, **a.fields} for a in updates])))
    return out


def _write_round(run: RunContext, writes: list[tuple[str, list[Action], Write]],
                 groups_by_key: dict[str, Group]) -> Iterator[tuple[str, Action, Any, Linked | None]]:
    """(op, action, result, linked) for every action of the round's writes, sent together; refusals
    a second attempt can settle (a read-only field, a duplicate rule) get it, in one more round
    (``second_attempts``). After the results of the writes that completed, the first failure of the
    others is raised."""
    outcomes = run.writer.write_together([w for _, _, w in writes])
    failure: Exception | None = None
    done: list[tuple[str, Action, Any, Write]] = []
    for (op, actions, w), outcome in zip(writes, outcomes, strict=True):
        if isinstance(outcome, Exception):
            failure = failure or outcome
            continue
        done += [(op, action, result, w) for action, result in zip(actions, outcome, strict=True)]
    try:
        yield from second_attempts(run, done, groups_by_key)
    finally:
        if failure is not None:
            raise failure


CREATE_INTENT = "create_intent"  # link-store pending kind: people being created that only the target can recognise


def create_intents(run: RunContext, sobject: str, actions: list[Action]) -> dict[str, dict]:
    """Prospect id -> what is about to be created, for people nothing in Salesforce identifies
    afterwards (no e-mail, and no external-id field on the object). A crash after Salesforce
    created such a record but before its link was stored would otherwise make the next run
    create it again; the Matcher adopts the record these intents describe instead."""
    if run.org.external_id_field(sobject):
        return {}
    return {pid: {"object": sobject, **{f: action.fields.get(f) for f in INTENT_FIELDS[sobject]}}
            for action in actions if not action.email for pid in action.prospect_ids}


INTENT_FIELDS = {"Lead": ("LastName", "FirstName", "Company"), "Contact": ("LastName", "FirstName", "AccountId")}


def _link_rows(action: Action, record_id: str | None) -> list[dict]:
    return [{"prospect_id": pid, "object": action.object, "record_id": record_id,
             "account_id": action.account_id, "email": action.email} for pid in action.prospect_ids]


