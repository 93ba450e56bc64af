"""The CRM's answer flows back: target runs against both emulators (Salesforce changes made through its
REST API as an admin would, Andsend read back through its control plane)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import SalesforceEmulator, _start_salesforce
from tests.target._target_support import messages, run_target, target_config

CUSTOM_DNC = {"name": "Do_Not_Contact__c", "type": "boolean", "label": "Do Not Contact"}
PICKLIST_DNC = {"name": "Contact_Preference__c", "type": "picklist", "label": "Contact Preference",
                "picklistValues": [{"value": "Any", "active": True}, {"value": "Never", "active": True}]}
CATALOG_DNC = {"crm_status": {"do_not_contact_fields": {
    "Lead": ["Do_Not_Contact__c", {"field": "Contact_Preference__c", "values": ["never"]}],
    "Contact": ["Do_Not_Contact__c"]}}}


def purchased(andsend: Any, n: int) -> list[dict]:
    """n purchased prospects with an e-mail, as the tap reads them (Andsend knows their ids)."""
    out = [p for p in andsend.get("/v1/prospects", purchased="true", limit=200).json()["data"] if p.get("email")]
    assert len(out) >= n
    return out[:n]


def stored(andsend: Any) -> dict[str, dict]:
    resp = requests.get(f"{andsend.base_url}/__emulator__/crm-status", timeout=10)
    resp.raise_for_status()
    return {s["prospect_id"]: s for s in resp.json()["data"]}


def all_touchpoints(andsend: Any) -> list[dict]:
    out, cursor = [], None
    while True:
        page = andsend.get("/v1/touchpoints", limit=1000, **({"cursor": cursor} if cursor else {})).json()
        out += page["data"]
        cursor = page["next_cursor"]
        if not cursor:
            return out


def crm_puts(andsend: Any) -> int:
    return andsend.stats()["by_path"].get("/v1/prospects/crm-status", 0)


def lead_of(sf: SalesforceEmulator, email: str) -> dict:
    rows = [r for r in sf.records("Lead") if (r.get("Email") or "").lower() == email.lower() and not r["IsDeleted"]]
    assert len(rows) == 1, rows
    return rows[0]


def patch(sf: SalesforceEmulator, sobject: str, record_id: str, **values: Any) -> None:
    resp = sf.session().patch(f"{sf.api_url}/sobjects/{sobject}/{record_id}", json=values, timeout=30)
    assert resp.status_code == 204, resp.text


def config_for(sf: SalesforceEmulator, andsend: Any, tmp_path: Path, **extra: Any) -> dict:
    return target_config(sf, tmp_path, andsend_api_url=andsend.base_url, andsend_api_key=andsend.api_key,
                         **{"object_mode": "lead", **extra})


def test_first_run_delivers_every_linked_prospect(sf_emulator, andsend_emulator, tmp_path):
    people = purchased(andsend_emulator, 3)
    config = config_for(sf_emulator, andsend_emulator, tmp_path)
    run = run_target(config, messages("prospects", people))
    got = stored(andsend_emulator)
    assert set(got) == {p["id"] for p in people}
    lead = lead_of(sf_emulator, people[0]["email"])
    status = got[people[0]["id"]]
    assert status["object_type"] == "Lead" and status["record_id"] == lead["Id"]
    assert status["record_url"].endswith("/" + lead["Id"])
    assert status["owner"]["email"] == "admin@example.com" and status["owner"]["name"]
    assert status["lead_status"] == lead["Status"] and status["converted"] is False
    assert status["do_not_contact"] is False and status["has_opted_out_of_email"] is False
    assert status["do_not_call"] is False and status["last_modified_at"].endswith("Z")
    lines = [json.loads(x) for x in (tmp_path / "out" / "crm_status.jsonl").read_text().splitlines()]
    assert {x["prospect_id"] for x in lines} == set(got)
    assert run.report["counts"]["crm_status"]["status"]["written_back"] == 3


def test_changes_made_in_salesforce_arrive_after_the_next_run(sf_emulator, andsend_emulator, tmp_path):
    sf_emulator.add_field("Lead", CUSTOM_DNC)
    sf_emulator.add_field("Lead", PICKLIST_DNC)
    sf_emulator.add_field("Contact", CUSTOM_DNC)
    refs = sf_emulator.seed({"users": [{"_ref": "bob", "Username": "bob@acme.test", "Email": "bob@acme.test",
                                        "FirstName": "Bob", "LastName": "Stone"}]})
    people = purchased(andsend_emulator, 6)
    config = config_for(sf_emulator, andsend_emulator, tmp_path,
                        mapping_catalog_inline={"object_mode": "lead", "mappings": [
                            {"object": "Lead", "field": "LastName", "source": "last_name"},
                            {"object": "Lead", "field": "Company", "source": "company_name"},
                            {"object": "Lead", "field": "Email", "source": "email"}], **CATALOG_DNC})
    run_target(config, messages("prospects", people))
    leads = [lead_of(sf_emulator, p["email"]) for p in people]
    patch(sf_emulator, "Lead", leads[0]["Id"], HasOptedOutOfEmail=True)
    patch(sf_emulator, "Lead", leads[1]["Id"], DoNotCall=True)
    patch(sf_emulator, "Lead", leads[2]["Id"], Do_Not_Contact__c=True)
    patch(sf_emulator, "Lead", leads[3]["Id"], OwnerId=refs["bob"])
    patch(sf_emulator, "Lead", leads[5]["Id"], Contact_Preference__c="Never")
    converted = sf_emulator._control("POST", "convert-lead", {"lead_id": leads[4]["Id"]})
    andsend_emulator.reset_stats()
    run = run_target(config, messages("prospects", []))
    got = stored(andsend_emulator)
    pid = [p["id"] for p in people]
    assert got[pid[0]]["has_opted_out_of_email"] is True and got[pid[0]]["do_not_contact"] is True
    assert got[pid[0]]["do_not_contact_reasons"] == ["HasOptedOutOfEmail"]
    assert got[pid[1]]["do_not_call"] is True and got[pid[1]]["do_not_contact_reasons"] == ["DoNotCall"]
    assert got[pid[2]]["do_not_contact_reasons"] == ["Do_Not_Contact__c"]
    assert got[pid[3]]["owner"] == {"id": refs["bob"], "name": "Bob Stone", "email": "bob@acme.test"}
    assert got[pid[4]]["converted"] is True and got[pid[4]]["lead_status"] == "Closed - Converted"
    assert got[pid[4]]["converted_contact_id"] == converted["contact_id"]
    assert got[pid[4]]["converted_account_id"] == converted["account_id"]
    assert got[pid[5]]["do_not_contact_reasons"] == ["Contact_Preference__c"]
    assert run.report["counts"]["crm_status"]["status"]["changed"] == 6
    # One Composite call read the window for Lead; nothing else was asked of Salesforce for it.
    assert run.report["crm_status"]["salesforce_calls"] == 1
    assert crm_puts(andsend_emulator) == 1
    # Andsend's activity stops for the do-not-contact people.
    blocked = {pid[0], pid[1], pid[2], pid[5]}
    touched = set(andsend_emulator.activity(new_touchpoints=400)["new_touchpoints"])
    made_for = {tp["prospect_id"] for tp in all_touchpoints(andsend_emulator) if tp["id"] in touched}
    assert len(made_for) > 50 and not made_for & blocked


def test_no_change_writes_nothing_back(sf_emulator, andsend_emulator, tmp_path):
    people = purchased(andsend_emulator, 3)
    config = config_for(sf_emulator, andsend_emulator, tmp_path)
    run_target(config, messages("prospects", people))
    assert len(stored(andsend_emulator)) == 3
    andsend_emulator.reset_stats()
    sf_emulator.reset_stats()
    run = run_target(config, messages("prospects", []))
    assert crm_puts(andsend_emulator) == 0
    assert run.report["counts"]["crm_status"]["status"].get("changed", 0) == 0
    # The window read is one Composite call (plus sign-in and describes to open the run).
    assert sf_emulator.stats()["by_kind"].get("composite", 0) <= 2
    # Re-syncing the same prospects (their links are touched) still sends nothing new.
    andsend_emulator.reset_stats()
    run_target(config, messages("prospects", people))
    assert crm_puts(andsend_emulator) == 0


def test_unreadable_field_is_skipped_and_reported(andsend_emulator, tmp_path):
    app, server = _start_salesforce({"describe": {"omit_fields": {"Lead": ["DoNotCall", "Status"]}}})
    try:
        sf = SalesforceEmulator(server.base_url, app)
        people = purchased(andsend_emulator, 2)
        run = run_target(config_for(sf, andsend_emulator, tmp_path), messages("prospects", people))
        got = stored(andsend_emulator)
        assert set(got) == {p["id"] for p in people}
        status = got[people[0]["id"]]
        assert "do_not_call" not in status and "lead_status" not in status
        assert status["has_opted_out_of_email"] is False
        assert run.report["crm_status"]["skipped_fields"] == ["Lead.DoNotCall", "Lead.Status"]
        assert any("Lead.DoNotCall" in n for n in run.report["notes"])
    finally:
        server.stop()
        app.state.emulator.store.close()


def test_same_person_linked_from_two_prospects(sf_emulator, andsend_emulator, tmp_path):
    first, second = purchased(andsend_emulator, 2)
    twin = dict(second, email=first["email"])  # the same person bought twice
    config = config_for(sf_emulator, andsend_emulator, tmp_path)
    run_target(config, messages("prospects", [first]))
    run_target(config, messages("prospects", [twin]))
    lead = lead_of(sf_emulator, first["email"])
    patch(sf_emulator, "Lead", lead["Id"], HasOptedOutOfEmail=True)
    run_target(config, messages("prospects", []))
    got = stored(andsend_emulator)
    assert got[first["id"]]["record_id"] == got[second["id"]]["record_id"] == lead["Id"]
    assert got[first["id"]]["do_not_contact"] is True and got[second["id"]]["do_not_contact"] is True


def test_crash_between_read_and_write_back_loses_nothing(sf_emulator, andsend_emulator, tmp_path):
    people = purchased(andsend_emulator, 2)
    config = config_for(sf_emulator, andsend_emulator, tmp_path, max_retries=1)
    run_target(config, messages("prospects", people))
    lead = lead_of(sf_emulator, people[0]["email"])
    patch(sf_emulator, "Lead", lead["Id"], DoNotCall=True)
    andsend_emulator.faults(rate_5xx=1.0)  # Andsend is down: the write-back fails after its retries
    failed = run_target(config, messages("prospects", []), expect_error=True)
    assert failed.report["status"] == "failed"
    andsend_emulator.faults()
    assert stored(andsend_emulator)[people[0]["id"]]["do_not_call"] is False
    run_target(config, messages("prospects", []))
    assert stored(andsend_emulator)[people[0]["id"]]["do_not_call"] is True


def test_switch_off_reads_and_writes_nothing(sf_emulator, andsend_emulator, tmp_path):
    people = purchased(andsend_emulator, 2)
    run = run_target(config_for(sf_emulator, andsend_emulator, tmp_path, sync_crm_status=False),
                     messages("prospects", people))
    assert stored(andsend_emulator) == {}
    assert "crm_status" not in run.report.get("counts", {})
    assert not (tmp_path / "out" / "crm_status.jsonl").exists()


@pytest.mark.parametrize("fields", [["owner", "do_not_call"]])
def test_per_field_choice(sf_emulator, andsend_emulator, tmp_path, fields):
    people = purchased(andsend_emulator, 1)
    run_target(config_for(sf_emulator, andsend_emulator, tmp_path, crm_status_fields=fields),
               messages("prospects", people))
    status = stored(andsend_emulator)[people[0]["id"]]
    assert "owner" in status and "do_not_call" in status
    assert not {"lead_status", "converted", "has_opted_out_of_email", "record_url", "last_modified_at"} & set(status)


def test_contact_mode_opt_out_and_owner_change(sf_emulator, andsend_emulator, tmp_path):
    refs = sf_emulator.seed({"users": [{"_ref": "cara", "Username": "cara@acme.test", "Email": "cara@acme.test",
                                        "FirstName": "Cara", "LastName": "Diaz"}]})
    people = purchased(andsend_emulator, 2)
    config = config_for(sf_emulator, andsend_emulator, tmp_path, object_mode="contact_account")
    run_target(config, messages("prospects", people))
    contacts = {c["Email"].lower(): c for c in sf_emulator.records("Contact") if c.get("Email")}
    first, second = (contacts[p["email"].lower()] for p in people)
    patch(sf_emulator, "Contact", first["Id"], HasOptedOutOfEmail=True)
    patch(sf_emulator, "Contact", second["Id"], OwnerId=refs["cara"])
    run_target(config, messages("prospects", []))
    got = stored(andsend_emulator)
    assert got[people[0]["id"]]["object_type"] == "Contact" and got[people[0]["id"]]["do_not_contact"] is True
    assert "lead_status" not in got[people[0]["id"]] and "converted" not in got[people[0]["id"]]
    assert got[people[1]["id"]]["owner"]["email"] == "cara@acme.test"


def test_unknown_choice_fails_before_any_write(sf_emulator, andsend_emulator, tmp_path):
    people = purchased(andsend_emulator, 1)
    run = run_target(config_for(sf_emulator, andsend_emulator, tmp_path, crm_status_fields=["owner", "shoe_size"]),
                     messages("prospects", people), expect_error=True)
    assert "shoe_size" in str(run.error)
    assert not [r for r in sf_emulator.records("Lead") if r.get("Email")]


def test_search_result_badges_carry_owner_and_do_not_contact(sf_emulator, andsend_emulator, tmp_path):
    results = [r for r in andsend_emulator.get("/v1/search-results", limit=300).json()["data"] if r.get("email")]
    opted, plain = results[0], next(r for r in results[1:] if r["email"].lower() != results[0]["email"].lower())
    refs = sf_emulator.seed({
        "users": [{"_ref": "bob", "Username": "bob@acme.test", "Email": "bob@acme.test", "FirstName": "Bob",
                   "LastName": "Stone"}],
        "records": {"Lead": [
            {"LastName": "O", "Company": "Acme", "Email": opted["email"], "HasOptedOutOfEmail": True,
             "OwnerId": "@bob"},
            {"LastName": "P", "Company": "Acme", "Email": plain["email"]}]}})
    run_target(config_for(sf_emulator, andsend_emulator, tmp_path),
               messages("search_results", [opted, plain]))
    badges = {b["result_id"]: b for b in andsend_emulator.badges()}
    assert badges[opted["id"]]["do_not_contact"] is True and badges[opted["id"]]["lead_status"]
    assert badges[opted["id"]]["last_modified_at"].endswith("Z")
    assert badges[opted["id"]]["owner"] == {"id": refs["bob"], "name": "Bob Stone", "email": "bob@acme.test"}
    assert badges[plain["id"]]["do_not_contact"] is False
    assert badges[plain["id"]]["owner"]["email"] == "admin@example.com"
