"""Duplicate rules across objects: a create Salesforce refuses with DUPLICATES_DETECTED is linked to the
record the rule names (default), saved anyway with the allowSave header, or rejected, per object."""

from __future__ import annotations

from tests.target._org_support import stored_links
from tests.target._target_support import live, messages, prospect, run_target, target_config

# The standard rules of a new org: new Leads against Leads and Contacts by e-mail (alert), and a
# blocking Account rule by website domain.
RULES = [
    {"name": "Standard_Lead_Duplicate_Rule", "object": "Lead", "action": "alert",
     "match": [{"object": "Lead", "fields": ["Email"]}, {"object": "Contact", "fields": ["Email"]}]},
    {"name": "Account_Website_Block", "object": "Account", "action": "block",
     "match": [{"object": "Account", "fields": ["Website"], "compare": "domain"}]},
]


def _org(sf_emulator_factory, **extra):
    fixture = {"duplicate_rules": RULES, "records": {
        "Account": [{"_ref": "acme", "Name": "Acme Holding", "Website": "https://www.acme.de/en/"}],
        "Contact": [{"_ref": "hans", "LastName": "Meier", "FirstName": "Hans", "Email": "hans.meier@acme.de",
                     "AccountId": "@acme"}]}, **extra}
    sf = sf_emulator_factory(fixture)
    contact_id = live(sf.records("Contact"))[0]["Id"]
    account_id = live(sf.records("Account"))[0]["Id"]
    return sf, contact_id, account_id


# The matcher is told not to look at Contacts, so only the org's duplicate rule can find Hans.
LEADS_ONLY = ["external_id", "lead_email"]


def test_refused_lead_is_linked_to_the_contact_the_rule_names_and_never_duplicated(sf_emulator_factory, tmp_path):
    sf, contact_id, _ = _org(sf_emulator_factory)
    config = target_config(sf, tmp_path, match_order=LEADS_ONLY)
    records = [prospect("p-hans", email="Hans.Meier@acme.de", last_name="Meier"),
               prospect("p-new", email="new@acme.de")]
    run = run_target(config, messages("prospects", records))

    leads = live(sf.records("Lead"))
    assert [lead["Email"] for lead in leads] == ["new@acme.de"]  # Hans is not created as a Lead
    assert run.rejects == []
    links = stored_links(config, run)
    assert (links["p-hans"]["object"], links["p-hans"]["record_id"]) == ("Contact", contact_id)
    assert run.counts("Contact")["matched_by_duplicate_rule"] == 1
    (audit,) = [a for a in run.report["match_audit"] if a["outcome"] == "duplicate_rule_match"]
    assert audit["prospect_id"] == "p-hans" and audit["record_id"] == contact_id
    assert "Standard_Lead_Duplicate_Rule" in audit["reason"]
    # Enriched in the same run like any matched Contact (catalog policies), and marked with the
    # prospect id so the next run's external_id step finds it without a refused create.
    (hans,) = live(sf.records("Contact"))
    assert (hans["Title"], hans["Andsend_Prospect_Id__c"]) == ("CTO", "p-hans")
    assert run.counts("Contact")["updated"] == 1

    rerun = run_target(config, messages("prospects", records))
    assert len(live(sf.records("Lead"))) == 1 and len(live(sf.records("Contact"))) == 1
    assert rerun.rejects == [] and not rerun.counts("Contact").get("matched_by_duplicate_rule")


def test_allow_save_resends_with_the_header_and_reject_rejects(sf_emulator_factory, tmp_path):
    sf, contact_id, _ = _org(sf_emulator_factory)
    config = target_config(sf, tmp_path / "a", match_order=LEADS_ONLY, duplicate_rule_action={"Lead": "allow_save"})
    run = run_target(config, messages("prospects", [prospect("p-hans", email="hans.meier@acme.de")]))
    (lead,) = live(sf.records("Lead"))
    assert lead["Email"] == "hans.meier@acme.de" and lead["Andsend_Prospect_Id__c"] == "p-hans"
    assert run.counts("Lead")["saved_despite_duplicate_rule"] == 1 and run.rejects == []
    assert stored_links(config, run)["p-hans"]["record_id"] == lead["Id"]

    sf2, contact_id, _ = _org(sf_emulator_factory)
    config = target_config(sf2, tmp_path / "r", match_order=LEADS_ONLY, duplicate_rule_action={"Lead": "reject"})
    run = run_target(config, messages("prospects", [prospect("p-hans", email="hans.meier@acme.de")]))
    assert live(sf2.records("Lead")) == []
    (reject,) = run.rejects
    assert (reject["key"], reject["error_code"]) == ("p-hans", "DUPLICATES_DETECTED")
    assert "Standard_Lead_Duplicate_Rule" in reject["message"] and contact_id in reject["message"]


def test_a_rule_naming_someone_else_does_not_merge_two_people(sf_emulator_factory, tmp_path):
    # A loose rule (same last name): the record it names has another e-mail, so it is another person.
    rules = [{"name": "Loose_Name_Rule", "object": "Lead", "action": "alert",
              "match": [{"object": "Contact", "fields": ["LastName"]}]}]
    sf, _, _ = _org(sf_emulator_factory, duplicate_rules=rules)
    config = target_config(sf, tmp_path, match_order=LEADS_ONLY)
    run = run_target(config, messages("prospects", [prospect("p-other", email="other.meier@acme.de",
                                                             last_name="Meier")]))
    (lead,) = live(sf.records("Lead"))
    assert lead["Email"] == "other.meier@acme.de"
    assert run.counts("Lead")["saved_despite_duplicate_rule"] == 1
    assert stored_links(config, run)["p-other"]["object"] == "Lead"


def test_blocked_account_create_puts_the_contact_under_the_account_the_rule_names(sf_emulator_factory, tmp_path):
    sf, _, account_id = _org(sf_emulator_factory)
    # No account matching steps: only the org's blocking website rule knows the company.
    config = target_config(sf, tmp_path, object_mode="contact_account",
                           match_order=["external_id", "contact_email", "lead_email"])
    record = prospect("p-eva", email="eva@acme.de", company_name="ACME Deutschland", company_domain="acme.de",
                      company_website="https://acme.de")
    run = run_target(config, messages("prospects", [record]))
    assert [a["Id"] for a in live(sf.records("Account"))] == [account_id]  # no second Account
    eva = next(c for c in live(sf.records("Contact")) if c["Email"] == "eva@acme.de")
    assert eva["AccountId"] == account_id
    assert run.counts("Account")["matched_by_duplicate_rule"] == 1 and run.rejects == []


def test_a_bulk_row_refused_by_a_duplicate_rule_is_resent_through_collections_and_linked(sf_emulator_factory,
                                                                                          tmp_path):
    sf, contact_id, _ = _org(sf_emulator_factory)
    # Bulk 2.0 from two records: its failed rows carry only "DUPLICATES_DETECTED", no matched ids.
    config = target_config(sf, tmp_path, match_order=LEADS_ONLY, bulk_threshold=2, owner_fallback="integration_user")
    records = [prospect("p-hans", email="hans.meier@acme.de"), prospect("p-new", email="new@acme.de")]
    run = run_target(config, messages("prospects", records))
    assert sf.stats()["by_kind"].get("bulk_create_job") == 1
    assert [lead["Email"] for lead in live(sf.records("Lead"))] == ["new@acme.de"]
    assert stored_links(config, run)["p-hans"]["record_id"] == contact_id and run.rejects == []
