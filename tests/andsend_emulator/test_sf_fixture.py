"""`andsend-emulators salesforce-fixture`: an org that shares people with the generated Andsend data."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import requests

from emulators.andsend.generator import GeneratorConfig, generate
from emulators.andsend.sf_fixture import company_without_suffix

pytestmark = pytest.mark.e2e  # runs the CLIs as subprocesses

SIZES = ["--seed", "5", "--prospects", "600", "--searches", "6"]


def run_fixture(tmp_path: Path, *extra: str, name: str = "org.json") -> dict:
    out = tmp_path / name
    proc = subprocess.run(
        [sys.executable, "-m", "emulators.cli", "salesforce-fixture", *SIZES, *extra, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""  # the fixture goes to the file; the summary to stderr
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def fixture_and_data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sf-fixture")
    fixture = run_fixture(tmp)
    data = generate(GeneratorConfig(seed=5, prospects=600, searches=6))
    return fixture, data, tmp


def _email_key(value: str | None) -> str | None:
    return value.lower() if value else None


def test_format_and_users(fixture_and_data):
    fixture, data, _ = fixture_and_data
    assert set(fixture) == {"users", "records", "_andsend"}
    assert set(fixture["records"]) == {"Account", "Contact", "Lead"}
    andsend_emails = {u["email"] for u in data.users}
    mirrored = [u for u in fixture["users"] if u["Email"].lower() in andsend_emails]
    assert len(mirrored) == round(0.75 * len(data.users)) == 15
    assert sum(u["Email"] != u["Email"].lower() for u in mirrored) >= 1  # some in another case
    assert sum(u["IsActive"] is False for u in fixture["users"]) == 1
    assert len(fixture["users"]) == 17  # plus two Salesforce-only users
    assert all(len(u["Alias"]) <= 8 and u["Username"] == u["Username"].lower() for u in fixture["users"])


def test_overlap_share_and_kinds_match_the_generated_people(fixture_and_data):
    fixture, data, _ = fixture_and_data
    by_id = {p["id"]: p for p in data.prospects}
    purchased = [p for p in data.prospects if p["purchased"]]
    placed = fixture["_andsend"]["prospects"]
    overlap = {pid: kind for pid, kind in placed.items() if kind != "search_result_lead"}
    assert len(overlap) == round(0.3 * len(purchased))
    assert all(by_id[pid]["purchased"] for pid in overlap)
    kinds = Counter(overlap.values())
    assert kinds["converted_lead"] == 2
    assert kinds["lead"] > 0 and kinds["contact"] > 0 and kinds["account_domain"] + kinds["account_name"] > 0

    leads = fixture["records"]["Lead"]
    contacts = fixture["records"]["Contact"]
    accounts = {a["_ref"]: a for a in fixture["records"]["Account"]}
    lead_emails = {_email_key(lead.get("Email")) for lead in leads}
    contact_emails = {_email_key(c.get("Email")): c for c in contacts}
    assert all(c["AccountId"][1:] in accounts for c in contacts)
    for pid, kind in placed.items():
        p = by_id[pid]
        if kind in ("lead", "search_result_lead", "converted_lead"):
            assert p["email"].lower() in lead_emails
        if kind in ("contact", "converted_lead"):
            assert p["email"].lower() in contact_emails
        if kind == "account_domain":
            assert any(p["company_domain"] in (a.get("Website") or "") for a in accounts.values())
        if kind == "account_name":
            base = company_without_suffix(p["company_name"]).lower()
            assert any(
                company_without_suffix(a["Name"].lower()).startswith(base)
                or a["Name"].lower() == p["company_name"].lower()
                for a in accounts.values()
            )
    # Some e-mails differ only in case, as in real CRMs.
    assert any(lead.get("Email") and lead["Email"] != lead["Email"].lower() for lead in leads)
    converted = [lead for lead in leads if lead.get("IsConverted")]
    assert len(converted) == 2 and all(lead["ConvertedContactId"].startswith("@c") for lead in converted)
    # Search-result people are not purchased: only a badge check can find them.
    search_people = [pid for pid, kind in placed.items() if kind == "search_result_lead"]
    result_people = {r["prospect_id"] for r in data.search_results}
    assert search_people and all(
        pid in result_people and not by_id[pid]["purchased"] for pid in search_people
    )


def test_deterministic_and_options(fixture_and_data):
    fixture, _, tmp = fixture_and_data
    assert run_fixture(tmp, name="again.json") == fixture
    other = run_fixture(
        tmp, "--overlap", "0.5", "--users-present", "0.5", "--omit-external-ids", name="o.json"
    )
    assert other["describe"] == {
        "omit_fields": {
            "Lead": ["Andsend_Prospect_Id__c", "Andsend_Prospect_Ids__c"],
            "Contact": ["Andsend_Prospect_Id__c", "Andsend_Prospect_Ids__c"],
            "Task": ["Andsend_Touchpoint_Id__c"],
            "Account": ["Andsend_Account_Key__c"],
        }
    }
    purchased = sum(
        1 for p in generate(GeneratorConfig(seed=5, prospects=600, searches=6)).prospects if p["purchased"]
    )
    placed = [k for k in other["_andsend"]["prospects"].values() if k != "search_result_lead"]
    assert len(placed) == round(0.5 * purchased)
    assert len(other["users"]) == 10 + 2


def test_the_salesforce_emulator_loads_it(fixture_and_data):
    from emulators.salesforce.server import create_app
    from emulators.serving import serve_in_thread

    fixture, data, tmp = fixture_and_data
    server = serve_in_thread(create_app(":memory:", fixture=str(tmp / "org.json")))
    try:

        def rows(obj: str) -> list[dict]:
            response = requests.get(f"{server.base_url}/__emulator__/records/{obj}", timeout=30)
            response.raise_for_status()
            body = response.json()
            return body["records"] if isinstance(body, dict) else body

        leads = rows("Lead")
        assert len(leads) == len(fixture["records"]["Lead"])
        assert len(rows("Contact")) == len(fixture["records"]["Contact"])
        assert len(rows("Account")) == len(fixture["records"]["Account"])
        users = rows("User")
        assert {u["Email"].lower() for u in users} >= {u["Email"].lower() for u in fixture["users"]}
        contacts = {c["Id"] for c in rows("Contact")}
        converted = [lead for lead in leads if lead["IsConverted"] in (True, 1)]
        assert len(converted) == 2 and all(lead["ConvertedContactId"] in contacts for lead in converted)
    finally:
        server.stop()
