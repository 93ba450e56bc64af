"""Prospects, step 3 (pure): groups and what the lookups found in, actions out (``plan_batch``);
field values from the catalog, coerced to the describe types. No I/O here: ``execute.py`` reads
what the plan needs and writes what it says."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..addresses import AddressField, country_code
from ..addresses import resolve as resolve_addresses
from ..catalog import Catalog
from ..match_rules import ACCOUNT_STEPS, DEFAULT_ORDER, PERSON_STEPS, Match, validate_order
from ..normalize import normalize_company, normalize_email, own_company_domain
from ..record_types import RecordTypeChoice
from ..transforms import CoercionError, coerce, is_empty_value, same_value, source_value
from .prepare import Group

if TYPE_CHECKING:
    from ..settings import Settings


@dataclass
class Action:
    kind: str                   # create | update | link
    object: str
    group_keys: list[str]
    prospect_ids: list[str]
    fields: dict[str, Any] = field(default_factory=dict)
    record_id: str | None = None
    account_ref: str | None = None      # a new Account this Contact waits for
    account_id: str | None = None
    via: str | None = None
    owner_id: str | None = None
    auto_assign: bool | None = None     # Sforce-Auto-Assign header for creates (None = not sent)
    email: str | None = None
    score: float | None = None          # account match: the name score of the matched Account
    account_via: str | None = None      # a new Contact's Account: the step that found it
    ref: str | None = None              # an Account create: its key in Plan.account_creates

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "ref" and v not in (None, [], {})}


@dataclass
class Plan:
    account_creates: dict[str, Action] = field(default_factory=dict)   # ref -> Account create
    creates: list[Action] = field(default_factory=list)                # Lead / Contact creates
    updates: dict[tuple[str, str], Action] = field(default_factory=dict)  # (object, id) -> update
    links: list[Action] = field(default_factory=list)                  # matched, nothing to change
    rejected: list[tuple[Group, str, str, str]] = field(default_factory=list)  # group, object, code, message
    account_alias: dict[str, str] = field(default_factory=dict)        # alias key -> ref of a new Account
    account_domain: dict[str, str] = field(default_factory=dict)       # ref -> its domain key
    ambiguous: list[tuple[Group, Match]] = field(default_factory=list)
    owner_status: dict[str, str] = field(default_factory=dict)         # group key -> status
    matched: list[tuple[Group, Match]] = field(default_factory=list)
    # country/state values no code of the org's picklists fits: (group, object, field, value, reason)
    address_dropped: list[tuple[Group, str, str, str, str]] = field(default_factory=list)


@dataclass
class PlanInputs:
    catalog: Catalog
    fields: dict[str, dict[str, dict]]      # object -> casefolded name -> describe field
    external_id: dict[str, str | None]      # object -> external-id field name where the org has it
    owner_fallback: str = "assignment_rules"
    fallback_owner_id: str | None = None
    # Person record id (15) -> prospect that first linked or wrote it this run (RunContext.person_sources)
    person_sources: dict[str, str] = field(default_factory=dict)
    prospect_ids: dict[str, str | None] = field(default_factory=dict)  # object -> Andsend_Prospect_Ids__c
    account_key: str | None = None      # Andsend_Account_Key__c where the org has it
    record_types: dict[str, RecordTypeChoice] = field(default_factory=dict)   # object -> record type of creates
    addresses: dict[str, dict[str, AddressField]] = field(default_factory=dict)  # object -> State/Country picklists
    refused: dict[str, set[str]] = field(default_factory=dict)  # object -> fields (casefolded) refused this run


def field_values(inputs: PlanInputs, sobject: str, record: dict, *, owner_id: str | None,
                 current: dict | None, fill_only: bool = False,
                 dropped: list[tuple[str, str, str]] | None = None) -> dict[str, Any]:
    """The values to send for `sobject`: all mapped values on create (`current` None), else only
    what the policies allow and what differs from `current` (``fill_only``: `overwrite` fields
    too only where empty). Created records get the catalog's record type and are checked against
    its picklist values; country/state text goes to the code picklists where the org has them
    (values left out go to ``dropped`` as (field, value, reason)). Raises CoercionError."""
    described = inputs.fields.get(sobject, {})
    refused = inputs.refused.get(sobject, set())
    addresses = inputs.addresses.get(sobject, {})
    out: dict[str, Any] = {}
    for m in inputs.catalog.for_object(sobject):
        desc = described.get(m.field.casefold())
        if desc is None or m.field.casefold() in refused:
            continue
        value = owner_id if m.is_owner else source_value(record, m)
        if value is None:
            continue
        value = coerce(value, desc, on_overlength=m.on_overlength)
        name = desc["name"]
        if current is None:
            out[name] = value
            continue
        if m.policy == "on_create":
            continue
        existing = current.get(name)
        if (m.policy == "if_empty" or fill_only) and not is_empty_value(existing):
            continue
        if same_value(value, existing, desc) or (
                name.casefold() in addresses and _same_place(addresses[name.casefold()], value, existing)):
            continue
        out[name] = value
    rt = inputs.record_types.get(sobject)
    if current is None and rt is not None:
        # Only created records: a linked record keeps its own record type, whose values we do not know.
        out = {name: rt.check(name, value) for name, value in out.items()}
        if rt.send and "recordtypeid" not in refused:
            out["RecordTypeId"] = rt.id
    if addresses:
        out, left_out = resolve_addresses(addresses, out, current)
        if dropped is not None:
            dropped += left_out
    return out


def _same_place(spec: AddressField, new: Any, existing: Any) -> bool:
    """A country or state spelled differently but meaning the same code (no update needed)."""
    if spec.kind != "country" or is_empty_value(existing):
        return False
    return country_code(new) is not None and country_code(new) == country_code(existing)


def seller_emails(group: Group, user_emails: dict[str, str]) -> list[str | None]:
    """The purchasers' e-mails of a group, latest first (the record's merged value leads)."""
    rec = group.record
    sellers = [(rec.get("purchased_by_user_email"), rec.get("purchased_by_user_id")), *reversed(group.sellers)]
    out: list[str | None] = []
    for email, user_id in sellers:
        found = normalize_email(email) or normalize_email(user_emails.get(str(user_id or "")))
        if found not in out:
            out.append(found)
    return [e for e in out if e] or [None]


def _owner(inputs: PlanInputs, group: Group, owners: dict[str, str | None],
           user_emails: dict[str, str]) -> tuple[str | None, str, str | None]:
    """(owner id, status, email) for a group: its latest purchasing user with an active
    Salesforce User (an earlier seller's User beats "no owner" when prospects merged)."""
    candidates = seller_emails(group, user_emails)
    for email in candidates:
        owner_id = owners.get(email) if email else None
        if owner_id:
            return owner_id, "resolved", email
    email = candidates[0]
    if inputs.owner_fallback == "user" and inputs.fallback_owner_id:
        return inputs.fallback_owner_id, "fallback_user", email
    return None, "no_email" if not email else "unresolved", email


def _auto_assign(inputs: PlanInputs, owner_id: str | None) -> bool:
    # An explicit owner must stick, so assignment rules are switched off for it.
    if owner_id:
        return False
    return inputs.owner_fallback == "assignment_rules"


PROSPECT_IDS_MAX = 255  # Andsend_Prospect_Ids__c is Text(255): filterable, so touchpoints can find it
ACCOUNT_KEY_MAX = 255


def merged_prospect_ids(current: str | None, prospect_ids: list[str]) -> str:
    """`;p1;p2;` with the ids already there first, then the new ones while they fit (the rest stay
    found through the link store)."""
    ids = [p for p in (current or "").split(";") if p]
    out = ";" + "".join(f"{p};" for p in ids)
    for pid in prospect_ids:
        if pid not in ids and len(out) + len(pid) + 1 <= PROSPECT_IDS_MAX and ";" not in pid:
            ids.append(pid)
            out += f"{pid};"
    return out if ids else ""


def account_key(record: dict) -> str | None:
    """THE identity of the Account a new Contact needs: ``domain:<registrable domain>`` of the
    company's own website or domain (never a free-mail or platform domain), else
    ``name:<normalised name>``. Only the company's own fields count here: a work-email domain
    helps *find* an Account but is no basis to create one (its Name would be unknown), so such a
    Contact is created without an Account."""
    domain = own_company_domain(record)
    if domain:
        return f"domain:{domain}"
    name = normalize_company(record.get("company_name"))
    return f"name:{name}" if name else None


def account_aliases(record: dict) -> list[str]:
    """Every key under which one new Account of a batch is the same company: its identity
    (``account_key``) and, when that is a domain, its name too (a colleague's prospect may give
    only the name)."""
    key = account_key(record)
    if key is None:
        return []
    name = normalize_company(record.get("company_name"))
    return [key, f"name:{name}"] if name and key.startswith("domain:") else [key]


def plan_batch(groups: list[Group], matches: dict[str, Match | None], owners: dict[str, str | None],
               inputs: PlanInputs, *, user_emails: dict[str, str] | None = None,
               owner_statuses: dict[str, str] | None = None) -> Plan:
    """Pure: groups + lookups in, actions out."""
    plan = Plan()
    mode = inputs.catalog.object_mode
    user_emails = user_emails or {}
    for group in groups:
        match = matches.get(group.key)
        owner_id, status, owner_email = _owner(inputs, group, owners, user_emails)
        if status == "unresolved" and owner_statuses and owner_email:
            status = owner_statuses.get(owner_email, "not_found")
        plan.owner_status[group.key] = "not_found" if status == "unresolved" else status
        if match is not None and match.ambiguous:
            plan.ambiguous.append((group, match))
        try:
            if match is not None and match.object_type in ("Lead", "Contact"):
                plan.matched.append((group, match))
                _plan_link(plan, inputs, group, match, owner_id)
            elif mode == "lead":
                _plan_create(plan, inputs, group, "Lead", owner_id, None)
            else:
                account = match if match is not None and match.object_type == "Account" else None
                if account is not None:
                    plan.matched.append((group, account))
                    _plan_link(plan, inputs, group, account, owner_id)
                _plan_create(plan, inputs, group, "Contact", owner_id, account)
        except CoercionError as exc:
            obj = match.object_type if match is not None else ("Lead" if mode == "lead" else "Contact")
            plan.rejected.append((group, obj, getattr(exc, "code", "INVALID_VALUE"), str(exc)))
            _drop_group(plan, group.key)
    return plan


def _drop_group(plan: Plan, key: str) -> None:
    """Remove what a rejected group had already contributed (nothing of it is written)."""
    plan.creates = [a for a in plan.creates if key not in a.group_keys]
    for ref, action in list(plan.account_creates.items()):
        if action.group_keys == [key]:
            del plan.account_creates[ref]
    for k, action in list(plan.updates.items()):
        if action.group_keys == [key]:
            del plan.updates[k]
    plan.links = [a for a in plan.links if key not in a.group_keys]
    plan.matched = [(g, m) for g, m in plan.matched if g.key != key]
    plan.address_dropped = [d for d in plan.address_dropped if d[0].key != key]


def _merge_update(plan: Plan, action: Action) -> None:
    existing = plan.updates.get((action.object, action.record_id or ""))
    if existing is None:
        plan.updates[(action.object, action.record_id or "")] = action
        return
    existing.group_keys += action.group_keys
    existing.prospect_ids += action.prospect_ids
    for name, value in action.fields.items():
        existing.fields.setdefault(name, value)


def _plan_link(plan: Plan, inputs: PlanInputs, group: Group, match: Match, owner_id: str | None) -> None:
    sobject = match.object_type
    # Two prospects of one person (same e-mail) in different batches would otherwise overwrite each
    # other's values on every run: the first one of the run owns the overwrite fields, later ones
    # only fill what is empty. (In one batch they are one group, merged.)
    fill_only = False
    if sobject != "Account":
        source = inputs.person_sources.setdefault(match.record_id[:15], group.prospect_id)
        fill_only = source not in group.prospect_ids
    dropped: list[tuple[str, str, str]] = []
    values = field_values(inputs, sobject, group.record, owner_id=owner_id, current=match.record,
                          fill_only=fill_only, dropped=dropped)
    plan.address_dropped += [(group, sobject, *d) for d in dropped]
    ext = inputs.external_id.get(sobject)
    if ext and is_empty_value(match.record.get(ext)):
        values[ext] = group.prospect_id
    ids_field = inputs.prospect_ids.get(sobject)
    if ids_field:
        current = match.record.get(ids_field) or ""
        # The record's own external id counts among its ids; one id alone needs no list.
        own = [str(match.record[ext])] if ext and not is_empty_value(match.record.get(ext)) else []
        merged = merged_prospect_ids(current, [*own, *group.prospect_ids])
        if merged.count(";") > 2 and merged != current:
            values[ids_field] = merged
    if sobject == "Lead" and match.record.get("IsConverted") in (True, "true", 1):
        values = {}  # a converted Lead whose Contact is gone cannot be updated: link only
    action = Action(kind="update" if values else "link", object=sobject, group_keys=[group.key],
                    prospect_ids=list(group.prospect_ids), fields=values, record_id=match.record_id,
                    account_id=match.account_id, via=match.via, email=group.email, score=match.score)
    if sobject == "Account":
        # Several prospects may share one matched Account: one update, first value wins.
        if values:
            _merge_update(plan, action)
        return
    if values:
        _merge_update(plan, action)
    else:
        plan.links.append(action)


def _plan_create(plan: Plan, inputs: PlanInputs, group: Group, sobject: str, owner_id: str | None,
                 account: Match | None) -> None:
    dropped: list[tuple[str, str, str]] = []
    values = field_values(inputs, sobject, group.record, owner_id=owner_id, current=None, dropped=dropped)
    plan.address_dropped += [(group, sobject, *d) for d in dropped]
    ext = inputs.external_id.get(sobject)
    if ext:
        values[ext] = group.prospect_id
    ids_field = inputs.prospect_ids.get(sobject)
    if ids_field and len(group.prospect_ids) > 1:
        values[ids_field] = merged_prospect_ids(None, group.prospect_ids)
    action = Action(kind="create", object=sobject, group_keys=[group.key], prospect_ids=list(group.prospect_ids),
                    fields=values, owner_id=owner_id, auto_assign=_auto_assign(inputs, owner_id), email=group.email)
    if sobject == "Contact":
        if account is not None:
            action.account_id = account.record_id
            action.fields["AccountId"] = account.record_id
            action.account_via, action.score = account.via, account.score
        else:
            ref = _new_account_ref(plan, group.record)
            if ref is not None:
                existing = plan.account_creates.get(ref)
                if existing is None:
                    dropped = []
                    acc_values = field_values(inputs, "Account", group.record, owner_id=owner_id, current=None,
                                              dropped=dropped)
                    plan.address_dropped += [(group, "Account", *d) for d in dropped]
                    if inputs.account_key and len(ref) <= ACCOUNT_KEY_MAX:
                        acc_values[inputs.account_key] = ref  # upserted on it: never two Accounts
                    plan.account_creates[ref] = Action(
                        kind="create", object="Account", group_keys=[group.key], prospect_ids=list(group.prospect_ids),
                        fields=acc_values, owner_id=owner_id, auto_assign=_auto_assign(inputs, owner_id), ref=ref)
                else:
                    existing.group_keys.append(group.key)
                    existing.prospect_ids += group.prospect_ids
                    # A colleague's prospect may know what the first did not (the website).
                    more = field_values(inputs, "Account", group.record, owner_id=owner_id, current=None)
                    for name, value in more.items():
                        existing.fields.setdefault(name, value)
                action.account_ref = ref
    plan.creates.append(action)


def _new_account_ref(plan: Plan, record: dict) -> str | None:
    """The batch's new Account for this company: one already planned under any of its aliases
    whose domain does not disagree, else a new one under ``account_key``. Colleagues whose
    prospects give the domain once and only the name once share one Account."""
    aliases = account_aliases(record)
    if not aliases:
        return None
    domain = aliases[0] if aliases[0].startswith("domain:") else None
    ref = next((plan.account_alias[a] for a in aliases if a in plan.account_alias), None)
    if ref is not None and domain and plan.account_domain.get(ref, domain) != domain:
        ref = None  # same name, other website: another company
    ref = ref or aliases[0]
    if domain:
        plan.account_domain.setdefault(ref, domain)
    for alias in aliases:
        plan.account_alias.setdefault(alias, ref)
    return ref



def match_order(settings: Settings, mode: str) -> list[str]:
    configured = validate_order(settings.match_order or DEFAULT_ORDER)
    person = [s for s in configured if s in PERSON_STEPS]
    if mode == "lead":
        return person  # a Lead has no Account: the account steps only matter for Contacts
    return person + [s for s in configured if s in ACCOUNT_STEPS]

