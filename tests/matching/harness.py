"""Runs the labelled corpus end to end and scores it: the Accounts (or Leads and Contacts) are
seeded into a fresh Salesforce emulator in its fixture format, the prospects go to
``target-salesforce-andsend`` as Singer messages (a separate process, as a user runs it), and the
outcome is read back from the emulator: which Account each new Contact was put under, which
Accounts exist, which records carry each prospect's id. Shared by the test suite and
``benchmarks/matching_benchmark.py``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from emulators.salesforce.server import create_app
from emulators.serving import serve_in_thread
from tests.matching.corpus import ALT_EMAIL_FIELDS

TARGET = str(Path(sys.executable).parent / "target-salesforce-andsend")
ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "prospects.json").read_text(encoding="utf-8"))
EXT = "Andsend_Prospect_Id__c"
STAMP = "2026-01-01T00:00:00Z"


@dataclass
class Figures:
    """Precision, recall and duplicates of one corpus run (decisions are per prospect)."""

    same: int = 0
    different: int = 0
    true_links: int = 0
    false_links: int = 0
    duplicate_accounts: int = 0
    api_calls: int = 0
    seconds: float = 0.0
    by_category: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    errors: list[dict[str, Any]] = field(default_factory=list)
    audit_entries: int = 0
    account_index: dict[str, Any] = field(default_factory=dict)  # the report's section (account_index.py)

    @property
    def precision(self) -> float:
        linked = self.true_links + self.false_links
        return self.true_links / linked if linked else 1.0

    @property
    def recall(self) -> float:
        return self.true_links / self.same if self.same else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {"decisions": self.same + self.different, "same": self.same, "different": self.different,
                "true_links": self.true_links, "false_links": self.false_links,
                "precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "duplicate_accounts": self.duplicate_accounts, "api_calls": self.api_calls,
                "seconds": round(self.seconds, 1), "audit_entries": self.audit_entries,
                "account_index": self.account_index,
                "by_category": {k: dict(v) for k, v in sorted(self.by_category.items())},
                "errors": self.errors[:50]}


def _control(base_url: str, path: str, body: Any = None) -> Any:
    method = "GET" if body is None else "POST"
    response = requests.request(method, f"{base_url}/__emulator__/{path}", json=body, timeout=300)
    response.raise_for_status()
    return response.json()


def _seed(base_url: str, records: dict[str, list[dict]]) -> dict[str, str]:
    """Seed through the control plane in the fixture format; ``{ref: id}``."""
    return _control(base_url, "seed", {"records": records})["refs"]


def _run_target(base_url: str, workdir: Path, prospects: list[dict], **config: Any) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    settings = {"login_url": base_url, "auth_flow": "password", "client_id": "emulator-client-id",
                "client_secret": "emulator-client-secret", "username": "admin@example.com",
                "password": "emulator", "security_token": "token", "output_dir": str(workdir / "out"),
                "max_retries": 6, "retry_backoff_seconds": 0.05, "request_timeout": 120, **config}
    (workdir / "config.json").write_text(json.dumps(settings), encoding="utf-8")
    lines = [json.dumps({"type": "SCHEMA", "stream": "prospects", "schema": SCHEMA, "key_properties": ["id"]})]
    for p in prospects:
        record = {"status": "purchased", "purchased": True, "created_at": STAMP, "updated_at": STAMP, **p}
        lines.append(json.dumps({"type": "RECORD", "stream": "prospects", "record": record}, ensure_ascii=False))
    lines.append(json.dumps({"type": "STATE", "value": {"bookmarks": {"prospects": {"n": len(prospects)}}}}))
    (workdir / "input.singer").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with (workdir / "input.singer").open("rb") as stdin:
        proc = subprocess.run([TARGET, "--config", str(workdir / "config.json")], stdin=stdin,
                              capture_output=True, timeout=1800)
    (workdir / "target.log").write_bytes(proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"target failed ({proc.returncode}): {proc.stderr[-3000:].decode(errors='replace')}")
    return json.loads((workdir / "out" / "report.json").read_text(encoding="utf-8"))


def run_company_corpus(pairs: list[dict[str, Any]], workdir: Path, *, batch_size: int = 500,
                       **config: Any) -> Figures:
    """Every pair's Account seeded, every pair's prospects sent in one contact_account run."""
    accounts = [{"_ref": p["pair"], **{k: v for k, v in p["account"].items() if v is not None}} for p in pairs]
    app = create_app(":memory:", None)
    server = serve_in_thread(app)
    try:
        base = server.base_url
        by_name_ref = _seed(base, {"Account": accounts})
        seeded = set(by_name_ref.values())
        prospects = [pr for p in pairs for pr in p["prospects"]]
        started = time.monotonic()
        report = _run_target(base, workdir, prospects, object_mode="contact_account", batch_size_rows=batch_size,
                             **config)
        figures = Figures(seconds=time.monotonic() - started, api_calls=int(report.get("api_calls_total") or 0),
                          audit_entries=len(report.get("match_audit") or []),
                          account_index=dict(report.get("account_index") or {}))
        contacts = {c.get(EXT): c for c in _control(base, "records/Contact") if not c.get("IsDeleted")}
        all_accounts = {a["Id"]: a for a in _control(base, "records/Account") if not a.get("IsDeleted")}
        for p in pairs:
            own = by_name_ref[p["pair"]]
            created: set[str] = set()
            for pr in p["prospects"]:
                contact = contacts.get(pr["id"])
                account_id = contact.get("AccountId") if contact else None
                cat = p["category"]
                if p["label"] == "same":
                    figures.same += 1
                else:
                    figures.different += 1
                if account_id == own:
                    outcome = "linked"
                    if p["label"] == "same":
                        figures.true_links += 1
                    else:
                        figures.false_links += 1
                elif account_id in seeded:
                    outcome = "linked_to_another_pair"
                    figures.false_links += 1
                elif account_id in all_accounts:
                    outcome = "new_account"
                    created.add(account_id)
                else:
                    outcome = "no_account"
                figures.by_category[f"{p['label']}/{cat}"][outcome] += 1
                ok = (outcome == "linked") == (p["label"] == "same")
                if not ok:
                    figures.errors.append({"pair": p["pair"], "category": cat, "label": p["label"],
                                           "outcome": outcome, "prospect": pr, "account": p["account"],
                                           "linked": all_accounts.get(account_id or "", {}).get("Name")})
            # A new Account for a company the org holds, or more than one for one new company.
            figures.duplicate_accounts += len(created) if p["label"] == "same" else max(0, len(created) - 1)
        return figures
    finally:
        server.stop()
        app.state.emulator.store.close()


def run_person_corpus(pairs: list[dict[str, Any]], workdir: Path, *, batch_size: int = 500,
                      alternate_fields: tuple[str, ...] = ALT_EMAIL_FIELDS) -> Figures:
    """Every pair's Lead or Contact seeded (with the alternate e-mail fields added to the org's
    Contact); the prospects sent in one lead-mode run with ``match_email_fields`` set; a pair is
    linked when its record now carries the prospect's id."""
    records: dict[str, list[dict]] = {"Lead": [], "Contact": []}
    for p in pairs:
        rec = dict(p["record"])
        obj = rec.pop("object")
        row = {"_ref": p["pair"], "LastName": "Existing", **rec}
        if obj == "Lead":
            row["Company"] = "Existing Co"
        records[obj].append(row)
    add = [{"name": f, "type": "email", "length": 80, "label": f} for f in alternate_fields]
    app = create_app(":memory:", {"describe": {"add_fields": {"Contact": add}}})
    server = serve_in_thread(app)
    try:
        base = server.base_url
        refs = _seed(base, records)
        ids = {p["pair"]: (p["record"]["object"], refs[p["pair"]]) for p in pairs}
        started = time.monotonic()
        report = _run_target(base, workdir, [p["prospect"] for p in pairs], object_mode="lead",
                             batch_size_rows=batch_size, match_email_fields=list(alternate_fields))
        figures = Figures(seconds=time.monotonic() - started, api_calls=int(report.get("api_calls_total") or 0))
        carrying: dict[str, tuple[str, str]] = {}
        for obj in ("Lead", "Contact"):
            for row in _control(base, f"records/{obj}"):
                if row.get(EXT) and not row.get("IsDeleted"):
                    carrying[row[EXT]] = (obj, row["Id"])
        for p in pairs:
            got = carrying.get(p["prospect"]["id"])
            linked = got == ids[p["pair"]]
            if p["label"] == "same":
                figures.same += 1
                figures.true_links += linked
            else:
                figures.different += 1
                figures.false_links += linked
            outcome = "linked" if linked else ("created" if got else "missing")
            figures.by_category[f"{p['label']}/{p['category']}"][outcome] += 1
            if linked != (p["label"] == "same"):
                figures.errors.append({"pair": p["pair"], "category": p["category"], "label": p["label"],
                                       "outcome": outcome, "prospect": p["prospect"], "record": p["record"]})
            if p["label"] == "same" and not linked and got:
                figures.duplicate_accounts += 1  # a duplicate person (field reused for the person corpus)
        return figures
    finally:
        server.stop()
        app.state.emulator.store.close()
