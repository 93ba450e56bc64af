"""Start-up failures a newcomer meets first: one clear ERROR line each, naming the setting to
fix; no traceback unless the log level is DEBUG; exit code 1; nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e  # runs the CLIs as subprocesses

BIN = Path(sys.executable).parent
PROSPECT = [
    {"type": "SCHEMA", "stream": "prospects", "key_properties": ["id"],
     "schema": {"properties": {"id": {"type": "string"}, "email": {"type": "string"},
                               "last_name": {"type": "string"}, "status": {"type": "string"},
                               "purchased": {"type": "boolean"}}}},
    {"type": "RECORD", "stream": "prospects",
     "record": {"id": "p1", "email": "ann@example.com", "last_name": "Lee", "status": "purchased", "purchased": True}},
]  # fmt: skip
LOGIN = {"username": "admin@example.com", "password": "emulator", "security_token": "token"}


def _target(tmp_path: Path, config: dict, *, debug: bool = False,
            args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    (tmp_path / "config.json").write_text(json.dumps({"output_dir": str(tmp_path / "out"), **config}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TARGET_SALESFORCE_ANDSEND_")}
    env["LOGLEVEL"] = "DEBUG" if debug else "INFO"
    return subprocess.run([str(BIN / "target-salesforce-andsend"), *args, "--config", str(tmp_path / "config.json")],
                          input="\n".join(json.dumps(m) for m in PROSPECT) + "\n", capture_output=True, text=True,
                          timeout=120, env=env)


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "| ERROR" in line or line.startswith("ERROR")]


CASES = {
    "wrong password": ({"password": "wrong-password"}, "security_token"),
    "unreachable login URL": ({"login_url": "http://127.0.0.1:9", "max_retries": 0}, "login_url"),
    "missing credentials": ({"username": None, "password": None, "security_token": None}, "refresh_token"),
    "unreadable catalog": ({"mapping_catalog": "/nonexistent/catalog.yaml"}, "mapping_catalog"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_one_clear_line_naming_the_setting(sf_emulator, tmp_path, case: str) -> None:
    override, setting = CASES[case]
    config = {"login_url": sf_emulator.base_url, **LOGIN, **override}
    proc = _target(tmp_path, {k: v for k, v in config.items() if v is not None})
    assert proc.returncode == 1, proc.stderr[-2000:]
    errors = _errors(proc.stderr)
    assert len(errors) == 1, "\n".join(errors)
    assert setting in errors[0]
    assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) < 20
    assert proc.stdout == ""  # no STATE
    debug = _target(tmp_path, {k: v for k, v in config.items() if v is not None}, debug=True)
    assert debug.returncode == 1 and "Traceback" in debug.stderr  # for who debugs the target


def test_a_catalog_source_that_is_no_prospect_property_stops_the_run_and_fails_validate(sf_emulator, tmp_path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("object_mode: lead\nmappings:\n"
                       "  - {source: last_name, object: Lead, field: LastName}\n"
                       "  - {source: company_name, object: Lead, field: Company}\n"
                       "  - {source: linkedin_profile, object: Lead, field: Title}\n"
                       "  - {object: Lead, field: Description,"
                       " transform: {type: template, template: '{job} at {city}'}}\n")
    config = {"login_url": sf_emulator.base_url, **LOGIN, "mapping_catalog": str(catalog)}
    proc = _target(tmp_path, config)
    assert proc.returncode == 1
    assert "Lead.Title: source linkedin_profile is not a prospect property" in proc.stderr
    assert "Lead.Description: source job is not a prospect property" in proc.stderr
    assert "source city" not in proc.stderr
    assert sf_emulator.stats()["by_kind"].get("create", 0) == 0
    validate = subprocess.run([str(BIN / "target-salesforce-andsend"), "mapping", "validate", "--config",
                               str(tmp_path / "config.json")], capture_output=True, text=True, timeout=120)
    assert validate.returncode == 1 and "linkedin_profile is not a prospect property" in validate.stdout


def test_match_order_accepts_what_the_run_accepts(sf_emulator, tmp_path) -> None:
    """converted_lead is not a step (a matched converted Lead is always followed): validate and the
    run refuse it alike, and no description offers it."""
    config = {"login_url": sf_emulator.base_url, **LOGIN, "match_order": ["converted_lead", "lead_email"]}
    proc = _target(tmp_path, config)
    assert proc.returncode == 1 and "match_order" in proc.stderr and "converted_lead" in proc.stderr
    validate = subprocess.run([str(BIN / "target-salesforce-andsend"), "mapping", "validate", "--config",
                               str(tmp_path / "config.json")], capture_output=True, text=True, timeout=120)
    assert validate.returncode == 1 and "match_order" in validate.stdout
    root = Path(__file__).resolve().parents[2]
    about = subprocess.run([str(BIN / "target-salesforce-andsend"), "--about", "--format", "json"],
                           capture_output=True, text=True, timeout=120)
    described = json.loads(about.stdout)["settings"]["properties"]["match_order"]["description"]
    assert "converted_lead" not in described
    assert "converted_lead" not in [line for line in (root / "meltano.yml").read_text().splitlines()
                                    if "Order of the matching steps" in line][0]


def test_the_tap_names_api_url_when_andsend_is_unreachable(tmp_path) -> None:
    (tmp_path / "tap.json").write_text(json.dumps({"api_url": "http://127.0.0.1:9", "api_key": "k-123456789",
                                                   "max_retries": 1}))
    proc = subprocess.run([str(BIN / "tap-andsend"), "--config", str(tmp_path / "tap.json")], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1
    errors = _errors(proc.stderr)
    assert len(errors) == 1 and "api_url" in errors[0], proc.stderr[-3000:]
    for raw in ("Traceback", "urllib3", "HTTPConnectionPool", "?limit=", "Max retries exceeded"):
        assert raw not in proc.stderr, raw
