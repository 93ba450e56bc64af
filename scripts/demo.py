"""The one-command demo: Andsend -> Salesforce through Meltano, on the local emulators.

1. Generate a Salesforce org that shares people with the Andsend data (so some prospects
   match existing Leads/Contacts/Accounts and others are created).
2. Start both emulators as subprocesses on free 127.0.0.1 ports (SQLite files in demo-output/).
3. `meltano run tap-andsend target-salesforce-andsend` (environment dev, URLs overridden).
4. Print what happened, read from the target's run report and checked at the emulators.
5. Add activity in Andsend (new purchases and touchpoints) and, in Salesforce, what sellers and
   admins do (opt one synced person out of e-mail, convert one Lead, reassign one owner); run
   again, and show that only the new work moved and that each CRM change arrived in Andsend.
6. Stop the emulators; the Salesforce data stays in demo-output/salesforce.sqlite.

Run it through ./scripts/demo.sh (which creates the venv first) or `python scripts/demo.py`
inside the project's venv (`source scripts/bootstrap.sh`). `--help` works anywhere: the
project's packages are imported only when the demo runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STATE_ID = "dev:tap-andsend-to-target-salesforce-andsend"
OBJECTS = ("Lead", "Contact", "Account", "Task")
# The emulators' built-in demo credentials (README "Emulators"), the same as meltano.yml's dev.
ANDSEND_KEY = "andsend-demo-key"
INTEGRATION_USER = "admin@example.com"


class _LazyConsole:
    """rich's Console, created on first use: `--help` must work outside the venv."""

    _console: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            # Wide enough for the summary table even when stdout is not a terminal (CI logs, pipes).
            type(self)._console = Console(highlight=False,
                                          width=max(110, shutil.get_terminal_size((110, 24)).columns))
        return getattr(self._console, name)


console = _LazyConsole()


class DemoError(RuntimeError):
    """A step failed; the message says which and where its log is."""


# --- emulator processes -------------------------------------------------------------------


@dataclass
class Emulator:
    name: str
    args: list[str]
    log_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    base_url: str = ""

    def start(self, timeout: float = 60) -> str:
        out = self.log_dir / f"{self.name}.out"
        err = self.log_dir / f"{self.name}.err"
        with out.open("wb") as out_fh, err.open("wb") as err_fh:
            # Own process group: Ctrl-C in the terminal reaches the demo, which then stops
            # the emulators in order instead of leaving them half-killed.
            self.proc = subprocess.Popen(
                ["andsend-emulators", *self.args],
                cwd=ROOT,
                stdout=out_fh,
                stderr=err_fh,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            first = out.read_text().split("\n", 1)
            if len(first) == 2 and first[0].strip():
                self.base_url = first[0].strip().rstrip("/")
                return self.base_url
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise DemoError(f"the {self.name} emulator did not start; see {err}:\n{_tail(err)}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _get(url: str) -> Any:
    import requests

    response = requests.get(url, timeout=30)
    response.raise_for_status()
    return response.json()


def _post(url: str, body: Any = None) -> Any:
    import requests

    response = requests.post(url, json=body, timeout=60)
    response.raise_for_status()
    return response.json() if response.content else None


def _rows(payload: Any) -> list[dict[str, Any]]:
    if isinstance(payload, list):
        return payload
    for key in ("records", "data", "rows"):
        if isinstance(payload, dict) and isinstance(payload.get(key), list):
            return payload[key]
    raise DemoError(f"unexpected records payload from the emulator: {str(payload)[:200]}")


# --- what the org looks like ---------------------------------------------------------------


@dataclass
class OrgSnapshot:
    rows: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # object -> Id -> row

    @classmethod
    def take(cls, salesforce_url: str) -> OrgSnapshot:
        snap = cls()
        for obj in (*OBJECTS, "User"):
            rows = _rows(_get(f"{salesforce_url}/__emulator__/records/{obj}"))
            snap.rows[obj] = {r["Id"]: r for r in rows if not r.get("IsDeleted")}
        return snap


def org_changes(before: OrgSnapshot, after: OrgSnapshot, integration_user: str | None) -> dict[str, int]:
    """Facts read back from the Salesforce emulator, independent of what the target reports."""
    facts: dict[str, int] = {}
    for obj in OBJECTS:
        old, new = before.rows.get(obj, {}), after.rows.get(obj, {})
        created = [r for rid, r in new.items() if rid not in old]
        changed = [
            r for rid, r in new.items()
            if rid in old and r.get("SystemModstamp") != old[rid].get("SystemModstamp")
        ]  # fmt: skip
        facts[f"{obj}s created"] = len(created)
        if obj != "Task":
            facts[f"{obj}s updated (linked / enriched)"] = len(changed)
        if obj in ("Lead", "Contact", "Task"):
            owned = [r for r in created if r.get("OwnerId") and r.get("OwnerId") != integration_user]
            facts[f"{obj}s created, owned by a seller"] = len(owned)
    subtypes = Counter(
        r.get("TaskSubtype") or "Task"
        for rid, r in after.rows.get("Task", {}).items()
        if rid not in before.rows.get("Task", {})
    )
    for subtype, n in sorted(subtypes.items()):
        facts[f"Tasks created, subtype {subtype}"] = n
    return facts


def integration_user_id(snapshot: OrgSnapshot, username: str) -> str | None:
    for user in snapshot.rows.get("User", {}).values():
        if str(user.get("Username", "")).lower() == username.lower():
            return str(user["Id"])
    return None


# --- one pipeline run ----------------------------------------------------------------------


@dataclass
class RunResult:
    label: str
    seconds: float
    sections: dict[str, dict[str, Any]]  # section title -> row label -> value


def meltano_env(out: Path, andsend_url: str, salesforce_url: str, object_mode: str) -> dict[str, str]:
    # The demo only ever talks to its own emulators: plugin variables from the shell are dropped
    # and the dev connection settings are set explicitly (process variables win over a .env
    # that may hold a real org's credentials).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAP_ANDSEND_", "TARGET_SALESFORCE_ANDSEND_"))
    }
    env.update(
        MELTANO_ENVIRONMENT="dev",
        MELTANO_PROJECT_ROOT=str(ROOT),
        # The demo's own Meltano system database, so its state starts empty each time and the
        # project's .meltano/ is left alone.
        MELTANO_DATABASE_URI=f"sqlite:///{out / 'meltano.db'}",
        MELTANO_DISABLE_TRACKING="true",
        MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
        MELTANO_CLI_DISABLE_VERSION_CHECK="true",
        TAP_ANDSEND_API_URL=andsend_url,
        TAP_ANDSEND_API_KEY=ANDSEND_KEY,
        TARGET_SALESFORCE_ANDSEND_LOGIN_URL=salesforce_url,
        TARGET_SALESFORCE_ANDSEND_AUTH_FLOW="password",
        TARGET_SALESFORCE_ANDSEND_CLIENT_ID="emulator-client-id",
        TARGET_SALESFORCE_ANDSEND_CLIENT_SECRET="emulator-client-secret",
        TARGET_SALESFORCE_ANDSEND_USERNAME=INTEGRATION_USER,
        TARGET_SALESFORCE_ANDSEND_PASSWORD="emulator",
        TARGET_SALESFORCE_ANDSEND_SECURITY_TOKEN="token",
        TARGET_SALESFORCE_ANDSEND_ANDSEND_API_URL=andsend_url,
        TARGET_SALESFORCE_ANDSEND_ANDSEND_API_KEY=ANDSEND_KEY,
        TARGET_SALESFORCE_ANDSEND_OUTPUT_DIR=str(out / "target"),
        TARGET_SALESFORCE_ANDSEND_OBJECT_MODE=object_mode,
    )
    # The console scripts of this venv must be on PATH: Meltano runs plugins without pip_url
    # from PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group led by ``proc`` (which this script started), then SIGKILL."""
    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run_pipeline(label: str, env: dict[str, str], log: Path) -> float:
    console.print(f"[bold]{label}[/]: meltano run tap-andsend target-salesforce-andsend  (log: {_rel(log)})")
    started = time.monotonic()
    with log.open("wb") as fh:
        # Own process group, so an interrupted demo can stop Meltano together with the tap
        # and target it started.
        proc = subprocess.Popen(
            ["meltano", "run", "tap-andsend", "target-salesforce-andsend"],
            cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        try:
            proc.wait()
        except BaseException:
            _stop_group(proc)
            raise
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise DemoError(
            f"meltano run failed (exit {proc.returncode}); last lines of {_rel(log)}:\n{_tail(log, 40)}"
        )
    return seconds


ROLE_TITLES = {
    "prospects": "Prospects (target's report)",
    "touchpoints": "Activities (target's report)",
    "search_results": "Search results and badges (target's report)",
}


OWNER_WORDS = {"resolved": "owned by the seller's Salesforce User",
               "integration_user": "owned by the integration user (seller not in Salesforce)",
               "fallback_user": "owned by the fallback owner", "assignment_rules": "owner from assignment rules"}


def _count_label(obj: str, outcome: str) -> str:
    if obj == "TaskOwner":
        return f"Tasks {OWNER_WORDS.get(outcome, outcome.replace('_', ' '))}"
    if obj == "Prospect":
        return f"prospects {outcome.replace('_', ' ')}"
    if obj == "search_result":
        return f"search results {outcome.replace('_', ' ')}"
    if obj == "status":
        return f"CRM statuses {outcome.replace('_', ' ')}"
    return f"{obj}s {outcome.replace('_', ' ')}"


def report_sections(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The target's own account of the run (report.json), as table sections."""
    sections: dict[str, dict[str, Any]] = {title: {} for title in ROLE_TITLES.values()}
    for role, objects in sorted(report.get("counts", {}).items()):
        if role == "ignore":  # streams the target has no role for (campaigns): read, not written
            other = sections.setdefault("Other streams (target's report)", {})
            other["records of streams not written (campaigns)"] = sum(
                n for outcomes in objects.values() for n in outcomes.values())
            continue
        rows = sections.setdefault(ROLE_TITLES.get(role, f"{role} (target's report)"), {})
        for obj, outcomes in sorted(objects.items()):
            for outcome, n in sorted(outcomes.items()):
                rows[_count_label(obj, outcome)] = n
    for role, reasons in sorted(report.get("skipped", {}).items()):
        rows = sections.setdefault(ROLE_TITLES.get(role, f"{role} (target's report)"), {})
        for reason, n in sorted(reasons.items()):
            rows[f"skipped: {reason.replace('_', ' ')}"] = n
    owners = sections.setdefault("Owners (target's report)", {})
    for status, n in sorted(report.get("owners", {}).items()):
        owners[f"Andsend user -> Salesforce User: {status.replace('_', ' ')}"] = n
    problems = sections.setdefault("Problems (target's report)", {})
    problems["ambiguous matches"] = len(report.get("ambiguous_matches", []))
    problems["rejected records (rejects.jsonl)"] = report.get("rejects", 0)
    retry = report.get("rejects_retry") or {}
    problems["earlier rejects retried"] = retry.get("replayed", 0)
    problems["earlier rejects written or cleared now"] = retry.get("replay_cleared", 0)
    rejects_file = report.get("rejects_file") or {}
    path, run_id = rejects_file.get("path"), rejects_file.get("run_id")
    if path and run_id and Path(path).exists():
        by_code: dict[str, int] = {}
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if item.get("run_id") == run_id:
                by_code[item.get("error_code", "?")] = by_code.get(item.get("error_code", "?"), 0) + 1
        for code, n in sorted(by_code.items()):
            problems[f"rejected: {code}"] = n
    return sections


def quota_text(report: dict[str, Any]) -> str | None:
    quota = report.get("quota") or {}
    used, limit = quota.get("daily_used") or quota.get("used"), quota.get("daily_max") or quota.get("max")
    if isinstance(used, int) and isinstance(limit, int) and limit:
        return f"{used} / {limit} ({100 * used / limit:.1f}%)"
    return None


KIND_WORDS = {"oauth": "sign-in (OAuth)", "soap_login": "sign-in (SOAP)", "limits": "quota check (/limits)",
              "composite": "Composite calls (describes, lookups and writes, bundled)", "query": "queries (lookups)",
              "query_more": "queries, next pages", "collections_create": "creates (200 a call)",
              "collections_update": "updates (200 a call)", "collections_upsert": "upserts (200 a call)"}


def collect(
    label: str,
    seconds: float,
    out: Path,
    andsend_url: str,
    salesforce_url: str,
    before: OrgSnapshot,
    username: str,
    andsend_calls_before: int = 0,
) -> RunResult:
    after = OrgSnapshot.take(salesforce_url)
    report_path = out / "target" / "report.json"
    if not report_path.is_file():
        raise DemoError(f"the target wrote no run report at {_rel(report_path)}")
    report = json.loads(report_path.read_text())
    sections = report_sections(report)
    sections["Salesforce org (read back from the emulator)"] = org_changes(
        before, after, integration_user_id(after, username)
    )
    badges = _rows(_get(f"{andsend_url}/__emulator__/badges"))
    sections["Badges stored in Andsend (read back from the emulator)"] = {
        "black: in Salesforce": sum(1 for b in badges if b.get("exists")),
        "grey: not in Salesforce": sum(1 for b in badges if not b.get("exists")),
    }
    stored = crm_status(andsend_url).values()
    sections["CRM answer stored in Andsend (read back from the emulator)"] = {
        "prospects with a CRM status": len(stored),
        "do not contact (opted out, do not call, custom flag)": sum(1 for s in stored if s.get("do_not_contact")),
        "converted Leads": sum(1 for s in stored if s.get("converted")),
    }
    sf_stats = _get(f"{salesforce_url}/__emulator__/stats")
    by_kind = sf_stats.get("by_kind", {})
    # One definition for both counts: every call, sign-in included (the emulator's api_requests
    # leaves the sign-in out, as Salesforce's daily quota does), and the breakdown adds up to it.
    api: dict[str, Any] = {
        "run time (s), Meltano included": f"{seconds:.1f}",
        "Salesforce calls, sign-in included (target's count)": report.get("api_calls_total", 0),
        "Salesforce calls, sign-in included (emulator's count)": sum(by_kind.values()),
    }
    for kind, n in sorted(by_kind.items()):
        api[f"  {KIND_WORDS.get(kind, kind.replace('_', ' '))}"] = n
    for kind, n in sorted((sf_stats.get("composite_subrequests") or {}).items()):
        # What the Composite calls carried (one counted call each, whatever they carry).
        api[f"    inside them: {KIND_WORDS.get(kind, kind.replace('_', ' '))}"] = n
    api["org's daily API quota used (all integrations)"] = quota_text(report) or "-"
    api["Andsend API calls"] = (
        _get(f"{andsend_url}/__emulator__/stats").get("api_requests", 0) - andsend_calls_before
    )
    sections["API usage"] = api
    return RunResult(label, seconds, sections)


# --- the CRM's answer ----------------------------------------------------------------------


def crm_status(andsend_url: str) -> dict[str, dict[str, Any]]:
    """prospect id -> the CRM status Andsend stores (its control plane: everything stored)."""
    return {s["prospect_id"]: s for s in _rows(_get(f"{andsend_url}/__emulator__/crm-status"))}


def admin_session(salesforce_url: str) -> Any:
    """A session of the org's admin (password flow), for the changes a person makes in Salesforce."""
    import requests

    token = requests.post(f"{salesforce_url}/services/oauth2/token", data={
        "grant_type": "password", "client_id": "emulator-client-id", "client_secret": "emulator-client-secret",
        "username": INTEGRATION_USER, "password": "emulatortoken"}, timeout=30)
    token.raise_for_status()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return session


def change_salesforce(andsend_url: str, salesforce_url: str) -> list[dict[str, Any]]:
    """Opt one synced person out, convert one Lead, reassign one owner; returns what to look for."""
    leads = [s for s in crm_status(andsend_url).values() if s["object_type"] == "Lead" and not s.get("converted")
             and not s.get("do_not_contact")]
    # Three different people (two prospects may be linked to one Lead).
    leads = list({s["record_id"]: s for s in sorted(leads, key=lambda s: s["prospect_id"], reverse=True)}.values())
    if len(leads) < 3:
        raise DemoError("fewer than 3 distinct synced Leads in Andsend's CRM status after run 1")
    opted, converted, moved = sorted(leads, key=lambda s: s["prospect_id"])[:3]
    session = admin_session(salesforce_url)
    api = f"{salesforce_url}/services/data/v60.0/sobjects/Lead"
    session.patch(f"{api}/{opted['record_id']}", json={"HasOptedOutOfEmail": True}, timeout=30).raise_for_status()
    users = [u for u in _rows(_get(f"{salesforce_url}/__emulator__/records/User"))
             if u.get("IsActive") and u.get("Email") and u["Id"] != (moved.get("owner") or {}).get("id")]
    new_owner = sorted(users, key=lambda u: u["Email"])[0]
    session.patch(f"{api}/{moved['record_id']}", json={"OwnerId": new_owner["Id"]}, timeout=30).raise_for_status()
    # Converting is not a REST PATCH in Salesforce (IsConverted is read-only): it is the Convert
    # button or SOAP convertLead, which the emulator's control plane performs.
    done = _post(f"{salesforce_url}/__emulator__/convert-lead", {"lead_id": converted["record_id"]})
    return [
        {"change": "opted out of e-mail", "prospect_id": opted["prospect_id"],
         "arrived": lambda s: s.get("do_not_contact") is True and s.get("has_opted_out_of_email") is True,
         "shows": lambda s: f"do_not_contact={s.get('do_not_contact')} {s.get('do_not_contact_reasons')}"},
        {"change": "Lead converted", "prospect_id": converted["prospect_id"],
         "arrived": lambda s: s.get("converted") is True and s.get("converted_contact_id") == done["contact_id"],
         "shows": lambda s: f"converted to Contact {s.get('converted_contact_id')}"},
        {"change": f"owner -> {new_owner['Email']}", "prospect_id": moved["prospect_id"],
         "arrived": lambda s: (s.get("owner") or {}).get("email") == new_owner["Email"],
         "shows": lambda s: f"owner {(s.get('owner') or {}).get('name')} <{(s.get('owner') or {}).get('email')}>"},
    ]


def render_crm_changes(andsend_url: str, changes: list[dict[str, Any]]) -> None:
    from rich.table import Table

    stored = crm_status(andsend_url)
    table = Table(title="Changed in Salesforce before run 2 -> read back from Andsend (GET /__emulator__/crm-status)",
                  title_justify="left")
    for column in ("change in Salesforce", "prospect", "Andsend now shows", "arrived"):
        table.add_column(column)
    missing = []
    for c in changes:
        status = stored.get(c["prospect_id"], {})
        ok = bool(status) and c["arrived"](status)
        if not ok:
            missing.append(c["change"])
        table.add_row(c["change"], c["prospect_id"], c["shows"](status) if status else "-", "yes" if ok else "NO")
    console.print(table)
    if missing:
        raise DemoError("these Salesforce changes did not reach Andsend: " + ", ".join(missing))


def render(results: list[RunResult]) -> None:
    from rich.table import Table

    table = Table(title="Andsend -> Salesforce via Meltano", title_justify="left")
    table.add_column("", no_wrap=True)
    for result in results:
        table.add_column(result.label, justify="right", no_wrap=True)
    titles: list[str] = []
    for result in results:
        titles += [t for t in result.sections if t not in titles]
    for title in titles:
        keys: list[str] = []
        for result in results:
            keys += [k for k in result.sections.get(title, {}) if k not in keys]
        rows = []
        for key in keys:
            values = [result.sections.get(title, {}).get(key, 0) for result in results]
            if all(v in (0, "0") for v in values):
                continue  # zero in every run: no information
            rows.append((key, *[str(v) for v in values]))
        if not rows:
            continue
        table.add_section()
        table.add_row(f"[bold]{title}[/]", *[""] * len(results))
        for row in rows:
            table.add_row(*row)
    console.print(table)


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


# --- the demo ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--prospects", type=int, default=300, help="Andsend prospects to generate (default 300)"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated data (default 7)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "demo-output", help="output directory (wiped first)"
    )
    parser.add_argument(
        "--new-purchases", type=int, default=15, help="prospects purchased before the second run"
    )
    parser.add_argument(
        "--new-touchpoints", type=int, default=40, help="touchpoints sent before the second run"
    )
    parser.add_argument(
        "--object-mode",
        choices=("lead", "contact_account"),
        default="lead",
        help="new prospects become Leads, or Contacts with their Accounts (default lead)",
    )
    parser.add_argument(
        "--messy",
        action="store_true",
        help="a messy Salesforce org (emulators/salesforce/fixtures/messy.json: validation rules, record "
        "types, duplicate rules, field security, failing automation); before run 2 the admin relaxes its "
        "rules and asks for the rejected records' replay",
    )
    parser.add_argument(
        "--andsend-port", type=int, default=0, help="Andsend emulator port (0 = any free port)"
    )
    parser.add_argument(
        "--salesforce-port", type=int, default=0, help="Salesforce emulator port (0 = any free port)"
    )
    return parser.parse_args(argv)


def demo(args: argparse.Namespace) -> None:
    out: Path = args.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    logs = out / "logs"
    logs.mkdir(parents=True)
    fixture = out / "salesforce-fixture.json"
    username = INTEGRATION_USER

    console.print(
        f"[bold]Generating[/] {args.prospects} Andsend prospects (seed {args.seed}) and an overlapping Salesforce org"
    )
    subprocess.run(
        ["andsend-emulators", "salesforce-fixture", "--seed", str(args.seed), "--prospects", str(args.prospects),
         "--out", str(fixture), *(["--messy"] if args.messy else [])],
        cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip

    andsend = Emulator(
        "andsend",
        ["andsend", "--port", str(args.andsend_port), "--db", str(out / "andsend.sqlite"),
         "--seed", str(args.seed), "--prospects", str(args.prospects)],
        logs,
    )  # fmt: skip
    salesforce = Emulator(
        "salesforce",
        ["salesforce", "--port", str(args.salesforce_port), "--db", str(out / "salesforce.sqlite"),
         "--fixture", str(fixture)],
        logs,
    )  # fmt: skip
    try:
        andsend_url = andsend.start()
        salesforce_url = salesforce.start()
        console.print(f"Andsend emulator    {andsend_url}\nSalesforce emulator {salesforce_url}")
        console.print(
            f"Object mode: {args.object_mode} (new prospects become "
            + ("Leads)" if args.object_mode == "lead" else "Contacts under their Accounts)")
        )
        env = meltano_env(out, andsend_url, salesforce_url, args.object_mode)
        if args.messy:
            # A messy org refuses many records on the first run: the demo shows them, so it does
            # not stop at the default threshold of 100 rejects.
            env["TARGET_SALESFORCE_ANDSEND_REJECT_THRESHOLD"] = "100000"
            env["TARGET_SALESFORCE_ANDSEND_MAPPING_CATALOG_INLINE"] = json.dumps(messy_catalog(args.object_mode))
            console.print("[bold]Messy org[/]: validation rules, record types, duplicate rules, field security, "
                          "failing automation, sandbox, State and Country picklists (messy.json)")

        before = OrgSnapshot.take(salesforce_url)
        console.print(
            "Salesforce org before: "
            + ", ".join(f"{len(before.rows[o])} {o}s" for o in OBJECTS)
            + f", {len(before.rows['User'])} Users"
        )
        seconds = run_pipeline("Run 1", env, logs / "meltano-run-1.log")
        first = collect("Run 1", seconds, out, andsend_url, salesforce_url, before, username)
        shutil.copy(out / "target" / "report.json", out / "report-run-1.json")
        state_1 = meltano_state(env)

        activity = {"new_purchases": args.new_purchases, "new_touchpoints": args.new_touchpoints}
        console.print(f"\n[bold]Andsend activity[/]: {activity}")
        _post(f"{andsend_url}/__emulator__/activity", activity)
        changes = change_salesforce(andsend_url, salesforce_url)
        console.print("[bold]Salesforce changes[/]: " + "; ".join(c["change"] for c in changes))
        if args.messy:
            relax_messy_org(salesforce_url, env, logs)
        _post(f"{salesforce_url}/__emulator__/stats/reset")
        andsend_before = _get(f"{andsend_url}/__emulator__/stats").get("api_requests", 0)

        before = OrgSnapshot.take(salesforce_url)
        seconds = run_pipeline("Run 2", env, logs / "meltano-run-2.log")
        second = collect(
            "Run 2 (after new activity)",
            seconds,
            out,
            andsend_url,
            salesforce_url,
            before,
            username,
            andsend_before,
        )
        shutil.copy(out / "target" / "report.json", out / "report-run-2.json")
        state_2 = meltano_state(env)

        console.print()
        render([first, second])
        render_crm_changes(andsend_url, changes)
        console.print(
            f"Meltano state {STATE_ID} (bookmarks)\n  after run 1: {state_1}\n  after run 2: {state_2}",
            soft_wrap=True,
        )
    finally:
        salesforce.stop()
        andsend.stop()

    console.print(inspect_hint(out, logs, args.object_mode), soft_wrap=True)


def messy_catalog(object_mode: str) -> dict[str, Any]:
    """The default catalog with the record type the admin picks in messy.json: new Leads are Outbound
    prospects (its default Inbound record type does not allow LeadSource "Andsend")."""
    from target_salesforce_andsend.catalog import default_catalog_document

    catalog = default_catalog_document(object_mode)
    if object_mode == "lead":
        catalog["record_types"] = {"Lead": "Outbound"}
    return catalog


def relax_messy_org(salesforce_url: str, env: dict[str, str], logs: Path) -> None:
    """What the admin does after reading the rejects' hints: relax the org's rules, then ask the next
    run to retry the rejected records (`target-salesforce-andsend rejects replay`)."""
    from emulators.salesforce.messy_org import RELAX

    removed = _post(f"{salesforce_url}/__emulator__/org-rules/relax", RELAX)["removed"]
    console.print("[bold]Salesforce admin[/] relaxes the org: " + "; ".join(
        f"{kind.replace('_', ' ')}: {', '.join(names)}" for kind, names in removed.items()))
    with (logs / "rejects-replay.log").open("w", encoding="utf-8") as log:
        subprocess.run(["target-salesforce-andsend", "rejects", "list", "--config", "ENV"], env=env, cwd=ROOT,
                       stdout=log, stderr=subprocess.STDOUT, check=True)
        done = subprocess.run(["target-salesforce-andsend", "rejects", "replay", "--config", "ENV"], env=env, cwd=ROOT,
                              capture_output=True, text=True, check=True)
        log.write(done.stdout + done.stderr)
    console.print(f"[bold]target-salesforce-andsend rejects replay[/]: {done.stdout.strip()}")


def inspect_hint(out: Path, logs: Path, object_mode: str) -> str:
    """How to look at what the run left: the venv, an emulator on a free port (not the README's
    8701/8702, which a by-hand pipeline may hold), and the records this demo synced."""
    sf_db = _rel(out / "salesforce.sqlite")
    url_file = _rel(out / "salesforce.url")
    person, fields = (("Contact", "Id,LastName,Email,AccountId,OwnerId,Andsend_Prospect_Id__c")
                      if object_mode == "contact_account" else
                      ("Lead", "Id,LastName,Company,Email,OwnerId,Andsend_Prospect_Id__c"))
    soql = f"SELECT+{fields}+FROM+{person}+WHERE+Andsend_Prospect_Id__c+!=+null+LIMIT+5"
    return (
        f"\nThe emulators are stopped. The Salesforce data is kept in [bold]{sf_db}[/] "
        f"(reports in {_rel(out)}/report-run-*.json, logs in {_rel(logs)}/). Inspect the synced "
        f"{person}s (in the project's venv):\n"
        "  source scripts/bootstrap.sh\n"
        f"  andsend-emulators salesforce --port 0 --db {sf_db} > {url_file} &  sleep 2; SF=$(head -1 {url_file})\n"
        '  TOKEN=$(curl -s "$SF/services/oauth2/token" -d grant_type=password '
        "-d client_id=emulator-client-id -d client_secret=emulator-client-secret "
        "-d username=admin@example.com -d password=emulatortoken "
        "| python -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')\n"
        f'  curl -s -H "Authorization: Bearer $TOKEN" "$SF/services/data/v60.0/query?q={soql}" | python -m json.tool\n'
        "  kill %1"
    )


def meltano_state(env: dict[str, str]) -> str:
    """The bookmarks Meltano stored for the pipeline (proves the second run resumes from them)."""
    proc = subprocess.run(
        ["meltano", "state", "get", STATE_ID], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        return "none"
    try:
        state = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return "unreadable"
    bookmarks = state.get("singer_state", {}).get("bookmarks", {})
    marks = [
        f"{stream} {mark.get('replication_key_value')}"
        for stream, mark in sorted(bookmarks.items())
        if stream in ("prospects", "touchpoints") and isinstance(mark, dict)
    ]
    return "; ".join(marks) or f"{len(bookmarks)} streams"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (e.g. from a CI timeout) takes the same path as Ctrl-C: stop the emulators.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    if shutil.which("meltano") is None or shutil.which("andsend-emulators") is None:
        print("meltano and andsend-emulators must be on PATH: run ./scripts/demo.sh (it sets up .venv), "
              "or `source scripts/bootstrap.sh` first")
        return 2
    import requests
    try:
        demo(args)
    except KeyboardInterrupt:
        console.print("\nInterrupted: emulators stopped.")
        return 130
    except (DemoError, subprocess.CalledProcessError, requests.RequestException) as exc:
        console.print(f"\n[bold red]Demo failed:[/] {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
