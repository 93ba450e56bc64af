"""Pure Task building for touchpoints: Subject, Description, subtype, dates, idempotency marker.

Nothing here speaks HTTP; `activities.py` feeds it the org facts (from describe) and the resolved
person/owner and sends the result through the Writer.

Field rules (see docs/DESIGN.md and product.md):

* Subject: ``<Channel>: <type>`` (``LinkedIn: Connection request``, ``Email: Sent``) or, when
  message content may leave Andsend and the step has a subject line, ``Email: <subject>`` /
  ``Email reply: <subject>`` / ``LinkedIn InMail: <subject>``. With content off the subject line is
  treated as message content and never used. Cut to 255 characters at a word boundary with ``…``.
  Where the org has no external-id field on Task, the idempotency marker ``[andsend:<id>]`` is
  appended (it always survives the cut).
* Description: the body, only with content on, cut to 32,000 characters at a paragraph, sentence or
  word boundary with ``\\n[… truncated by Andsend]``. Lengths are counted in UTF-16 code units,
  as Salesforce counts them (never more than Python's ``len``), so the limit holds for both.
* Completion time: ``CompletedDateTime`` when the org lets us write it; Salesforce itself does not
  (the field is read-only and stamped with the save time), so then the execution time is recorded
  as the Description's first line ``Executed via Andsend at <RFC 3339 UTC>``; ActivityDate always
  carries the date (UTC) of ``executed_at``. That line is metadata, not message content.
* TaskSubtype: ``Email`` for email steps, ``LinkedIn`` for LinkedIn steps when the org's picklist
  has the value, else ``Task`` (if allowed), else left out. Create only: never sent on update.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone

SUBJECT_MAX = 255
DESCRIPTION_MAX = 32_000
TRUNCATION_MARKER = "\n[… truncated by Andsend]"
ELLIPSIS = "…"

CHANNEL_LABELS = {"email": "Email", "linkedin": "LinkedIn"}
TYPE_LABELS = {
    "email_sent": "Sent",
    "email_reply": "Reply",
    "linkedin_connection_request": "Connection request",
    "linkedin_message": "Message",
    "linkedin_inmail": "InMail",
    "linkedin_profile_visit": "Profile visit",
}
# With content allowed and a subject line present, the subject replaces the type label.
SUBJECT_PREFIXES = {
    "email_sent": "Email",
    "email_reply": "Email reply",
    "linkedin_inmail": "LinkedIn InMail",
    "linkedin_message": "LinkedIn message",
}
SUBTYPE_BY_CHANNEL = {"email": "Email", "linkedin": "LinkedIn"}

MARKER_RE = re.compile(r"\[andsend:([A-Za-z0-9_.:\-]{1,80})\]")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


def sf_len(text: str) -> int:
    """Length as Salesforce counts it: UTF-16 code units, a surrogate pair (emoji, rare CJK) being
    two (Salesforce Help 005166849, "Surrogate Pair Characters Are Treated as Two Characters";
    field lengths, formulas and Apex's String alike). Every length check of the target uses this."""
    return len(text.encode("utf-16-le")) // 2


def _cut_units(text: str, limit: int) -> str:
    """Longest prefix of `text` whose UTF-16 length is <= limit (never splits a surrogate pair)."""
    if sf_len(text) <= limit:
        return text
    out = []
    used = 0
    for ch in text:
        w = 2 if ord(ch) > 0xFFFF else 1
        if used + w > limit:
            break
        out.append(ch)
        used += w
    return "".join(out)


cut_units = _cut_units


def cut_clean(text: str, limit: int, suffix: str, *, boundaries: tuple[str, ...] = ("word",)) -> str:
    """Cut `text` to at most `limit` units including `suffix`, at the best clean boundary.

    boundaries are tried in order: "paragraph" (blank line), "sentence" (. ! ? followed by space),
    "word" (whitespace). A boundary is accepted only if it keeps at least half of the room, so a
    single early paragraph break does not throw most of the text away.
    """
    if sf_len(text) <= limit:
        return text
    room = limit - sf_len(suffix)
    if room <= 0:
        return _cut_units(suffix, limit)
    head = _cut_units(text, room)
    min_keep = len(head) // 2
    for kind in boundaries:
        pos = -1
        if kind == "paragraph":
            pos = head.rfind("\n\n")
        elif kind == "sentence":
            found = [m.end() for m in re.finditer(r"[.!?…](?=\s)", head)]
            pos = found[-1] if found else -1
        elif kind == "word":
            found = [m.start() for m in re.finditer(r"\s", head)]
            pos = found[-1] if found else -1
        if pos >= min_keep and pos > 0:
            return head[:pos].rstrip() + suffix
    return head.rstrip() + suffix


def marker_token(touchpoint_id: str) -> str:
    """Deterministic idempotency token for a touchpoint, safe in a SOQL LIKE pattern."""
    tid = str(touchpoint_id)
    if not _SAFE_ID.match(tid):
        tid = "h:" + hashlib.sha256(tid.encode()).hexdigest()[:32]
    return f"[andsend:{tid}]"


def markers_in(subject: str | None) -> set[str]:
    """The touchpoint id (as encoded by marker_token) of an existing Task's Subject.

    Only the last marker counts: build_subject appends ours after the message's own subject
    line, which may itself contain marker-like text that must not mark another touchpoint done."""
    found = MARKER_RE.findall(subject or "")
    return {found[-1]} if found else set()


def marker_id(touchpoint_id: str) -> str:
    return marker_token(touchpoint_id)[len("[andsend:") : -1]


def parse_time(value: str) -> datetime:
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def sf_datetime(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def build_subject(tp: dict, *, include_content: bool, marker: str | None = None) -> str:
    channel = str(tp.get("channel") or "")
    ttype = str(tp.get("type") or "")
    channel_label = CHANNEL_LABELS.get(channel, channel.capitalize() or "Activity")
    type_label = TYPE_LABELS.get(ttype) or ttype.replace("_", " ").strip().capitalize() or "Step"
    line = (tp.get("subject") or "").strip() if include_content else ""
    line = " ".join(line.split())  # subjects are one line in Salesforce
    if line and ttype in SUBJECT_PREFIXES:
        text = f"{SUBJECT_PREFIXES[ttype]}: {line}"
    else:
        text = f"{channel_label}: {type_label}"
    if marker:
        room = SUBJECT_MAX - sf_len(marker) - 1
        return f"{cut_clean(text, room, ELLIPSIS)} {marker}"
    return cut_clean(text, SUBJECT_MAX, ELLIPSIS)


def build_description(tp: dict, *, include_content: bool, executed_line: str | None = None) -> str | None:
    parts = []
    if executed_line:
        parts.append(executed_line)
    body = (tp.get("body") or "") if include_content else ""
    body = body.replace("\r\n", "\n").strip()
    if body:
        parts.append(body)
    if not parts:
        return None
    text = "\n\n".join(parts)
    return cut_clean(text, DESCRIPTION_MAX, TRUNCATION_MARKER, boundaries=("paragraph", "sentence", "word"))


@dataclass(frozen=True)
class TaskOrgFacts:
    """What the org's Task describe allows; built by activities.py from describe."""

    external_id_field: str | None  # "Andsend_Touchpoint_Id__c" when present, externalId and createable
    subtypes: frozenset[str]  # active TaskSubtype picklist values ("" set = field absent)
    completed_datetime_writable: bool
    # Andsend ids are case-sensitive; so is the shipped field. In an org whose field is not, two ids
    # differing only in case would be one Task: the target then refuses the second (activities.py).
    external_id_case_sensitive: bool = True


def choose_subtype(channel: str, subtypes: frozenset[str]) -> str | None:
    wanted = SUBTYPE_BY_CHANNEL.get(channel)
    if wanted and wanted in subtypes:
        return wanted
    if "Task" in subtypes:
        return "Task"
    return None


def build_task(
    tp: dict,
    *,
    facts: TaskOrgFacts,
    include_content: bool,
    who_id: str,
    what_id: str | None,
    owner_id: str | None,
) -> dict:
    """The Task fields for one touchpoint (for create; drop "TaskSubtype" for updates)."""
    executed = parse_time(str(tp["executed_at"]))
    marker = None if facts.external_id_field else marker_token(str(tp["id"]))
    executed_line = None
    task: dict = {
        "Subject": build_subject(tp, include_content=include_content, marker=marker),
        "Status": "Completed",
        "ActivityDate": executed.date().isoformat(),
        "WhoId": who_id,
    }
    if facts.completed_datetime_writable:
        task["CompletedDateTime"] = sf_datetime(executed)
    else:
        executed_line = f"Executed via Andsend at {executed.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    description = build_description(tp, include_content=include_content, executed_line=executed_line)
    if description is not None:
        task["Description"] = description
    if what_id:
        task["WhatId"] = what_id
    if owner_id:
        task["OwnerId"] = owner_id
    subtype = choose_subtype(str(tp.get("channel") or ""), facts.subtypes)
    if subtype:
        task["TaskSubtype"] = subtype
    if facts.external_id_field:
        task[facts.external_id_field] = str(tp["id"])
    return task
