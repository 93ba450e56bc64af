"""Pure planning of the CRM status (target_salesforce_andsend.crm_status): select lists, statements,
status records, what changed and the watermarks."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest
import yaml

from target_salesforce_andsend import crm_status as cs
from tests.target._describes import describes

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "crm_status.json").read_text())


def names(sobject: str, omit: tuple[str, ...] = ()) -> dict[str, str]:
    doc = describes(sobject, omit={sobject: list(omit)})[sobject]
    return {f["name"].casefold(): f["name"] for f in doc["fields"]}


def plan(sobject: str = "Lead", groups: frozenset[str] | None = None, omit: tuple[str, ...] = (),
         custom: tuple = ()) -> cs.ReadPlan:
    index = names(sobject, omit)
    result = cs.read_plan(sobject, lambda n: index.get(n.casefold()), groups or cs.chosen_groups(None), custom)
    assert result is not None
    return result


def test_select_list_follows_describe_and_choice():
    lead = plan()
    assert lead.fields[:2] == ("Id", "SystemModstamp")
    assert {"OwnerId", "Owner.Name", "Owner.Email", "Status", "IsConverted", "ConvertedContactId",
            "HasOptedOutOfEmail", "DoNotCall", "LastModifiedDate"} <= set(lead.fields)
    contact = plan("Contact")
    assert "Status" not in contact.fields and "IsConverted" not in contact.fields
    only = plan(groups=cs.chosen_groups(["do_not_call"]))
    assert only.fields == ("Id", "SystemModstamp", "DoNotCall") and only.standard_dnc == ("DoNotCall",)
    with pytest.raises(ValueError, match="crm_status_fields"):
        cs.chosen_groups(["owner", "shoe_size"])


def test_unreadable_fields_are_skipped_and_named():
    lead = plan(omit=("DoNotCall", "OwnerId"), custom=(("Gone__c", None),))
    assert "DoNotCall" not in lead.fields and "Owner.Name" not in lead.fields
    assert lead.skipped == ("Lead.OwnerId", "Lead.DoNotCall", "Lead.Gone__c")
    index = names("Lead", ("SystemModstamp",))
    assert cs.read_plan("Lead", lambda n: index.get(n.casefold()), cs.chosen_groups(None)) is None


def test_changed_chain_continues_on_the_previous_last_id():
    start = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    first = cs.changed_chain(plan(), start)
    assert len(first) == cs.CHAIN
    assert "WHERE SystemModstamp >= 2026-01-02T03:04:05Z ORDER BY Id LIMIT 2000" in first[0]
    assert "AND Id > '@{c0.records[1999].Id}' ORDER BY Id" in first[1]
    assert first[4].endswith("AND Id > '@{c3.records[1999].Id}' ORDER BY Id")  # no LIMIT: its done tells
    later = cs.changed_chain(plan(), start, after_id="00Q000000000abcEAA")
    assert "AND Id > '00Q000000000abcEAA' ORDER BY Id" in later[0]
    hostile = cs.changed_chain(plan(), start, after_id="x' OR Name != '")[0]
    assert "Id > 'x\\' OR Name != \\''" in hostile  # through the one escaping function


def test_by_id_statements_hold_one_page_of_ids_each():
    ids = [f"00Q{i:015d}" for i in range(4500)]
    statements = cs.by_id_statements(plan(), ids)
    assert len(statements) == 3 and all(s.count("'00Q") <= cs.PAGE for s in statements)


def row(**kw):
    base = {"Id": "00QA", "SystemModstamp": "2026-01-02T03:04:05.000+0000", "OwnerId": "005A",
            "Owner": {"Name": "Ann Owner", "Email": "ann@acme.test"}, "Status": "Working - Contacted",
            "IsConverted": False, "ConvertedContactId": None, "ConvertedAccountId": None,
            "HasOptedOutOfEmail": False, "DoNotCall": False, "LastModifiedDate": "2026-01-02T03:04:05.000+0000"}
    base.update(kw)
    return base


def test_status_record_and_its_schema():
    custom = (("Do_Not_Contact__c", None), ("Contact_Preference__c", ("Never",)))
    lead = plan(custom=custom)
    lead = cs.ReadPlan(lead.sobject, lead.fields, lead.groups, lead.standard_dnc, custom, lead.skipped)
    status = cs.status_record("p1", lead, row(DoNotCall=True, Contact_Preference__c="never;email"),
                              record_url=lambda i: f"https://org/{i}", checked_at="2026-01-03T00:00:00Z")
    assert status["owner"] == {"id": "005A", "name": "Ann Owner", "email": "ann@acme.test"}
    assert status["do_not_contact_reasons"] == ["DoNotCall", "Contact_Preference__c"]
    assert status["last_modified_at"] == "2026-01-02T03:04:05.000Z"
    jsonschema.validate(status, SCHEMA)
    clean = cs.status_record("p1", lead, row(Do_Not_Contact__c="false"), record_url=str, checked_at="t")
    assert clean["do_not_contact"] is False and clean["do_not_contact_reasons"] == []


def test_schema_file_matches_the_contract():
    contract = yaml.safe_load((ROOT / "schemas" / "andsend-api.openapi.yaml").read_text())
    assert contract["components"]["schemas"]["CrmStatus"]["properties"] == SCHEMA["properties"]


def test_two_prospects_on_one_record_and_what_changed():
    lead = plan()
    statuses = cs.statuses_for(lead, [row(), row(Id="00QB")], {"00QA": ["p1", "p2"]}, record_url=str,
                               checked_at="t1")
    assert sorted(statuses) == ["p1", "p2"] and statuses["p1"]["record_id"] == statuses["p2"]["record_id"]
    again = cs.statuses_for(lead, [row()], {"00QA": ["p1", "p2"]}, record_url=str, checked_at="t2")
    assert cs.changed(again, statuses) == []  # only checked_at differs
    moved = cs.statuses_for(lead, [row(OwnerId="005B")], {"00QA": ["p1"]}, record_url=str, checked_at="t3")
    assert [s["prospect_id"] for s in cs.changed(moved, statuses)] == ["p1"]


def test_watermark_is_the_newest_stamp_and_the_window_starts_at_its_second():
    rows = [row(SystemModstamp="2026-01-02T03:04:05.250+0000"), row(SystemModstamp="2026-01-01T00:00:00.000+0000")]
    assert cs.advance(None, rows) == "2026-01-02T03:04:05.250+0000"
    assert cs.advance("2026-02-01T00:00:00.000+0000", rows) == "2026-02-01T00:00:00.000+0000"
    assert cs.window_start("2026-01-02T03:04:05.250+0000") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert cs.window_start("2026-01-02T03:04:05.250+0000", 60) == datetime(2026, 1, 2, 3, 3, 5, tzinfo=timezone.utc)


def test_links_mark_reads_each_link_once():
    links = [{"prospect_id": "p1", "updated_at": "2026-01-01T00:00:01+00:00"},
             {"prospect_id": "p2", "updated_at": "2026-01-01T00:00:02+00:00"}]
    mark = cs.LinksMark.load(None)
    assert mark.new_links(links) == links
    mark = cs.LinksMark.load(mark.advanced(links).dump())
    assert mark.since == "2026-01-01T00:00:02+00:00" and mark.new_links(links) == []
    later = [*links, {"prospect_id": "p3", "updated_at": "2026-01-01T00:00:02+00:00"},
             {"prospect_id": "p1", "updated_at": "2026-01-01T00:00:09+00:00"}]
    assert [x["prospect_id"] for x in mark.new_links(later)] == ["p3", "p1"]
