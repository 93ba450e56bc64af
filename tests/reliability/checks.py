"""End-state checks for the reliability suite, read from the emulators' control planes.

* ``assert_exactly_once``: every purchased prospect is in Salesforce exactly once (by external id
  where the org has the field, and by email in any org), every touchpoint of a synced prospect is
  exactly one Task on that person, every search result has exactly one badge, and whatever is
  missing is in the rejects file.
* ``end_state``: the org and the badges as a comparable set of (object, natural key, values that
  matter), with record ids replaced by natural keys, so a faulted run can be compared with a
  clean run on another emulator instance.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from tests.reliability.pipeline import World

MARKER_RE = re.compile(r"\[andsend:([^\]]+)\]")
EXT = "Andsend_Prospect_Id__c"
TASK_EXT = "Andsend_Touchpoint_Id__c"


def email_key(value: Any) -> str | None:
    """Trimmed and casefolded, as Salesforce compares e-mails (independent of the target's code)."""
    if not isinstance(value, str) or "@" not in value:
        return None
    return value.strip().casefold()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def rejected_keys(out_dir: Path, role: str) -> set[str]:
    return {str(r["key"]) for r in read_jsonl(out_dir / "rejects.jsonl") if r.get("role") == role}


def people(world: World) -> list[dict[str, Any]]:
    """Live Leads that are not converted, and live Contacts: the org's people."""
    sf = world.salesforce
    leads = [{**r, "_object": "Lead"} for r in sf.records("Lead") if not r.get("IsConverted")]
    contacts = [{**r, "_object": "Contact"} for r in sf.records("Contact")]
    return leads + contacts


def email_counts(rows: list[dict[str, Any]]) -> Counter[str]:
    return Counter(e for r in rows if (e := email_key(r.get("Email"))))


def baseline(world: World) -> Counter[str]:
    """People per e-mail before the first run (the fixture may hold duplicates we must not count)."""
    return email_counts(people(world))


def task_key(task: dict[str, Any], external_ids: bool) -> str | None:
    """The touchpoint a Task stands for: its external id, or the marker the target appends last."""
    if external_ids:
        return task.get(TASK_EXT)
    markers = MARKER_RE.findall(task.get("Subject") or "")
    return markers[-1] if markers else None


def person_groups(prospects: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Group key (e-mail, else the prospect id) -> prospect ids: one Salesforce person each."""
    groups: dict[str, set[str]] = defaultdict(set)
    for p in prospects:
        groups[email_key(p.get("email")) or f"id:{p['id']}"].add(p["id"])
    return groups


def assert_exactly_once(world: World, out_dir: Path, before: Counter[str], *,
                        badges_file: bool = True) -> dict[str, Any]:
    """The exactly-once invariants after a completed run; returns figures for messages."""
    andsend, sf = world.andsend, world.salesforce
    purchased = andsend.list("prospects", purchased="true")
    rejected_prospects = rejected_keys(out_dir, "prospects")
    rejected_tps = rejected_keys(out_dir, "touchpoints")
    org_people = people(world)
    by_id = {r["Id"]: r for r in org_people}
    emails_now = email_counts(org_people)
    groups = person_groups(purchased)
    record_of: dict[str, set[str]] = {}  # prospect id -> Salesforce ids that are this person

    if world.external_ids:
        carried = Counter(r[EXT] for r in org_people if r.get(EXT))
        twice = {pid: n for pid, n in carried.items() if n > 1}
        assert not twice, f"prospect ids on more than one Salesforce record: {twice}"
        on_record = {r[EXT]: r["Id"] for r in org_people if r.get(EXT)}
        for key, group in groups.items():
            on = group & set(on_record)
            if not on:
                missing = group - rejected_prospects
                assert not missing, (
                    f"purchased prospects {sorted(missing)} are neither in Salesforce nor rejected"
                )
                continue
            assert len(on) == 1, f"prospects {sorted(group)} ({key}) are on {len(on)} Salesforce records"
            for pid in group:
                record_of[pid] = {on_record[next(iter(on))]}
    ids_by_email: dict[str, set[str]] = defaultdict(set)
    for r in org_people:
        if e := email_key(r.get("Email")):
            ids_by_email[e].add(r["Id"])
    for key, group in groups.items():
        if key.startswith("id:"):
            continue  # no e-mail to count by (checked by external id above, or below by name)
        expected = max(1, before.get(key, 0))
        if group <= rejected_prospects and emails_now.get(key, 0) == before.get(key, 0):
            continue  # rejected, and nothing was written for it
        assert emails_now.get(key, 0) == expected, (
            f"{emails_now.get(key, 0)} people in Salesforce have the e-mail {key!r} of prospects "
            f"{sorted(group)} (expected {expected}; {before.get(key, 0)} before the first run)"
        )
        for pid in group:
            record_of.setdefault(pid, ids_by_email[key])
    if not world.external_ids:
        # Prospects without an e-mail in an org without the external-id field: only the link store
        # knows them; they must still be there exactly once (by name and company).
        for key, group in groups.items():
            if not key.startswith("id:"):
                continue
            (pid,) = group
            p = next(x for x in purchased if x["id"] == pid)
            same = [
                r
                for r in org_people
                if r.get("LastName") == p["last_name"]
                and (r.get("FirstName") or None) == (p["first_name"] or None)
                and r.get("Email") in (None, "")
            ]
            if pid in rejected_prospects and not same:
                continue
            assert len(same) == 1, (
                f"prospect {pid} without e-mail is on {len(same)} records: {[r['Id'] for r in same]}"
            )
            record_of[pid] = {same[0]["Id"]}

    # Touchpoints: one Task each, on its person.
    touchpoints = andsend.list("touchpoints")
    tasks = sf.records("Task")
    task_keys = [task_key(t, world.external_ids) for t in tasks]
    per_tp = Counter(k for k in task_keys if k)
    twice = {k: n for k, n in per_tp.items() if n > 1}
    assert not twice, f"touchpoints with more than one Task: {twice}"
    task_by_tp = dict(zip(task_keys, tasks, strict=True))
    known_tps = {tp["id"] for tp in touchpoints}
    strangers = {k for k in per_tp if k not in known_tps}
    assert not strangers, f"Tasks for touchpoints Andsend does not have: {sorted(strangers)[:5]}"
    missing_tasks = []
    for tp in touchpoints:
        task = task_by_tp.get(tp["id"])
        if task is None:
            if tp["id"] in rejected_tps or tp["prospect_id"] in rejected_prospects:
                continue
            missing_tasks.append(tp["id"])
            continue
        persons = record_of.get(tp["prospect_id"])
        assert persons, (
            f"Task for touchpoint {tp['id']} but its prospect {tp['prospect_id']} is not in Salesforce"
        )
        assert task["WhoId"] in persons, f"Task of {tp['id']} is on {task['WhoId']}, not on {sorted(persons)}"
        assert task["WhoId"] in by_id
    assert not missing_tasks, (
        f"{len(missing_tasks)} touchpoints have no Task and were not rejected: {missing_tasks[:5]}"
    )

    # Badges: one per search result, in Andsend and in the badges file.
    results = {(r["search_id"], r["id"]) for r in andsend.list("search-results")}
    badges = andsend.badges()
    keys = Counter((b["search_id"], b["result_id"]) for b in badges)
    assert set(keys) == results, (
        f"badges missing for {len(results - set(keys))} results, extra {len(set(keys) - results)}"
    )
    assert max(keys.values()) == 1
    if badges_file:  # (not when output_dir was deleted between runs: it holds the last run's)
        lines = read_jsonl(out_dir / "badges.jsonl")
        file_keys = Counter((b["search_id"], b["result_id"]) for b in lines)
        assert set(file_keys) == results and max(file_keys.values()) == 1, (
            "badges.jsonl: one line per search result"
        )
    live = {r["Id"] for o in ("Lead", "Contact", "Account") for r in sf.records(o)}
    dangling = [b for b in badges if b["exists"] and b["record_id"] not in live]
    assert not dangling, f"badges pointing at records that do not exist: {dangling[:3]}"
    return {
        "purchased": len(purchased),
        "tasks": len(tasks),
        "badges": len(badges),
        "rejected_prospects": len(rejected_prospects),
        "rejected_touchpoints": len(rejected_tps),
    }


# ------------------------------------------------------------------------------ end state

_SYSTEM = {
    "Id",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
    "_rowid",
    "LastActivityDate",
    "LastViewedDate",
    "LastReferencedDate",
    "CompletedDateTime",
}


def _natural_keys(world: World) -> tuple[dict[str, tuple], dict[str, list[dict]]]:
    sf = world.salesforce
    rows = {o: sf.records(o, live=False) for o in ("User", "Account", "Lead", "Contact", "Task")}
    keys: dict[str, tuple] = {}
    for u in rows["User"]:
        keys[u["Id"]] = ("User", u["Username"])
    for a in rows["Account"]:
        keys[a["Id"]] = ("Account", a.get("Name"), a.get("Website"))
    for o in ("Lead", "Contact"):
        for r in rows[o]:
            keys[r["Id"]] = (o, r.get(EXT), email_key(r.get("Email")), r.get("FirstName"), r.get("LastName"))
    for t in rows["Task"]:
        keys[t["Id"]] = ("Task", t.get(TASK_EXT) or t.get("Subject"))
    return keys, rows


def end_state(world: World, out_dir: Path) -> set[tuple]:
    """(object, natural key, sorted field values) for every record, ids as natural keys; plus badges."""
    keys, rows = _natural_keys(world)
    out: set[tuple] = set()

    def value(v: Any) -> Any:
        return keys.get(v, v) if isinstance(v, str) else v

    for obj in ("Account", "Lead", "Contact", "Task"):
        for r in rows[obj]:
            fields = tuple(
                sorted(
                    (k, json.dumps(value(v), sort_keys=True, default=str))
                    for k, v in r.items()
                    if k not in _SYSTEM
                )
            )
            out.add((obj, keys[r["Id"]], fields))
    for b in world.andsend.badges():
        out.add(
            (
                "badge",
                (b["search_id"], b["result_id"]),
                (b["exists"], b.get("object_type"), keys.get(b.get("record_id") or "", None)),
            )
        )
    for b in read_jsonl(out_dir / "badges.jsonl"):
        out.add(
            (
                "badge_file",
                (b["search_id"], b["result_id"]),
                (b["exists"], b.get("object_type"), keys.get(b.get("record_id") or "", None)),
            )
        )
    return out


def diff(a: set[tuple], b: set[tuple], limit: int = 6) -> str:
    only_a = sorted(a - b, key=repr)[:limit]
    only_b = sorted(b - a, key=repr)[:limit]
    return f"only in clean run ({len(a - b)}): {only_a}\nonly in this run ({len(b - a)}): {only_b}"


# ------------------------------------------------------------------------------ duplicates


def org_census(world: World) -> dict[str, Counter]:
    """What duplicates are counted against: people per e-mail, Accounts per name (casefolded)."""
    return {
        "people": email_counts(people(world)),
        "accounts": Counter((a.get("Name") or "").strip().casefold() for a in world.salesforce.records("Account")),
    }


def duplicates(world: World, before: dict[str, Counter]) -> dict[str, int]:
    """Records beyond one per natural key that the runs added: people per e-mail and per Andsend
    prospect id, Accounts per name, Tasks per touchpoint (external id or marker)."""
    now = org_census(world)
    org_people = people(world)
    carried = Counter(r[EXT] for r in org_people if r.get(EXT))
    tasks = Counter(k for t in world.salesforce.records("Task") if (k := task_key(t, world.external_ids)))

    def extra(kind: str) -> int:
        return sum(max(0, n - max(1, before[kind].get(k, 0))) for k, n in now[kind].items()
                   if n > before[kind].get(k, 0))

    return {
        "people_per_email": extra("people"),
        "people_per_prospect_id": sum(n - 1 for n in carried.values() if n > 1),
        "accounts_per_name": extra("accounts"),
        "tasks_per_touchpoint": sum(n - 1 for n in tasks.values() if n > 1),
    }
