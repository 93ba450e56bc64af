"""Field access (field-level security): what the user cannot write is found in describe at start and
shown by `mapping validate`; a write refused for a read-only field is sent once more without it."""

from __future__ import annotations

import json
import logging
import uuid

from target_salesforce_andsend import prospects
from target_salesforce_andsend.context import build_run
from tests.target._org_support import stored_links
from tests.target._target_support import live, messages, prospect, run_target, target_config
from tests.target.test_target_cli import call


def test_validate_shows_the_fields_the_user_cannot_write(sf_emulator_factory, tmp_path):
    sf = sf_emulator_factory({"field_security": {"read_only": {"Lead": ["Title", "Andsend_Prospect_Ids__c"]},
                                                 "hidden": {"Lead": ["LinkedIn_Profile__c"]}}})
    path = tmp_path / "config.json"
    path.write_text(json.dumps(target_config(sf, tmp_path)))
    code, out = call(["mapping", "validate", "--config", str(path), "--format", "json"])
    doc = json.loads(out)
    assert code == 1
    access = {(r["field"], r["access"], r["source"]) for r in doc["field_access"]["Lead"]}
    assert access == {("Title", "read_only", "catalog"), ("LinkedIn_Profile__c", "hidden", "catalog"),
                      ("Andsend_Prospect_Ids__c", "read_only", "target")}
    code, out = call(["mapping", "validate", "--config", str(path)])
    assert "Fields the integration user cannot write" in out and "left out of writes" in out


def test_the_targets_own_read_only_fields_are_left_out_and_reported(sf_emulator_factory, tmp_path):
    # The merged-ids field read-only for the integration user: two prospects of one person still
    # become one Lead, without that field, and the run says what it left out.
    sf = sf_emulator_factory({"field_security": {"read_only": {"Lead": ["Andsend_Prospect_Ids__c"]}}})
    config = target_config(sf, tmp_path)
    records = [prospect("p1", email="same@acme.test"), prospect("p2", email="SAME@acme.test")]
    run = run_target(config, messages("prospects", records))
    (lead,) = live(sf.records("Lead"))
    assert lead["Andsend_Prospect_Id__c"] == "p1" and lead["Andsend_Prospect_Ids__c"] is None
    assert run.rejects == []
    assert run.report["field_access"]["not_writable_at_start"] == {"Lead": ["Andsend_Prospect_Ids__c"]}
    assert any("Andsend_Prospect_Ids__c" in note for note in run.report["notes"])


def test_a_write_refused_for_a_read_only_field_is_retried_once_without_it(sf_emulator, tmp_path):
    config = target_config(sf_emulator, tmp_path, pipeline_id=f"test-{uuid.uuid4().hex}")
    run = build_run(config, logging.getLogger("test"))
    try:
        # An admin takes the edit access to Title away after the run read describe.
        sf_emulator.app.state.emulator.store.registry.get("Lead").field("Title")["createable"] = False
        prospects.process_batch(run, [prospect("p1", title="CTO"), prospect("p2", title="CEO")])
        prospects.process_batch(run, [prospect("p3", title="CFO")])
    finally:
        run.links.close()
    leads = {lead["Andsend_Prospect_Id__c"]: lead for lead in live(sf_emulator.records("Lead"))}
    assert set(leads) == {"p1", "p2", "p3"} and {lead["Title"] for lead in leads.values()} == {None}
    refused = run.report.section("field_access")["left_out_after_refusal"]
    assert refused == {"Lead.Title": 2}  # the first batch: refused, then sent without it
    # The second batch no longer sends it: not one refusal more.
    assert run.report.get(prospects.ROLE, "Lead", "created") == 3 and run.rejects.count == 0
    assert set(stored_links(config, _Report(run))) == {"p1", "p2", "p3"}


class _Report:
    """The shape stored_links reads from a finished run, for a RunContext used directly."""

    def __init__(self, run):
        self.report = {"org": {"org_id": run.org_id}}


def test_a_read_only_refusal_and_a_duplicate_rule_link_in_one_round(sf_emulator_factory, tmp_path):
    rules = [{"name": "Standard_Lead_Duplicate_Rule", "object": "Lead", "action": "alert",
              "match": [{"object": "Contact", "fields": ["Email"]}]}]
    sf = sf_emulator_factory({"duplicate_rules": rules, "records": {"Contact": [
        {"LastName": "Meier", "Email": "hans@acme.de"}]}})
    config = target_config(sf, tmp_path, pipeline_id=f"test-{uuid.uuid4().hex}",
                           match_order=["external_id", "lead_email"])
    run = build_run(config, logging.getLogger("test"))
    try:
        sf.app.state.emulator.store.registry.get("Lead").field("Title")["createable"] = False
        prospects.process_batch(run, [prospect("p-hans", email="hans@acme.de"), prospect("p-new")])
    finally:
        run.links.close()
    (lead,) = live(sf.records("Lead"))
    assert (lead["Andsend_Prospect_Id__c"], lead["Title"]) == ("p-new", None)
    (hans,) = live(sf.records("Contact"))
    assert hans["Andsend_Prospect_Id__c"] == "p-hans" and run.rejects.count == 0
    links = stored_links(config, _Report(run))
    assert (links["p-hans"]["object"], links["p-hans"]["record_id"]) == ("Contact", hans["Id"])
