"""Prospects: purchased Andsend prospects become linked or created Leads, or Contacts + Accounts.

`process_batch(run, records)`:

1. prepare (pure): skip what must not be synced (switch off, not purchased), reject bad input
   before any call (no id, broken types, neither last name nor email, malformed email), keep the
   latest copy of a prospect sent twice, and merge prospects with the same normalised email into
   one group = one Salesforce person (later non-empty values win).
2. look up (batched reads): the Matcher for every group at once, the owners in one query.
3. plan (pure, `plan_batch`): per group link/update/create actions; field values from the
   catalog, coerced to the describe types; a matched record is updated only where its field
   policy allows and the value really changes.
4. execute through the Writer (Accounts first, then the people that need their ids), or, on a
   dry run, only write the plan to the report.

Decisions (documented in the README):
* lead mode creates a Lead when no Lead/Contact matches; a Contact match is linked and enriched
  through the catalog's Contact entries (never turned into a Lead).
* contact_account mode links to an Account (domain, then name) or creates one from the Account
  entries, then creates the Contact under it. A Lead match is linked and enriched, not converted
  (conversion is a sales decision with side effects). The Account of a matched Contact is left
  alone.
* Owner: set on create; on a linked record only if the catalog's OwnerId entry says so (default
  on_create: a seller's record is never reassigned). Without an owner, `owner_fallback` picks the
  `Sforce-Auto-Assign` header (assignment_rules: TRUE, integration_user: FALSE) or a fixed user.
* `Andsend_Prospect_Id__c` (where the org has it) is set on every created record and on linked
  records whose field is empty; a record already carrying another prospect's id keeps it.
* Values are never cleared: an empty Andsend value leaves the Salesforce field alone.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import duplicates
from .addresses import AddressField, country_code
from .addresses import resolve as resolve_addresses
from .catalog import (
    EXTERNAL_ID_FIELD,
    Catalog,
    CoercionError,
    coerce,
    is_empty_value,
    same_value,
    source_value,
)
from .matching import ACCOUNT_STEPS, DEFAULT_ORDER, PERSON_STEPS, Match, PersonKey, validate_order
from .normalize import company_domain_for, normalize_company, normalize_email, own_company_domain
from .record_types import RecordTypeChoice
from .refusals import Linked, report_duplicate_link, second_attempts
from .salesforce.writer import Write
from .settings import Settings

if TYPE_CHECKING:
    from .context import RunContext

ROLE = "prospects"
_STRING_FIELDS = (
    "first_name", "last_name", "full_name", "title", "email", "phone", "linkedin_url", "company_name",
    "company_domain", "company_website", "company_industry", "company_size", "company_country", "location",
    "city", "country", "purchased_by_user_id", "purchased_by_user_email", "purchased_at",
)


# ------------------------------------------------------------------------------ preparation


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
    latest: OrderedDict[str, dict] = OrderedDict()
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
        latest.pop(pid, None)  # the later copy of a re-sent prospect wins, in its new position
        latest[pid] = record
    groups: OrderedDict[str, Group] = OrderedDict()
    for pid, record in latest.items():
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


# --------------------------------------------------------------------------------- planning


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

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, [], {})}


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

    def all_actions(self) -> list[Action]:
        return [*self.account_creates.values(), *self.creates, *self.updates.values(), *self.links]


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
                        fields=acc_values, owner_id=owner_id, auto_assign=_auto_assign(inputs, owner_id))
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


# -------------------------------------------------------------------------------- execution


def match_order(settings: Settings, mode: str) -> list[str]:
    configured = validate_order(settings.match_order or DEFAULT_ORDER)
    person = [s for s in configured if s in PERSON_STEPS]
    if mode == "lead":
        return person  # a Lead has no Account: the account steps only matter for Contacts
    return person + [s for s in configured if s in ACCOUNT_STEPS]


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
        run.rejects.add(role=ROLE, key=pid, object=sobject, error_code=code, message=message, fields=fields,
                        record=record if record is not None else group.record)
        run.report.count(ROLE, sobject or "Prospect", "rejected")
        run.report.rejected()


def process_batch(run: RunContext, records: list[dict]) -> None:
    prepared = prepare(records, run.settings)
    for pid, reason in prepared.skipped:
        run.report.skip(ROLE, reason, pid)
        run.report.count(ROLE, "Prospect", "skipped")
    for record, code, message in prepared.rejected:
        run.rejects.add(role=ROLE, key=str(record.get("id")), object=None, error_code=code, message=message,
                        record=record)
        run.report.count(ROLE, "Prospect", "rejected")
        run.report.rejected()
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


def _headers(action: Action) -> dict[str, str] | None:
    if action.auto_assign is None:
        return None
    return {"Sforce-Auto-Assign": "TRUE" if action.auto_assign else "FALSE"}


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
    sizes: Counter[tuple[str, str]] = Counter()
    for action in [*plan.account_creates.values(), *plan.creates]:
        sizes[(action.object, str(_headers(action)))] += 1
    for action in plan.updates.values():
        sizes[(action.object, "update")] += 1
    return sum(run.writer.estimate_calls(n, bulk=kind != str({"Sforce-Auto-Assign": "TRUE"}))
               for (_obj, kind), n in sizes.items())


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
    ref_of = {id(plan.account_creates[r]): r for r in refs}
    account_ids: dict[str, str] = {}
    failed_keys: set[str] = set()
    round_1 = _writes(run, "Account", [plan.account_creates[r] for r in refs],
                      [a for a in plan.updates.values() if a.object == "Account"])
    for op, action, result, linked in _write_round(run, round_1, groups_by_key):
        if linked is not None:  # a duplicate rule named the company's Account: the Contacts go under it
            account_ids[ref_of[id(action)]] = linked.record_id
            report_duplicate_link(run, action, linked)
        elif result.success:
            if op == "create":
                account_ids[ref_of[id(action)]] = result.id
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
    by_header: dict[tuple[str, str | None], list[Action]] = defaultdict(list)
    ext = run.org.account_key_field() if sobject == "Account" else run.org.external_id_field(sobject)
    for action in creates:
        upsert_on = ext if ext and not is_empty_value(action.fields.get(ext)) else None
        by_header[(str(_headers(action)), upsert_on)].append(action)
    for (_, upsert_on), group in by_header.items():
        # Upserted on the external id where the record carries one: a concurrent run that created
        # the same person or company first is updated, never duplicated (nor refused as a duplicate).
        op = "upsert" if upsert_on else "create"
        out.append(("create", group, Write(op, sobject, [a.fields for a in group], upsert_on, _headers(group[0]))))
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


__all__ = ["EXTERNAL_ID_FIELD", "ROLE", "Group", "Plan", "PlanInputs", "plan_batch", "prepare", "process_batch"]
