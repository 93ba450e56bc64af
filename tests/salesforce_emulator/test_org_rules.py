"""A messy org's rules, defined by the fixture: validation rules, record types, cross-object duplicate
rules and automation that fails, answered as Salesforce answers them (checked through the REST API)."""

from __future__ import annotations

from typing import Any

import pytest


def _create(sf: Any, obj: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    return sf.session().post(f"{sf.api_url}/sobjects/{obj}", json=body, headers=headers or {}, timeout=10)


def _collection(sf: Any, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    r = sf.session().post(f"{sf.api_url}/composite/sobjects", json={"allOrNone": False, "records": records},
                          timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_validation_rules_fail_with_the_rule_message_and_field(sf_emulator):
    sf_emulator.seed({"validation_rules": [
        {"name": "Web_Leads_Need_Phone", "object": "Lead", "message": "Web leads need a phone number.",
         "error_field": "Phone", "when": {"field": "LeadSource", "equals": "Web"},
         "rule": {"kind": "required_if", "field": "Phone"}},
        {"name": "Phone_Format", "object": "Lead", "message": "Phone must start with +.", "error_field": "Phone",
         "rule": {"kind": "regex", "field": "Phone", "pattern": r"\+[0-9 ]{6,20}"}},
        {"name": "Short_Title", "object": "Lead", "message": "Title is too long.",
         "rule": {"kind": "length", "field": "Title", "max": 10}},
        {"name": "Source_Status", "object": "Lead", "message": "Purchased leads start Open.",
         "rule": {"kind": "allowed_combinations", "fields": ["LeadSource", "Status"],
                  "values": [["Purchased List", "Open - Not Contacted"], ["Web", "Open - Not Contacted"],
                             ["Web", "Working - Contacted"]]}},
        {"name": "Inactive_Rule", "object": "Lead", "active": False, "message": "never",
         "rule": {"kind": "forbidden"}}]})
    base = {"LastName": "Lee", "Company": "Acme"}
    r = _create(sf_emulator, "Lead", {**base, "LeadSource": "Web"})
    assert r.status_code == 400
    assert r.json() == [{"message": "Web leads need a phone number.", "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                         "fields": ["Phone"]}]
    assert _create(sf_emulator, "Lead", {**base, "Phone": "030 123"}).json()[0]["message"] == "Phone must start with +."
    assert _create(sf_emulator, "Lead", {**base, "Title": "Chief Executive"}).json()[0]["fields"] == []
    bad_combo = _create(sf_emulator, "Lead", {**base, "LeadSource": "Purchased List", "Status": "Working - Contacted"})
    assert bad_combo.json()[0]["message"] == "Purchased leads start Open."
    ok = _create(sf_emulator, "Lead", {**base, "LeadSource": "Web", "Phone": "+49 30 1234"})
    assert ok.status_code == 201, ok.text
    # Updates are checked on the whole record: clearing the phone of a web lead fails.
    upd = sf_emulator.session().patch(f"{sf_emulator.api_url}/sobjects/Lead/{ok.json()['id']}", json={"Phone": None},
                                      timeout=10)
    assert upd.status_code == 400 and upd.json()[0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    # In Collections each record gets its own outcome.
    res = _collection(sf_emulator, [{"attributes": {"type": "Lead"}, **base, "Phone": "+1 555 1234"},
                                    {"attributes": {"type": "Lead"}, **base, "Phone": "555"}])
    assert res[0]["success"] and not res[1]["success"]
    assert res[1]["errors"][0]["statusCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"


def test_record_types_in_describe_ui_api_defaults_and_restricted_values(sf_emulator):
    sf_emulator.seed({"record_types": {"Lead": [
        {"developer_name": "Inbound", "name": "Inbound Lead", "default": True,
         "picklists": {"LeadSource": {"values": ["Web", "Phone Inquiry"], "default": "Web"}}},
        {"developer_name": "Partner", "name": "Partner Lead",
         "picklists": {"LeadSource": {"values": ["Partner Referral", "Andsend"], "default": "Partner Referral"}}}]}})
    s = sf_emulator.session()
    describe = s.get(f"{sf_emulator.api_url}/sobjects/Lead/describe", timeout=10).json()
    infos = {i["developerName"]: i for i in describe["recordTypeInfos"]}
    assert set(infos) == {"Inbound", "Partner", "Master"} and infos["Inbound"]["defaultRecordTypeMapping"]
    assert (infos["Master"]["recordTypeId"] == "012000000000000AAA"
            and infos["Partner"]["recordTypeId"].startswith("012"))
    assert any(f["name"] == "RecordTypeId" for f in describe["fields"])
    partner = infos["Partner"]["recordTypeId"]
    values = s.get(f"{sf_emulator.api_url}/ui-api/object-info/Lead/picklist-values/{partner}", timeout=10).json()
    source = values["picklistFieldValues"]["LeadSource"]
    assert [v["value"] for v in source["values"]] == ["Partner Referral", "Andsend"]
    assert source["defaultValue"]["value"] == "Partner Referral"
    # No record type given: the default one, with its picklist defaults.
    r = _create(sf_emulator, "Lead", {"LastName": "Lee", "Company": "Acme"})
    row = next(x for x in sf_emulator.records("Lead") if x["Id"] == r.json()["id"])
    assert row["RecordTypeId"] == infos["Inbound"]["recordTypeId"] and row["LeadSource"] == "Web"
    # A value the record type does not allow, and an unknown record type.
    bad = _create(sf_emulator, "Lead", {"LastName": "Lee", "Company": "Acme", "RecordTypeId": partner,
                                        "LeadSource": "Web"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    unknown = _create(sf_emulator, "Lead", {"LastName": "Lee", "Company": "Acme", "RecordTypeId": "012000000000999AAA"})
    assert unknown.status_code == 400 and unknown.json()[0]["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"
    good = _create(sf_emulator, "Lead", {"LastName": "Lee", "Company": "Acme", "RecordTypeId": partner,
                                         "LeadSource": "Andsend"})
    assert good.status_code == 201, good.text


def test_duplicate_rules_across_objects_name_the_matched_records(sf_emulator):
    refs = sf_emulator.seed({
        "duplicate_rules": [
            {"name": "Standard_Lead_Duplicate_Rule", "object": "Lead", "action": "alert",
             "match": [{"object": "Lead", "fields": ["Email"]}, {"object": "Contact", "fields": ["Email"]}]},
            {"name": "Account_Website_Rule", "object": "Account", "action": "block",
             "match": [{"object": "Account", "fields": ["Website"], "compare": "domain"}]},
            {"name": "Account_Name_Rule", "object": "Account", "action": "alert",
             "match": [{"object": "Account", "fields": ["Name"]}]}],
        "records": {"Account": [{"_ref": "a1", "Name": "Acme GmbH", "Website": "https://www.acme.de/en/"}],
                    "Contact": [{"_ref": "c1", "LastName": "Lee", "Email": "ann@acme.de", "AccountId": "@a1"}]}})
    r = _create(sf_emulator, "Lead", {"LastName": "Lee", "Company": "Acme", "Email": "ANN@acme.de"})
    assert r.status_code == 400
    err = r.json()[0]
    assert err["errorCode"] == "DUPLICATES_DETECTED"
    dup = err["duplicateResult"]
    assert dup["allowSave"] is True and dup["duplicateRule"] == "Standard_Lead_Duplicate_Rule"
    assert [(m["entityType"], [x["record"]["Id"] for x in m["matchRecords"]]) for m in dup["matchResults"]] == [
        ("Contact", [refs["c1"]])]
    # Alert rules are bypassed with allowSave; block rules are not.
    saved = _create(sf_emulator, "Lead", {"LastName": "Lee", "Company": "Acme", "Email": "ann@acme.de"},
                    {"Sforce-Duplicate-Rule-Header": "allowSave=true"})
    assert saved.status_code == 201
    blocked = _create(sf_emulator, "Account", {"Name": "Acme Deutschland", "Website": "acme.de"},
                      {"Sforce-Duplicate-Rule-Header": "allowSave=true"})
    assert blocked.status_code == 400
    result = blocked.json()[0]["duplicateResult"]
    assert result["allowSave"] is False and result["matchResults"][0]["matchRecords"][0]["record"]["Id"] == refs["a1"]
    by_name = _create(sf_emulator, "Account", {"Name": "acme gmbh"})
    assert by_name.json()[0]["duplicateResult"]["duplicateRule"] == "Account_Name_Rule"


@pytest.mark.parametrize("size,fails", [(3, False), (4, True)])
def test_automation_errors_and_cpu_limit_on_large_batches(sf_emulator, size, fails):
    sf_emulator.seed({"automation": [
        {"name": "LeadRouter", "object": "Lead", "when": {"field": "Company", "equals": "Trigger Fail Ltd"},
         "message": "System.NullPointerException: Attempt to de-reference a null object"},
        {"name": "TaskRollup", "object": "Task", "cpu_limit_batch": 3}]})
    r = _create(sf_emulator, "Lead", {"LastName": "Lee", "Company": "Trigger Fail Ltd"})
    assert r.status_code == 400
    assert r.json()[0] == {"message": "LeadRouter: execution of BeforeInsert caused by: System.NullPointerException: "
                                      "Attempt to de-reference a null object",
                           "errorCode": "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", "fields": []}
    tasks = [{"attributes": {"type": "Task"}, "Subject": f"Email {i}", "Status": "Completed"} for i in range(size)]
    res = _collection(sf_emulator, tasks)
    if fails:
        assert all(not x["success"] for x in res)
        assert res[0]["errors"][0]["statusCode"] == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
        assert "Apex CPU time limit exceeded" in res[0]["errors"][0]["message"]
        assert sf_emulator.records("Task") == []  # rolled back as a whole
    else:
        assert all(x["success"] for x in res) and len(sf_emulator.records("Task")) == size


def test_field_level_security_hidden_and_read_only(sf_emulator_factory):
    sf = sf_emulator_factory({"field_security": {"hidden": {"Lead": ["Industry"]},
                                                 "read_only": {"Contact": ["Title"]}}})
    s = sf.session()
    lead = {f["name"] for f in s.get(f"{sf.api_url}/sobjects/Lead/describe", timeout=10).json()["fields"]}
    assert "Industry" not in lead and "Title" in lead
    q = s.get(f"{sf.api_url}/query", params={"q": "SELECT Id, Industry FROM Lead"}, timeout=10)
    assert q.status_code == 400 and q.json()[0]["errorCode"] == "INVALID_FIELD"
    w = _create(sf, "Lead", {"LastName": "Lee", "Company": "Acme", "Industry": "Retail"})
    assert w.status_code == 400 and w.json()[0]["errorCode"] == "INVALID_FIELD"
    title = next(f for f in s.get(f"{sf.api_url}/sobjects/Contact/describe", timeout=10).json()["fields"]
                 if f["name"] == "Title")
    assert not title["createable"] and not title["updateable"]
    ro = _create(sf, "Contact", {"LastName": "Lee", "Title": "CTO"})
    assert ro.status_code == 400 and ro.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert ro.json()[0]["fields"] == ["Title"]


def test_sandbox_users_emails_end_in_invalid(sf_emulator_factory):
    sf = sf_emulator_factory({"org": {"sandbox": True}, "users": [
        {"Username": "ann@acme.test.dev", "Email": "ann@acme.test", "LastName": "Lee", "IsActive": True}]})
    emails = {u["Username"]: u["Email"] for u in sf.records("User")}
    assert emails["ann@acme.test.dev"] == "ann@acme.test.invalid"
    assert emails["admin@example.com"] == "admin@example.com"  # the sandbox's creator keeps hers


def test_state_and_country_picklists(sf_emulator_factory):
    sf = sf_emulator_factory({"org": {"state_country_picklists": True}})
    s = sf.session()
    fields = {f["name"]: f for f in s.get(f"{sf.api_url}/sobjects/Account/describe", timeout=10).json()["fields"]}
    assert fields["BillingCountryCode"]["type"] == "picklist" and fields["BillingCountryCode"]["restrictedPicklist"]
    assert {"DE", "US"} <= {p["value"] for p in fields["BillingCountryCode"]["picklistValues"]}
    by_name = _create(sf, "Account", {"Name": "A", "BillingCountry": "Germany"})
    by_code = _create(sf, "Account", {"Name": "B", "BillingCountryCode": "US", "BillingStateCode": "CA"})
    rows = {r["Id"]: r for r in sf.records("Account")}
    a, b = rows[by_name.json()["id"]], rows[by_code.json()["id"]]
    assert (a["BillingCountry"], a["BillingCountryCode"]) == ("Germany", "DE")
    assert (b["BillingCountry"], b["BillingState"], b["BillingStateCode"]) == ("United States", "California", "CA")
    bad = _create(sf, "Account", {"Name": "C", "BillingCountry": "Deutschland"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert bad.json()[0]["fields"] == ["BillingCountry"]
    no_states = _create(sf, "Account", {"Name": "D", "BillingCountry": "Germany", "BillingState": "Bavaria"})
    assert no_states.status_code == 400 and "problem with this state" in no_states.json()[0]["message"]


def test_concurrent_long_running_requests_are_limited(sf_emulator):
    import concurrent.futures

    sf_emulator.settings(long_request_seconds=0.3, long_request_limit=2)
    sf_emulator.faults(latency_ms=900)
    s = sf_emulator.session()
    s.get(f"{sf_emulator.api_url}/limits", timeout=10)  # sign in before the clock matters

    def call(delay: float) -> int:
        import time

        time.sleep(delay)
        return s.get(f"{sf_emulator.api_url}/limits", timeout=10).status_code

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(call, [0, 0, 0.5, 0.55]))
    assert statuses[:2] == [200, 200]
    assert statuses[2:] == [403, 403]


def test_shipped_messy_fixture_has_every_feature(sf_emulator_factory):
    from pathlib import Path

    import emulators.salesforce

    path = Path(emulators.salesforce.__file__).parent / "fixtures" / "messy.json"
    sf = sf_emulator_factory(str(path))
    s = sf.session()
    users = {u["Username"]: u["Email"] for u in sf.records("User")}
    assert users["ann.lee@acme-sales.test.uat"] == "ann.lee@acme-sales.test.invalid"
    lead = {f["name"]: f for f in s.get(f"{sf.api_url}/sobjects/Lead/describe", timeout=10).json()["fields"]}
    assert "Industry" not in lead and not lead["NumberOfEmployees"]["updateable"] and "CountryCode" in lead
    rts = s.get(f"{sf.api_url}/sobjects/Lead/describe", timeout=10).json()["recordTypeInfos"]
    assert {r["developerName"] for r in rts} == {"Inbound", "Outbound", "Master"}
    assert {a["Name"]: a["BillingCountryCode"] for a in sf.records("Account")} == {"Acme GmbH": "DE",
                                                                                   "Globex Corporation": "US"}
    phone = _create(sf, "Lead", {"LastName": "Lee", "Company": "Acme", "Phone": "030 1234 567"})
    assert phone.json()[0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    dup = _create(sf, "Lead", {"LastName": "Meier", "Company": "Acme", "Email": "Hans.Meier@acme.de"})
    assert dup.json()[0]["duplicateResult"]["matchResults"][0]["entityType"] == "Contact"
    site = _create(sf, "Account", {"Name": "ACME Deutschland", "Website": "http://acme.de"},
                   {"Sforce-Duplicate-Rule-Header": "allowSave=true"})
    assert site.json()[0]["duplicateResult"]["duplicateRule"] == "Account_Website_Block"
    tasks = [{"attributes": {"type": "Task"}, "Subject": f"Email {i}", "Status": "Completed"} for i in range(101)]
    assert all(not r["success"] for r in _collection(sf, tasks[:101]))
    assert all(r["success"] for r in _collection(sf, tasks[:100]))


def test_state_code_is_a_dependent_picklist_of_country_code(sf_emulator_factory):
    import base64

    sf = sf_emulator_factory({"org": {"state_country_picklists": True}})
    fields = {f["name"]: f for f in sf.session().get(f"{sf.api_url}/sobjects/Lead/describe").json()["fields"]}
    state, country = fields["StateCode"], fields["CountryCode"]
    assert state["controllerName"] == "CountryCode" and state["dependentPicklist"] is True
    order = [p["value"] for p in country["picklistValues"]]

    def countries_of(code):
        entry = next(p for p in state["picklistValues"] if p["value"] == code)
        bits = base64.b64decode(entry["validFor"])
        return {c for n, c in enumerate(order) if bits[n // 8] & (0x80 >> (n % 8))}

    assert countries_of("CA") == {"US"} and countries_of("ON") == {"CA"} and countries_of("WA") == {"US", "AU"}
