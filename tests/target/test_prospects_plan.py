"""prospects.py planning: records + lookup results in, actions out (no HTTP)."""

from __future__ import annotations

from target_salesforce_andsend.catalog import field_index, load_catalog
from target_salesforce_andsend.matching import Match
from target_salesforce_andsend.prospects import PlanInputs, plan_batch, prepare
from tests.target._describes import describes

OWNER = "005000000000001AAA"


def inputs(mode="lead", **kw) -> PlanInputs:
    return PlanInputs(catalog=load_catalog({"object_mode": mode}),
                      fields={o: field_index(d) for o, d in describes().items()},
                      external_id={"Lead": "Andsend_Prospect_Id__c", "Contact": "Andsend_Prospect_Id__c"}, **kw)


def prospect(pid, **kw):
    base = {"id": pid, "status": "purchased", "purchased": True, "last_name": "Lee", "first_name": "Ann",
            "email": f"{pid}@acme.de", "company_name": "Acme GmbH", "company_domain": "acme.de",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
    base.update(kw)
    return base


def test_prepare_skips_rejects_and_merges_same_email():
    records = [
        prospect("p1", email="Ann@Acme.de"),
        prospect("p2", email=" ann@ACME.DE ", title="CTO"),
        prospect("p3", purchased=False, status="available"),
        prospect("p4", last_name=None, email=None),
        prospect("p5", email="broken"),
        prospect("p6", last_name=123),
        prospect("p1", email="Ann@Acme.de", phone="+49 1"),  # re-sent: the later copy wins
    ]
    prepared = prepare(records, {})
    assert [g.prospect_ids for g in prepared.groups] == [["p2", "p1"]]
    assert prepared.groups[0].record["title"] == "CTO" and prepared.groups[0].record["phone"] == "+49 1"
    assert prepared.skipped == [("p3", "not_purchased")]
    assert [(r["id"], code) for r, code, _ in prepared.rejected] == [
        ("p4", "MISSING_NAME_AND_EMAIL"), ("p5", "INVALID_EMAIL"), ("p6", "INVALID_INPUT")]
    assert prepare(records, {"sync_prospects": False}).skipped[0] == ("p1", "sync_prospects_off")


def test_lead_mode_creates_lead_with_owner_and_external_id():
    groups = prepare([prospect("p1", purchased_by_user_email="Seller@Andsend.io")], {}).groups
    plan = plan_batch(groups, {}, {"seller@andsend.io": OWNER}, inputs())
    (create,) = plan.creates
    assert create.object == "Lead" and create.auto_assign is False
    assert create.fields["OwnerId"] == OWNER and create.fields["Andsend_Prospect_Id__c"] == "p1"
    assert create.fields["Company"] == "Acme GmbH" and create.fields["LeadSource"] == "Andsend"
    assert plan.owner_status[groups[0].key] == "resolved"


def test_owner_fallbacks():
    groups = prepare([prospect("p1", purchased_by_user_email="nobody@andsend.io")], {}).groups
    assert plan_batch(groups, {}, {}, inputs()).creates[0].auto_assign is True
    plan = plan_batch(groups, {}, {}, inputs(owner_fallback="integration_user"))
    assert plan.creates[0].auto_assign is False and "OwnerId" not in plan.creates[0].fields
    plan = plan_batch(groups, {}, {}, inputs(owner_fallback="user", fallback_owner_id=OWNER))
    assert plan.creates[0].fields["OwnerId"] == OWNER
    assert plan.owner_status[groups[0].key] == "fallback_user"


def test_matched_record_updated_only_as_policies_allow():
    groups = prepare([prospect("p1", title="CTO", phone="+49 2", linkedin_url="https://li/ann",
                               purchased_by_user_email="s@andsend.io")], {}).groups
    current = {"Id": "00Q1", "LastName": "Lee", "Email": "P1@ACME.DE", "Title": "CEO", "Phone": "+49 1",
               "LinkedIn_Profile__c": "https://li/ann", "OwnerId": "005OTHER", "Andsend_Prospect_Id__c": None,
               "Company": "Acme", "City": None}
    match = Match("Lead", "00Q1", None, "lead_email", ["00Q1"], current)
    plan = plan_batch(groups, {groups[0].key: match}, {"s@andsend.io": OWNER}, inputs())
    (update,) = plan.updates.values()
    # Title: overwrite and changed; Phone: if_empty but set; LinkedIn: unchanged; OwnerId: on_create;
    # FirstName/Website: if_empty and empty in Salesforce.
    assert update.fields == {"Title": "CTO", "FirstName": "Ann", "Website": "acme.de", "Andsend_Prospect_Id__c": "p1"}
    current.update(Title="CTO", Andsend_Prospect_Id__c="p0", FirstName="Annie", Website="https://acme.de")
    plan = plan_batch(groups, {groups[0].key: match}, {}, inputs())
    assert not plan.updates and [a.record_id for a in plan.links] == ["00Q1"]


def test_contact_account_mode_creates_one_account_per_company():
    groups = prepare([prospect("p1"), prospect("p2"), prospect("p3", company_domain="other.io",
                                                                 company_name="Other", email="x@other.io")], {}).groups
    plan = plan_batch(groups, {}, {}, inputs("contact_account"))
    assert sorted(plan.account_creates) == ["domain:acme.de", "domain:other.io"]
    assert plan.account_creates["domain:acme.de"].fields["Name"] == "Acme GmbH"
    assert [c.account_ref for c in plan.creates] == ["domain:acme.de", "domain:acme.de", "domain:other.io"]


def test_contact_account_mode_links_matched_account_and_lead():
    groups = prepare([prospect("p1"), prospect("p2")], {}).groups
    account = Match("Account", "001A", "001A", "account_domain", ["001A", "001B"],
                    {"Id": "001A", "Name": "Acme", "Website": None})
    lead = Match("Lead", "00Q1", None, "lead_email", ["00Q1"], {"Id": "00Q1", "Title": "CTO", "Phone": "1",
                                                                  "Andsend_Prospect_Id__c": "p2"})
    plan = plan_batch(groups, {groups[0].key: account, groups[1].key: lead}, {}, inputs("contact_account"))
    assert [(c.object, c.fields["AccountId"]) for c in plan.creates] == [("Contact", "001A")]
    assert plan.updates[("Account", "001A")].fields == {"Website": "acme.de"}
    assert [a.record_id for a in plan.links] == ["00Q1"]
    assert [m.candidates for _, m in plan.ambiguous] == [["001A", "001B"]]


def test_bad_value_rejects_group_before_any_call():
    cat = inputs()
    cat.catalog.mappings = [m for m in cat.catalog.mappings if m.field != "FirstName"]
    from dataclasses import replace
    cat.catalog.mappings.append(replace(cat.catalog.mappings[0], field="FirstName", source=("first_name",),
                                        transforms=(), on_overlength="reject"))
    groups = prepare([prospect("p1", first_name="x" * 41), prospect("p2")], {}).groups
    plan = plan_batch(groups, {}, {}, cat)
    assert [(g.prospect_id, code) for g, _, code, _ in plan.rejected] == [("p1", "INVALID_VALUE")]
    assert [c.prospect_ids for c in plan.creates] == [["p2"]]
