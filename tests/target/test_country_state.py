"""Country and State: in an org with State and Country/Territory Picklists the values are written as the
ISO codes Salesforce expects; unresolvable ones are left blank and reported; other orgs get the text."""

from __future__ import annotations

from target_salesforce_andsend.addresses import country_code, state_code
from target_salesforce_andsend.catalog import default_catalog_document
from tests.target._target_support import live, messages, prospect, run_target, target_config

PICKLISTS = {"org": {"state_country_picklists": True}}


def _catalog(mode: str = "lead") -> dict:
    doc = default_catalog_document(mode)
    obj, name = ("Lead", "State") if mode == "lead" else ("Contact", "MailingState")
    doc["mappings"].append({"source": "custom_fields.state", "object": obj, "field": name, "policy": "if_empty"})
    return doc


def test_names_spellings_and_codes_resolve():
    assert [country_code(v) for v in ("Germany", "DEU", "de", "Deutschland", "U.S.A.", "United Kingdom", "UK",
                                      "Côte d'Ivoire", "Russia", "Atlantis", "", None)] == [
        "DE", "DE", "DE", "DE", "US", "GB", "GB", "CI", "RU", None, None, None]
    assert state_code("California", "US") == "CA" and state_code("us-ny", "US") == "NY"
    assert state_code("Bayern", "DE") == "BY" and state_code("California", "DE") is None


def test_values_become_iso_codes_where_the_org_has_the_picklists(sf_emulator_factory, tmp_path):
    sf = sf_emulator_factory(PICKLISTS)
    config = target_config(sf, tmp_path, mapping_catalog_inline=_catalog())
    records = [prospect("de", country="Deutschland"),
               prospect("us", country="USA", custom_fields={"state": "California"}),
               prospect("au", country="AUS", custom_fields={"state": "WA"}),
               prospect("nowhere", country="Atlantis"),
               prospect("by", country="Germany", custom_fields={"state": "Bayern"}),
               # Cagliari's code is CA, which the org's StateCode list has for the US only (validFor).
               prospect("it", country="Italy", custom_fields={"state": "Cagliari"})]
    run = run_target(config, messages("prospects", records))
    assert run.rejects == []  # nothing refused with FIELD_INTEGRITY_EXCEPTION, nothing lost
    leads = {lead["Andsend_Prospect_Id__c"]: lead for lead in live(sf.records("Lead"))}
    got = {pid: (lead["CountryCode"], lead["Country"], lead["StateCode"]) for pid, lead in leads.items()}
    assert got == {"de": ("DE", "Germany", None), "us": ("US", "United States", "CA"),
                   "au": ("AU", "Australia", "WA"), "nowhere": (None, None, None),
                   "by": ("DE", "Germany", None), "it": ("IT", "Italy", None)}
    section = run.report["addresses"]
    assert section["left_blank"] == {"Lead.Country": 1, "Lead.State": 2}
    examples = {(e["prospect_id"], e["value"]) for e in section["examples"]}
    assert examples == {("nowhere", "Atlantis"), ("by", "Bayern"), ("it", "Cagliari")}
    assert run.counts("Lead")["address_value_left_blank"] == 3


def test_a_matched_contact_gets_the_code_and_an_equal_country_is_not_rewritten(sf_emulator_factory, tmp_path):
    sf = sf_emulator_factory({**PICKLISTS, "records": {"Contact": [
        {"LastName": "Meier", "FirstName": "Ann", "Email": "hans@acme.de", "MailingCountry": "Germany", "Title": "CTO",
         "Andsend_Prospect_Id__c": "hans"},
        {"LastName": "Park", "Email": "lisa@globex.com"}]}})
    catalog = _catalog("contact_account")
    for m in catalog["mappings"]:
        if m["field"] == "MailingCountry":
            m["policy"] = "overwrite"
    config = target_config(sf, tmp_path, mapping_catalog_inline=catalog)
    records = [prospect("hans", email="hans@acme.de", country="DEU"),
               prospect("lisa", email="lisa@globex.com", country="United States of America",
                        custom_fields={"state": "New York"})]
    run = run_target(config, messages("prospects", records))
    contacts = {c["Email"]: c for c in live(sf.records("Contact"))}
    assert (contacts["lisa@globex.com"]["MailingCountryCode"], contacts["lisa@globex.com"]["MailingStateCode"]) == (
        "US", "NY")
    assert contacts["hans@acme.de"]["MailingCountryCode"] == "DE"
    assert run.rejects == []
    # "DEU" means the Germany already there: no update for it (Lisa's record is the one updated).
    assert run.counts("Contact").get("updated") == 1


def test_orgs_without_the_picklists_keep_the_text(sf_emulator_factory, tmp_path):
    sf = sf_emulator_factory({})
    config = target_config(sf, tmp_path, mapping_catalog_inline=_catalog())
    run = run_target(config, messages("prospects", [prospect("de", country="Deutschland",
                                                             custom_fields={"state": "Bayern"})]))
    (lead,) = live(sf.records("Lead"))
    assert (lead["Country"], lead["State"]) == ("Deutschland", "Bayern")
    assert "CountryCode" not in lead and "addresses" not in run.report
