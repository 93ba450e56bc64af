"""The shipped messy org (emulators/salesforce/fixtures/messy.json) through the target: every prospect ends
written, linked or rejected with a reason; nothing crashes, nothing is created twice on a rerun."""

from __future__ import annotations

import json
from pathlib import Path

import emulators.salesforce
from target_salesforce_andsend.catalog import default_catalog_document
from tests.target._org_support import stored_links
from tests.target._target_support import live, messages, prospect, run_target, target_config

MESSY = Path(emulators.salesforce.__file__).parent / "fixtures" / "messy.json"


def test_prospects_through_the_messy_org(sf_emulator_factory, tmp_path):
    sf = sf_emulator_factory(json.loads(MESSY.read_text()))
    catalog = default_catalog_document("lead")
    catalog["record_types"] = {"Lead": "Outbound"}  # its LeadSource values include "Andsend"
    config = target_config(sf, tmp_path, mapping_catalog_inline=catalog, match_order=["external_id", "lead_email"],
                           owner_fallback="integration_user")
    records = [
        prospect("p-new", email="mia@nordwind.de", company_website="https://nordwind.de", country="Deutschland",
                 phone="+49 40 123456", purchased_by_user_email="ann.lee@acme-sales.test"),
        # Only the org's Standard_Lead_Duplicate_Rule knows Hans (a Contact): linked to him.
        prospect("p-hans", email="hans.meier@acme.de", company_website="https://acme.de", country="Germany"),
        # Outbound leads need a website (validation rule): rejected with the rule's message.
        prospect("p-nosite", email="no.site@example.org", company_domain=None, country="Norway"),
        # Not a country Salesforce knows: written without it, and reported.
        prospect("p-atlantis", email="x@atlantis.test", company_website="https://atlantis.test", country="Atlantis"),
    ]
    run = run_target(config, messages("prospects", records))

    leads = {lead["Andsend_Prospect_Id__c"]: lead for lead in live(sf.records("Lead"))
             if lead["Andsend_Prospect_Id__c"]}
    assert set(leads) == {"p-new", "p-atlantis"}
    outbound = next(t.id for t in sf.app.state.emulator.org_rules.types_of("Lead") if t.developer_name == "Outbound")
    assert {lead["RecordTypeId"] for lead in leads.values()} == {outbound}
    assert (leads["p-new"]["CountryCode"], leads["p-new"]["LeadSource"]) == ("DE", "Andsend")
    assert leads["p-new"]["OwnerId"] == next(u["Id"] for u in sf.records("User") if u["LastName"] == "Lee")
    assert leads["p-atlantis"]["CountryCode"] is None
    hans = next(c for c in live(sf.records("Contact")) if c["Email"] == "hans.meier@acme.de")
    links = stored_links(config, run)
    assert (links["p-hans"]["object"], links["p-hans"]["record_id"]) == ("Contact", hans["Id"])
    (reject,) = run.rejects
    assert (reject["key"], reject["error_code"]) == ("p-nosite", "FIELD_CUSTOM_VALIDATION_EXCEPTION")
    assert "need the company's website" in reject["message"]
    assert run.report["addresses"]["left_blank"] == {"Lead.Country": 1}

    rerun = run_target(config, messages("prospects", records))
    assert len([lead for lead in live(sf.records("Lead")) if lead["Andsend_Prospect_Id__c"]]) == 2
    assert len([c for c in live(sf.records("Contact")) if c["Email"] == "hans.meier@acme.de"]) == 1
    assert [r["key"] for r in rerun.rejects if r.get("status", "open") == "open"] == ["p-nosite"]
