"""The console script: `mapping show|validate`, `plan`, and the Singer target path (--about)."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess

import pytest

from target_salesforce_andsend.cli import main
from tests.target._target_support import live, run_target, singer_file, target_config


def call(argv, stdin: str | None = None) -> tuple[int, str]:
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out):
        if stdin is not None:
            import sys
            old = sys.stdin
            sys.stdin = io.StringIO(stdin)
        try:
            code = main(argv) or 0
        except SystemExit as exc:  # click exits
            code = exc.code or 0
        finally:
            if stdin is not None:
                sys.stdin = old
    return code, out.getvalue()


def write_config(tmp_path, config) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_mapping_show_lists_status_per_field_and_sees_new_fields(sf_emulator, tmp_path):
    catalog = {"object_mode": "lead", "mappings": [
        {"source": "last_name", "object": "Lead", "field": "LastName"},
        {"source": "email", "object": "Lead", "field": "Name"},
        {"source": "custom_fields.tier", "object": "Lead", "field": "Tier__c"},
        {"source": "campaign_ids", "object": "Lead", "field": "Description"},
    ]}
    cfg = write_config(tmp_path, target_config(sf_emulator, tmp_path, mapping_catalog_inline=catalog))
    code, out = call(["mapping", "show", "--config", cfg])
    assert code == 1
    for text in ("LastName", "ok", "not writable", "missing in Salesforce", "type mismatch",
                 "required but unmapped", "Company", "string(80)"):
        assert text in out, text

    code, out = call(["mapping", "validate", "--config", cfg, "--format", "json"])
    fields = {f["field"]: f["status"] for f in json.loads(out)["fields"]}
    assert fields == {"LastName": "ok", "Name": "not_writable", "Tier__c": "missing",
                      "Description": "type_mismatch", "Company": "required_unmapped"}

    sf_emulator.add_field("Lead", {"name": "Tier__c", "label": "Tier", "type": "string", "length": 20,
                                   "custom": True, "nillable": True, "createable": True, "updateable": True})
    code, out = call(["mapping", "validate", "--config", cfg, "--format", "json"])
    assert {f["field"]: f["status"] for f in json.loads(out)["fields"]}["Tier__c"] == "ok"


def test_mapping_validate_default_catalog_passes(sf_emulator, tmp_path):
    cfg = write_config(tmp_path, target_config(sf_emulator, tmp_path, object_mode="contact_account"))
    code, out = call(["mapping", "validate", "--config", cfg])
    assert code == 0 and "fits the org" in out


def test_plan_prints_actions_and_writes_nothing(sf_emulator, tmp_path):
    sf_emulator.seed({"records": {"Lead": [{"LastName": "Old", "Company": "Acme", "Email": "ann.lee@acme.test"}]}})
    cfg = write_config(tmp_path, target_config(sf_emulator, tmp_path))
    input_path = tmp_path / "in.singer"
    input_path.write_text(singer_file("prospects_basic.singer"))
    code, out = call(["plan", "--config", cfg, "--input", str(input_path), "--format", "json"])
    assert code == 0
    plan = json.loads(out)
    assert sorted((a["kind"], a["object"]) for a in plan["plan"]) == [
        ("create", "Lead"), ("create", "Lead"), ("update", "Lead")]
    assert len(live(sf_emulator.records("Lead"))) == 1
    assert not any(k.startswith("collections") for k in sf_emulator.stats()["by_kind"])

    code, out = call(["plan", "--config", cfg], stdin=singer_file("prospects_basic.singer"))
    assert code == 0 and "Planned actions" in out and "prospects / Lead" in out


def test_about_goes_through_the_singer_cli():
    code, out = call(["--about", "--format", "json"])
    about = json.loads(out)
    assert about["name"] == "target-salesforce-andsend"
    props = about["settings"]["properties"]
    assert props["client_secret"].get("secret") is True and props["andsend_api_key"].get("secret") is True
    assert all(p.get("description") for p in props.values())


def test_singer_path_prints_state_only(sf_emulator, tmp_path):
    run = run_target(target_config(sf_emulator, tmp_path), singer_file("prospects_basic.singer"))
    assert run.stdout.strip() and all(json.loads(line)["bookmarks"] for line in run.stdout.splitlines())


@pytest.mark.e2e
def test_quota_stop_exits_non_zero_with_clear_message(sf_emulator, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("target-salesforce-andsend")
    cfg = write_config(tmp_path, target_config(sf_emulator, tmp_path, quota_max_calls_per_run=2))
    proc = subprocess.run([str(exe), "--config", cfg], input=singer_file("prospects_basic.singer"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert "quota_max_calls_per_run" in proc.stderr and "Run report written" in proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["status"] == "failed"


def _wait_until_listening(proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until the SDK's SIGTERM handler is installed and the target has read all its input.

    A fixed sleep is not enough on a loaded machine: Python's start-up alone can outlast it, and a
    signal before the handler exists kills the process outright (Linux: /proc SigCgt, FIONREAD).
    """
    import fcntl
    import re
    import signal
    import struct
    import termios
    import time
    from pathlib import Path

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status = Path(f"/proc/{proc.pid}/status").read_text()
        caught = int(re.search(r"SigCgt:\s*([0-9a-f]+)", status).group(1), 16)
        unread = struct.unpack("i", fcntl.ioctl(proc.stdin.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
        if caught & (1 << (signal.SIGTERM - 1)) and unread == 0:
            time.sleep(1)  # the lines it read are parsed into the sink's batch
            return
        time.sleep(0.05)
    raise AssertionError("the target did not start listening in time")


@pytest.mark.e2e
def test_sigterm_drains_emits_state_and_writes_report(sf_emulator, tmp_path):
    import signal
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("target-salesforce-andsend")
    cfg = write_config(tmp_path, target_config(sf_emulator, tmp_path))
    proc = subprocess.Popen([str(exe), "--config", cfg], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdin.write(singer_file("prospects_basic.singer"))
    proc.stdin.flush()  # stdin stays open: the target waits for more until the signal
    _wait_until_listening(proc)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert [json.loads(line) for line in out.splitlines()] == [
        {"bookmarks": {"prospects": {"replication_key_value": "2026-01-01T00:00:00Z"}}}]
    assert len(live(sf_emulator.records("Lead"))) == 3
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert any("terminated by signal" in n for n in report["notes"])


def test_plan_shows_per_prospect_the_record_it_links_to_and_why(sf_emulator, tmp_path):
    from tests.target._target_support import messages, prospect

    refs = sf_emulator.seed({"records": {"Account": [
        {"_ref": "web", "Name": "Romano Tecnologie S.r.l.", "Website": "https://www.romano.it/en/contact"},
        {"_ref": "twin", "Name": "Rossi", "Website": "https://rossi.es"},
    ]}})
    records = [
        prospect("by-name", email="a@romano.it", company_name="Romano Tecnologie", company_domain="romano.it",
                 company_country="IT"),
        prospect("near", email="b@rossi.it", company_name="Rossi S.p.A.", company_domain="rossi.it",
                 company_country="Italy"),
    ]
    input_path = tmp_path / "in.singer"
    input_path.write_text("\n".join(messages("prospects", records)) + "\n")
    cfg = write_config(tmp_path, target_config(sf_emulator, tmp_path, object_mode="contact_account"))
    code, out = call(["plan", "--config", cfg, "--input", str(input_path), "--format", "json"])
    assert code == 0
    report = json.loads(out)
    [linked] = [a for a in report["plan"] if a["prospect_ids"] == ["by-name"] and a["object"] == "Contact"]
    # Read by its name's spellings, decided by the registrable domain of a Website with a path.
    assert (linked["account_id"], linked["account_via"], linked["score"]) == (refs["web"], "account_domain", 100.0)
    [miss] = [e for e in report["match_audit"] if e["prospect_id"] == "near"]
    assert (miss["outcome"], miss["record_id"], miss["reason"]) == ("near_miss", refs["twin"],
                                                                    "same name, websites differ")
    assert miss["score"] == 100.0

    code, out = call(["plan", "--config", cfg, "--input", str(input_path)])
    assert code == 0 and "Per prospect: linked record and why" in out
    assert "new Contact under Account" in out and "account_domain" in out and "near miss" in out
    assert live(sf_emulator.records("Contact")) == []


def _with_touchpoints(prospects: str, per_person: int = 2) -> tuple[str, int]:
    """prospects_basic plus touchpoints for each of its purchased prospects (most are new to the org)."""
    from pathlib import Path

    from tests.target._activities_support import touchpoint

    schema = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "touchpoints.json").read_text())
    lines = prospects.rstrip("\n").splitlines()
    ids = [m["record"]["id"] for m in map(json.loads, lines)
           if m.get("type") == "RECORD" and m["record"].get("purchased")]
    lines.append(json.dumps({"type": "SCHEMA", "stream": "touchpoints", "schema": schema, "key_properties": ["id"]}))
    for pid in ids:
        for i in range(per_person):
            lines.append(json.dumps({"type": "RECORD", "stream": "touchpoints",
                                     "record": touchpoint(f"tp_{pid}_{i}", pid)}))
    return "\n".join(lines) + "\n", len(ids) * per_person


def test_plan_counts_the_tasks_of_people_it_would_create(sf_emulator, tmp_path):
    """A first sync's dry run plans the Tasks of the people it would create, as the real run writes them."""
    sf_emulator.seed({"records": {"Lead": [{"LastName": "Old", "Company": "Acme", "Email": "ann.lee@acme.test"}]}})
    data, expected = _with_touchpoints(singer_file("prospects_basic.singer"))
    cfg = write_config(tmp_path, target_config(sf_emulator, tmp_path))
    code, out = call(["plan", "--config", cfg, "--format", "json"], stdin=data)
    assert code == 0
    report = json.loads(out)
    planned = [a for a in report["plan"] if a["object"] == "Task" and a["kind"] == "create"]
    assert len(planned) == expected == report["counts"]["touchpoints"]["Task"]["created"]
    assert "person_not_in_salesforce" not in report.get("skipped", {}).get("touchpoints", {})
    assert any(a["fields"]["WhoId"].startswith("(new Lead") for a in planned)
    assert live(sf_emulator.records("Task")) == []
    run_target(target_config(sf_emulator, tmp_path), data)
    assert len(live(sf_emulator.records("Task"))) == expected  # what the plan said
