"""The CRM's answer flows back to Andsend (``sync_crm_status``): the reads, the file, the write-back.

At the end of every run, for each object (Lead, Contact) some Andsend prospect is linked to:

* the records changed since the watermark (``SystemModstamp``), read in Id order through Composite
  calls whose five query subrequests chain on the last Id of the one before (10,000 rows a call);
* the records of links new since the last run (a first run: all of them), read by Id, 2,000 Ids a
  statement, five statements a Composite call.

Rows are handled a query page at a time (up to 2,000) and dropped: each linked
prospect gets a status (crm_status.py); those that differ from the last one delivered
(the ``crm_status_path`` file, one JSON line per prospect) are sent with ``PUT
/v1/prospects/crm-status`` in calls of at most 1,000, then merged into the file; only then do the
watermarks in the link store move (``get_meta``/``put_meta``). A run that stops anywhere before
reads the same records again next time: nothing is lost, and what did arrive is not sent twice.
A dry run reads and counts, and writes nothing.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from .crm_status import (
    CHAIN,
    LINKS_KEY,
    OBJECTS,
    PAGE,
    ROLE,
    LinksMark,
    ReadPlan,
    advance,
    by_id_statements,
    changed,
    changed_chain,
    chosen_groups,
    read_plan,
    statuses_for,
    watermark_key,
    window_start,
)
from .memory import release_free_memory
from .salesforce.errors import SalesforceAPIError, parse_error_body

if TYPE_CHECKING:
    from .context import RunContext
    from .salesforce.client import SalesforceClient
    from .settings import Settings

_REF = "@{c%d.records[" + str(PAGE - 1) + "].Id}"


def enabled(settings: Settings) -> bool:
    return settings.sync_crm_status


# -- Salesforce reads -------------------------------------------------------------------------------


def _sub_url(client: SalesforceClient, statement: str) -> str:
    encoded = quote_plus(statement)
    # References are resolved by Salesforce before the URL is decoded: they must stay literal.
    for i in range(CHAIN):
        encoded = encoded.replace(quote_plus(_REF % i), _REF % i)
    return f"/services/data/v{client.api_version}/query?q={encoded}"


def _composite(client: SalesforceClient, statements: list[str]) -> list[dict[str, Any]]:
    body = {"allOrNone": False, "compositeRequest": [
        {"method": "GET", "url": _sub_url(client, s), "referenceId": f"c{i}"} for i, s in enumerate(statements)]}
    return client.request("POST", "composite", kind="composite", json=body).json().get("compositeResponse") or []


def _raise_for(client: SalesforceClient, sub: dict[str, Any]) -> None:
    raise SalesforceAPIError("GET", client.url("query"), int(sub.get("httpStatusCode") or 400),
                             parse_error_body(sub.get("body")), sub.get("body"))


def _rest_of(client: SalesforceClient, page: dict[str, Any]) -> list[dict[str, Any]]:
    """Pages after a first page that was not done (an org or header asking for smaller batches)."""
    rows: list[dict[str, Any]] = []
    while not page.get("done", True) and page.get("nextRecordsUrl"):
        page = client.request("GET", page["nextRecordsUrl"], kind="query_more").json()
        rows += page.get("records") or []
    return rows


def iter_changed(client: SalesforceClient, plan: ReadPlan, start: datetime) -> Iterator[list[dict[str, Any]]]:
    """Every row of ``plan.sobject`` changed at or after ``start``, a page at a time (in Id order):
    one Composite call per 10,000 rows, only one call's rows held at once."""
    after: str | None = None
    while True:
        subs = _composite(client, changed_chain(plan, start, after))
        last: str | None = None
        for i, sub in enumerate(subs):
            if sub.get("httpStatusCode") != 200:
                _raise_for(client, sub)  # a short page returned before its successor was looked at
            page = sub.get("body") or {}
            records = page.get("records") or []
            done = page.get("done", True)
            if i == len(subs) - 1:  # the unlimited last statement: done says whether rows are left
                if records:
                    last = records[-1]["Id"]
                    yield records
                if done:
                    return
                break
            if not done:  # an org paging in smaller batches: the next reference cannot resolve
                records += _rest_of(client, page)
            if records:
                last = records[-1]["Id"]
                yield records
            if len(records) < PAGE:
                return  # the last page; the next subrequest's reference has no row 2,000
            if not done:
                break
        if last is None:
            return
        after = last  # more than CHAIN * PAGE rows: a new chain after the last one read


def read_changed(client: SalesforceClient, plan: ReadPlan, start: datetime) -> list[dict[str, Any]]:
    """Every row of ``plan.sobject`` changed at or after ``start`` (``iter_changed``, in one list)."""
    return [row for page in iter_changed(client, plan, start) for row in page]


def iter_by_id(client: SalesforceClient, plan: ReadPlan, record_ids: list[str]) -> Iterator[list[dict[str, Any]]]:
    """The rows of ``record_ids``, a statement's rows at a time: five statements of 2,000 Ids per
    Composite call."""
    for _, rows in iter_by_ids(client, [(plan, record_ids)]):
        yield rows


def iter_by_ids(client: SalesforceClient,
                reads: list[tuple[ReadPlan, list[str]]]) -> Iterator[tuple[ReadPlan, list[dict[str, Any]]]]:
    """``iter_by_id`` for several objects at once: their statements share Composite calls (a Lead
    and a Contact statement in one call), each statement's rows given with its plan."""
    statements = [(plan, st) for plan, record_ids in reads for st in by_id_statements(plan, record_ids)]
    for start in range(0, len(statements), CHAIN):
        part = statements[start:start + CHAIN]
        for (plan, _), sub in zip(part, _composite(client, [st for _, st in part]), strict=False):
            if sub.get("httpStatusCode") != 200:
                _raise_for(client, sub)
            page = sub.get("body") or {}
            rows = (page.get("records") or []) + _rest_of(client, page)
            if rows:
                yield plan, rows


def read_by_id(client: SalesforceClient, plan: ReadPlan, record_ids: list[str]) -> list[dict[str, Any]]:
    """The rows of ``record_ids`` (``iter_by_id``, in one list)."""
    return [row for page in iter_by_id(client, plan, record_ids) for row in page]


# -- the file ---------------------------------------------------------------------------------------


def read_delivered(path: Path) -> dict[str, dict[str, Any]]:
    """prospect id -> the last status delivered (a torn last line from a killed run is ignored)."""
    out: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return out
    with path.open(encoding="utf-8") as fh:
        for raw in fh:
            try:
                item = json.loads(raw)
            except ValueError:
                continue
            if isinstance(item, dict) and item.get("prospect_id"):
                out[str(item["prospect_id"])] = item
    return out


def _line(status: Mapping[str, Any]) -> str:
    return json.dumps(status, ensure_ascii=False, separators=(",", ":"))


def write_delivered(path: Path, delivered: Mapping[str, dict[str, Any] | str]) -> None:
    """Rewrite the file atomically (temp file + rename), one line per prospect in id order (a
    status given as its line is written as is)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".crm_status-", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for pid in sorted(delivered):
                status = delivered[pid]
                out.write((status if isinstance(status, str) else _line(status)) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- the run ----------------------------------------------------------------------------------------


def _write_back(run: RunContext, statuses: _Statuses) -> int:
    from .andsend_writeback import CRM_STATUS_PATH, AndsendBadgeWriter

    settings = run.settings
    if not settings.writes_back_to_andsend or not len(statuses):
        return 0
    writer = AndsendBadgeWriter(str(settings.andsend_api_url), str(settings.andsend_api_key), logger=run.logger,
                                timeout=settings.request_timeout, max_retries=settings.max_retries,
                                path=CRM_STATUS_PATH, member="statuses")
    try:
        # One call's statuses decoded at a time (the writer's own calls are of batch_size).
        updated = sum(writer.put(chunk) for chunk in statuses.iter_chunks(writer.batch_size))
    finally:
        writer.close()
    if writer.unknown_ids:
        run.report.count(ROLE, "status", "unknown_in_andsend", len(writer.unknown_ids))
        for pid in writer.unknown_ids[:20]:
            run.report.skip(ROLE, "prospect unknown to Andsend", pid)
    return updated


class _Statuses:
    """Statuses made a page of rows at a time, the rows then dropped: only those that differ from
    the last delivered (a prospect's last status read wins) and the prospect ids checked stay."""

    def __init__(self, delivered: Mapping[str, dict[str, Any]], *, record_url: Any, checked_at: str) -> None:
        self.delivered = delivered
        self.record_url = record_url
        self.checked_at = checked_at
        self.checked: set[str] = set()
        # prospect id -> its status as the file's line (compact JSON): a first run holds every
        # linked prospect's, and a line weighs a fraction of the dict it came from.
        self._changed: dict[str, str] = {}

    def take(self, plan: ReadPlan, rows: list[dict[str, Any]], prospects_of: Mapping[str, list[str]]) -> None:
        statuses = statuses_for(plan, rows, prospects_of, record_url=self.record_url, checked_at=self.checked_at)
        news = {s["prospect_id"] for s in changed(statuses, self.delivered)}
        for pid, status in statuses.items():
            self.checked.add(pid)
            if pid in news:
                self._changed[pid] = _line(status)
            else:
                self._changed.pop(pid, None)  # an earlier status of the prospect no longer counts

    def __len__(self) -> int:
        return len(self._changed)

    def lines(self) -> dict[str, str]:
        """prospect id -> the changed status as its file line."""
        return self._changed

    def iter_chunks(self, size: int) -> Iterator[list[dict[str, Any]]]:
        """The changed statuses in prospect id order, ``size`` at a time (only one chunk decoded)."""
        pids = sorted(self._changed)
        for start in range(0, len(pids), size):
            yield [json.loads(self._changed[pid]) for pid in pids[start:start + size]]

    def to_send(self) -> list[dict[str, Any]]:
        return [json.loads(self._changed[pid]) for pid in sorted(self._changed)]


class _Prospects(dict):  # type: ignore[type-arg]
    """record id -> the prospect ids linked to it: one str for the usual single prospect, a list
    for several (a list per record would weigh more than the record's ids)."""

    def add(self, record_id: str, prospect_id: str) -> None:
        have = self.get(record_id)
        if have is None:
            self[record_id] = prospect_id
        elif isinstance(have, str):
            self[record_id] = [have, prospect_id]
        else:
            have.append(prospect_id)

    def get_list(self, record_id: str) -> list[str]:
        have = self.get(record_id)
        return [] if have is None else [have] if isinstance(have, str) else have


class _ProspectsView(Mapping[str, list[str]]):
    """``_Prospects`` as the record id -> list of prospect ids that crm_status reads."""

    def __init__(self, by_record: _Prospects) -> None:
        self._by_record = by_record

    def __getitem__(self, record_id: str) -> list[str]:
        if record_id not in self._by_record:
            raise KeyError(record_id)
        return self._by_record.get_list(record_id)

    def get(self, record_id: str, default: Any = None) -> Any:
        return self._by_record.get_list(record_id) if record_id in self._by_record else default

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_record)

    def __len__(self) -> int:
        return len(self._by_record)


def _read_links(links: Any, mark: LinksMark) -> tuple[dict[str, _Prospects], dict[str, list[str]],
                                                       list[dict[str, Any]]]:
    """The run's links, read a page at a time: per object, record id -> prospect ids, and the
    record ids of links new since ``mark`` (in prospect id order); and the new links with the
    newest ``updated_at``, which is all ``LinksMark.advanced`` needs of them."""
    prospects_of: dict[str, _Prospects] = defaultdict(_Prospects)
    wanted_of: dict[str, list[str]] = defaultdict(list)
    newest: list[dict[str, Any]] = []
    for page in links.iter_link_pages():
        rows = [{"prospect_id": p, "object": o, "record_id": r, "updated_at": u} for p, o, r, u in page]
        del page
        for link in rows:
            prospects_of[link["object"]].add(link["record_id"], link["prospect_id"])
        for link in mark.new_links(rows):
            wanted_of[link["object"]].append(link["record_id"])
            top = newest[0]["updated_at"] if newest else None
            if top is None or link["updated_at"] > top:
                newest = [link]
            elif link["updated_at"] == top:
                newest.append(link)
    return prospects_of, wanted_of, newest


def sync(run: RunContext) -> None:
    """Read what changed in Salesforce for linked prospects and deliver it (module doc)."""
    settings = run.settings
    if not enabled(settings):
        return
    groups = chosen_groups(settings.crm_status_fields)
    lookback = settings.crm_status_lookback_seconds
    # The run's input is done (nothing is looked up any more): the lookups' memory makes room for
    # the reads instead of the reads adding to it.
    run.matcher.forget()
    release_free_memory()
    links = run.links
    mark = LinksMark.load(links.get_meta(LINKS_KEY))
    prospects_of, wanted_of, newest = _read_links(links, mark)
    if not prospects_of:
        return
    info = run.report.section(ROLE)
    calls_before = sum(run.client.calls_snapshot().values())
    checked_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = settings.paths.crm_status
    delivered = read_delivered(path)
    found = _Statuses(delivered, record_url=run.client.record_link, checked_at=checked_at)
    marks: dict[str, str | None] = {}
    skipped: list[str] = []
    reads: dict[str, int] = {}
    by_id: list[tuple[ReadPlan, list[str]]] = []
    for sobject in OBJECTS:
        if not prospects_of.get(sobject):
            continue
        plan = read_plan(sobject, lambda name, o=sobject: run.org.field_name(o, name), groups,
                         run.catalog.do_not_contact_fields.get(sobject, ()))
        if plan is None:
            skipped.append(f"{sobject} (Id or SystemModstamp not readable)")
            continue
        skipped += plan.skipped
        since = links.get_meta(watermark_key(sobject))
        stamp, read = since, 0
        have: set[str] = set()
        pages = iter_changed(run.client, plan, window_start(since, lookback)) if since else iter(())
        for page in pages:
            have.update(r["Id"] for r in page)
            found.take(plan, page, _ProspectsView(prospects_of[sobject]))
            stamp, read = advance(stamp, page), read + len(page)
        wanted = [record_id for record_id in wanted_of.get(sobject, ()) if record_id not in have]
        by_id.append((plan, list(dict.fromkeys(wanted))))
        marks[sobject], reads[sobject] = stamp, read
    # Newly linked records of every object by Id, their statements sharing Composite calls (a
    # prospect has one link, so the order the objects are read in does not matter).
    for plan, page in iter_by_ids(run.client, by_id):
        found.take(plan, page, _ProspectsView(prospects_of[plan.sobject]))
        marks[plan.sobject], reads[plan.sobject] = advance(marks[plan.sobject], page), reads[plan.sobject] + len(page)
    for sobject, read in reads.items():
        run.report.count(ROLE, sobject, "read", read)
    if skipped:
        info["skipped_fields"] = sorted(set(skipped))
        run.report.note("CRM status: not readable by the integration user, skipped: " + ", ".join(sorted(set(skipped))))
    run.report.count(ROLE, "status", "checked", len(found.checked))
    run.report.count(ROLE, "status", "changed", len(found))
    run.report.count(ROLE, "status", "do_not_contact",
                     sum(1 for chunk in found.iter_chunks(1000) for s in chunk if s["do_not_contact"]))
    info["salesforce_calls"] = sum(run.client.calls_snapshot().values()) - calls_before
    if run.dry_run:
        return
    written = _write_back(run, found)  # raises when Andsend refuses: nothing below moves
    run.report.count(ROLE, "status", "written_back", written)
    if len(found):
        write_delivered(path, {**delivered, **found.lines()})
    for sobject, since in marks.items():
        if since:
            links.put_meta(watermark_key(sobject), since)
    links.put_meta(LINKS_KEY, mark.advanced(newest).dump())
    info["watermarks"] = {o: s for o, s in marks.items() if s}
