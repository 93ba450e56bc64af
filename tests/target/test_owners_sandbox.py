"""Owners in a sandbox: the copy's User emails end in `.invalid`, and still match the seller's."""

from __future__ import annotations

from tests.target._target_support import live, messages, prospect, run_target, target_config


def test_sandbox_users_own_their_sellers_records(sf_emulator_factory, tmp_path):
    sf = sf_emulator_factory({"org": {"sandbox": True}, "users": [
        {"_ref": "ann", "Username": "ann@acme-sales.test.uat", "Email": "ann@acme-sales.test", "LastName": "Lee",
         "IsActive": True},
        {"_ref": "bob", "Username": "bob@acme-sales.test.uat", "Email": "bob@acme-sales.test", "LastName": "Roe",
         "IsActive": False}]})
    users = {u["Username"]: u for u in sf.records("User")}
    assert users["ann@acme-sales.test.uat"]["Email"] == "ann@acme-sales.test.invalid"  # as a sandbox stores it
    records = [prospect("p1", purchased_by_user_email="Ann@Acme-Sales.test"),
               prospect("p2", purchased_by_user_email="bob@acme-sales.test"),
               prospect("p3", purchased_by_user_email="nobody@acme-sales.test")]
    run = run_target(target_config(sf, tmp_path, owner_fallback="integration_user"), messages("prospects", records))
    owners = {lead["Andsend_Prospect_Id__c"]: lead["OwnerId"] for lead in live(sf.records("Lead"))}
    admin = users["admin@example.com"]["Id"]
    assert owners == {"p1": users["ann@acme-sales.test.uat"]["Id"], "p2": admin, "p3": admin}
    assert run.report["owners"]["resolved"] == 1 and run.report["owners"].get("inactive") == 1
