"""`target-salesforce-andsend setup` in a real browser (Playwright driving Debian's headless Chromium).

One admin's session against the Salesforce emulator, end to end: sign in on the emulator's login
page, pick Contacts + Accounts, map a field, see a field created through the control plane after
"Refresh", see an invalid mapping block Save, toggle the switches, preview, save; then the saved
catalog passes `mapping validate`, meltano.yml differs only by the saved settings, and the next
`meltano run` creates what the page said. Screenshots of every screen go to the test's directory
(or to $SETUP_SCREENSHOTS_DIR, which is how docs/setup-*.png are made).
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from target_salesforce_andsend.catalog import check_catalog, parse_catalog
from target_salesforce_andsend.setup.app import SetupState, create_app
from target_salesforce_andsend.setup.workspace import Workspace
from tests.target._salesforce_support import ADMIN, APP
from tests.test_interop_fixtures.processes import clean_env, executable

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
NEW_FIELD = {"name": "Andsend_Location__c", "label": "Andsend Location", "type": "string", "length": 255,
             "createable": True, "updateable": True, "nillable": True, "custom": True}


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page(viewport={"width": 1280, "height": 900})
            pg.set_default_timeout(90_000)
            yield pg
        finally:
            browser.close()


@pytest.fixture
def project(tmp_path: Path, sf_emulator, andsend_emulator, monkeypatch) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(REPO / "meltano.yml", root / "meltano.yml")
    # The dev environment's emulators, wherever the fixtures put them (Meltano reads these variables).
    monkeypatch.setenv("TARGET_SALESFORCE_ANDSEND_LOGIN_URL", sf_emulator.base_url)
    monkeypatch.setenv("TARGET_SALESFORCE_ANDSEND_ANDSEND_API_URL", andsend_emulator.base_url)
    monkeypatch.setenv("TAP_ANDSEND_API_URL", andsend_emulator.base_url)
    monkeypatch.setenv("MELTANO_DISABLE_TRACKING", "true")
    return root


def shots_dir(tmp_path: Path) -> Path:
    out = Path(os.environ.get("SETUP_SCREENSHOTS_DIR") or tmp_path / "screens")
    out.mkdir(parents=True, exist_ok=True)
    return out


UNLABELLED_JS = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter(e => !e.labels || e.labels.length === 0).map(e => e.name || e.id)"""


def screen(page: Any, path: Path, **kwargs: Any) -> None:
    """Every form control of the screen has a label; then the screenshot."""
    assert page.evaluate(UNLABELLED_JS) == [], f"controls without a label on {page.url}"
    page.screenshot(path=str(path), **kwargs)


def option_values(page: Any, select_id: str) -> list[str]:
    return page.locator(f'[id="{select_id}"] option').evaluate_all("els => els.map(e => e.value)")


def test_setup_page_end_to_end(page, project: Path, sf_emulator, andsend_emulator, tmp_path: Path) -> None:
    from emulators.serving import serve_in_thread

    shots = shots_dir(tmp_path)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    state = SetupState(Workspace(project=project, config_path=None, meltano_env=None))
    state.load()
    server = serve_in_thread(create_app(state))
    url = server.base_url
    # The admin registers the page's callback in the connected app (here on a free port, not 8719).
    sf_emulator.seed({"apps": [{**APP, "issue_refresh_tokens": True, "redirect_uris": [f"{url}/oauth/callback"]}]})
    try:
        _session(page, url, state, project, sf_emulator, andsend_emulator, shots)
    finally:
        server.stop()
        if state.org is not None:
            state.org.close()
    # nothing but the page itself and the (local) login host: no CDN, no font, no script from elsewhere
    assert requested and all(u.startswith(("http://127.0.0.1:", "data:")) for u in requested), \
        sorted({u for u in requested if not u.startswith("http://127.0.0.1:")})
    assert any(u.endswith("/static/setup.css") for u in requested)
    _next_meltano_run_uses_it(project, sf_emulator, andsend_emulator)


def _session(page: Any, url: str, state: SetupState, project: Path, sf_emulator, andsend_emulator, shots: Path) -> None:
    # ---- Connect: Sandbox, through the emulator's own login page (OAuth web-server flow + PKCE)
    page.goto(f"{url}/connect")
    page.get_by_label("Sandbox").check()
    page.get_by_label("Connected app consumer key (client id)").fill(APP["client_id"])
    page.locator("summary").click()
    page.get_by_label("Login URL override", exact=False).fill(sf_emulator.base_url)
    page.get_by_role("button", name="Sign in with Salesforce").click()
    page.wait_for_url(f"{sf_emulator.base_url}/services/oauth2/authorize**")
    assert "code_challenge_method=S256" in page.url
    page.get_by_label("Username").fill(ADMIN["username"])
    page.get_by_label("Password").fill(ADMIN["password"] + ADMIN["security_token"])
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{url}/connect")
    assert "signed in on this page" in page.locator(".card.ok").inner_text()
    assert page.get_by_label("Sandbox").is_checked()
    assert page.locator("#org-user").inner_text().endswith(f"({ADMIN['username']})")
    assert page.locator("#org-id").inner_text().startswith("00D")
    dotenv = (project / ".env").read_text()
    assert "TARGET_SALESFORCE_ANDSEND_REFRESH_TOKEN" in dotenv  # where `connect` keeps it
    refresh = dotenv.split("TARGET_SALESFORCE_ANDSEND_REFRESH_TOKEN=", 1)[1].splitlines()[0].strip("'\"")
    assert refresh not in (project / "meltano.yml").read_text()
    screen(page, shots / "setup-connect.png")
    after_connect = (project / "meltano.yml").read_text()

    # ---- Objects: Contacts + Accounts
    page.get_by_role("link", name="2. Objects").click()
    page.get_by_label("Contacts + Accounts").check()
    screen(page, shots / "setup-objects.png")
    page.get_by_role("button", name="Continue to field mapping").click()
    page.wait_for_url(f"{url}/mapping")
    assert page.locator("h2#h-Contact").is_visible() and page.locator("h2#h-Account").is_visible()
    assert page.locator("#valid").is_visible()

    # ---- Field mapping: a field Salesforce does not have yet appears after "Refresh"
    select_location = "field-Contact|location"
    assert NEW_FIELD["name"] not in option_values(page, select_location)
    # only type-compatible, writable fields are offered: no Id, no reference, no number for text
    offered = set(option_values(page, "field-Contact|title"))
    assert {"Title", "Department"} <= offered and not offered & {"Id", "AccountId", "OwnerId", "CreatedDate"}
    sf_emulator.add_field("Contact", NEW_FIELD)
    page.get_by_role("button", name="Refresh from Salesforce").first.click()
    page.wait_for_url(f"{url}/mapping")
    assert NEW_FIELD["name"] in option_values(page, select_location)
    page.select_option(f'[id="{select_location}"]', NEW_FIELD["name"])
    page.select_option('[id="policy-Contact|location"]', "overwrite")
    page.select_option('[id="transform-Contact|location"]', "trim")
    # an invalid choice: Contact.LastName left unmapped
    page.select_option('[id="field-Contact|last_name"]', "")
    page.get_by_role("button", name="Apply changes").first.click()
    page.wait_for_url(f"{url}/mapping")
    problems = page.locator("#problems").inner_text()
    expected = check_catalog(parse_catalog(state.draft.catalog, origin="x"), _describes(sf_emulator))
    assert [i.status for i in expected] == ["required_unmapped"]
    assert expected[0].message in problems  # worded exactly as `mapping validate` reports it
    screen(page, shots / "setup-mapping-invalid.png")
    # ... blocks Save: no button, and a forged POST is refused too
    page.get_by_role("link", name="6. Save").click()
    assert page.locator("#save-blocked").is_visible() and page.locator("#save-button").count() == 0
    csrf = page.locator('input[name="csrf"]').first.get_attribute("value")
    refused = page.request.post(f"{url}/save", form={"csrf": csrf, "digest": "x"})
    assert refused.status == 409
    assert not (project / "mapping-catalog.yaml").exists()
    assert (project / "meltano.yml").read_text() == after_connect
    # fix it
    page.get_by_role("link", name="3. Field mapping").click()
    page.select_option('[id="field-Contact|last_name"]', "LastName")
    # fixed values: change one, add one
    page.get_by_label("Fixed value of Contact.LeadSource").fill("Andsend Outbound")
    page.select_option('[id="newfixed_field-Account"]', "Description")
    page.get_by_label("New fixed value for Account: value").fill("Created from Andsend")
    page.get_by_role("button", name="Apply changes").first.click()
    page.wait_for_url(f"{url}/mapping")
    assert page.locator("#valid").is_visible()
    assert page.get_by_label("Fixed value of Account.Description").input_value() == "Created from Andsend"
    screen(page, shots / "setup-mapping.png", full_page=True,
                    clip={"x": 0, "y": 0, "width": 1280, "height": 1250})

    # ---- Switches
    page.get_by_role("link", name="4. Switches").click()
    assert page.get_by_label("Sync activities").is_checked()
    page.get_by_label("Sync activities").uncheck()
    page.get_by_label("the integration user (the one signed in here)").check()
    assert "copied into the Salesforce Task" in page.locator("#content-note").inner_text()
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(f"{url}/switches")
    assert not page.get_by_label("Sync activities").is_checked()
    assert page.get_by_label("Sync prospects").is_checked()
    screen(page, shots / "setup-switches.png")

    # ---- Preview: a dry run over the most recent purchased prospects; nothing is written
    before = {o: len(sf_emulator.records(o)) for o in ("Contact", "Account", "Lead")}
    page.get_by_role("link", name="5. Preview").click()
    page.get_by_label("How many").fill("8")
    page.get_by_label("Andsend API URL").fill(andsend_emulator.base_url)
    page.get_by_role("button", name="Run the preview").click()
    page.locator("#preview-result").wait_for()
    table = page.locator("#plan-table").inner_text()
    assert "create\tContact" in table and "create\tAccount" in table
    assert NEW_FIELD["name"] in table and "the integration user" in table
    assert {o: len(sf_emulator.records(o)) for o in ("Contact", "Account", "Lead")} == before
    screen(page, shots / "setup-preview.png")

    # ---- Save: the diff first, then the files
    page.get_by_role("link", name="6. Save").click()
    diff_text = page.locator("pre.diff").last.inner_text()
    assert "+      object_mode: contact_account" in diff_text
    screen(page, shots / "setup-save.png")
    page.get_by_role("button", name="Save these changes").click()
    page.wait_for_url(f"{url}/save")
    assert "Saved:" in page.locator(".flash.ok").inner_text()
    assert page.locator("#unsaved").count() == 0

    # the catalog passes `mapping validate`
    catalog_path = project / "mapping-catalog.yaml"
    saved = yaml.safe_load(catalog_path.read_text())
    assert saved["object_mode"] == "contact_account"
    assert {"source": "location", "object": "Contact", "field": NEW_FIELD["name"], "policy": "overwrite",
            "transform": {"type": "trim"}} in saved["mappings"]
    assert {"object": "Contact", "field": "LeadSource", "policy": "on_create",
            "transform": {"type": "constant", "value": "Andsend Outbound"}} in saved["mappings"]
    assert {"object": "Account", "field": "Description", "policy": "on_create",
            "transform": {"type": "constant", "value": "Created from Andsend"}} in saved["mappings"]
    config = tmp_path_config(project, sf_emulator, catalog_path)
    proc = subprocess.run([executable("target-salesforce-andsend"), "mapping", "validate", "--config", str(config)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # meltano.yml: the saved settings added, every other byte as it was
    after = (project / "meltano.yml").read_text()
    diff = list(difflib.ndiff(after_connect.splitlines(keepends=True), after.splitlines(keepends=True)))
    removed = [d for d in diff if d.startswith("- ")]
    added = sorted(d[2:].strip() for d in diff if d.startswith("+ "))
    assert removed == []
    assert added == sorted(["mapping_catalog: mapping-catalog.yaml", "object_mode: contact_account",
                            "owner_fallback: integration_user", "sync_activities: false"])


def _describes(sf_emulator) -> dict[str, dict]:
    session = sf_emulator.session()
    return {o: session.get(f"{sf_emulator.api_url}/sobjects/{o}/describe", timeout=30).json()
            for o in ("Lead", "Contact", "Account")}


def tmp_path_config(project: Path, sf_emulator, catalog: Path) -> Path:
    path = project / "validate-config.json"
    path.write_text(json.dumps({"login_url": sf_emulator.base_url, "auth_flow": "password", **APP, **ADMIN,
                                "mapping_catalog": str(catalog)}))
    return path


def _next_meltano_run_uses_it(project: Path, sf_emulator, andsend_emulator) -> None:
    env = clean_env(MELTANO_ENVIRONMENT="dev", MELTANO_PROJECT_ROOT=str(project), MELTANO_DISABLE_TRACKING="true",
                    MELTANO_SEND_ANONYMOUS_USAGE_STATS="false", MELTANO_CLI_DISABLE_VERSION_CHECK="true",
                    TAP_ANDSEND_API_URL=andsend_emulator.base_url,
                    TARGET_SALESFORCE_ANDSEND_LOGIN_URL=sf_emulator.base_url,
                    TARGET_SALESFORCE_ANDSEND_ANDSEND_API_URL=andsend_emulator.base_url)
    leads_before = len(sf_emulator.records("Lead"))
    proc = subprocess.run([executable("meltano"), "run", "tap-andsend", "target-salesforce-andsend"], cwd=project,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-5000:]
    contacts = [r for r in sf_emulator.records("Contact") if r.get("Andsend_Prospect_Id__c")]
    assert contacts, "the run created no Contacts"
    assert len(sf_emulator.records("Lead")) == leads_before  # Contacts + Accounts, not Leads
    # prospects sharing an e-mail are one person: the Contact takes one of their locations
    rows = andsend_rows(andsend_emulator)
    email_of = {p["id"]: (p.get("email") or "").strip().casefold() for p in rows}
    locations: dict[str, set[str]] = {}
    for p in rows:
        locations.setdefault(email_of[p["id"]], set()).add((p.get("location") or "").strip())
    filled = [r for r in contacts if r.get(NEW_FIELD["name"])]
    assert filled, "no Contact carries the field mapped on the page"
    wrong = [r[NEW_FIELD["name"]] for r in filled
             if r[NEW_FIELD["name"]] not in locations[email_of[r["Andsend_Prospect_Id__c"]]]]
    assert not wrong, wrong[:5]
    assert sf_emulator.records("Task") == []                 # activities switched off
    assert {r.get("LeadSource") for r in contacts} == {"Andsend Outbound"}
    accounts = [r for r in sf_emulator.records("Account") if r.get("Description") == "Created from Andsend"]
    assert accounts and {c["AccountId"] for c in contacts} & {a["Id"] for a in accounts}


def andsend_rows(andsend_emulator) -> list[dict]:
    rows: list[dict] = []
    cursor = None
    while True:
        body = andsend_emulator.get("/v1/prospects", limit=1000, **({"cursor": cursor} if cursor else {})).json()
        rows += body["data"]
        cursor = body.get("next_cursor")
        if not cursor:
            return rows
