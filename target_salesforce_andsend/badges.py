"""CRM-existence badges for search results (the `search_results` role).

For every search result: does the person already exist in Salesforce as a Lead, Contact or
Account? The answer comes from the same Matcher and normalisation as prospect sync (batched,
read-only SOQL), and becomes one badge (schema `schemas/badges.json`): black when it exists, grey
otherwise. A found record's owner (User name and email: read with the record, or one batched User
query per batch for owners not seen yet in the run), whether a Lead or Contact is do-not-contact
(crm_status.py's rule), a Lead's Status and the record's last modification ride on the badge (a
converted Lead is followed to its Contact by the matcher).

Delivery:

* ``badges_path`` (default ``<output_dir>/badges.jsonl``): one JSON line per (search_id, result_id).
  Each batch merges its badges into the file and rewrites it atomically (temp file + rename), so a
  rerun or a replayed record replaces that result's line instead of adding a second one; the latest
  check wins. Lines keep their first-seen order.
* When ``andsend_api_url`` and ``andsend_api_key`` are set: ``PUT /v1/search-results/badges`` in
  calls of at most 1,000 (see andsend_writeback.py). A write-back that still fails after its retries
  raises, so STATE does not move past badges Andsend never received. A dry run writes the file
  (it is local output) but sends nothing to Andsend.

``prepare`` matches a batch and builds its badges; the prepared batch's ``commit`` writes the
file and calls Andsend. Two batches may be prepared at once, their commits run in input order
(docs/DESIGN.md, "Concurrency model").

``prospect_key`` is the Andsend prospect id when the result has one, else ``email:<normalised
email>``, else None. Report counts go to role ``search_results``: ``checked``, ``found_<Object>``,
``not_found``, ``written_back``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .badge_plan import badge_for, person_key_fields, result_key
from .batch_worker import PreparedBatch
from .normalize import keep_latest

if TYPE_CHECKING:
    from .context import RunContext

ROLE = "search_results"


# The start of a line this module wrote (badge_for's key order, compact separators): the key is read
# from it without parsing the whole line. Anything else (escapes, another layout) is parsed.
_LINE_KEY = re.compile(r'^\{"result_id":"([^"\\]*)","search_id":"([^"\\]*)"')


def _line_key(line: str) -> str | None:
    m = _LINE_KEY.match(line)
    if m and line.endswith("}"):
        return f"{m.group(2)}\x1f{m.group(1)}"
    try:
        b = json.loads(line)
    except ValueError:
        return None  # a torn last line from a killed run; the rerun rewrites it
    return f"{b.get('search_id')}\x1f{b.get('result_id')}" if isinstance(b, dict) else None


def merge_badges_file(path: Path, badges: list[dict]) -> None:
    """Merge badges into the JSON-lines file keyed by (search_id, result_id); atomic rewrite.

    The existing file is streamed line by line (a replaced badge keeps its line's position, new
    ones are appended), so memory is one batch however big the file grows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new: dict[str, dict] = {}
    for b in badges:
        new[f"{b['search_id']}\x1f{b['result_id']}"] = b
    written: set[str] = set()
    fd, tmp = tempfile.mkstemp(prefix=".badges-", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            if path.exists():
                with path.open(encoding="utf-8") as fh:
                    for raw in fh:
                        line = raw.strip()
                        key = _line_key(line) if line else None
                        if key is None or key in written:
                            continue
                        if key in new:
                            line = _dump(new[key])
                            written.add(key)
                        out.write(line + "\n")
            for key, b in new.items():
                if key not in written:
                    out.write(_dump(b) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _dump(badge: dict) -> str:
    return json.dumps(badge, ensure_ascii=False, separators=(",", ":"))


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def process_batch(run: RunContext, records: list[dict]) -> None:
    """Prepare and commit one batch at once (outside the target's batch worker)."""
    prepare(run, records).commit()


def prepare(run: RunContext, records: list[dict]) -> PreparedBatch:
    """Match the batch and build its badges; the output is the commit (after every earlier
    batch's: a result seen twice ends as its later badge)."""
    from .matching import PersonKey

    for r in records:
        if not (r.get("id") and r.get("search_id")):  # no badge can be keyed: rejected with the reason
            run.reject(role=ROLE, key=str(r.get("id")), object=None, error_code="INVALID_SEARCH_RESULT",
                       message="the search result lacks its id or search_id", record=r, counted_as="search_result")
    # One result per (search_id, id): a later copy in the batch replaces an earlier one.
    results = keep_latest((r for r in records if r.get("id") and r.get("search_id")), result_key)
    if not results:
        return PreparedBatch()
    keys = [PersonKey(**person_key_fields(r)) for r in results]
    # Search results repeat people and companies across batches: values looked up by an earlier
    # batch of the run are answered from memory (forgotten whenever prospects are written).
    matches = run.matcher.match(keys, order=run.settings.match_order or None, remember=True, owner_names=True)
    checked_at = _now()
    # Owners came with their records (Owner.Name, Owner.Email); a User query only for the others
    # (rows remembered from an earlier batch keep no owner fields).
    run.owners.note_owners(m.record for m in matches.values() if m is not None)
    owners = run.owners.users_by_id(m.record.get("OwnerId") for m in matches.values() if m is not None)
    dnc = _do_not_contact_rule(run)
    badges = [
        badge_for(r, matches.get(k.key), record_link=run.client.record_link, checked_at=checked_at,
                  owners=owners, do_not_contact=dnc)
        for r, k in zip(results, keys, strict=True)
    ]
    for b, k in zip(badges, keys, strict=True):
        run.report.count(ROLE, "search_result", "checked")
        if b["exists"]:
            run.report.count(ROLE, b["object_type"], "found")
            match = matches[k.key]
            if match is not None and len(match.candidates) > 1:
                run.report.ambiguous(ROLE, b["result_id"], match.object_type, match.via, match.candidates,
                                     match.record_id)
        else:
            run.report.count(ROLE, "search_result", "not_found")
    return PreparedBatch(lambda: _output(run, badges))


def _do_not_contact_rule(run: RunContext) -> Callable[[Any], bool | None]:
    """Match -> do-not-contact (None for Accounts): the CRM-status rule, with every flag readable."""
    from .crm_status import FIELD_GROUPS, read_plan

    plans = {o: read_plan(o, lambda name, o=o: run.org.field_name(o, name), frozenset(FIELD_GROUPS),
                          run.catalog.do_not_contact_fields.get(o, ())) for o in ("Lead", "Contact")}

    def rule(match: Any) -> bool | None:
        from .crm_status import do_not_contact_reasons

        plan = plans.get(match.object_type)
        return bool(do_not_contact_reasons(plan, match.record)) if plan is not None else None

    return rule


def _output(run: RunContext, badges: list[dict]) -> None:
    from .andsend_writeback import AndsendBadgeWriter

    settings = run.settings
    merge_badges_file(settings.paths.badges, badges)  # local output: written in dry runs too
    if settings.writes_back_to_andsend and not settings.dry_run:
        writer = AndsendBadgeWriter(
            str(settings.andsend_api_url),
            str(settings.andsend_api_key),
            logger=run.logger,
            timeout=settings.request_timeout,
            max_retries=settings.max_retries,
        )
        try:
            updated = writer.put(badges)
        finally:
            writer.close()
        run.report.count(ROLE, "search_result", "written_back", updated)
        for badge, reason in writer.refused:
            run.report.count(ROLE, "search_result", "refused_by_andsend")
            run.reject(role=ROLE, key=str(badge.get("result_id")), object=None,
                       error_code="ANDSEND_REFUSED_BADGE", message=f"Andsend refused the badge: {reason}",
                       record=badge)
        refused = {str(b.get("result_id")) for b, _ in writer.refused}
        run.rejects.resolved(ROLE, [b.get("result_id") for b in badges if str(b.get("result_id")) not in refused])
    elif not settings.dry_run:
        run.rejects.resolved(ROLE, [b.get("result_id") for b in badges])  # the badges file is the output
