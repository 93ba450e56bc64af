"""`meltano run tap-andsend target-salesforce-andsend`, twice, on both emulators.

The project's own meltano.yml is copied into a temporary project root (so the repository's
.meltano/ is untouched) and run exactly as the README says, in the dev environment with the
emulator URLs overridden through Meltano's plugin environment variables. Checked where it
matters: the Salesforce emulator's records, the Andsend emulator's badges, and the state
Meltano keeps between runs (`meltano state get`). The second run, after new activity in
Andsend, must move only what changed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.test_interop_fixtures.processes import EmulatorProcess, clean_env, executable, records

pytestmark = pytest.mark.e2e  # runs the CLIs as subprocesses

ROOT = Path(__file__).resolve().parent.parent
STATE_ID = "dev:tap-andsend-to-target-salesforce-andsend"
API_KEY = "andsend-demo-key"
SIZES = ["--seed", "11", "--prospects", "120", "--users", "6", "--campaigns", "3", "--searches", "3",
         "--results-per-search", "12"]  # fmt: skip
NEW_PURCHASES = 6
NEW_TOUCHPOINTS = 9


@dataclass
class Pipeline:
    project: Path
    andsend: EmulatorProcess
    salesforce: EmulatorProcess
    env: dict[str, str]

    def meltano(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [executable("meltano"), *args], cwd=self.project, env=self.env, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip

    def run(self, *how: str) -> subprocess.CompletedProcess[str]:
        proc = self.meltano(*(how or ("run", "tap-andsend", "target-salesforce-andsend")))
        assert proc.returncode == 0, f"meltano {' '.join(how or ('run',))} failed:\n{proc.stderr[-6000:]}"
        return proc

    def state(self) -> dict[str, Any]:
        proc = self.meltano("state", "get", STATE_ID, timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def report(self) -> dict[str, Any]:
        return json.loads((self.project / "output" / "dev" / "report.json").read_text())

    def sf(self, sobject: str) -> list[dict[str, Any]]:
        rows = records(self.salesforce.get(f"/__emulator__/records/{sobject}").json())
        return [r for r in rows if not r.get("IsDeleted")]

    def andsend_list(self, resource: str, **params: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = {"limit": 1000, **params, **({"cursor": cursor} if cursor else {})}
            body = self.andsend.get(
                f"/v1/{resource}", params=page, headers={"Authorization": f"Bearer {API_KEY}"}
            )
            data = body.json()
            rows += data["data"]
            cursor = data.get("next_cursor")
            if not cursor:
                return rows


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    project = tmp_path_factory.mktemp("meltano-project")
    shutil.copy(ROOT / "meltano.yml", project / "meltano.yml")
    logs = project / "logs"
    logs.mkdir()
    fixture = project / "salesforce-fixture.json"
    made = subprocess.run(
        [executable("andsend-emulators"), "salesforce-fixture", *SIZES, "--out", str(fixture)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr[-3000:]
    andsend = EmulatorProcess(
        ["andsend", "--port", "0", "--db", str(project / "andsend.sqlite"), *SIZES], logs, "andsend"
    )
    try:
        salesforce = EmulatorProcess(
            ["salesforce", "--port", "0", "--db", str(project / "salesforce.sqlite"), "--fixture", str(fixture)],
            logs, "salesforce",
        )  # fmt: skip
    except Exception:
        andsend.stop()
        raise
    env = clean_env(
        MELTANO_ENVIRONMENT="dev",
        MELTANO_PROJECT_ROOT=str(project),
        MELTANO_DISABLE_TRACKING="true",
        MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
        MELTANO_CLI_DISABLE_VERSION_CHECK="true",
        TAP_ANDSEND_API_URL=andsend.base_url,
        TARGET_SALESFORCE_ANDSEND_LOGIN_URL=salesforce.base_url,
        TARGET_SALESFORCE_ANDSEND_ANDSEND_API_URL=andsend.base_url,
    )
    try:
        yield Pipeline(project, andsend, salesforce, env)
    finally:
        salesforce.stop()
        andsend.stop()


def linked(p: Pipeline) -> dict[str, dict[str, Any]]:
    """Andsend prospect id -> the Lead or Contact carrying it."""
    out: dict[str, dict[str, Any]] = {}
    for sobject in ("Lead", "Contact"):
        for row in p.sf(sobject):
            pid = row.get("Andsend_Prospect_Id__c")
            if pid:
                assert pid not in out, f"prospect {pid} is on two Salesforce records"
                out[pid] = {**row, "_object": sobject}
    return out


def person_groups(prospects: list[dict[str, Any]]) -> list[set[str]]:
    """Prospect ids grouped by e-mail address (trimmed, case-insensitive, as Salesforce compares)."""
    groups: dict[str, set[str]] = {}
    for row in prospects:
        email = (row.get("email") or "").strip().casefold()
        groups.setdefault(email or row["id"], set()).add(row["id"])
    return list(groups.values())


def touchpoint_tasks(p: Pipeline) -> dict[str, dict[str, Any]]:
    return {r["Andsend_Touchpoint_Id__c"]: r for r in p.sf("Task") if r.get("Andsend_Touchpoint_Id__c")}


def test_two_meltano_runs_move_everything_then_only_the_changes(pipeline: Pipeline) -> None:
    p = pipeline
    before_org = {o: len(p.sf(o)) for o in ("Lead", "Contact", "Account")}
    purchased_rows = p.andsend_list("prospects", purchased="true")
    purchased = {r["id"] for r in purchased_rows}
    assert purchased, "the generated Andsend data has no purchased prospects"

    # --- run 1: everything ------------------------------------------------------------
    p.run()
    people = linked(p)
    assert set(people) <= purchased
    # Prospects sharing an e-mail address are one person in Salesforce: each such group is on
    # exactly one record, which carries the id of one of its prospects.
    for group in person_groups(purchased_rows):
        on_records = group & set(people)
        assert len(on_records) == 1, f"prospects {sorted(group)} are on {len(on_records)} Salesforce records"
    record_of = {pid: people[next(iter(g & set(people)))] for g in person_groups(purchased_rows) for pid in g}
    created = sum(len(p.sf(o)) - before_org[o] for o in ("Lead", "Contact"))
    assert 0 < created < len(purchased), (
        "the overlapping fixture means some prospects are linked, not created"
    )
    tasks_1 = touchpoint_tasks(p)
    touchpoints = {t["id"]: t for t in p.andsend_list("touchpoints")}
    assert tasks_1 and set(tasks_1) <= set(touchpoints)
    for tid, task in tasks_1.items():
        assert task["WhoId"] == record_of[touchpoints[tid]["prospect_id"]]["Id"]
        assert task["Status"] == "Completed"
    badges_1 = records(p.andsend.get("/__emulator__/badges").json())
    assert badges_1 and any(b["exists"] for b in badges_1) and not all(b["exists"] for b in badges_1)

    state_1 = p.state()
    bookmarks_1 = state_1["singer_state"]["bookmarks"]
    assert {"prospects", "touchpoints", "search_results"} <= set(bookmarks_1)
    report_1 = p.report()

    # --- new activity in Andsend ------------------------------------------------------
    p.andsend.post(
        "/__emulator__/activity", {"new_purchases": NEW_PURCHASES, "new_touchpoints": NEW_TOUCHPOINTS}
    )
    purchased_2 = {r["id"] for r in p.andsend_list("prospects", purchased="true")}
    new_people = purchased_2 - purchased
    assert len(new_people) == NEW_PURCHASES
    written_1 = p.salesforce.get("/__emulator__/stats").json()["records_written"]
    p.salesforce.post("/__emulator__/stats/reset")

    # --- run 2: only what changed -----------------------------------------------------
    # As the hourly schedule would run it: schedule -> job -> the same tap/target pair, same state id.
    p.run("schedule", "run", "andsend-to-salesforce-hourly")
    people_2 = linked(p)
    for group in person_groups(p.andsend_list("prospects", purchased="true")):
        assert len(group & set(people_2)) == 1, f"prospects {sorted(group)} after run 2"
    unchanged = {pid for pid in people if people_2[pid]["SystemModstamp"] == people[pid]["SystemModstamp"]}
    assert len(unchanged) >= len(people) - 2, "run 2 rewrote records that did not change in Andsend"
    tasks_2 = touchpoint_tasks(p)
    assert set(tasks_1) < set(tasks_2)
    # A touchpoint stamped exactly at the old bookmark comes again (the SDK compares with >=),
    # but an executed step never changes: its Task is found and left alone (DESIGN.md, activities).
    rewritten = {t for t in tasks_1 if tasks_2[t]["SystemModstamp"] != tasks_1[t]["SystemModstamp"]}
    assert not rewritten, f"run 2 rewrote Tasks of unchanged touchpoints: {sorted(rewritten)[:5]}"

    report_2 = p.report()
    assert report_2["rejects"] == 0, "records re-sent at the bookmark boundary must not be rejected"
    processed_1 = sum(sum(o.values()) for o in report_1["counts"].get("prospects", {}).values())
    processed_2 = sum(sum(o.values()) for o in report_2["counts"].get("prospects", {}).values())
    assert processed_2 < processed_1 / 3, (processed_1, processed_2)
    # Salesforce saw writes for the new work only (people, their Accounts, Tasks), not a resync.
    written_2 = p.salesforce.get("/__emulator__/stats").json()["records_written"]
    assert 0 < written_2 <= 3 * (NEW_PURCHASES + NEW_TOUCHPOINTS) < written_1, (written_1, written_2)

    state_2 = p.state()
    bookmarks_2 = state_2["singer_state"]["bookmarks"]
    assert (
        bookmarks_2["prospects"]["replication_key_value"] > bookmarks_1["prospects"]["replication_key_value"]
    )
    assert (
        bookmarks_2["touchpoints"]["replication_key_value"]
        > bookmarks_1["touchpoints"]["replication_key_value"]
    )

    # --- run 3: a full resync (README: safe) duplicates nothing -----------------------
    counts = {o: len(p.sf(o)) for o in ("Lead", "Contact", "Account", "Task")}
    p.run("run", "--full-refresh", "tap-andsend", "target-salesforce-andsend")
    assert {o: len(p.sf(o)) for o in counts} == counts
    assert set(linked(p)) == set(people_2)
    report_3 = p.report()
    assert report_3["rejects"] == 0
    assert sum(sum(o.values()) for o in report_3["counts"].get("prospects", {}).values()) >= len(people_2)


def test_plugin_commands_run_through_meltano_invoke(pipeline: Pipeline) -> None:
    """`meltano invoke target-salesforce-andsend:mapping-show` (commands: in meltano.yml) gets the
    plugin's settings from Meltano, signs in to the emulator and prints the catalog next to the org."""
    proc = pipeline.meltano("invoke", "target-salesforce-andsend:mapping-validate", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    shown = pipeline.meltano("invoke", "target-salesforce-andsend:mapping-show", timeout=300)
    assert shown.returncode == 0, shown.stderr[-3000:]
    # It read this emulator's org (login_url from Meltano's dev config plus the variable override).
    assert f"vs {pipeline.salesforce.base_url}" in shown.stdout
    assert "The catalog fits the org (16 mappings)" in shown.stdout
    # The plain form passes the command after Meltano's own --config: it works the same.
    plain = pipeline.meltano("invoke", "target-salesforce-andsend", "mapping", "validate", timeout=300)
    assert plain.returncode == 0 and "The catalog fits the org" in plain.stdout, plain.stderr[-3000:]
