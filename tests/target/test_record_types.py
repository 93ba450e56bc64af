"""Record types: the catalog names one per object by DeveloperName; created records carry its
RecordTypeId; picklist values are checked against its values before sending; `mapping validate`
reports unknown record types and catalog values the record type does not allow."""

from __future__ import annotations

import json

from target_salesforce_andsend.catalog import default_catalog_document
from tests.target._target_support import live, messages, prospect, run_target, target_config
from tests.target.test_target_cli import call

RECORD_TYPES = {"Lead": [
    {"developer_name": "Inbound", "name": "Inbound Lead", "default": True,
     "picklists": {"LeadSource": {"values": ["Web", "Phone Inquiry", "Other"], "default": "Web"}}},
    {"developer_name": "Outbound", "name": "Outbound Prospect",
     "picklists": {"LeadSource": {"values": ["Purchased List", "Partner Referral", "Andsend"],
                                  "default": "Purchased List"}}},
]}


def _catalog(record_type: str | None, *, source_map: bool = False) -> dict:
    doc = default_catalog_document("lead")
    if record_type:
        doc["record_types"] = {"Lead": record_type}
    if source_map:
        # The prospect's own channel decides LeadSource (the record type's spelling is restored).
        doc["mappings"] = [m for m in doc["mappings"] if m["field"] != "LeadSource"]
        doc["mappings"].append({"source": "custom_fields.channel", "object": "Lead", "field": "LeadSource",
                                "policy": "on_create"})
    return doc


def _type_ids(sf) -> dict[str, str]:
    return {t.developer_name: t.id for t in sf.app.state.emulator.org_rules.types_of("Lead")}


def test_created_leads_get_the_catalogs_record_type_and_its_values(sf_emulator_factory, tmp_path):
    sf = sf_emulator_factory({"record_types": RECORD_TYPES})
    config = target_config(sf, tmp_path, mapping_catalog_inline=_catalog("Outbound"))
    run = run_target(config, messages("prospects", [prospect("p1"), prospect("p2")]))
    leads = live(sf.records("Lead"))
    assert {lead["RecordTypeId"] for lead in leads} == {_type_ids(sf)["Outbound"]}
    assert {lead["LeadSource"] for lead in leads} == {"Andsend"}
    assert run.rejects == []
    # One UI API read of the record type's picklist values for the run; the type itself came with describe.
    assert sf.stats()["by_kind"].get("ui_api") == 1


def test_a_value_outside_the_record_type_is_rejected_before_any_call(sf_emulator_factory, tmp_path):
    sf = sf_emulator_factory({"record_types": RECORD_TYPES})
    config = target_config(sf, tmp_path, mapping_catalog_inline=_catalog("Outbound", source_map=True))
    records = [prospect("ok", custom_fields={"channel": "purchased list"}),
               prospect("bad", custom_fields={"channel": "Web"})]
    run = run_target(config, messages("prospects", records))
    (lead,) = live(sf.records("Lead"))
    assert (lead["Andsend_Prospect_Id__c"], lead["LeadSource"]) == ("ok", "Purchased List")
    (reject,) = run.rejects
    assert (reject["key"], reject["error_code"]) == ("bad", "INVALID_PICKLIST_VALUE")
    assert "'Web' is not a value of record type Outbound" in reject["message"]
    assert "Purchased List" in reject["message"]  # the allowed values are named
    # The refused value never reached Salesforce: one create of one record, nothing refused there.
    assert sf.stats()["records_written"] == 1


def test_unknown_record_type_stops_the_run_before_any_write(sf_emulator_factory, tmp_path):
    sf = sf_emulator_factory({"record_types": RECORD_TYPES})
    config = target_config(sf, tmp_path, mapping_catalog_inline=_catalog("Outbund"))
    run = run_target(config, messages("prospects", [prospect("p1")]), expect_error=True)
    assert "record type 'Outbund' of Lead does not exist" in str(run.error)
    assert "available: Inbound, Outbound" in str(run.error)
    assert live(sf.records("Lead")) == []


def _validate(tmp_path, config) -> tuple[int, dict]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    code, out = call(["mapping", "validate", "--config", str(path), "--format", "json"])
    return code, json.loads(out)


def test_mapping_validate_reports_unknown_record_types_and_unallowed_values(sf_emulator_factory, tmp_path):
    sf = sf_emulator_factory({"record_types": RECORD_TYPES})
    # No record type named: the user's default (Inbound) applies, and it has no "Andsend" source.
    code, doc = _validate(tmp_path, target_config(sf, tmp_path))
    assert code == 1 and doc["record_types"] == {"Lead": "Inbound (the user's default)"}
    status = {(f["object"], f["field"]): (f["status"], f["message"]) for f in doc["fields"]}
    assert status[("Lead", "LeadSource")][0] == "picklist_value"
    assert "'Andsend' is not a value of record type Inbound" in status[("Lead", "LeadSource")][1]

    code, doc = _validate(tmp_path, target_config(sf, tmp_path, mapping_catalog_inline=_catalog("Nope")))
    assert code == 1
    assert any(f["status"] == "unknown_record_type" and f["field"] == "RecordTypeId" for f in doc["fields"])

    code, doc = _validate(tmp_path, target_config(sf, tmp_path, mapping_catalog_inline=_catalog("Outbound")))
    assert code == 0 and doc["record_types"] == {"Lead": "Outbound"}


def _mapped_catalog(values: dict[str, str], default: str | None) -> dict:
    doc = _catalog("Outbound")
    doc["mappings"] = [m for m in doc["mappings"] if m["field"] != "LeadSource"]
    doc["mappings"].append({"source": "custom_fields.channel", "object": "Lead", "field": "LeadSource",
                            "policy": "on_create", "transform": {"type": "map", "values": values, "default": default}})
    return doc


def test_the_catalog_maps_andsend_values_to_the_record_types_values(sf_emulator_factory, tmp_path):
    sf = sf_emulator_factory({"record_types": RECORD_TYPES})
    catalog = _mapped_catalog({"list": "Purchased List", "partner": "Partner Referral"}, "Andsend")
    config = target_config(sf, tmp_path, mapping_catalog_inline=catalog)
    records = [prospect("p-partner", custom_fields={"channel": "Partner"}),
               prospect("p-other", custom_fields={"channel": "conference"})]
    run = run_target(config, messages("prospects", records))
    sources = {lead["Andsend_Prospect_Id__c"]: lead["LeadSource"] for lead in live(sf.records("Lead"))}
    assert sources == {"p-partner": "Partner Referral", "p-other": "Andsend"} and run.rejects == []

    # A map target the record type does not allow: every such record would be refused, so validate says so.
    bad = _mapped_catalog({"list": "Purchased List", "web": "Web"}, None)
    code, doc = _validate(tmp_path, target_config(sf, tmp_path, mapping_catalog_inline=bad))
    assert code == 1
    assert any(f["field"] == "LeadSource" and f["status"] == "picklist_value" and "'Web'" in f["message"]
               for f in doc["fields"])
