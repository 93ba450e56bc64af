"""Hostile and broken input: every record of the corpus gets its documented outcome.

``corpus/hostile.singer`` (built from corpus.py) goes to ``target-salesforce-andsend --input``
against an org seeded with bystanders. Per record: written with exactly the expected values,
linked to the seeded record it is, or rejected with its code in the rejects file (or skipped
with its reason); no other seeded record changes; the run completes and commits its STATE.

Broken Singer messages the spec makes fatal (a line that is not JSON, a RECORD before its SCHEMA,
a stream the target has no role for, a message without its required keys, an unknown type) stop
the target with exit code 1, one clear ERROR line and no STATE, before anything is written; the
input must be fixed and the run repeated (it is idempotent). A RECORD without its key property
is not fatal: it is rejected like any unusable record.

A few hostile values also travel the whole pipeline from the Andsend emulator.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulators.andsend.generator import GeneratorConfig
from emulators.salesforce.server import create_app
from emulators.serving import serve_in_thread
from tests.reliability import checks
from tests.reliability.corpus import (
    CASES,
    CORPUS_FILE,
    SEARCH_RESULTS,
    SEED,
    TOUCHABLE,
    TOUCHPOINTS,
    _schema,
    corpus_text,
    prospect,
)
from tests.reliability.pipeline import (
    TARGET,
    Pipeline,
    base_env,
    default_tap_config,
    default_target_config,
    start_world,
)
from tests.reliability.pipeline import control as _control

EXT = "Andsend_Prospect_Id__c"


@dataclass
class Org:
    base_url: str
    refs: dict[str, str]

    def records(self, sobject: str) -> list[dict[str, Any]]:
        return [r for r in _control(self.base_url, "GET", f"records/{sobject}") if not r.get("IsDeleted")]


@pytest.fixture
def org(tmp_path: Path) -> Iterator[Org]:
    app = create_app(":memory:", None)
    server = serve_in_thread(app)
    try:
        refs = _control(server.base_url, "POST", "seed", SEED)["refs"]
        yield Org(server.base_url, refs)
    finally:
        server.stop()
        app.state.emulator.store.close()


def target_config(org: Org, out_dir: Path, **extra: Any) -> dict[str, Any]:
    return {
        "login_url": org.base_url,
        "auth_flow": "password",
        "client_id": "emulator-client-id",
        "client_secret": "emulator-client-secret",
        "username": "admin@example.com",
        "password": "emulator",
        "security_token": "token",
        "object_mode": "contact_account",
        "output_dir": str(out_dir),
        "retry_backoff_seconds": 0.05,
        **extra,
    }


def run_target(
    tmp_path: Path, config: dict[str, Any], *, input_file: Path | None = None, text: str | None = None
) -> subprocess.CompletedProcess[str]:
    config_path = tmp_path / "target-config.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    args = [TARGET, "--config", str(config_path)]
    if input_file is not None:
        args += ["--input", str(input_file)]
    return subprocess.run(args, input=text, capture_output=True, text=True, timeout=300, env=base_env())


def snapshot(org: Org) -> dict[str, dict[str, Any]]:
    return {
        r["Id"]: r
        for o in ("Lead", "Contact", "Account", "User", "Task")
        for r in _control(org.base_url, "GET", f"records/{o}")
    }


def test_corpus_file_matches_its_source() -> None:
    assert CORPUS_FILE.read_text(encoding="utf-8") == corpus_text(), "run: python -m tests.reliability.corpus"
    assert len(CASES) >= 40


@pytest.mark.e2e
def test_hostile_corpus_each_record_gets_its_outcome(org: Org, tmp_path: Path) -> None:
    before = snapshot(org)
    out = tmp_path / "out"
    proc = run_target(tmp_path, target_config(org, out), input_file=CORPUS_FILE)
    assert proc.returncode == 0, proc.stderr[-5000:]
    states = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert states and set(states[-1]["bookmarks"]) == {"prospects", "touchpoints", "search_results"}

    rejects = checks.read_jsonl(out / "rejects.jsonl")
    rejected: dict[str, list[dict[str, Any]]] = {}  # prospect id -> its rejects
    rejected_other: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (role, key) -> rejects
    for r in rejects:
        if r["role"] == "prospects":
            rejected.setdefault(str(r["key"]), []).append(r)
        else:
            rejected_other.setdefault((r["role"], str(r["key"])), []).append(r)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    people = [{**r, "_object": o} for o in ("Lead", "Contact") for r in org.records(o)]
    carrying: dict[str, list[dict[str, Any]]] = {}
    for r in people:
        if r.get(EXT):
            carrying.setdefault(r[EXT], []).append(r)
    accounts = {a["Id"]: a for a in org.records("Account")}
    users = {u["Username"]: u["Id"] for u in org.records("User")}
    owners = {"$admin": users["admin@example.com"], "$seller": org.refs["seller"]}
    ref_of_id = {v: k for k, v in org.refs.items()}
    expected_rejects = 0
    for case in CASES:
        pid = str(case.id) if case.id is not None else "None"
        exp = case.expect
        on = carrying.get(pid, [])
        where = f"{case.why} [{pid!r}]"
        if exp.kind == "written":
            assert pid not in rejected, f"{where}: rejected {rejected.get(pid)}"
            assert len(on) == 1, f"{where}: on {len(on)} records"
            (rec,) = on
            assert rec["_object"] == "Contact" and rec["Id"] not in before, where
            for name, value in exp.fields.items():
                assert rec.get(name) == owners.get(value, value), (
                    f"{where}: {name}={rec.get(name)!r}, want {value!r}"
                )
            if exp.account is None:
                assert rec.get("AccountId") in (None, ""), f"{where}: has an Account"
            elif exp.account != "-":
                assert accounts[rec["AccountId"]]["Name"] == exp.account, (
                    where,
                    accounts[rec["AccountId"]]["Name"],
                )
        elif exp.kind == "linked":
            assert pid not in rejected, where
            assert [ref_of_id.get(r["Id"]) for r in on] == [exp.ref], (
                f"{where}: carried by {[r['Id'] for r in on]}"
            )
        elif exp.kind == "rejected":
            expected_rejects += 1
            assert not on, f"{where}: written although rejected"
            codes = [r["error_code"] for r in rejected.get(pid, [])]
            assert codes == [exp.code], f"{where}: rejects {codes}, want [{exp.code}]"
            assert rejected[pid][0]["message"], where
        elif exp.kind == "skipped":
            assert not on and pid not in rejected, where
            assert pid in report["skipped_examples"]["prospects"][exp.code], where
        elif exp.kind == "merged":
            assert not on and pid not in rejected, where
            assert len(carrying.get(exp.code or "", [])) == 1, where
    # Every Contact the run created belongs to a case (no stray records), once.
    created = [r for r in people if r["Id"] not in before]
    written_ids = {str(c.id) for c in CASES if c.expect.kind == "written"}
    assert Counter(r.get(EXT) for r in created) == Counter(written_ids), "records created besides the cases"

    # Touchpoints and search results of the corpus.
    tasks = {t.get("Andsend_Touchpoint_Id__c"): t for t in org.records("Task")}
    for tp, want in TOUCHPOINTS:
        if want[0] == "task":
            task = tasks.get(tp["id"])
            assert task is not None, tp["id"]
            assert want[1] in task["Subject"] and task["WhoId"] == carrying[tp["prospect_id"]][0]["Id"], task
        elif want[0] == "skipped":
            assert tp["id"] not in tasks and tp["id"] in report["skipped_examples"]["touchpoints"][want[1]]
        else:
            expected_rejects += 1
            assert tp["id"] not in tasks
            assert [r["error_code"] for r in rejected_other[("touchpoints", tp["id"])]] == [want[1]]
    assert len(tasks) == sum(1 for _, w in TOUCHPOINTS if w[0] == "task")
    badges = {b["result_id"]: b for b in checks.read_jsonl(out / "badges.jsonl")}
    for result, exists in SEARCH_RESULTS:
        if isinstance(exists, str):
            expected_rejects += 1
            assert [r["error_code"] for r in rejected_other[("search_results", str(result.get("id")))]] == [
                exists
            ], result
            assert str(result.get("id")) not in badges
            continue
        assert badges[result["id"]]["exists"] is exists, badges[result["id"]]
    assert badges["res_victim"]["record_id"] == org.refs["l_victim"]
    assert len(rejects) == expected_rejects, "rejects besides the expected ones"

    # No unrelated record touched: the seeded rows a case may not touch are exactly as before.
    after = snapshot(org)
    for rid, row in before.items():
        if ref_of_id.get(rid) in TOUCHABLE:
            continue
        assert after[rid] == row, f"seeded {ref_of_id.get(rid, rid)} changed"


_S = json.dumps(
    {"type": "SCHEMA", "stream": "prospects", "schema": _schema("prospects"), "key_properties": ["id"]}
)
_STATE = json.dumps({"type": "STATE", "value": {"bookmarks": {"prospects": {"n": 1}}}})


def _rec(pid: str, **fields: Any) -> str:
    return json.dumps({"type": "RECORD", "stream": "prospects", "record": prospect(pid, **fields)})


FATAL: dict[str, tuple[list[str], str]] = {
    "invalid JSON line": (
        [_S, _rec("p1"), '{"type": "RECORD", "stream": "prospects", "record": {', _rec("p2"), _STATE],
        "Unable to parse line as JSON",
    ),
    "torn last line": ([_S, _rec("p1"), _STATE, _rec("p2")[:40]], "Unable to parse line as JSON"),
    "blank line": ([_S, "", _rec("p1"), _STATE], "Unable to parse line as JSON"),
    "RECORD before SCHEMA": (
        [_rec("p1"), _S, _rec("p2"), _STATE],
        "was encountered before a corresponding schema",
    ),
    "unknown stream": (
        [
            _S,
            _rec("p1"),
            json.dumps(
                {
                    "type": "SCHEMA",
                    "stream": "opportunities",
                    "schema": {"properties": {"id": {"type": "string"}}},
                    "key_properties": ["id"],
                }
            ),
            _STATE,
        ],
        "Stream 'opportunities' has no role: map it in stream_roles",
    ),
    "STATE without value": (
        [_S, _rec("p1"), json.dumps({"type": "STATE"}), _STATE],
        "missing required value key",
    ),
    "RECORD without stream": (
        [_S, json.dumps({"type": "RECORD", "record": {"id": "p1"}}), _STATE],
        "missing required stream key",
    ),
    "unknown message type": (
        [_S, _rec("p1"), json.dumps({"type": "FOO", "stream": "prospects"}), _STATE],
        "Unknown message type 'FOO'",
    ),
    "not an object": ([_S, _rec("p1"), "[1, 2, 3]", _STATE], "missing required type key"),
    # The target does not declare the batch capability: refused, its files never read.
    "BATCH message": (
        [_S, _rec("p1"), json.dumps({"type": "BATCH", "stream": "prospects",
                                     "encoding": {"format": "jsonl", "compression": "gzip"},
                                     "manifest": ["file:///nonexistent/batch-1.jsonl.gz"]}), _STATE],
        "BATCH message for stream 'prospects': target-salesforce-andsend reads RECORD messages only",
    ),
}


@pytest.mark.e2e
@pytest.mark.parametrize("name", list(FATAL))
def test_broken_singer_message_stops_cleanly_before_any_write(name: str, org: Org, tmp_path: Path) -> None:
    lines, message = FATAL[name]
    before = snapshot(org)
    text = "\n".join(lines) + ("" if name == "torn last line" else "\n")
    proc = run_target(tmp_path, target_config(org, tmp_path / "out"), text=text)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert proc.stdout == "", "no STATE may be committed past broken input"
    errors = [line for line in proc.stderr.splitlines() if "| ERROR" in line]
    assert any(message in line for line in errors), errors
    assert snapshot(org) == before, "nothing is written from input that stops the run"


@pytest.mark.e2e
def test_a_record_message_without_a_record_is_rejected_not_dropped(org: Org, tmp_path: Path) -> None:
    lines = [_S, json.dumps({"type": "RECORD", "stream": "prospects", "record": None}), _rec("p_after_null"), _STATE]
    proc = run_target(tmp_path, target_config(org, tmp_path / "out"), text="\n".join(lines) + "\n")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rejects = checks.read_jsonl(tmp_path / "out" / "rejects.jsonl")
    assert [(r["role"], r["error_code"]) for r in rejects] == [("prospects", "INVALID_RECORD")]
    assert "record is null" in rejects[0]["message"]
    assert "p_after_null" in {r.get(EXT) for r in org.records("Contact")}


@pytest.mark.e2e
def test_record_failing_its_schema_is_checked_by_the_target_not_fatal(org: Org, tmp_path: Path) -> None:
    """A wrong type in a field the target does not use is logged; the record is still synced."""
    lines = [_S, _rec("p_schema", created_at=5, updated_at="not a date"), _rec("p_fine"), _STATE]
    proc = run_target(tmp_path, target_config(org, tmp_path / "out"), text="\n".join(lines) + "\n")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"bookmarks": {"prospects": {"n": 1}}}
    assert {r.get(EXT) for r in org.records("Contact")} >= {"p_schema", "p_fine"}


@pytest.mark.e2e
def test_spoofed_marker_in_a_subject_does_not_hide_another_touchpoint(tmp_path: Path) -> None:
    """Without the Task external id, a Task is recognised by the marker the target appends to its
    Subject. A message subject that itself contains a marker must not make another touchpoint of
    the same person look synced."""
    app = create_app(":memory:", {"describe": {"omit_fields": {"Task": ["Andsend_Touchpoint_Id__c"]}}})
    server = serve_in_thread(app)
    try:
        org = Org(server.base_url, {})
        config = target_config(org, tmp_path / "out", object_mode="lead")
        tp = [
            json.dumps(
                {
                    "type": "SCHEMA",
                    "stream": "touchpoints",
                    "schema": _schema("touchpoints"),
                    "key_properties": ["id"],
                }
            )
        ]
        from tests.reliability.corpus import touchpoint

        first = [
            _S,
            _rec("p_spoof"),
            *tp,
            json.dumps(
                {
                    "type": "RECORD",
                    "stream": "touchpoints",
                    "record": touchpoint("tp_first", "p_spoof", subject="Re: [andsend:tp_second] hello"),
                }
            ),
            _STATE,
        ]
        assert run_target(tmp_path, config, text="\n".join(first) + "\n").returncode == 0
        second = [
            *tp,
            json.dumps(
                {
                    "type": "RECORD",
                    "stream": "touchpoints",
                    "record": touchpoint("tp_second", "p_spoof", subject="Follow-up"),
                }
            ),
            _STATE,
        ]
        proc = run_target(tmp_path, config, text="\n".join(second) + "\n")
        assert proc.returncode == 0, proc.stderr[-3000:]
        subjects = sorted(t["Subject"] for t in org.records("Task"))
        assert len(subjects) == 2, subjects
        assert any(s.endswith("[andsend:tp_second]") for s in subjects), subjects
    finally:
        server.stop()
        app.state.emulator.store.close()


@pytest.mark.e2e
def test_hostile_values_through_the_whole_pipeline(tmp_path: Path, template_dir: Path) -> None:
    """Hostile values stored in Andsend travel tap -> target; bystanders in the org stay as they were."""
    world = start_world(
        tmp_path,
        GeneratorConfig(seed=3, prospects=60, users=5, campaigns=2, searches=2, results_per_search=8),
        template_dir=template_dir,
    )
    try:
        refs = world.salesforce.control("POST", "seed", SEED)["refs"]
        before = checks.baseline(world)
        seeded = {
            r["Id"]: r
            for o in ("Lead", "Contact", "Account")
            for r in world.salesforce.records(o)
            if r["Id"] in refs.values()
        }
        placed = world.salesforce.fixture["_andsend"]["prospects"]  # already in the org: linked, not created
        purchased = sorted(
            (
                p
                for p in world.andsend.list("prospects", purchased="true")
                if p.get("email") and p["id"] not in placed
            ),
            key=lambda p: p["id"],
        )
        hostile = {
            purchased[0]["id"]: {"email": "%@bystander.test", "company_name": "Bystander Ltd' OR Name != '"},
            purchased[1]["id"]: {"email": "O'Brien@OBRIEN.test"},
            purchased[2]["id"]: {"last_name": "Zero\u200bWidth 😀", "first_name": "Jose\u0301"},
            purchased[3]["id"]: {"email": "victim@bystander.test' OR Email != '"},
        }
        for pid, fields in hostile.items():
            world.andsend.edit("prospects", pid, **fields)
        pipeline = Pipeline(
            tmp_path / "work",
            default_tap_config(world),
            default_target_config(world, tmp_path / "out", object_mode="lead"),
        )
        run = pipeline.run()
        assert run.ok, run.describe()
        checks.assert_exactly_once(world, pipeline.out_dir, before)
        leads = {r.get(EXT): r for r in world.salesforce.records("Lead")}
        p0, p1, p2, p3 = hostile
        assert (
            leads[p0]["Email"] == "%@bystander.test" and leads[p0]["Company"] == "Bystander Ltd' OR Name != '"
        )
        assert leads[p1]["Id"] == refs["l_quote"], "matched the seeded Lead through the escaped apostrophe"
        assert leads[p2]["LastName"] == "Zero\u200bWidth 😀" and leads[p2]["FirstName"] == "Jose\u0301"
        assert p3 not in leads
        assert [
            r["error_code"] for r in checks.read_jsonl(pipeline.out_dir / "rejects.jsonl") if r["key"] == p3
        ] == ["INVALID_EMAIL"]
        touchable = {refs[r] for r in TOUCHABLE}
        for rid, row in seeded.items():
            if rid not in touchable:
                current = next(
                    r
                    for o in ("Lead", "Contact", "Account")
                    for r in world.salesforce.records(o)
                    if r["Id"] == rid
                )
                assert current == row, f"seeded record {rid} changed"
    finally:
        world.stop()
