"""The org's Accounts by name key and registrable domain, kept in the link store between runs.

Why: a prospect's company typed without the diacritics or script its Account carries (``Bjork``
for ``Björk AB``, ``Sumava`` for ``Šumava s.r.o.``, ``Romashka`` for ``ООО «Ромашка»``) and with
no website to join them cannot be found by ``Name IN (...)``: the accented spelling cannot be
guessed, and a ``LIKE`` scan is ruled out (it scans the object and its wildcards need care). Both
sides' *name key* (``normalize_company``: ASCII through anyascii, legal forms stripped, spacing
ignored) is equal, so an index by key finds them.

* **What is kept**: per org signed in to, one row per Account: Id, name key, registrable domain of
  its Website (``company_domain``), SystemModstamp (``LinkStore.account_index_*``). Looked up by
  key through the database's own indexes; never loaded into memory whole.
* **Filled once** by a full read, whichever costs fewer calls for the org's size (the first
  Composite call counts the Accounts and reads the newest SystemModstamp along with the first three
  pages): paged REST queries in Id order, five chained 2,000-row statements per Composite call
  (10,000 Accounts a call), or one Bulk API 2.0 query job (create, status reads, 100,000-row result
  sets) for large orgs. Rows go to the store one call's worth at a time; an interrupted paged read
  resumes after the last Id stored.
* **Refreshed incrementally** at the first Account lookup of each later run: ``queryAll`` of the
  Accounts whose SystemModstamp is at or after the watermark minus a minute (a transaction
  committed late), chained the same way: usually one call. Deleted Accounts (and merge losers,
  which Salesforce deletes) come back with ``IsDeleted`` and leave the index.
* **Never trusted alone**: the index only names candidates. Their rows are read fresh by
  ``Id IN (...)`` with the Account lookups of the batch (same Composite call) and decided by the
  same scored comparison as every candidate; an Id that no longer reads (deleted, merged, purged
  from the recycle bin, no longer shared) leaves the index on the spot.

Setting ``account_index``: ``auto`` (default; the cheaper full read), ``query``, ``bulk`` or
``off``. Used by the account steps wherever they run (contact_account prospects, search-result
badges); a run that looks up no Account never refreshes it.
"""

from __future__ import annotations

import csv
import io
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from .crm_status import parse_sf_datetime
from .normalize import compact_company, company_domain, normalize_company
from .salesforce.errors import SalesforceAPIError, TransportError, parse_error_body
from .salesforce.soql import quote

if TYPE_CHECKING:
    import logging

    from .links import LinkStore
    from .report import RunReport
    from .salesforce.client import SalesforceClient
    from .settings import Settings

MODES = ("auto", "query", "bulk", "off")
SINCE_KEY = "account_index.since"     # newest SystemModstamp read (a complete index exists)
FULL_KEY = "account_index.full"       # an unfinished paged full read: "<since>|<last Id stored>"
LOOKBACK = timedelta(seconds=60)      # changes committed late are read again (idempotent)
PAGE = 2000                           # rows of a REST query page (the maximum batch size)
CHAIN = 5                             # query subrequests per Composite call
BULK_PAGE = 100_000                   # rows per Bulk API 2.0 result set (maxRecords)
BULK_FIXED_CALLS = 2                  # a Bulk query job's create and (at least) one status read
PER_VALUE = 50                        # candidates per name key or domain (the most recently modified)
_FIELDS = ("Id", "Name", "Website", "SystemModstamp")
_BULK_SOQL = "SELECT Id, Name, Website, SystemModstamp FROM Account"
_COUNT = ("query", "SELECT COUNT() FROM Account")
_NEWEST = ("query", "SELECT SystemModstamp FROM Account ORDER BY SystemModstamp DESC LIMIT 1")


def index_key(name: str | None, *, cache: bool = True) -> str | None:
    """The key an Account name and a prospect's company name are indexed and looked up by."""
    return compact_company(normalize_company(name, cache=cache))


def full_read_calls(accounts: int) -> dict[str, int]:
    """Calls a full read of ``accounts`` Accounts costs each way (besides the counting call)."""
    return {"query": max(1, math.ceil(accounts / (PAGE * CHAIN))),
            "bulk": BULK_FIXED_CALLS + max(1, math.ceil(accounts / BULK_PAGE))}


def _changes_where(since: str) -> str:
    """Accounts changed since the watermark, minus the lookback (changes committed late)."""
    return f"SystemModstamp >= {quote(parse_sf_datetime(since).replace(microsecond=0) - LOOKBACK)}"


def _chain_statements(resource: str, where: str, after: str | None, *, deleted: bool = False,
                      width: int = CHAIN) -> list[tuple[str, str]]:
    """``width`` statements reading Accounts in Id order, each after the last Id of the one before
    (``@{cN.records[1999].Id}``), the first after ``after``; the last without LIMIT."""
    fields = ", ".join((*_FIELDS, "IsDeleted") if deleted else _FIELDS)
    statements = []
    for i in range(width):
        cursor = f"@{{c{i - 1}.records[{PAGE - 1}].Id}}" if i else after
        conditions = [c for c in (where, f"Id > {quote(cursor)}" if cursor else "") if c]
        text = f"SELECT {fields} FROM Account"  # noqa: S608 - names from code
        if conditions:
            text += " WHERE " + " AND ".join(conditions)
        statements.append((resource, text + " ORDER BY Id" + (f" LIMIT {PAGE}" if i < width - 1 else "")))
    return statements


def _subrequests(api_version: str, statements: list[tuple[str, str]], refs: list[str]) -> list[dict[str, Any]]:
    """Composite GET subrequests of these statements, with their reference ids."""
    requests = []
    for (resource, soql), ref_id in zip(statements, refs, strict=True):
        encoded = quote_plus(soql)
        # Chain references are resolved by Salesforce before the URL is decoded: kept literal.
        for j in range(CHAIN):
            ref = f"@{{c{j}.records[{PAGE - 1}].Id}}"
            encoded = encoded.replace(quote_plus(ref), ref)
        requests.append({"method": "GET", "url": f"/services/data/v{api_version}/{resource}?q={encoded}",
                         "referenceId": ref_id})
    return requests


def choose_mode(setting: str, accounts: int) -> str:
    if setting in ("query", "bulk"):
        return setting
    cost = full_read_calls(accounts)
    return "bulk" if cost["bulk"] < cost["query"] else "query"


@dataclass
class IndexFigures:
    """What the index cost and found in one run (the report's ``account_index`` section)."""

    mode: str = "off"           # full_query | full_bulk | incremental | off | unavailable
    calls: int = 0              # API calls of the refresh (the candidates' Id reads ride with lookups)
    rows_read: int = 0
    removed: int = 0            # deleted/merged Accounts dropped (refresh and Id checks)
    accounts_indexed: int = 0
    seconds: float = 0.0
    candidates: int = 0         # candidate Accounts the index added to the lookups
    matches: int = 0            # prospects linked to an Account only the index found
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = {"mode": self.mode, "refresh_calls": self.calls, "rows_read": self.rows_read,
               "removed": self.removed, "accounts_indexed": self.accounts_indexed,
               "refresh_seconds": round(self.seconds, 2), "candidates_from_index": self.candidates,
               "matches_via_index": self.matches, **self.extra}
        if self.error:
            out["error"] = self.error
        return out


def _row(record: dict[str, Any]) -> tuple[str, str | None, str | None, str | None]:
    # Each Account is seen once: the normalisers' caches are left to the run's own values.
    return (record.get("Id") or "", index_key(record.get("Name"), cache=False),
            company_domain(record.get("Website"), cache=False), record.get("SystemModstamp") or None)


class AccountIndex:
    """One per run (made by the run's Matcher on first use); thread-safe; refreshed once, at its
    first use. Built from what it uses: the client, the link store, the run's config, its logger
    and report (the ``account_index`` section; None: not reported)."""

    def __init__(self, client: SalesforceClient, store: LinkStore, settings: Settings,
                 logger: logging.Logger, report: RunReport | None = None) -> None:
        self.client = client
        self.store = store
        self.settings = settings
        self.logger = logger
        self.report = report
        self.setting = settings.account_index  # one of MODES (Settings checks)
        self.figures = IndexFigures()
        self._lock = threading.Lock()
        self._ready: bool | None = None  # None: not refreshed yet
        # The refresh's first call, sent early with the run's describes (``first_call``):
        # (what it read, the watermark it started from, its subrequests' answers).
        self._sent: tuple[str, str, list[dict[str, Any]]] | None = None

    # -- use ------------------------------------------------------------------------------

    def available(self) -> bool:
        """Refresh on first use; False when switched off or the refresh failed (lookups go on without it)."""
        if self.setting == "off":
            return False
        with self._lock:
            if self._ready is None:
                self._ready = self._refresh()
                self._publish()
            return self._ready

    def find(self, name_keys: Iterable[str], domains: Iterable[str]) -> list[tuple[str, str | None, str | None]]:
        return self.store.account_index_find(name_keys, domains, per_value=PER_VALUE)

    def forget(self, account_ids: Iterable[str]) -> None:
        """Candidates whose Id no longer reads: deleted, merged away or no longer visible."""
        removed = self.store.account_index_delete(account_ids)
        if removed:
            with self._lock:
                self.figures.removed += removed
                self._publish()

    def note_use(self, candidates: int, matches: int) -> None:
        with self._lock:
            self.figures.candidates += candidates
            self.figures.matches += matches
            self._publish()

    def _publish(self) -> None:
        if self.report is not None:
            self.report.section("account_index").update(self.figures.as_dict())

    # -- refresh --------------------------------------------------------------------------

    @staticmethod
    def first_call(settings: Settings, store: Any, api_version: str) -> tuple[str, str, list[dict[str, Any]]] | None:
        """The subrequests of the refresh's first Composite call, for the run to send with its
        describes (one counted call for both): (kind, watermark, subrequests), None when the
        refresh starts otherwise (index off, a Bulk read asked for, a paged read to resume). The
        answers go to ``take_first_call``; they are used at the index's first use, as its own
        first call would be (a run that looks up no Account still refreshes nothing)."""
        if settings.account_index not in ("auto", "query") or store.get_meta(FULL_KEY):
            return None
        since = store.get_meta(SINCE_KEY) or ""
        if since:
            statements = _chain_statements("queryAll", _changes_where(since), None, deleted=True, width=CHAIN)
            return "incremental", since, _subrequests(api_version, statements, [f"c{i}" for i in range(CHAIN)])
        width = CHAIN - 2
        statements = [_COUNT, _NEWEST, *_chain_statements("query", "", None, width=width)]
        return "full", "", _subrequests(api_version, statements, ["lead0", "lead1", *(f"c{i}" for i in range(width))])

    def take_first_call(self, kind: str, since: str, answers: list[dict[str, Any]]) -> None:
        with self._lock:
            if self._ready is None:
                self._sent = (kind, since, answers)

    def _sent_for(self, kind: str, since: str) -> list[dict[str, Any]] | None:
        """The early first call's answers when they are for this refresh (else it reads afresh)."""
        sent, self._sent = self._sent, None
        return sent[2] if sent is not None and sent[:2] == (kind, since) else None

    def _refresh(self) -> bool:
        started = time.monotonic()
        try:
            since = self.store.get_meta(SINCE_KEY)
            if since:
                self.figures.mode = "incremental"
                newest = self._read_changes(since, self._sent_for("incremental", since))
                if newest and newest != since:
                    self.store.put_meta(SINCE_KEY, newest)
            else:
                self._full_read(self._sent_for("full", "") if not self.store.get_meta(FULL_KEY) else None)
            self.figures.accounts_indexed = self.store.account_index_count()
            return True
        except (SalesforceAPIError, TransportError) as exc:
            # Matching goes on with the IN lookups alone; the next run tries again.
            self.figures.mode, self.figures.error = "unavailable", str(exc)[:500]
            self.logger.warning("Account index not refreshed (%s); matching Accounts without it this run", exc)
            return False
        finally:
            self.figures.seconds = time.monotonic() - started

    def _full_read(self, sent: list[dict[str, Any]] | None = None) -> None:
        progress = self.store.get_meta(FULL_KEY) or ""
        since, _, after = progress.partition("|")
        lead: tuple[tuple[str, str], ...] = ()
        if not since:
            if self.setting == "bulk":
                since, mode = self._count_and_newest(self._composite([_COUNT, _NEWEST])), "bulk"
            else:
                # The count and the newest SystemModstamp ride with the first pages (one call for
                # an org of up to 6,000 Accounts); a big org then switches to a Bulk query job.
                lead, mode = (_COUNT, _NEWEST), "query"
            # Rows left from before are not cleared: the read overwrites what still exists, and a
            # stale one leaves at its first use (its Id reads nothing). So a second pipeline's full
            # read running at the same time cannot empty what this one stored.
            after = ""
        else:
            mode = "query"  # resume the paged read that was interrupted
        state = {"since": since, "mode": mode}

        def counted(subs: list[dict[str, Any]]) -> bool:
            state["since"] = self._count_and_newest(subs)
            state["mode"] = choose_mode(self.setting, int(self.figures.extra["org_accounts"]))
            return state["mode"] == "query"

        self.figures.mode = f"full_{mode}"
        if mode == "query":
            for rows in self._chained_pages("query", "", after or None, lead=lead, on_lead=counted,
                                            sent=sent if lead else None):
                self._store_rows(rows)
                self.store.put_meta(FULL_KEY, f"{state['since']}|{rows[-1]['Id']}")
            mode = state["mode"]
            self.figures.mode = f"full_{mode}"
        if mode == "bulk":
            for rows in self._bulk_pages():
                self._store_rows(rows)
        # Changes made while the full read ran are read by the next refresh (from ``since``).
        self.store.put_meta(SINCE_KEY, state["since"])
        self.store.put_meta(FULL_KEY, "")

    def _count_and_newest(self, subs: list[dict[str, Any]]) -> str:
        """The org's Account count (for the report and the choice of read) and the newest
        SystemModstamp (the watermark the next refresh starts from) out of their two answers."""
        bodies = [self._body(sub) for sub in subs[:2]]
        accounts = int(bodies[0].get("totalSize") or 0)
        top = (bodies[1].get("records") or [{}])[0].get("SystemModstamp")
        self.figures.extra.update({"org_accounts": accounts, "full_read_costs": full_read_calls(accounts)})
        # An empty org: any Account created later is newer than the start of time.
        return top or "1970-01-01T00:00:00.000+0000"

    def _read_changes(self, since: str, sent: list[dict[str, Any]] | None = None) -> str:
        newest = since
        newest_at = parse_sf_datetime(since)
        for rows in self._chained_pages("queryAll", _changes_where(since), None, deleted=True, sent=sent):
            gone = [r["Id"] for r in rows if r.get("IsDeleted")]
            self.figures.rows_read += len(gone)
            self.figures.removed += self.store.account_index_delete(gone)
            self._store_rows([r for r in rows if not r.get("IsDeleted")])
            for r in rows:
                stamp = r.get("SystemModstamp")
                if stamp and parse_sf_datetime(stamp) > newest_at:
                    newest, newest_at = stamp, parse_sf_datetime(stamp)
        return newest

    def _store_rows(self, rows: list[dict[str, Any]]) -> None:
        self.figures.rows_read += len(rows)
        self.store.account_index_put(_row(r) for r in rows)

    # -- reads ----------------------------------------------------------------------------

    def _request(self, method: str, path: str, kind: str, **kwargs: Any) -> Any:
        self.figures.calls += 1
        return self.client.request(method, path, kind=kind, **kwargs)

    def _composite(self, statements: list[tuple[str, str]], refs: list[str] | None = None) -> list[dict[str, Any]]:
        requests = _subrequests(self.client.api_version, statements, refs or [f"c{i}" for i in range(len(statements))])
        body = {"allOrNone": False, "compositeRequest": requests}
        return self._request("POST", "composite", "composite", json=body).json().get("compositeResponse") or []

    def _body(self, sub: dict[str, Any]) -> dict[str, Any]:
        if sub.get("httpStatusCode") != 200:
            raise SalesforceAPIError("GET", self.client.url("query"), int(sub.get("httpStatusCode") or 400),
                                     parse_error_body(sub.get("body")), sub.get("body"))
        return sub.get("body") or {}

    def _rest_of(self, page: dict[str, Any]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        while not page.get("done", True) and page.get("nextRecordsUrl"):
            page = self._request("GET", page["nextRecordsUrl"], "query_more").json()
            rows += page.get("records") or []
        return rows

    def _chained_pages(self, resource: str, where: str, after: str | None, *, deleted: bool = False,
                       lead: tuple[tuple[str, str], ...] = (),
                       on_lead: Callable[[list[dict[str, Any]]], bool] | None = None,
                       sent: list[dict[str, Any]] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Rows in Id order, one Composite call's worth (up to CHAIN * PAGE) at a time: each
        statement continues after the last Id of the one before (``@{cN.records[1999].Id}``);
        the last has no LIMIT, so its ``done`` says whether anything is left. ``lead`` statements
        go first in the first call (that many pages fewer); their answers go to ``on_lead``, which
        says whether to read on. ``sent``: the first call's answers, when it was sent already."""
        while True:
            width = CHAIN - len(lead)
            statements = _chain_statements(resource, where, after, deleted=deleted, width=width)
            refs = [f"lead{i}" for i in range(len(lead))] + [f"c{i}" for i in range(width)]
            subs = sent if sent is not None else self._composite([*lead, *statements], refs)
            sent = None
            go_on = True
            if lead:
                go_on = on_lead(subs[:len(lead)]) if on_lead is not None else True
                subs, lead = subs[len(lead):], ()
            rows: list[dict[str, Any]] = []
            finished = False
            for i, sub in enumerate(subs):
                page = self._body(sub)
                records = [{k: v for k, v in r.items() if k != "attributes"} for r in page.get("records") or []]
                done = page.get("done", True)
                if i == width - 1:
                    rows += records
                    finished = bool(done)
                    break
                if not done:  # an org paging in smaller batches: the next reference cannot resolve
                    records += self._rest_of(page)
                rows += records
                if len(records) < PAGE:
                    finished = True
                    break
                if not done:
                    break
            if rows:
                yield rows
            if finished or not rows or not go_on:
                return
            after = rows[-1]["Id"]

    def _bulk_pages(self) -> Iterator[list[dict[str, Any]]]:
        """A Bulk API 2.0 query job's result sets (``maxRecords`` rows each), one at a time."""
        job = self._request("POST", "jobs/query", "bulk_query_create",
                            json={"operation": "query", "query": _BULK_SOQL}).json()
        job_id = job["id"]
        settings = self.settings
        poll = settings.bulk_poll_seconds
        deadline = time.monotonic() + settings.bulk_timeout_seconds
        while True:
            time.sleep(poll)
            poll = min(10.0, poll * 2)
            state = self._request("GET", f"jobs/query/{job_id}", "bulk_query_status").json().get("state")
            if state == "JobComplete":
                break
            if state in ("Failed", "Aborted"):
                raise TransportError(f"Bulk query job {job_id} ended {state}")
            if time.monotonic() > deadline:
                raise TransportError(f"Bulk query job {job_id} still {state}; the next run reads the Accounts again")
        locator: str | None = None
        while True:
            params: dict[str, Any] = {"maxRecords": BULK_PAGE}
            if locator:
                params["locator"] = locator
            resp = self._request("GET", f"jobs/query/{job_id}/results", "bulk_query_results", params=params,
                                 headers={"Accept": "text/csv"})
            locator = resp.headers.get("Sforce-Locator")
            body = io.TextIOWrapper(io.BytesIO(resp.content), encoding="utf-8-sig", newline="")
            del resp
            # A result set is parsed and stored a query page's worth at a time (its bytes held once).
            rows: list[dict[str, Any]] = []
            for record in csv.DictReader(body):
                rows.append({k: (v or None) for k, v in record.items()})
                if len(rows) >= PAGE * CHAIN:
                    yield rows
                    rows = []
            body.close()
            if rows:
                yield rows
            if not locator or locator == "null":
                return
