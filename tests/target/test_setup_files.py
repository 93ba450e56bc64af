"""The setup page's file edits and draft rules: meltano.yml round trip, config JSON, catalog, candidates."""

from __future__ import annotations

import difflib
import json
import shutil
from pathlib import Path

import pytest
import requests
import yaml

from target_salesforce_andsend.catalog import check_catalog, default_catalog_document, parse_catalog
from target_salesforce_andsend.setup import files, model
from target_salesforce_andsend.setup.app import SetupState, create_app
from target_salesforce_andsend.setup.workspace import Workspace
from tests.target._salesforce_support import password_config

REPO = Path(__file__).resolve().parents[2]
DESCRIBES = {o: json.loads((REPO / "emulators/salesforce/describes" / f"{o}.json").read_text())
             for o in ("Lead", "Contact", "Account")}


def test_meltano_round_trip_is_byte_for_byte() -> None:
    text = (REPO / "meltano.yml").read_text()
    assert files.update_meltano(text, {}, None) == text
    assert files.update_meltano(text, {"domain": "login"}, "prod") == text  # same value: untouched


@pytest.mark.parametrize("environment", [None, "dev", "staging"])
def test_meltano_update_adds_only_the_settings(environment: str | None) -> None:
    text = (REPO / "meltano.yml").read_text()
    new = files.update_meltano(text, {"object_mode": "contact_account", "sync_activities": False}, environment)
    diff = list(difflib.ndiff(text.splitlines(), new.splitlines()))
    assert [d for d in diff if d.startswith("- ")] == []  # every line kept, in order
    added = [d[2:].strip() for d in diff if d.startswith("+ ")]
    assert [a for a in added if a != "config:"] == ["object_mode: contact_account", "sync_activities: false"]
    doc = yaml.safe_load(new)
    if environment is None:
        loader = doc["plugins"]["loaders"][0]
    else:
        env = next(e for e in doc["environments"] if e["name"] == environment)
        loader = env["config"]["plugins"]["loaders"][0]
    assert loader["config"]["object_mode"] == "contact_account" and loader["config"]["sync_activities"] is False
    # and a value changed in place stays where it was
    again = files.update_meltano(new, {"object_mode": "lead"}, environment)
    assert again == new.replace("object_mode: contact_account", "object_mode: lead")


def test_catalog_render_keeps_unchanged_entries_and_comments() -> None:
    original = "# my notes\nobject_mode: lead\nmappings:\n  - {source: email, object: Lead, field: Email}\n" \
               "  # keep this one\n  - {source: title, object: Lead, field: Title, policy: overwrite}\n"
    doc = yaml.safe_load(original)
    assert files.render_catalog(original, doc) == original
    doc["mappings"].append({"source": "city", "object": "Lead", "field": "City", "policy": "if_empty"})
    out = files.render_catalog(original, doc)
    assert out.startswith(original)
    assert out.endswith("  - {source: city, object: Lead, field: City, policy: if_empty}\n")
    assert yaml.safe_load(out) == doc


def test_candidates_follow_the_validate_rules() -> None:
    contact = DESCRIBES["Contact"]
    names = {d["name"] for d in model.candidates(contact, "Contact", "title", True, None)}
    assert {"Title", "Department", "LastName", "Email"} <= names
    assert not names & {"Id", "AccountId", "OwnerId", "CreatedDate", "Andsend_Prospect_Id__c", "HasOptedOutOfEmail"}
    assert {d["name"] for d in model.candidates(contact, "Contact", "$owner", True, None)} == {"OwnerId"}
    assert "HasOptedOutOfEmail" in {d["name"] for d in model.candidates(contact, "Contact", "purchased", True, None)}
    # a Lead only enriched (contact_account mode): updateable fields only (IsConverted is create-only)
    lead = {d["name"] for d in model.candidates(DESCRIBES["Lead"], "Lead", "purchased", False, None)}
    assert "IsConverted" not in lead and "HasOptedOutOfEmail" in lead


def test_rows_edit_entries_and_keep_what_they_cannot_show() -> None:
    catalog = default_catalog_document("lead")
    out = model.apply_rows(catalog, [
        model.RowUpdate("Lead", "company_name", "Company", "overwrite", "trim", "Unknown"),
        model.RowUpdate("Lead", "city", "", "if_empty"),
        model.RowUpdate("Lead", "location", "Street", "if_empty"),
    ])
    company = model.row_entry(out, "Lead", "company_name")
    assert company["policy"] == "overwrite"
    assert company["transform"] == [{"type": "trim"}, {"type": "default", "value": "Unknown"}]
    assert model.row_entry(out, "Lead", "city") is None
    # the constant LeadSource entry and two-source Website entry are untouched
    assert [e for e in out["mappings"] if e["field"] == "LeadSource"] == \
        [e for e in catalog["mappings"] if e["field"] == "LeadSource" and e["object"] == "Lead"]
    assert model.row_entry(out, "Lead", "company_website")["source"] == ["company_website", "company_domain"]
    # a new entry sits with its object's entries
    objects = [e["object"] for e in out["mappings"]]
    assert objects == sorted(objects, key=lambda o: objects.index(o))
    assert check_catalog(parse_catalog(out, origin="t"), DESCRIBES) == []


def test_fixed_values_change_remove_and_add() -> None:
    catalog = default_catalog_document("contact_account")
    assert [e["field"] for e in model.fixed_entries(catalog, "Contact")] == ["LeadSource"]
    out = model.apply_fixed(catalog, "Contact", [model.FixedUpdate("LeadSource", "Outbound", "overwrite")],
                            model.FixedUpdate("Department", "Sales"))
    fixed = {e["field"]: e for e in model.fixed_entries(out, "Contact")}
    assert fixed["LeadSource"]["transform"] == {"type": "constant", "value": "Outbound"}
    assert fixed["LeadSource"]["policy"] == "overwrite" and fixed["Department"]["policy"] == "on_create"
    assert check_catalog(parse_catalog(out, origin="t"), DESCRIBES) == []
    names = {d["name"] for d in model.fixed_candidates(DESCRIBES["Contact"], out, "Contact", True)}
    assert "Department" not in names and "LeadSource" not in names and "Salutation" in names
    removed = model.apply_fixed(out, "Contact", [model.FixedUpdate("LeadSource", "", "on_create"),
                                                 model.FixedUpdate("Department", "Sales", remove=True)], None)
    assert model.fixed_entries(removed, "Contact") == []
    assert len(removed["mappings"]) == len(catalog["mappings"]) - 1


def test_mode_change_fills_the_created_objects_required_fields() -> None:
    out = model.change_mode(default_catalog_document("lead"), "contact_account")
    assert out["object_mode"] == "contact_account"
    assert check_catalog(parse_catalog(out, origin="t"), DESCRIBES) == []
    titles = [e for e in out["mappings"] if e["object"] == "Contact" and e["field"] == "Title"]
    assert len(titles) == 1 and titles[0]["policy"] == "if_empty"  # what the draft said wins


def test_invalid_drafts_are_reported_as_validate_does() -> None:
    draft = model.Draft(model.apply_rows(default_catalog_document("lead"),
                                         [model.RowUpdate("Lead", "first_name", "LastName", "if_empty")]))
    result = model.check(draft, DESCRIBES)
    assert not result.valid and "mapped twice" in (result.error or "")
    draft = model.Draft(default_catalog_document("lead"), {**model.SETTING_DEFAULTS, "owner_fallback": "user"})
    assert model.check(draft, DESCRIBES).settings_errors


def test_config_json_workspace_saves_and_refuses_forged_posts(sf_emulator, tmp_path: Path) -> None:
    """Without Meltano: the config JSON gains the settings (nothing else changes); the catalog file
    appears beside it; a POST without the page's token, or for another Host, is refused."""
    from emulators.serving import serve_in_thread

    config_path = tmp_path / "target.json"
    original = {**password_config(sf_emulator), "output_dir": "out"}
    config_path.write_text(json.dumps(original, indent=2) + "\n")
    state = SetupState(Workspace(project=None, config_path=config_path, meltano_env=None))
    state.load()
    assert state.org is not None and state.org.username == "admin@example.com"
    server = serve_in_thread(create_app(state))
    try:
        s = requests.Session()
        assert s.post(f"{server.base_url}/objects", data={"object_mode": "contact_account"}).status_code == 403
        evil = s.get(server.base_url + "/save", headers={"Host": "attacker.example"})
        assert evil.status_code == 400
        form = {"csrf": state.csrf, "object_mode": "contact_account"}
        assert s.post(f"{server.base_url}/objects", data=form, allow_redirects=False).status_code == 303
        page = s.get(f"{server.base_url}/save").text
        digest = page.split('name="digest" value="', 1)[1].split('"', 1)[0]
        done = s.post(f"{server.base_url}/save", data={"csrf": state.csrf, "digest": digest})
        assert done.status_code == 200 and "Saved:" in done.text
    finally:
        server.stop()
        state.org.close()
    saved = json.loads(config_path.read_text())
    catalog_path = tmp_path / "mapping-catalog.yaml"
    assert saved == {**original, "mapping_catalog": str(catalog_path.resolve()), "object_mode": "contact_account"}
    catalog = parse_catalog(yaml.safe_load(catalog_path.read_text()), origin="saved")
    assert catalog.object_mode == "contact_account" and check_catalog(catalog, DESCRIBES) == []


def test_setup_refuses_outside_a_project(tmp_path: Path, monkeypatch, capsys) -> None:
    from target_salesforce_andsend.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["setup", "--no-browser"]) == 2
    assert "no meltano.yml" in capsys.readouterr().err


def test_preview_from_a_sample_file(sf_emulator, tmp_path: Path) -> None:
    """Preview over a file of Singer messages: the target's dry run, shown with owners; nothing written."""
    from emulators.serving import serve_in_thread

    config_path = tmp_path / "target.json"
    config_path.write_text(json.dumps(password_config(sf_emulator)))
    sample = tmp_path / "sample.jsonl"
    prospect = {"id": "prs_sample_1", "first_name": "Ines", "last_name": "Moreau", "email": "ines@moreau.test",
                "company_name": "Moreau SA", "title": "CTO", "purchased": True,
                "purchased_by_user_email": "admin@example.com", "updated_at": "2026-01-01T00:00:00.000Z"}
    sample.write_text("\n".join(json.dumps(m) for m in [
        {"type": "SCHEMA", "stream": "prospects", "schema": {"type": "object", "properties": {}},
         "key_properties": ["id"]},
        {"type": "RECORD", "stream": "prospects", "record": prospect}]) + "\n")
    state = SetupState(Workspace(project=None, config_path=config_path, meltano_env=None))
    state.load()
    server = serve_in_thread(create_app(state))
    try:
        page = requests.post(f"{server.base_url}/preview", data={
            "csrf": state.csrf, "source": "file", "sample_path": str(sample), "limit": "10"}).text
    finally:
        server.stop()
        state.org.close()
    assert 'id="preview-result"' in page, page[-3000:]
    row = page.split('id="plan-table"', 1)[1]
    assert "<td>create</td><td>Lead</td>" in row and "Ada Admin (admin@example.com)" in row
    assert "LastName = Moreau" in row
    assert [r for r in sf_emulator.records("Lead") if r.get("Email") == "ines@moreau.test"] == []


@pytest.mark.e2e
def test_setup_command_serves_the_page(tmp_path: Path) -> None:
    """`target-salesforce-andsend setup` as a user starts it: the page answers on the given port."""
    import socket
    import subprocess
    import time

    from tests.test_interop_fixtures.processes import clean_env, executable

    shutil.copy(REPO / "meltano.yml", tmp_path / "meltano.yml")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # the dev environment's Salesforce is not running: the page must still come up, not connected
    proc = subprocess.Popen([executable("target-salesforce-andsend"), "setup", "--no-browser", "--port", str(port)],
                            cwd=tmp_path, env=clean_env(MELTANO_DISABLE_TRACKING="true",
                                                        TARGET_SALESFORCE_ANDSEND_LOGIN_URL="http://127.0.0.1:9"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                resp = requests.get(f"http://127.0.0.1:{port}/connect", timeout=5)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "the setup page did not come up"
                time.sleep(0.3)
        assert resp.status_code == 200
        assert "Not connected" in resp.text and "The project&#39;s saved connection did not work" in resp.text
        assert f"http://127.0.0.1:{port}/oauth/callback" in resp.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert f"Setup page: http://127.0.0.1:{port}/" in proc.stderr.read()


@pytest.mark.parametrize(("form", "authorize"), [
    ({"environment": "sandbox"}, "https://test.salesforce.com/services/oauth2/authorize?"),
    ({"environment": "production"}, "https://login.salesforce.com/services/oauth2/authorize?"),
    ({"environment": "mydomain", "my_domain": "acme"}, "https://acme.my.salesforce.com/services/oauth2/authorize?"),
])
def test_connect_sends_the_browser_to_the_chosen_login_host(tmp_path: Path, form: dict, authorize: str) -> None:
    from urllib.parse import parse_qs, urlparse

    from emulators.serving import serve_in_thread

    config_path = tmp_path / "target.json"
    config_path.write_text("{}")
    state = SetupState(Workspace(project=None, config_path=config_path, meltano_env=None))
    state.load()
    assert state.org is None and state.org_error is None  # no credentials: nothing tried
    server = serve_in_thread(create_app(state))
    try:
        resp = requests.post(f"{server.base_url}/connect", allow_redirects=False,
                             data={"csrf": state.csrf, "client_id": "my-app", **form})
        assert resp.status_code == 303 and resp.headers["location"].startswith(authorize)
        query = parse_qs(urlparse(resp.headers["location"]).query)
        assert query["redirect_uri"] == [f"{server.base_url}/oauth/callback"]
        assert query["code_challenge_method"] == ["S256"] and query["client_id"] == ["my-app"]
        # an answer that does not carry this sign-in's state is refused, and nothing is stored
        forged = requests.get(f"{server.base_url}/oauth/callback", params={"code": "x", "state": "forged"})
        assert "state mismatch" in forged.text
        assert json.loads(config_path.read_text()) == {}
    finally:
        server.stop()
