"""The whole pipeline on a messy org (`emulators/salesforce/fixtures/messy.json`): validation rules,
record types, cross-object duplicate rules, field security, failing automation, a sandbox, State and
Country picklists, on top of an org that already holds part of the Andsend people (sf_fixture).

`run_messy` runs tap -> target once, checks every record's end state, relaxes the org's rules as an
admin would (the emulator's `org-rules/relax`), asks for a replay (`rejects replay`, the admin's
command), runs again, and returns both runs' figures and the outcome table. Used by
tests/reliability/test_messy_org.py and benchmarks/messy_org.py.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from emulators.andsend.generator import GeneratorConfig
from emulators.salesforce.messy_org import RELAX, with_messy_org
from tests.reliability import checks
from tests.reliability.pipeline import (
    Pipeline,
    base_env,
    default_tap_config,
    default_target_config,
    start_world,
)

#: Causes the admin's changes (emulators.salesforce.messy_org.RELAX) clear: written on the rerun.
RELAXED_CODES = {"FIELD_CUSTOM_VALIDATION_EXCEPTION", "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", "DUPLICATES_DETECTED",
                 "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"}
CREATED = ("created", "created_concurrently")
LINKED = ("matched", "already_synced")


def _prospects_on_records(world: Any) -> Counter[str]:
    """Prospect id -> Salesforce people carrying it (its own external id, or merged into another's
    Andsend_Prospect_Ids__c)."""
    out: Counter[str] = Counter()
    for r in checks.people(world):
        ids = {pid for pid in str(r.get("Andsend_Prospect_Ids__c") or "").strip(";").split(";") if pid}
        if r.get(checks.EXT):
            ids.add(r[checks.EXT])
        out.update(ids)
    return out


def _rejects_of(out_dir: Path, run_id: str) -> list[dict[str, Any]]:
    return [r for r in checks.read_jsonl(out_dir / "rejects.jsonl") if r.get("run_id") == run_id]


def end_states(world: Any, out_dir: Path, run_id: str) -> dict[str, Any]:
    """Every purchased prospect and every touchpoint of the input: its end state after a run
    (``written`` = in Salesforce under its Andsend id / its Task exists, ``rejected`` = an open
    rejects line with reason and hint, ``parked`` = a touchpoint waiting for its rejected person)."""
    sf = world.salesforce
    people = checks.people(world)
    on_record = Counter(r[checks.EXT] for r in people if r.get(checks.EXT))
    ids_field = "Andsend_Prospect_Ids__c"
    merged = {pid for r in people for pid in str(r.get(ids_field) or "").strip(";").split(";") if pid}
    open_lines = {(r["role"], str(r["key"])): r for r in checks.read_jsonl(out_dir / "rejects.jsonl")
                  if r.get("status", "open") == "open"}
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    skipped = {k for role in report.get("skipped_examples", {}).values() for keys in role.values() for k in keys}
    states: dict[str, Counter[str]] = defaultdict(Counter)
    problems: list[str] = []
    for p in world.andsend.list("prospects", purchased="true"):
        pid = p["id"]
        line = open_lines.get(("prospects", pid))
        if line is not None:
            if not (line.get("error_code") and line.get("message") is not None and line.get("hint")):
                problems.append(f"prospect {pid}: reject without reason or hint: {line}")
            states["prospects"]["rejected"] += 1
        elif on_record.get(pid) == 1 or pid in merged:
            states["prospects"]["written_or_linked"] += 1
        elif pid in skipped:
            states["prospects"]["skipped_with_reason"] += 1
        else:
            problems.append(f"prospect {pid}: neither in Salesforce nor rejected")
        if on_record.get(pid, 0) > 1:
            problems.append(f"prospect {pid}: on {on_record[pid]} Salesforce records")
    tasks = Counter(t.get(checks.TASK_EXT) for t in sf.records("Task") if t.get(checks.TASK_EXT))
    twice = {k: n for k, n in tasks.items() if n > 1}
    if twice:
        problems.append(f"touchpoints on several Tasks: {twice}")
    parked = set()
    store_path = out_dir / "links.sqlite"
    if store_path.exists():
        import sqlite3

        with sqlite3.connect(store_path) as conn:
            parked = {k for (k,) in conn.execute("SELECT key FROM pending WHERE kind = 'touchpoint'")}
    purchased = {p["id"] for p in world.andsend.list("prospects", purchased="true")}
    for tp in world.andsend.list("touchpoints"):
        if tp.get("prospect_id") not in purchased:
            continue
        tid = str(tp["id"])
        if tasks.get(tid) == 1:
            states["touchpoints"]["written"] += 1
        elif ("touchpoints", tid) in open_lines:
            states["touchpoints"]["rejected"] += 1
        elif tid in parked:
            states["touchpoints"]["parked_for_rejected_person"] += 1
        else:
            problems.append(f"touchpoint {tid}: no Task, not rejected, not parked")
    return {"states": {k: dict(v) for k, v in states.items()}, "problems": problems}


def outcome_table(report1: dict[str, Any], rejects1: list[dict[str, Any]], report2: dict[str, Any],
                  rejects2: list[dict[str, Any]], resolved_by_rerun: Counter[tuple[str, str]]) -> list[dict[str, Any]]:
    """Per role and object (first run): created, linked to an existing record (matched; ``updated``: how
    many of those got new values), rejected by error code; then replayed and written on the rerun,
    and still rejected after it."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(role: str, obj: str) -> dict[str, Any]:
        return rows.setdefault((role, obj), {"role": role, "object": obj, "created": 0, "linked": 0, "updated": 0,
                                             "rejected": Counter(), "replayed_written_on_rerun": 0,
                                             "still_rejected": Counter()})

    for role, objects in report1.get("counts", {}).items():
        if role not in ("prospects", "touchpoints"):
            continue
        for obj, outcomes in objects.items():
            if obj in ("TaskOwner", "Prospect") and not any(outcomes.get(k) for k in ("rejected",)):
                continue
            r = row(role, obj)
            r["created"] += sum(outcomes.get(k, 0) for k in CREATED)
            r["linked"] += sum(outcomes.get(k, 0) for k in LINKED)
            r["updated"] += outcomes.get("updated", 0)
    for line in rejects1:
        row(line["role"], line.get("object") or "-")["rejected"][line["error_code"]] += 1
    for line in rejects2:
        row(line["role"], line.get("object") or "-")["still_rejected"][line["error_code"]] += 1
    for (role, obj), n in resolved_by_rerun.items():
        row(role, obj)["replayed_written_on_rerun"] += n
    out = []
    for r in sorted(rows.values(), key=lambda x: (x["role"], x["object"])):
        out.append({**r, "rejected": dict(r["rejected"]), "still_rejected": dict(r["still_rejected"])})
    return out


def _run_checked(pipeline: Pipeline, world: Any, before: Any, label: str) -> tuple[
        dict[str, Any], str, list[dict[str, Any]], dict[str, Any]]:
    """One pipeline run, checked exactly-once at the emulators: its report, run id, rejects and end states."""
    result = pipeline.run()
    if not result.ok:
        raise AssertionError(f"{label} failed:\n{result.describe()}")
    report = result.report()
    run_id = report["rejects_file"]["run_id"]
    rejects = _rejects_of(pipeline.out_dir, run_id)
    end = end_states(world, pipeline.out_dir, run_id)
    checks.assert_exactly_once(world, pipeline.out_dir, before)
    return report, run_id, rejects, end


def messy_catalog(object_mode: str) -> dict[str, Any]:
    """The default catalog with the record type an admin picks in messy.json: new Leads are
    Outbound prospects (the default Inbound record type does not allow LeadSource "Andsend", so
    the target would refuse to start: `mapping validate` names the value and the record type)."""
    from target_salesforce_andsend.catalog import default_catalog_document

    catalog = default_catalog_document(object_mode)
    if object_mode == "lead":
        catalog["record_types"] = {"Lead": "Outbound"}
    return catalog


def run_messy(work: Path, sizes: GeneratorConfig, *, object_mode: str = "lead", template_dir: Path | None = None,
              target_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    world = start_world(work, sizes, template_dir=template_dir, fixture_extra=with_messy_org)
    try:
        before = checks.baseline(world)
        extra = {"mapping_catalog_inline": messy_catalog(object_mode), **(target_extra or {})}
        config = default_target_config(world, work / "out", object_mode=object_mode, reject_threshold=100_000,
                                       batch_size_rows=200, **extra)
        pipeline = Pipeline(work / "pipeline", default_tap_config(world, page_size=200), config)
        report1, run1, rejects1, first_end = _run_checked(pipeline, world, before, "first run")

        removed = world.salesforce.control("POST", "org-rules/relax", RELAX)["removed"]
        config_path = pipeline.workdir / "admin-config.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        admin = subprocess.run(["target-salesforce-andsend", "rejects", "replay", "--config", str(config_path)],
                               capture_output=True, text=True, env=base_env(), timeout=120)
        if admin.returncode != 0:
            raise AssertionError(f"rejects replay failed: {admin.stderr[-2000:]}")
        people_before = _prospects_on_records(world)
        tasks_before = Counter(t.get(checks.TASK_EXT) for t in world.salesforce.records("Task"))

        report2, run2, rejects2, second_end = _run_checked(pipeline, world, before, "rerun")

        people_after = _prospects_on_records(world)
        tasks_after = Counter(t.get(checks.TASK_EXT) for t in world.salesforce.records("Task"))
        resolved: Counter[tuple[str, str]] = Counter()
        replay_checks: list[str] = []
        for line in rejects1:
            key, role = str(line["key"]), line["role"]
            if role == "prospects":
                now, was = people_after.get(key, 0), people_before.get(key, 0)
            else:
                now, was = tasks_after.get(key, 0), tasks_before.get(key, 0)
            if now > 1:
                replay_checks.append(f"{role} {key} written {now} times")
            if now == 1 and was == 0:
                resolved[(role, line.get("object") or "-")] += 1
            elif line["error_code"] in RELAXED_CODES and now == 0 and not any(
                    r["key"] == line["key"] and r["role"] == role and r["error_code"] not in RELAXED_CODES
                    for r in rejects2):
                # What the admin's change cleared must be written now (or refused for another reason).
                replay_checks.append(f"{role} {key} ({line['error_code']}) not written on the rerun")
        return {
            "object_mode": object_mode, "sizes": sizes.to_dict(), "removed_rules": removed,
            "first": {"report": report1, "end": first_end, "rejects": len(rejects1)},
            "second": {"report": report2, "end": second_end, "rejects": len(rejects2)},
            "replay_problems": replay_checks,
            "table": outcome_table(report1, rejects1, report2, rejects2, resolved),
            "calls": {"first": report1.get("api_calls_total"), "second": report2.get("api_calls_total")},
        }
    finally:
        world.stop()


def table_markdown(result: dict[str, Any]) -> str:
    lines = [f"### object_mode {result['object_mode']}", "",
             "| role | object | created | linked (of which updated) | rejected (first run, by code) | "
             "replayed and written on rerun | still rejected after rerun |", "|---|---|---|---|---|---|---|"]
    for r in result["table"]:
        rej = ", ".join(f"{k} {v}" for k, v in sorted(r["rejected"].items())) or "0"
        still = ", ".join(f"{k} {v}" for k, v in sorted(r["still_rejected"].items())) or "0"
        lines.append(f"| {r['role']} | {r['object']} | {r['created']} | {r['linked']} ({r['updated']}) | {rej} | "
                     f"{r['replayed_written_on_rerun']} | {still} |")
    return "\n".join(lines) + "\n"
