"""Batched, read-only lookups: which Salesforce record is this person (or their company)?

Steps run in the configured `match_order`; each step looks up, for the whole batch at once, only
the keys no earlier step decided (SOQL `IN` lists built by `salesforce.soql.chunked_in_queries`,
so one statement per step and object unless the list is longer than a statement allows):

* `external_id`: `Andsend_Prospect_Id__c IN (...)` on Contact, then Lead (where the org has the
  field). On objects without the field, keys fall back to the ids this target recorded in its
  link store on earlier runs (`Id IN (...)`), also once a prospect without e-mail got one.
* `contact_email`: `Contact.Email IN (...)`.
* `lead_email`: `Lead.Email IN (...)`; a converted Lead is followed to its ConvertedContactId
  (one batched `Contact.Id IN (...)` read), with the converted Account as its account.
* `account_domain`: `Account.Website IN (<spellings of the normalised domain>)`, i.e. with and
  without scheme, `www.` and trailing slash; candidates are confirmed by `normalize_domain`.
* `account_name`: `Account.Name IN (<the name, its core and the core with common legal
  suffixes>)` (no LIKE: a prefix LIKE would scan and its wildcards need care); candidates are
  confirmed by `normalize_company` equality.

Several candidates at the deciding step: the most recently modified wins, ties broken by the
smallest Id (so reruns pick the same record); every candidate id is kept in `Match.candidates`
and the report lists the key as ambiguous. Email and text comparisons use normalize.py on both
sides, because SOQL's case-insensitive `IN` is only the coarse filter.

Here the lookups (I/O); what a match is and how candidates are decided: match_rules.py (pure);
what earlier batches found: lookup_memory.py.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from .account_index import AccountIndex, index_key
from .catalog import EXTERNAL_ID_FIELD, PROSPECT_IDS_FIELD
from .lookup_memory import LookupMemory
from .match_rules import (
    ALL_STEPS,
    DEFAULT_ORDER,
    NAME_THRESHOLD,
    Match,
    PersonKey,
    Verdict,
    account_verdict,
    pick,
    validate_order,
)
from .normalize import (
    company_name_variants,
    normalize_company,
    normalize_email,
    website_variants,
)
from .salesforce.soql import chunked_in_queries, literal_fits, quote

if TYPE_CHECKING:
    from .catalog import Catalog
    from .links import LinkStore
    from .salesforce.client import SalesforceClient


def _clean(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "attributes"}


# The prospect-id list rides along as a fixed suffix of every statement of a slice; kept well under
# the statement budget so the email list still has room (it is split further if it needs to be).
_PREFETCH_ID_CHARS = 40_000


def _slices(keys: list[PersonKey]) -> Iterator[list[PersonKey]]:
    part: list[PersonKey] = []
    size = 0
    for k in keys:
        extra = len(quote(k.prospect_id)) + 1 if k.prospect_id and literal_fits(k.prospect_id) else 0
        if part and size + extra > _PREFETCH_ID_CHARS:
            yield part
            part, size = [], 0
        part.append(k)
        size += extra
    if part:
        yield part


def _email_spellings(keys: list[PersonKey]) -> list[str]:
    spellings: list[str] = []
    for k in keys:
        email = normalize_email(k.email)
        if email:
            spellings.append(email)
            raw = (k.email or "").strip()
            if raw and raw != email:
                spellings.append(raw)  # SOQL case folding may not cover every script
    return spellings



def _keys_by(keys: list[PersonKey], normalised: Callable[[PersonKey], str | None]) -> dict[str, list[PersonKey]]:
    """Keys grouped by one normalised match value (keys without that value are left out)."""
    wanted: dict[str, list[PersonKey]] = defaultdict(list)
    for k in keys:
        value = normalised(k)
        if value:
            wanted[value].append(k)
    return wanted

def _person_slots(k: PersonKey) -> list[tuple[str, str]]:
    """The values a person lookup asks for one key: its e-mail and its prospect id."""
    slots = []
    email = normalize_email(k.email)
    if email:
        slots.append(("email", email))
    if k.prospect_id and literal_fits(k.prospect_id):
        slots.append(("pid", k.prospect_id))
    return slots



class OrgFields(Protocol):
    """What the Matcher asks of the org's describes (``context.OrgInfo``)."""

    def field_name(self, sobject: str, name: str) -> str | None: ...

    def has_field(self, sobject: str, name: str) -> bool: ...


_UNIT_FIELD = {"domain": "Website", "company": "Name"}  # the Account field a lookup unit's spellings are in


@dataclass
class Lookup:
    """One ``Matcher.match`` call, handed to its steps: touchpoints and search results may be
    matched in parallel drains on the one Matcher, so nothing of a call lives on the Matcher."""

    steps: list[str]
    memory: LookupMemory | None     # the run's lookup memory when the call remembers, else None
    # Taken before any lookup: answers read before the run's own writes are not remembered.
    generation: int
    audits: list[dict] | None = None  # the account steps' audit entries, when the caller wants them
    prefetched: dict[str, list[dict]] = field(default_factory=dict)  # object -> rows of both person steps
    account_candidates: dict[str, list[dict]] | None = None  # read once for both account steps
    index_only: set[tuple[str, str]] = field(default_factory=set)  # (key, Account Id) only the index found
    owner_names: bool = False  # rows carry their owner's name and e-mail (badges)

    def audit(self, key: PersonKey, entry: dict) -> None:
        if self.audits is not None:
            self.audits.append({"key": key.key, "company": key.company, "domain": key.domain, **entry})


class Matcher:
    """Batched lookups; reads only. Field lists come from the catalog so matches carry the
    current values the update policies compare against.

    Built from the parts it reads: the client, the org's describes, the catalog, the link store
    (records linked on earlier runs, interrupted creates; None: not consulted), the configured
    alternate e-mail fields and the run's Account index (made on first use by ``account_index``)."""

    def __init__(self, client: SalesforceClient, org: OrgFields, catalog: Catalog, *,
                 links: LinkStore | None = None, email_fields: Iterable[str] = (),
                 account_index: Callable[[], AccountIndex] | None = None,
                 memory: LookupMemory | None = None) -> None:
        self.client = client
        self.org = org
        self.catalog = catalog
        self.links = links
        self.email_fields = list(email_fields)
        dnc = catalog.do_not_contact_fields
        self.memory = memory if memory is not None else LookupMemory(
            extra_fields=tuple(sorted({name for items in dnc.values() for name, _ in items})))
        self._make_account_index = account_index
        self._account_index: AccountIndex | bool | None = None
        self._index_lock = threading.Lock()

    def forget(self) -> None:
        """Drop the remembered lookups: the target is about to write people or Accounts."""
        self.memory.clear()

    # -- select lists ---------------------------------------------------------------------

    def select_fields(self, sobject: str, *, owner_names: bool = False) -> list[str]:
        org = self.org
        base = {"Lead": ["Id", "Email", "LastModifiedDate", "OwnerId", "Status", "IsConverted", "ConvertedContactId",
                         "ConvertedAccountId", "Company", "LastName", "FirstName"],
                "Contact": ["Id", "Email", "LastModifiedDate", "OwnerId", "AccountId", "LastName", "FirstName"],
                "Account": ["Id", "Name", "Website", "LastModifiedDate", "OwnerId"]}[sobject]
        wanted = list(base)
        catalog = self.catalog
        wanted += [m.field for m in catalog.for_object(sobject)]
        if sobject in ("Lead", "Contact"):
            wanted += [EXTERNAL_ID_FIELD, PROSPECT_IDS_FIELD]
            # Badges carry do-not-contact (absent fields are dropped below, like any other).
            wanted += ["HasOptedOutOfEmail", "DoNotCall"]
            wanted += [name for name, _ in catalog.do_not_contact_fields.get(sobject, ())]
            wanted += self._extra_email_fields(sobject)
        out: list[str] = []
        seen: set[str] = set()
        for name in wanted:
            canonical = org.field_name(sobject, name)
            if canonical and canonical.casefold() not in seen:
                seen.add(canonical.casefold())
                out.append(canonical)
        if owner_names and "OwnerId" in out:
            out += ["Owner.Name", "Owner.Email"]  # the owner's User fields (badges), from its relationship
        return out

    def _extra_email_fields(self, sobject: str) -> list[str]:
        """``match_email_fields`` the object has (describe names), in the configured order."""
        out = []
        for name in self.email_fields:
            canonical = self.org.field_name(sobject, name) if isinstance(name, str) else None
            if canonical and canonical.casefold() != "email" and canonical not in out:
                out.append(canonical)
        return out

    def _statements(self, sobject: str, field_name: str, values: Iterable[str], suffix: str = "", *,
                    owner_names: bool = False) -> list[str]:
        # Field and object names come from describe and code, never from data.
        fields = ", ".join(self.select_fields(sobject, owner_names=owner_names))
        prefix = f"SELECT {fields} FROM {sobject} WHERE"  # noqa: S608
        return list(chunked_in_queries(prefix, field_name, values, suffix=suffix))

    def _query_in(self, sobject: str, field_name: str, values: Iterable[str], suffix: str = "", *,
                  owner_names: bool = False) -> list[dict]:
        results = self.client.query_many(self._statements(sobject, field_name, values, suffix, owner_names=owner_names))
        return [_clean(r) for rows in results for r in rows]

    # -- entry point ----------------------------------------------------------------------

    def match(self, keys: list[PersonKey], *, order: list[str] | None = None,
              remember: bool = False, audit: list[dict] | None = None,
              owner_names: bool = False) -> dict[str, Match | None]:
        """``remember``: answer values already looked up this run from ``self.memory`` and
        remember the new ones (for reads that need no fresher view than the run's own writes, and
        only a match's identity: remembered rows keep ``_REMEMBERED_FIELDS``). ``audit``: receives
        the account steps' non-exact matches and near misses (with their scores). ``owner_names``:
        rows read carry their owner's name and e-mail (``Owner``), so no User query is needed."""
        steps = validate_order(order or DEFAULT_ORDER)
        result: dict[str, Match | None] = {k.key: None for k in keys}
        pending = {k.key: k for k in keys}
        call = Lookup(steps=steps, memory=self.memory if remember else None, generation=self.memory.generation,
                      audits=[] if audit is not None else None, owner_names=owner_names)
        call.prefetched = self._prefetch_people(call, keys)
        for step in steps:
            if not pending:
                break
            found = STEPS[step](self, call, list(pending.values()))
            for key, match in found.items():
                if key in pending:
                    result[key] = match
                    del pending[key]
        if call.audits is not None and audit is not None:
            # Near misses of keys another step matched after all are no near misses.
            audit += [a for a in call.audits if a["outcome"] != "near_miss" or result.get(a["key"]) is None]
        return result

    def _prefetch_people(self, call: Lookup, keys: list[PersonKey]) -> dict[str, list[dict]]:
        """One read per object for the external-id *and* email steps together
        (`Email IN (...) OR Andsend_Prospect_Id__c IN (...)`); the steps then pick from these
        rows in their order. Halves the person lookups of a batch; the statements of both
        objects go out together (``query_many``)."""
        rows: dict[str, dict[str, dict]] = {}  # object -> Id -> row, for the prefetched objects
        statements: list[tuple[str, str]] = []  # (object, statement)
        memory, steps = call.memory, call.steps
        asked: dict[str, list[PersonKey]] = {}  # object -> keys sent to Salesforce
        for sobject, email_step in (("Contact", "contact_email"), ("Lead", "lead_email")):
            use_ext = "external_id" in steps and self.org.has_field(sobject, EXTERNAL_ID_FIELD)
            use_email = email_step in steps
            if not (use_ext and use_email):
                continue  # a single step reads for itself
            ext = self.org.field_name(sobject, EXTERNAL_ID_FIELD) or EXTERNAL_ID_FIELD
            rows[sobject] = {}
            ask = keys
            if memory is not None:
                ask = []
                for k in keys:
                    slots = _person_slots(k)
                    remembered = [memory.get(sobject, kind, v) for kind, v in slots]
                    if slots and all(found is not None for found in remembered):
                        for found in remembered:
                            rows[sobject].update((r["Id"], r) for r in found or ())
                    else:
                        ask.append(k)
            asked[sobject] = ask
            for part in _slices(ask):
                pids = [k.prospect_id for k in part if k.prospect_id and literal_fits(k.prospect_id)]
                emails = _email_spellings(part)
                if pids and emails:
                    suffix = f" OR {ext} IN ({','.join(quote(p) for p in dict.fromkeys(pids))})"
                    part_statements = self._statements(sobject, "Email", emails, suffix=suffix,
                                                       owner_names=call.owner_names)
                elif pids:
                    part_statements = self._statements(sobject, ext, pids, owner_names=call.owner_names)
                else:
                    part_statements = self._statements(sobject, "Email", emails, owner_names=call.owner_names)
                statements += [(sobject, st) for st in part_statements]
        results = self.client.query_many([st for _, st in statements])
        found_rows: dict[str, list[dict]] = defaultdict(list)
        for (sobject, _), found in zip(statements, results, strict=True):
            found_rows[sobject] += [_clean(r) for r in found]
        for sobject, found in found_rows.items():
            rows[sobject].update((r["Id"], r) for r in found)
        if memory is not None:
            for sobject, ask in asked.items():
                self._remember_people(call, memory, sobject, ask, found_rows.get(sobject, []))
        return {sobject: list(by_id.values()) for sobject, by_id in rows.items()}

    def _remember_people(self, call: Lookup, memory: LookupMemory, sobject: str, keys: list[PersonKey],
                         found: list[dict]) -> None:
        by_email: dict[str, list[dict]] = defaultdict(list)
        by_pid: dict[str, list[dict]] = defaultdict(list)
        ext = self.org.field_name(sobject, EXTERNAL_ID_FIELD) or EXTERNAL_ID_FIELD
        for r in found:
            email = normalize_email(r.get("Email"))
            if email:
                by_email[email].append(r)
            if r.get(ext) not in (None, ""):
                by_pid[str(r[ext])].append(r)
        generation = call.generation
        for k in keys:
            for kind, value in _person_slots(k):
                memory.put(sobject, kind, value, (by_email if kind == "email" else by_pid).get(value, []),
                           generation)

    # -- person steps ---------------------------------------------------------------------

    def _person_match(self, sobject: str, rows: list[dict], via: str) -> Match:
        chosen = pick(rows)
        account = chosen.get("AccountId") if sobject == "Contact" else None
        return Match(object_type=sobject, record_id=chosen["Id"], account_id=account, via=via,
                     candidates=sorted(r["Id"] for r in rows), record=chosen)

    def _step_external_id(self, call: Lookup, keys: list[PersonKey]) -> dict[str, Match]:
        out: dict[str, Match] = {}
        by_pid = {k.prospect_id: k for k in keys if k.prospect_id}
        for sobject in ("Contact", "Lead"):
            if not by_pid:
                break
            if not self.org.has_field(sobject, EXTERNAL_ID_FIELD):
                continue
            grouped: dict[str, list[dict]] = defaultdict(list)
            prefetched = call.prefetched.get(sobject)
            rows = prefetched if prefetched is not None else self._query_in(
                sobject, EXTERNAL_ID_FIELD, list(by_pid), owner_names=call.owner_names)
            for row in rows:
                if row.get(EXTERNAL_ID_FIELD) not in (None, ""):
                    grouped[str(row.get(EXTERNAL_ID_FIELD))].append(row)
            for pid, rows in grouped.items():
                key = by_pid.pop(pid, None)
                if key is None:
                    continue
                match = self._person_match(sobject, rows, "external_id")
                out[key.key] = self._follow_converted(call, [match])[0] if sobject == "Lead" else match
        # Records this target created or linked on earlier runs, for keys nothing else identifies.
        links = self.links
        if links is not None and by_pid:
            # Every key, not only those without e-mail: a prospect bought without an address that
            # gets one later is still the record created for it (its new e-mail is not on it yet).
            known = links.get_many(list(by_pid))
            for sobject in ("Contact", "Lead"):
                ids = {link["record_id"]: pid for pid, link in known.items() if link["object"] == sobject}
                if not ids or self.org.has_field(sobject, EXTERNAL_ID_FIELD):
                    continue
                for row in self._query_in(sobject, "Id", list(ids), owner_names=call.owner_names):
                    pid = ids.get(row["Id"]) or next((p for i, p in ids.items() if i[:15] == row["Id"][:15]), None)
                    if pid and pid in by_pid:
                        match = self._person_match(sobject, [row], "external_id")
                        out[by_pid.pop(pid).key] = (
                            self._follow_converted(call, [match])[0] if sobject == "Lead" else match)
        if links is not None and by_pid:
            out.update(self._adopt_interrupted_creates(call, links, by_pid))
        return out

    def _adopt_interrupted_creates(self, call: Lookup, links: LinkStore,
                                   by_pid: dict[str, PersonKey]) -> dict[str, Match]:
        """People without e-mail whose create a crash interrupted before their link was stored
        (prospects/execute.py, create_intents): the record with exactly the intended names (and Account or
        Company) and no e-mail is the one that run created; adopt it rather than create another."""
        out: dict[str, Match] = {}
        intents = {pid: i for pid, i in links.pending_list("create_intent").items() if pid in by_pid}
        for sobject in ("Contact", "Lead"):
            wanted = {pid: i for pid, i in intents.items() if i.get("object") == sobject}
            names = sorted({i["LastName"] for i in wanted.values() if i.get("LastName")})
            if not names or self.org.has_field(sobject, EXTERNAL_ID_FIELD):
                continue
            rows = [r for r in self._query_in(sobject, "LastName", names, owner_names=call.owner_names)
                    if not normalize_email(r.get("Email"))]
            for pid, intent in wanted.items():
                same = [r for r in rows if all((r.get(f) or None) == (v or None) for f, v in intent.items()
                                               if f != "object" and f in r)]
                if same and pid in by_pid:
                    out[by_pid.pop(pid).key] = self._person_match(sobject, same, "external_id")
        return out

    def _email_rows(self, call: Lookup, sobject: str, keys: list[PersonKey]) -> dict[str, list[dict]]:
        wanted = _keys_by(keys, lambda k: normalize_email(k.email))
        if not wanted:
            return {}
        prefetched = call.prefetched.get(sobject)
        rows = prefetched if prefetched is not None else self._query_in(
            sobject, "Email", _email_spellings(keys), owner_names=call.owner_names)
        grouped: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            email = normalize_email(row.get("Email"))
            if email in wanted:
                grouped[email].append(row)
        # Then the configured alternate e-mail fields, in order, for what Email did not find: one
        # batched IN per field (only the addresses still unmatched).
        for fld in self._extra_email_fields(sobject):
            missing = [k for email, ks in wanted.items() if not grouped.get(email) for k in ks]
            if not missing:
                break
            for row in self._query_in(sobject, fld, _email_spellings(missing), owner_names=call.owner_names):
                email = normalize_email(row.get(fld))
                if email in wanted and not any(r["Id"] == row["Id"] for r in grouped[email]):
                    grouped[email].append(row)
        return {k.key: grouped[email] for email, ks in wanted.items() for k in ks if grouped.get(email)}

    def _step_contact_email(self, call: Lookup, keys: list[PersonKey]) -> dict[str, Match]:
        return {key: self._person_match("Contact", rows, "contact_email")
                for key, rows in self._email_rows(call, "Contact", keys).items()}

    def _step_lead_email(self, call: Lookup, keys: list[PersonKey]) -> dict[str, Match]:
        matches = {key: self._person_match("Lead", rows, "lead_email")
                   for key, rows in self._email_rows(call, "Lead", keys).items()}
        followed = self._follow_converted(call, list(matches.values()))
        return dict(zip(matches.keys(), followed, strict=True))

    def _follow_converted(self, call: Lookup, matches: list[Match]) -> list[Match]:
        """A converted Lead cannot be updated: continue with the Contact it became."""
        converted = {m.record.get("ConvertedContactId") for m in matches
                     if m.object_type == "Lead" and m.record.get("IsConverted") and m.record.get("ConvertedContactId")}
        if not converted:
            return matches
        contacts = {row["Id"][:15]: row
                    for row in self._query_in("Contact", "Id", sorted(converted), owner_names=call.owner_names)}
        out = []
        for m in matches:
            converted = m.object_type == "Lead" and m.record.get("IsConverted")
            cid = m.record.get("ConvertedContactId") if converted else None
            contact = contacts.get(cid[:15]) if cid else None
            if contact is not None:
                out.append(Match(object_type="Contact", record_id=contact["Id"],
                                 account_id=contact.get("AccountId") or m.record.get("ConvertedAccountId"),
                                 via="converted_lead", candidates=m.candidates, record=contact))
            else:
                out.append(m)
        return out

    # -- account steps --------------------------------------------------------------------

    def _account_candidates(self, call: Lookup, keys: list[PersonKey]) -> dict[str, list[dict]]:
        """Candidate Accounts per key, read once for both account steps: ``Website IN`` the usual
        spellings of its registrable domain and ``Name IN`` the usual spellings of its name (both
        statements sent together). Rows are assigned to the keys that asked for any of their
        spellings; the steps then decide by registrable domain and name score."""
        steps = set(call.steps)
        if call.account_candidates is not None:
            return call.account_candidates
        memory, generation = call.memory, call.generation
        out: dict[str, list[dict]] = {k.key: [] for k in keys}
        # A unit is what one remembered answer covers: a registrable domain (its Website
        # spellings) or a company name as written with its country (its Name spellings).
        units: dict[tuple[str, str], list[str]] = defaultdict(list)  # unit -> keys
        first: dict[tuple[str, str], PersonKey] = {}  # unit -> the key its spellings are made from
        for k in keys:
            if "account_domain" in steps and k.domain:
                unit = ("domain", k.domain)
                units[unit].append(k.key)
                first.setdefault(unit, k)
            if k.company and normalize_company(k.company):
                unit = ("company", f"{k.country or ''}\x1f{' '.join(k.company.split())}")
                units[unit].append(k.key)
                first.setdefault(unit, k)
        # Per field, the spellings asked, lower-cased. Spellings are sent as written: SOQL compares
        # them case-insensitively, and a casefolded "Weiß" would be "weiss", another name. A batch
        # asks some 200,000 spellings: kept as plain strings (the lower-cased one shared when it is
        # the same text), and only for the units asked (``unit_values``: unit -> its spellings).
        by_value: dict[str, set[str]] = {"Website": set(), "Name": set()}
        ask: dict[str, list[str]] = {"Website": [], "Name": []}
        unit_values: dict[tuple[str, str], list[str]] = {}
        asked_units: list[tuple[str, str]] = []
        for unit, unit_keys in units.items():
            remembered = memory.get("Account", *unit) if memory is not None else None
            if remembered is not None:
                for key in unit_keys:
                    out[key] += remembered
                continue
            asked_units.append(unit)
            k = first[unit]
            fld = _UNIT_FIELD[unit[0]]
            values = website_variants(k.domain) if unit[0] == "domain" else company_name_variants(k.company, k.country)
            unit_values[unit] = values
            slots = by_value[fld]
            for v in values:
                low = v.lower()
                if low not in slots:
                    slots.add(v if low == v else low)
                    ask[fld].append(v)
        del first
        statements = [st for fld in ("Website", "Name") if ask[fld]
                      for st in self._statements("Account", fld, ask[fld], owner_names=call.owner_names)]
        # The org's Accounts by name key and domain (account_index.py): their rows are read fresh by
        # Id in the same call as the IN lookups, then decided like every other candidate.
        indexed = self._indexed_candidates(keys, steps)
        indexed_rows: list[dict] = []
        ask_ids = []
        for account_id in sorted(indexed):
            remembered = memory.get("Account", "Id", account_id) if memory is not None else None
            if remembered is not None:
                indexed_rows += remembered
            else:
                ask_ids.append(account_id)
        id_statements = self._statements("Account", "Id", ask_ids, owner_names=call.owner_names) if ask_ids else []
        results = self.client.query_many(statements + id_statements) if statements or id_statements else []
        rows = [_clean(r) for found in results[:len(statements)] for r in found]
        fresh = [_clean(r) for found in results[len(statements):] for r in found]
        if memory is not None:
            by_id = {r["Id"][:15]: r for r in fresh}
            for account_id in ask_ids:
                memory.put("Account", "Id", account_id, [by_id[account_id[:15]]] if account_id[:15] in by_id else [],
                           generation)
        indexed_rows += fresh
        found_by: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for row in rows:
            for fld in ("Website", "Name"):
                value = row.get(fld)
                if isinstance(value, str) and value.lower() in by_value[fld]:
                    found_by[(fld, value.lower())].append(row)
        del by_value
        for unit in asked_units:
            fld = _UNIT_FIELD[unit[0]]
            found = list({r["Id"]: r for v in unit_values.pop(unit)
                          for r in found_by.get((fld, v.lower()), ())}.values())
            for key in units[unit]:
                out[key] += found
            if memory is not None:
                memory.put("Account", *unit, found, generation)
        self._add_indexed(call, out, indexed, indexed_rows, ask_ids)
        for key, found in out.items():
            out[key] = list({r["Id"]: r for r in found}.values())
        call.account_candidates = out
        return out

    def _indexed_candidates(self, keys: list[PersonKey], steps: set[str]) -> dict[str, set[str]]:
        """Account Id -> the keys whose name key (or, for the domain step, registrable domain) the
        account index holds it under; empty when the index is off or unavailable."""
        index = self.account_index
        wanted = [k for k in keys if k.company or ("account_domain" in steps and k.domain)]
        if index is None or not wanted or not index.available():
            return {}
        by_name: dict[str, list[str]] = defaultdict(list)
        by_domain: dict[str, list[str]] = defaultdict(list)
        for k in wanted:
            name = index_key(k.company)
            if name:
                by_name[name].append(k.key)
            if "account_domain" in steps and k.domain:
                by_domain[k.domain].append(k.key)
        out: dict[str, set[str]] = defaultdict(set)
        for account_id, name, domain in index.find(by_name, by_domain):
            out[account_id].update(by_name.get(name or "", ()))
            out[account_id].update(by_domain.get(domain or "", ()))
        return dict(out)

    def _add_indexed(self, call: Lookup, out: dict[str, list[dict]], indexed: dict[str, set[str]], rows: list[dict],
                     asked: list[str]) -> None:
        """The index's candidates that still read join their keys' candidates; those asked for
        that did not read (deleted, merged, no longer visible) leave the index."""
        if not indexed:
            return
        found = {r["Id"][:15]: r for r in rows if r.get("Id")}
        only: set[tuple[str, str]] = set()
        for account_id, key_set in indexed.items():
            row = found.get(account_id[:15])
            if row is None:
                continue
            for key in key_set:
                if key in out and not any(r["Id"] == row["Id"] for r in out[key]):
                    out[key].append(row)
                    only.add((key, row["Id"]))
        call.index_only = only
        index = self.account_index
        if index is not None:
            gone = [i for i in asked if i[:15] not in found]
            if gone:
                index.forget(gone)
            index.note_use(len(only), 0)

    @property
    def account_index(self) -> AccountIndex | None:
        with self._index_lock:
            if self._account_index is None and self._make_account_index is not None:
                index = self._make_account_index()
                self._account_index = index if index.setting != "off" else False
            return self._account_index or None

    def _step_account_domain(self, call: Lookup, keys: list[PersonKey]) -> dict[str, Match]:
        candidates = self._account_candidates(call, keys)
        out: dict[str, Match] = {}
        for k in keys:
            if not k.domain:
                continue
            verdicts = [account_verdict(k, row) for row in candidates.get(k.key, [])]
            same = [v for v in verdicts if v.domain == "same"]
            # A work-email domain alone is another company's as often as its own: it needs the
            # name to agree too (unless the prospect gives no company name).
            accepted = [v for v in same if k.domain_source == "company" or not k.company
                        or v.score >= NAME_THRESHOLD]
            if accepted:
                out[k.key] = self._decide(call, k, accepted, "account_domain")
            self._near_misses(call, k, [v for v in same if v not in accepted], "email domain only, name differs")
        return out

    def _step_account_name(self, call: Lookup, keys: list[PersonKey]) -> dict[str, Match]:
        candidates = self._account_candidates(call, keys)
        out: dict[str, Match] = {}
        for k in keys:
            if not k.company:
                continue
            verdicts = [account_verdict(k, row) for row in candidates.get(k.key, [])]
            accepted = [v for v in verdicts if v.score >= NAME_THRESHOLD and v.domain != "differ"]
            if accepted:
                out[k.key] = self._decide(call, k, accepted, "account_name")
            self._near_misses(call, k, [v for v in verdicts if v.score >= NAME_THRESHOLD and v.domain == "differ"],
                              "same name, websites differ")
        return out

    def _decide(self, call: Lookup, key: PersonKey, accepted: list[Verdict], via: str) -> Match:
        """Tie rule: the highest name score, then the most recently modified, then the smallest Id."""
        top = max(v.score for v in accepted)
        best = [v.row for v in accepted if v.score == top]
        chosen = pick(best)
        score = next(v.score for v in accepted if v.row is chosen)
        via_index = (key.key, chosen["Id"]) in call.index_only
        if via_index and self.account_index is not None:
            self.account_index.note_use(0, 1)
        match = Match(object_type="Account", record_id=chosen["Id"], account_id=chosen["Id"], via=via,
                      candidates=sorted(r["Id"] for r in best), record=chosen, score=score)
        if score < 100 or via_index:  # a name spelled otherwise (Bjork / Björk) is audited too
            call.audit(key, {"outcome": "fuzzy_match" if score < 100 else "index_match", "via": via,
                              "record_id": chosen["Id"],
                              "account_name": chosen.get("Name"), "account_website": chosen.get("Website"),
                              "score": score, **({"found_by": "account_index"} if via_index else {})})
        return match

    def _near_misses(self, call: Lookup, key: PersonKey, verdicts: list[Verdict], reason: str) -> None:
        for v in verdicts:
            call.audit(key, {"outcome": "near_miss", "reason": reason, "record_id": v.row.get("Id"),
                              "account_name": v.row.get("Name"), "account_website": v.row.get("Website"),
                              "score": v.score})


# The steps by name, in no particular order (``match`` runs them in the configured one).
STEPS: dict[str, Callable[[Matcher, Lookup, list[PersonKey]], dict[str, Match]]] = {
    "external_id": Matcher._step_external_id,
    "contact_email": Matcher._step_contact_email,
    "lead_email": Matcher._step_lead_email,
    "account_domain": Matcher._step_account_domain,
    "account_name": Matcher._step_account_name,
}
assert set(STEPS) == ALL_STEPS
