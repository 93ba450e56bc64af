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
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rapidfuzz import fuzz

from .account_index import AccountIndex, index_key
from .catalog import EXTERNAL_ID_FIELD, PROSPECT_IDS_FIELD
from .normalize import (
    compact_company,
    company_domain,
    company_name_variants,
    normalize_company,
    normalize_email,
    website_variants,
)
from .salesforce.soql import chunked_in_queries, literal_fits, quote

if TYPE_CHECKING:
    from .context import RunContext

PERSON_STEPS = ("external_id", "contact_email", "lead_email")
ACCOUNT_STEPS = ("account_domain", "account_name")
DEFAULT_ORDER = (*PERSON_STEPS, *ACCOUNT_STEPS)
ALL_STEPS = frozenset(DEFAULT_ORDER)


@dataclass(frozen=True)
class PersonKey:
    key: str
    prospect_id: str | None = None
    email: str | None = None
    domain: str | None = None
    company: str | None = None
    country: str | None = None
    domain_source: str | None = None  # company (its own website/domain) | email (a work e-mail's)


@dataclass
class Match:
    object_type: str
    record_id: str
    account_id: str | None
    via: str
    candidates: list[str] = field(default_factory=list)
    record: dict = field(default_factory=dict)
    score: float | None = None  # account steps: the name score of the chosen Account

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1


# A name is the same company's when its key is equal (score 100) or scores at least this much.
NAME_THRESHOLD = 92.0


@dataclass
class Verdict:
    """How one candidate Account compares with one prospect's company."""

    row: dict
    score: float   # name similarity 0-100 (100: equal keys)
    domain: str    # same | differ | unknown (either side without a usable domain)


def name_score(a: str | None, b: str | None) -> float:
    """Similarity of two company names' keys: 100 when equal (spacing aside), else rapidfuzz's
    ratio of the keys, so "Acme Holding" and "Acme Logistics" stay far apart."""
    ka, kb = normalize_company(a), normalize_company(b)
    if not ka or not kb:
        return 0.0
    if ka == kb or compact_company(ka) == compact_company(kb):
        return 100.0
    return round(float(fuzz.ratio(ka, kb)), 1)


def account_verdict(key: PersonKey, row: dict) -> Verdict:
    theirs = company_domain(row.get("Website"))
    if key.domain and theirs:
        relation = "same" if key.domain == theirs else "differ"
    else:
        relation = "unknown"
    return Verdict(row=row, score=name_score(key.company, row.get("Name")) if key.company else 0.0,
                   domain=relation)


def pick(records: list[dict]) -> dict:
    """The deterministic choice among candidates: latest LastModifiedDate, then smallest Id."""
    ordered = sorted(records, key=lambda r: r.get("Id") or "")
    return max(ordered, key=lambda r: r.get("LastModifiedDate") or "") if ordered else {}


def _clean(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "attributes"}


def validate_order(order: Iterable[str]) -> list[str]:
    steps = list(order)
    unknown = [s for s in steps if s not in ALL_STEPS]
    if unknown:
        raise ValueError(f"match_order: unknown step(s) {unknown}; allowed: {', '.join(DEFAULT_ORDER)}")
    return steps


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


# What a remembered row keeps: what the person steps match on, enough to pick among candidates,
# follow a converted Lead and say which record matched (badges); not the catalog's fields.
# Owner, do-not-contact flags and Lead Status go on badges (custom do-not-contact fields: ``extra_fields``).
_REMEMBERED_FIELDS = ("Id", "LastModifiedDate", "Email", EXTERNAL_ID_FIELD, "AccountId", "IsConverted",
                      "ConvertedContactId", "ConvertedAccountId", "OwnerId", "HasOptedOutOfEmail", "DoNotCall",
                      "Status", "Name", "Website")


_UNIT_FIELD = {"domain": "Website", "company": "Name"}  # the Account field a lookup unit's spellings are in


class LookupMemory:
    """What the lookups of a run found (per e-mail or prospect id and object; per company and per
    registrable domain for Accounts: one entry for all the spellings sent for it, so a batch's
    companies fit however many spellings each has), so what an earlier batch looked up is not sent
    again: search results repeat people and companies across batches. Bounded (least recently used
    entries go first, Accounts and people bounded apart: people's e-mails rarely come back, and they
    must not push out the companies, which do; rows kept with only ``_REMEMBERED_FIELDS``), and
    forgotten whenever the
    target writes people or Accounts (``Matcher.forget``): an answer read before a ``clear`` is
    not stored after it (``generation``)."""

    def __init__(self, max_values: int = 50_000, extra_fields: tuple[str, ...] = (), max_people: int = 25_000) -> None:
        self._fields = (*_REMEMBERED_FIELDS, *extra_fields)
        # Accounts (max_values) and people (max_people: a batch's e-mails and prospect ids fit).
        self._pools: dict[bool, OrderedDict[tuple[str, str, str], list[dict]]] = {True: OrderedDict(),
                                                                                  False: OrderedDict()}
        self._max = {True: max_values, False: max_people}
        self._generation = 0
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        """Moves on every ``clear``: take it before a lookup, hand it to ``put`` after."""
        with self._lock:
            return self._generation

    def get(self, sobject: str, kind: str, value: str) -> list[dict] | None:
        """The remembered rows (now the most recently used), or None when not remembered: one lock
        hold, so an eviction cannot fall between asking and reading."""
        key = (sobject, kind, value)
        pool = self._pools[sobject == "Account"]
        with self._lock:
            found = pool.get(key)
            if found is not None:
                pool.move_to_end(key)
            return found

    def known(self, sobject: str, kind: str, value: str) -> bool:
        with self._lock:
            return (sobject, kind, value) in self._pools[sobject == "Account"]

    def rows(self, sobject: str, kind: str, value: str) -> list[dict]:
        found = self.get(sobject, kind, value)
        if found is None:
            raise KeyError((sobject, kind, value))
        return found

    def put(self, sobject: str, kind: str, value: str, rows: list[dict], generation: int | None = None) -> None:
        """Remember ``rows``; not when ``generation`` (taken before the lookup) is no longer current:
        the run wrote people or Accounts meanwhile and the answer may be stale."""
        slim = [{f: r[f] for f in self._fields if f in r} for r in rows]
        accounts = sobject == "Account"
        pool = self._pools[accounts]
        with self._lock:
            if generation is not None and generation != self._generation:
                return
            pool[(sobject, kind, value)] = slim
            pool.move_to_end((sobject, kind, value))
            while len(pool) > self._max[accounts]:
                pool.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            for pool in self._pools.values():
                pool.clear()
            self._generation += 1

    def __len__(self) -> int:
        with self._lock:
            return sum(len(pool) for pool in self._pools.values())


class Matcher:
    """Batched lookups; reads only. Field lists come from the catalog so matches carry the
    current values the update policies compare against."""

    def __init__(self, run: RunContext):
        self.run = run
        self.client = run.client
        # Per thread: touchpoints and search results may be matched in parallel drains.
        self._local = threading.local()
        dnc = getattr(getattr(run, "catalog", None), "do_not_contact_fields", None) or {}
        self.memory = LookupMemory(extra_fields=tuple(sorted({name for items in dnc.values() for name, _ in items})))
        self._account_index: AccountIndex | bool | None = None
        self._index_lock = threading.Lock()

    def forget(self) -> None:
        """Drop the remembered lookups: the target is about to write people or Accounts."""
        self.memory.clear()

    def _memory(self) -> LookupMemory | None:
        return self.memory if getattr(self._local, "remember", False) else None

    # -- select lists ---------------------------------------------------------------------

    def _fields(self, sobject: str) -> list[str]:
        org = self.run.org
        base = {"Lead": ["Id", "Email", "LastModifiedDate", "OwnerId", "Status", "IsConverted", "ConvertedContactId",
                         "ConvertedAccountId", "Company", "LastName", "FirstName"],
                "Contact": ["Id", "Email", "LastModifiedDate", "OwnerId", "AccountId", "LastName", "FirstName"],
                "Account": ["Id", "Name", "Website", "LastModifiedDate", "OwnerId"]}[sobject]
        wanted = list(base)
        catalog = getattr(self.run, "catalog", None)
        if catalog is not None:
            wanted += [m.field for m in catalog.for_object(sobject)]
        if sobject in ("Lead", "Contact"):
            wanted += [EXTERNAL_ID_FIELD, PROSPECT_IDS_FIELD]
            # Badges carry do-not-contact (absent fields are dropped below, like any other).
            wanted += ["HasOptedOutOfEmail", "DoNotCall"]
            if catalog is not None:
                wanted += [name for name, _ in catalog.do_not_contact_fields.get(sobject, ())]
            wanted += self._extra_email_fields(sobject)
        out: list[str] = []
        seen: set[str] = set()
        for name in wanted:
            canonical = org.field_name(sobject, name)
            if canonical and canonical.casefold() not in seen:
                seen.add(canonical.casefold())
                out.append(canonical)
        return out

    def _extra_email_fields(self, sobject: str) -> list[str]:
        """``match_email_fields`` the object has (describe names), in the configured order."""
        names = (getattr(self.run, "config", None) or {}).get("match_email_fields") or []
        out = []
        for name in names:
            canonical = self.run.org.field_name(sobject, name) if isinstance(name, str) else None
            if canonical and canonical.casefold() != "email" and canonical not in out:
                out.append(canonical)
        return out

    def _statements(self, sobject: str, field_name: str, values: Iterable[str], suffix: str = "") -> list[str]:
        # Field and object names come from describe and code, never from data.
        prefix = f"SELECT {', '.join(self._fields(sobject))} FROM {sobject} WHERE"  # noqa: S608
        return list(chunked_in_queries(prefix, field_name, values, suffix=suffix))

    def _query_in(self, sobject: str, field_name: str, values: Iterable[str], suffix: str = "") -> list[dict]:
        results = self.client.query_many(self._statements(sobject, field_name, values, suffix))
        return [_clean(r) for rows in results for r in rows]

    # -- entry point ----------------------------------------------------------------------

    def match(self, keys: list[PersonKey], *, order: list[str] | None = None,
              remember: bool = False, audit: list[dict] | None = None) -> dict[str, Match | None]:
        """``remember``: answer values already looked up this run from ``self.memory`` and
        remember the new ones (for reads that need no fresher view than the run's own writes, and
        only a match's identity: remembered rows keep ``_REMEMBERED_FIELDS``). ``audit``: receives
        the account steps' non-exact matches and near misses (with their scores)."""
        steps = validate_order(order or DEFAULT_ORDER)
        result: dict[str, Match | None] = {k.key: None for k in keys}
        pending = {k.key: k for k in keys}
        self._local.remember = remember
        # Taken before any lookup: answers read before the run's own writes are not remembered.
        self._local.generation = self.memory.generation
        self._local.steps = steps
        self._local.audits = [] if audit is not None else None
        self._local.account_candidates = None
        self._local.index_only = set()
        self._local.prefetched = self._prefetch_people(keys, steps)
        try:
            for step in steps:
                if not pending:
                    break
                found = getattr(self, f"_step_{step}")(list(pending.values()))
                for key, match in found.items():
                    if key in pending:
                        result[key] = match
                        del pending[key]
            if audit is not None:
                # Near misses of keys another step matched after all are no near misses.
                audit += [a for a in self._local.audits
                          if a["outcome"] != "near_miss" or result.get(a["key"]) is None]
        finally:
            self._local.prefetched = {}
            self._local.remember = False
            self._local.audits = None
            self._local.account_candidates = None
        return result

    def _prefetch_for(self, sobject: str) -> list[dict] | None:
        return (getattr(self._local, "prefetched", None) or {}).get(sobject)

    def _prefetch_people(self, keys: list[PersonKey], steps: list[str]) -> dict[str, list[dict]]:
        """One read per object for the external-id *and* email steps together
        (`Email IN (...) OR Andsend_Prospect_Id__c IN (...)`); the steps then pick from these
        rows in their order. Halves the person lookups of a batch; the statements of both
        objects go out together (``query_many``)."""
        rows: dict[str, dict[str, dict]] = {}  # object -> Id -> row, for the prefetched objects
        statements: list[tuple[str, str]] = []  # (object, statement)
        memory = self._memory()
        asked: dict[str, list[PersonKey]] = {}  # object -> keys sent to Salesforce
        for sobject, email_step in (("Contact", "contact_email"), ("Lead", "lead_email")):
            use_ext = "external_id" in steps and self.run.org.has_field(sobject, EXTERNAL_ID_FIELD)
            use_email = email_step in steps
            if not (use_ext and use_email):
                continue  # a single step reads for itself
            ext = self.run.org.field_name(sobject, EXTERNAL_ID_FIELD) or EXTERNAL_ID_FIELD
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
                    part_statements = self._statements(sobject, "Email", emails, suffix=suffix)
                elif pids:
                    part_statements = self._statements(sobject, ext, pids)
                else:
                    part_statements = self._statements(sobject, "Email", emails)
                statements += [(sobject, st) for st in part_statements]
        results = self.client.query_many([st for _, st in statements])
        found_rows: dict[str, list[dict]] = defaultdict(list)
        for (sobject, _), found in zip(statements, results, strict=True):
            found_rows[sobject] += [_clean(r) for r in found]
        for sobject, found in found_rows.items():
            rows[sobject].update((r["Id"], r) for r in found)
        if memory is not None:
            for sobject, ask in asked.items():
                self._remember_people(memory, sobject, ask, found_rows.get(sobject, []))
        return {sobject: list(by_id.values()) for sobject, by_id in rows.items()}

    def _remember_people(self, memory: LookupMemory, sobject: str, keys: list[PersonKey], found: list[dict]) -> None:
        by_email: dict[str, list[dict]] = defaultdict(list)
        by_pid: dict[str, list[dict]] = defaultdict(list)
        ext = self.run.org.field_name(sobject, EXTERNAL_ID_FIELD) or EXTERNAL_ID_FIELD
        for r in found:
            email = normalize_email(r.get("Email"))
            if email:
                by_email[email].append(r)
            if r.get(ext) not in (None, ""):
                by_pid[str(r[ext])].append(r)
        generation = getattr(self._local, "generation", None)
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

    def _step_external_id(self, keys: list[PersonKey]) -> dict[str, Match]:
        out: dict[str, Match] = {}
        by_pid = {k.prospect_id: k for k in keys if k.prospect_id}
        for sobject in ("Contact", "Lead"):
            if not by_pid:
                break
            if not self.run.org.has_field(sobject, EXTERNAL_ID_FIELD):
                continue
            grouped: dict[str, list[dict]] = defaultdict(list)
            prefetched = self._prefetch_for(sobject)
            rows = prefetched if prefetched is not None else self._query_in(sobject, EXTERNAL_ID_FIELD, list(by_pid))
            for row in rows:
                if row.get(EXTERNAL_ID_FIELD) not in (None, ""):
                    grouped[str(row.get(EXTERNAL_ID_FIELD))].append(row)
            for pid, rows in grouped.items():
                key = by_pid.pop(pid, None)
                if key is None:
                    continue
                match = self._person_match(sobject, rows, "external_id")
                out[key.key] = self._follow_converted([match])[0] if sobject == "Lead" else match
        # Records this target created or linked on earlier runs, for keys nothing else identifies.
        links = getattr(self.run, "links", None)
        if links is not None and by_pid:
            # Every key, not only those without e-mail: a prospect bought without an address that
            # gets one later is still the record created for it (its new e-mail is not on it yet).
            known = links.get_many(list(by_pid))
            for sobject in ("Contact", "Lead"):
                ids = {link["record_id"]: pid for pid, link in known.items() if link["object"] == sobject}
                if not ids or self.run.org.has_field(sobject, EXTERNAL_ID_FIELD):
                    continue
                for row in self._query_in(sobject, "Id", list(ids)):
                    pid = ids.get(row["Id"]) or next((p for i, p in ids.items() if i[:15] == row["Id"][:15]), None)
                    if pid and pid in by_pid:
                        match = self._person_match(sobject, [row], "external_id")
                        out[by_pid.pop(pid).key] = (
                            self._follow_converted([match])[0] if sobject == "Lead" else match)
        if links is not None and by_pid:
            out.update(self._adopt_interrupted_creates(links, by_pid))
        return out

    def _adopt_interrupted_creates(self, links: Any, by_pid: dict[str, PersonKey]) -> dict[str, Match]:
        """People without e-mail whose create a crash interrupted before their link was stored
        (prospects.create_intents): the record with exactly the intended names (and Account or
        Company) and no e-mail is the one that run created; adopt it rather than create another."""
        out: dict[str, Match] = {}
        intents = {pid: i for pid, i in links.pending_list("create_intent").items() if pid in by_pid}
        for sobject in ("Contact", "Lead"):
            wanted = {pid: i for pid, i in intents.items() if i.get("object") == sobject}
            names = sorted({i["LastName"] for i in wanted.values() if i.get("LastName")})
            if not names or self.run.org.has_field(sobject, EXTERNAL_ID_FIELD):
                continue
            rows = [r for r in self._query_in(sobject, "LastName", names) if not normalize_email(r.get("Email"))]
            for pid, intent in wanted.items():
                same = [r for r in rows if all((r.get(f) or None) == (v or None) for f, v in intent.items()
                                               if f != "object" and f in r)]
                if same and pid in by_pid:
                    out[by_pid.pop(pid).key] = self._person_match(sobject, same, "external_id")
        return out

    def _email_rows(self, sobject: str, keys: list[PersonKey]) -> dict[str, list[dict]]:
        wanted = _keys_by(keys, lambda k: normalize_email(k.email))
        if not wanted:
            return {}
        prefetched = self._prefetch_for(sobject)
        rows = prefetched if prefetched is not None else self._query_in(sobject, "Email", _email_spellings(keys))
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
            for row in self._query_in(sobject, fld, _email_spellings(missing)):
                email = normalize_email(row.get(fld))
                if email in wanted and not any(r["Id"] == row["Id"] for r in grouped[email]):
                    grouped[email].append(row)
        return {k.key: grouped[email] for email, ks in wanted.items() for k in ks if grouped.get(email)}

    def _step_contact_email(self, keys: list[PersonKey]) -> dict[str, Match]:
        return {key: self._person_match("Contact", rows, "contact_email")
                for key, rows in self._email_rows("Contact", keys).items()}

    def _step_lead_email(self, keys: list[PersonKey]) -> dict[str, Match]:
        matches = {key: self._person_match("Lead", rows, "lead_email")
                   for key, rows in self._email_rows("Lead", keys).items()}
        followed = self._follow_converted(list(matches.values()))
        return dict(zip(matches.keys(), followed, strict=True))

    def _follow_converted(self, matches: list[Match]) -> list[Match]:
        """A converted Lead cannot be updated: continue with the Contact it became."""
        converted = {m.record.get("ConvertedContactId") for m in matches
                     if m.object_type == "Lead" and m.record.get("IsConverted") and m.record.get("ConvertedContactId")}
        if not converted:
            return matches
        contacts = {row["Id"][:15]: row for row in self._query_in("Contact", "Id", sorted(converted))}
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

    def _account_candidates(self, keys: list[PersonKey], steps: Iterable[str]) -> dict[str, list[dict]]:
        """Candidate Accounts per key, read once for both account steps: ``Website IN`` the usual
        spellings of its registrable domain and ``Name IN`` the usual spellings of its name (both
        statements sent together). Rows are assigned to the keys that asked for any of their
        spellings; the steps then decide by registrable domain and name score."""
        steps = set(steps)
        cached = getattr(self._local, "account_candidates", None)
        if cached is not None:
            return cached
        memory = self._memory()
        generation = getattr(self._local, "generation", None)
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
                      for st in self._statements("Account", fld, ask[fld])]
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
        id_statements = self._statements("Account", "Id", ask_ids) if ask_ids else []
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
        self._add_indexed(out, indexed, indexed_rows, ask_ids)
        for key, found in out.items():
            out[key] = list({r["Id"]: r for r in found}.values())
        self._local.account_candidates = out
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

    def _add_indexed(self, out: dict[str, list[dict]], indexed: dict[str, set[str]], rows: list[dict],
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
        self._local.index_only = only
        index = self.account_index
        if index is not None:
            gone = [i for i in asked if i[:15] not in found]
            if gone:
                index.forget(gone)
            index.note_use(len(only), 0)

    @property
    def account_index(self) -> AccountIndex | None:
        with self._index_lock:
            if self._account_index is None and getattr(self.run, "links", None) is not None:
                index = AccountIndex(self.run)
                self._account_index = index if index.setting != "off" else False
            return self._account_index or None

    def _step_account_domain(self, keys: list[PersonKey]) -> dict[str, Match]:
        candidates = self._account_candidates(keys, self._local.steps)
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
                out[k.key] = self._decide(k, accepted, "account_domain")
            self._near_misses(k, [v for v in same if v not in accepted], "email domain only, name differs")
        return out

    def _step_account_name(self, keys: list[PersonKey]) -> dict[str, Match]:
        candidates = self._account_candidates(keys, self._local.steps)
        out: dict[str, Match] = {}
        for k in keys:
            if not k.company:
                continue
            verdicts = [account_verdict(k, row) for row in candidates.get(k.key, [])]
            accepted = [v for v in verdicts if v.score >= NAME_THRESHOLD and v.domain != "differ"]
            if accepted:
                out[k.key] = self._decide(k, accepted, "account_name")
            self._near_misses(k, [v for v in verdicts if v.score >= NAME_THRESHOLD and v.domain == "differ"],
                              "same name, websites differ")
        return out

    def _decide(self, key: PersonKey, accepted: list[Verdict], via: str) -> Match:
        """Tie rule: the highest name score, then the most recently modified, then the smallest Id."""
        top = max(v.score for v in accepted)
        best = [v.row for v in accepted if v.score == top]
        chosen = pick(best)
        score = next(v.score for v in accepted if v.row is chosen)
        via_index = (key.key, chosen["Id"]) in (getattr(self._local, "index_only", None) or ())
        if via_index and self.account_index is not None:
            self.account_index.note_use(0, 1)
        match = Match(object_type="Account", record_id=chosen["Id"], account_id=chosen["Id"], via=via,
                      candidates=sorted(r["Id"] for r in best), record=chosen, score=score)
        if score < 100 or via_index:  # a name spelled otherwise (Bjork / Björk) is audited too
            self._audit(key, {"outcome": "fuzzy_match" if score < 100 else "index_match", "via": via,
                              "record_id": chosen["Id"],
                              "account_name": chosen.get("Name"), "account_website": chosen.get("Website"),
                              "score": score, **({"found_by": "account_index"} if via_index else {})})
        return match

    def _near_misses(self, key: PersonKey, verdicts: list[Verdict], reason: str) -> None:
        for v in verdicts:
            self._audit(key, {"outcome": "near_miss", "reason": reason, "record_id": v.row.get("Id"),
                              "account_name": v.row.get("Name"), "account_website": v.row.get("Website"),
                              "score": v.score})

    def _audit(self, key: PersonKey, entry: dict) -> None:
        audits = getattr(self._local, "audits", None)
        if audits is not None:
            audits.append({"key": key.key, "company": key.company, "domain": key.domain, **entry})


def select_fields_for(run: Any, sobject: str) -> list[str]:
    """The select list the Matcher uses for `sobject` (shared with follow-up reads: the records a
    duplicate rule names are read with it, refusals.py)."""
    return Matcher(run)._fields(sobject)
