"""Preview: the target's own dry run (the `plan` command's machinery) over a few prospects.

The prospects come from a sample file of Singer messages (what `tap-andsend` or
`meltano invoke tap-andsend` prints) or from the Andsend API: the most recently updated
purchased prospects, with the users that own them. Nothing is written anywhere: the dry run
reads Salesforce only, and its report, rejects and link store live in a temporary directory.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import requests

from ..cli import run_plan

# The dry run needs the records, not their exact schema: the target checks every field itself.
_SCHEMA = {"type": "object", "properties": {"id": {"type": "string"}}}
# Widening windows over updated_at: a busy account finds its latest purchases in the first.
_WINDOWS_DAYS = (1, 7, 30, 365, None)
_MAX_PAGES = 20


class PreviewError(Exception):
    pass


def _singer(stream: str, rows: Iterable[dict]) -> list[str]:
    lines = [json.dumps({"type": "SCHEMA", "stream": stream, "schema": _SCHEMA, "key_properties": ["id"]})]
    lines += [json.dumps({"type": "RECORD", "stream": stream, "record": r}) for r in rows]
    return lines


def _pages(session: requests.Session, url: str, params: dict[str, Any]) -> list[dict]:
    rows: list[dict] = []
    cursor = None
    for _ in range(_MAX_PAGES):
        resp = session.get(url, params={**params, **({"cursor": cursor} if cursor else {})}, timeout=60)
        if resp.status_code == 401:
            raise PreviewError("the Andsend API rejected the API key (401)")
        resp.raise_for_status()
        body = resp.json()
        rows += body.get("data") or []
        cursor = body.get("next_cursor")
        if not cursor:
            break
    return rows


def recent_messages(api_url: str, api_key: str, *, limit: int = 25,
                    now: datetime | None = None) -> list[str]:
    """Singer messages for the ``limit`` most recently updated purchased prospects and all users."""
    base = api_url.rstrip("/")
    base = base if base.endswith("/v1") else base + "/v1"
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {api_key}", "Accept": "application/json"})
    try:
        users = _pages(session, f"{base}/users", {"limit": 1000})
        prospects: list[dict] = []
        now = now or datetime.now(timezone.utc)
        for days in _WINDOWS_DAYS:
            params: dict[str, Any] = {"limit": 1000, "purchased": "true"}
            if days is not None:
                params["updated_since"] = (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
            prospects = _pages(session, f"{base}/prospects", params)
            if len(prospects) >= limit:
                break
    except requests.RequestException as exc:
        raise PreviewError(f"could not read the Andsend API at {base}: {type(exc).__name__}") from None
    finally:
        session.close()
    latest = prospects[-limit:]  # the API sorts by (updated_at, id)
    emails = {u["id"]: u.get("email") for u in users}
    for p in latest:
        p.setdefault("purchased_by_user_email", emails.get(p.get("purchased_by_user_id")))
    return _singer("users", users) + _singer("prospects", latest)


def file_messages(path: Path, *, limit: int = 200) -> list[str]:
    """A sample file's Singer messages: every SCHEMA and users RECORD, the first ``limit`` prospects."""
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise PreviewError(f"cannot read {path}: {exc.strerror}") from None
    out, prospects = [], 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except ValueError:
            raise PreviewError(f"{path} line {number} is not a Singer message (JSON)") from None
        if message.get("type") == "RECORD" and message.get("stream") == "prospects":
            prospects += 1
            if prospects > limit:
                continue
        if message.get("type") in ("SCHEMA", "RECORD"):
            out.append(line)
    if not prospects:
        raise PreviewError(f"{path} holds no prospects RECORD")
    return out


@dataclass
class PreviewRow:
    kind: str
    object: str
    record: str
    via: str
    prospects: str
    owner: str
    fields: list[tuple[str, str]]


@dataclass
class PreviewResult:
    rows: list[PreviewRow] = field(default_factory=list)
    counts: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)
    rejects: int = 0
    reject_lines: list[str] = field(default_factory=list)
    api_calls: int = 0
    status: str = ""


KIND_TEXT = {"create": "create", "update": "update", "link": "link (no change)"}


def run_preview(config: dict[str, Any], lines: list[str], owner_names: Any) -> PreviewResult:
    """Dry run ``lines`` with ``config``; ``owner_names(ids) -> {id: name}`` names the owners."""
    with tempfile.TemporaryDirectory(prefix="andsend-setup-preview-") as tmp:
        cfg = {**config, "output_dir": tmp, "report_path": str(Path(tmp) / "report.json"),
               "rejects_path": str(Path(tmp) / "rejects.jsonl"), "badges_path": str(Path(tmp) / "badges.jsonl")}
        report = run_plan(cfg, io.StringIO("\n".join(lines) + "\n"))
        rejects_file = Path(cfg["rejects_path"])
        rejects = [json.loads(x) for x in rejects_file.read_text().splitlines()[:20]] if rejects_file.exists() else []
    actions = [a for a in report.get("plan", []) if a.get("object") in ("Lead", "Contact", "Account")]
    names = owner_names({a["owner_id"] for a in actions if a.get("owner_id")}) if actions else {}
    out = PreviewResult(status=str(report.get("status", "")), api_calls=int(report.get("api_calls_total") or 0))
    for a in actions:
        if a.get("owner_id"):
            owner = names.get(a["owner_id"], a["owner_id"])
        elif a.get("kind") == "create":
            owner = "assignment rules" if a.get("auto_assign") else "the integration user"
        else:
            owner = "unchanged (existing owner)"
        record = a.get("record_id") or ("new, under a new Account" if a.get("account_ref") else "new")
        out.rows.append(PreviewRow(
            kind=KIND_TEXT.get(a.get("kind", ""), a.get("kind", "")), object=a.get("object", ""), record=record,
            via=a.get("via") or "", prospects=", ".join(a.get("prospect_ids") or []), owner=owner,
            fields=[(k, str(v)) for k, v in (a.get("fields") or {}).items() if k != "OwnerId"]))
    for role, objects in sorted((report.get("counts") or {}).items()):
        for obj, outcomes in sorted(objects.items()):
            out.counts.append(f"{role} / {obj}: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    for role, reasons in sorted((report.get("skipped") or {}).items()):
        out.skipped.append(f"{role}: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))
    out.owners = [f"{k} {v}" for k, v in sorted((report.get("owners") or {}).items())]
    out.rejects = int(report.get("rejects") or 0)
    out.reject_lines = [f"{r.get('key')}: {r.get('object') or ''} {r.get('error_code') or ''} {r.get('message') or ''}"
                        for r in rejects]
    return out
