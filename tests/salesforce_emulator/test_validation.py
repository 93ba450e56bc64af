"""Validation as Salesforce does it: codes, messages, fields; duplicate rules; references; converted Leads."""

from __future__ import annotations

import pytest

RICH = "emulators/salesforce/fixtures/rich.json"


def _err(r):
    assert r.status_code == 400, r.text
    return r.json()[0]


@pytest.mark.parametrize("body,code,fields", [
    ({"LastName": "x" * 81, "Company": "A"}, "STRING_TOO_LONG", ["LastName"]),
    ({"LastName": "A", "Company": "A", "Email": "a@b"}, "INVALID_EMAIL_ADDRESS", ["Email"]),
    ({"LastName": "A", "Company": "A", "IsConverted": "yes"}, "JSON_PARSER_ERROR", None),
    ({"LastName": "A", "Company": "A", "NumberOfEmployees": "many"}, "JSON_PARSER_ERROR", None),
    ({"LastName": "A", "Company": "A", "Foo__c": 1}, "INVALID_FIELD", None),
    ({"LastName": "A", "Company": "A", "ConvertedDate": "2024-01-01"}, "INVALID_FIELD_FOR_INSERT_UPDATE",
     ["ConvertedDate"]),
    ({"LastName": "A", "Company": "A", "OwnerId": "005abc"}, "MALFORMED_ID", ["OwnerId"]),
    ({"LastName": "A", "Company": "A", "OwnerId": "005000000000000"}, "INVALID_CROSS_REFERENCE_KEY", ["OwnerId"]),
    ({"LastName": "A", "Company": "", "Email": None}, "REQUIRED_FIELD_MISSING", ["Company"]),
])
def test_lead_create_errors(sf_emulator, body, code, fields):
    s = sf_emulator.session()
    e = _err(s.post(f"{sf_emulator.api_url}/sobjects/Lead", json=body, timeout=10))
    assert e["errorCode"] == code
    if fields is not None:
        assert e["fields"] == fields
    assert sf_emulator.records("Lead") == []


def test_string_too_long_message_and_no_truncation(sf_emulator):
    s = sf_emulator.session()
    e = _err(s.post(f"{sf_emulator.api_url}/sobjects/Lead", json={"LastName": "A", "Company": "C",
                                                                  "FirstName": "f" * 41}, timeout=10))
    assert e["message"] == f"First Name: data value too large: {'f' * 41} (max length=40)"


def test_task_rules(sf_emulator):
    s = sf_emulator.session()
    api = sf_emulator.api_url
    lead = s.post(f"{api}/sobjects/Lead", json={"LastName": "A", "Company": "C"}, timeout=10).json()["id"]
    acct = s.post(f"{api}/sobjects/Account", json={"Name": "Acme"}, timeout=10).json()["id"]
    e = _err(s.post(f"{api}/sobjects/Task", json={"Subject": "x", "WhoId": acct}, timeout=10))
    assert e["errorCode"] == "FIELD_INTEGRITY_EXCEPTION" and e["fields"] == ["WhoId"]
    e = _err(s.post(f"{api}/sobjects/Task", json={"Subject": "x", "WhoId": lead, "WhatId": acct}, timeout=10))
    assert e["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    e = _err(s.post(f"{api}/sobjects/Task", json={"Subject": "x", "TaskSubtype": "Carrier pigeon"}, timeout=10))
    assert e["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    r = s.post(f"{api}/sobjects/Task", json={"Subject": "In", "WhoId": lead, "TaskSubtype": "LinkedIn",
                                             "Status": "Completed"}, timeout=10)
    assert r.status_code == 201
    tid = r.json()["id"]
    e = _err(s.patch(f"{api}/sobjects/Task/{tid}", json={"TaskSubtype": "Call"}, timeout=10))
    assert e["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    task = sf_emulator.records("Task")[0]
    assert task["Priority"] == "Normal" and task["IsClosed"] is True and task["CompletedDateTime"]


def test_converted_lead_and_inactive_owner(sf_emulator):
    refs = sf_emulator.seed({
        "users": [{"_ref": "gone", "Username": "gone@x.test", "Email": "gone@x.test", "LastName": "Gone",
                   "IsActive": False}],
        "records": {"Account": [{"_ref": "a", "Name": "Acme"}], "Contact": [{"_ref": "c", "LastName": "C"}],
                    "Lead": [{"_ref": "l", "LastName": "Old", "Company": "Acme", "IsConverted": True,
                              "ConvertedContactId": "@c", "ConvertedAccountId": "@a"}]}})
    s = sf_emulator.session()
    api = sf_emulator.api_url
    e = _err(s.patch(f"{api}/sobjects/Lead/{refs['l']}", json={"Title": "x"}, timeout=10))
    assert e["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    e = _err(s.post(f"{api}/sobjects/Lead", json={"LastName": "A", "Company": "C", "OwnerId": refs["gone"]},
                    timeout=10))
    assert e["errorCode"] == "INACTIVE_OWNER_OR_USER"
    q = s.get(f"{api}/query", params={"q": "SELECT ConvertedContactId FROM Lead WHERE IsConverted = true"},
              timeout=10).json()
    assert q["records"][0]["ConvertedContactId"] == refs["c"]


def test_duplicate_rules(sf_emulator):
    sf_emulator.seed({"duplicate_rules": [{"object": "Lead", "field": "Email", "action": "alert"},
                                          {"object": "Contact", "field": "Email", "action": "block"}]})
    s = sf_emulator.session()
    api = sf_emulator.api_url
    assert s.post(f"{api}/sobjects/Lead", json={"LastName": "A", "Company": "C", "Email": "dup@x.com"},
                  timeout=10).status_code == 201
    e = _err(s.post(f"{api}/sobjects/Lead", json={"LastName": "B", "Company": "C", "Email": "DUP@X.COM"}, timeout=10))
    assert e["errorCode"] == "DUPLICATES_DETECTED" and e["duplicateResult"]["allowSave"] is True
    match = e["duplicateResult"]["matchResults"][0]["matchRecords"][0]["record"]
    assert match["Id"] == sf_emulator.records("Lead")[0]["Id"]
    r = s.post(f"{api}/sobjects/Lead", json={"LastName": "B", "Company": "C", "Email": "DUP@X.COM"},
               headers={"Sforce-Duplicate-Rule-Header": "allowSave=true"}, timeout=10)
    assert r.status_code == 201
    assert s.post(f"{api}/sobjects/Contact", json={"LastName": "A", "Email": "c@x.com"}, timeout=10).status_code == 201
    e = _err(s.post(f"{api}/sobjects/Contact", json={"LastName": "B", "Email": "C@x.com"},
                    headers={"Sforce-Duplicate-Rule-Header": "allowSave=true"}, timeout=10))
    assert e["errorCode"] == "DUPLICATES_DETECTED" and e["duplicateResult"]["allowSave"] is False
    res = s.post(f"{api}/composite/sobjects", json={"records": [
        {"attributes": {"type": "Lead"}, "LastName": "Z", "Company": "C", "Email": "dup@x.com"}]}, timeout=10).json()
    assert res[0]["errors"][0]["statusCode"] == "DUPLICATES_DETECTED"


def test_external_id_unique(sf_emulator):
    s = sf_emulator.session()
    api = sf_emulator.api_url
    body = {"LastName": "A", "Company": "C", "Andsend_Prospect_Id__c": "abc"}
    assert s.post(f"{api}/sobjects/Lead", json=body, timeout=10).status_code == 201
    e = _err(s.post(f"{api}/sobjects/Lead", json={**body, "Andsend_Prospect_Id__c": "ABC"}, timeout=10))
    assert e["errorCode"] == "DUPLICATE_VALUE"


def test_owner_defaults_and_auto_assign_header(sf_emulator):
    refs = sf_emulator.seed({"users": [{"_ref": "u", "Username": "ann@x.test", "Email": "ann@x.test",
                                        "LastName": "Ann", "password": "pw", "security_token": ""}]})
    import requests

    tok = requests.post(f"{sf_emulator.base_url}/services/oauth2/token", data={
        "grant_type": "password", "client_id": "emulator-client-id", "client_secret": "emulator-client-secret",
        "username": "ann@x.test", "password": "pw"}, timeout=10).json()["access_token"]
    r = requests.post(f"{sf_emulator.api_url}/sobjects/Lead", json={"LastName": "A", "Company": "C"},
                      headers={"Authorization": f"Bearer {tok}", "Sforce-Auto-Assign": "FALSE"}, timeout=10)
    assert r.status_code == 201
    row = sf_emulator.records("Lead")[0]
    assert row["OwnerId"] == refs["u"] and row["CreatedById"] == refs["u"]


def test_clock_drives_system_fields(sf_emulator):
    sf_emulator.clock("2026-01-02T03:04:05Z")
    s = sf_emulator.session()
    rid = s.post(f"{sf_emulator.api_url}/sobjects/Account", json={"Name": "A"}, timeout=10).json()["id"]
    sf_emulator.clock("2026-02-01T00:00:00+01:00")
    r = s.patch(f"{sf_emulator.api_url}/sobjects/Account/{rid}", json={"Name": "B"}, timeout=10)
    assert r.status_code == 401  # a month later the 2-hour token has expired on the emulator clock
    s = sf_emulator.session()
    assert s.patch(f"{sf_emulator.api_url}/sobjects/Account/{rid}", json={"Name": "B"}, timeout=10).status_code == 204
    row = sf_emulator.records("Account")[0]
    assert row["CreatedDate"] == "2026-01-02T03:04:05.000+0000"
    assert row["LastModifiedDate"] == row["SystemModstamp"] == "2026-01-31T23:00:00.000+0000"


def test_rich_fixture_loads():
    from emulators.salesforce.server import create_app

    emu = create_app(":memory:", RICH).state.emulator
    leads = emu.store.all_rows("Lead")
    assert sum(1 for lead in leads if lead["IsConverted"]) == 1
    users = {u["Username"]: u for u in emu.store.all_rows("User")}
    assert users["bob.stone@acme-sales.test"]["IsActive"] is False
    assert len(emu.org_rules.duplicates) == 2


def test_yaml_fixture_and_org_settings(tmp_path):
    from emulators.salesforce.server import create_app

    path = tmp_path / "org.yaml"
    path.write_text(
        "org: {id: 00D000000000042, daily_api_max: 500, query_batch_size: 3}\n"
        "users:\n  - {_ref: u, Username: yaml@x.test, Email: yaml@x.test, LastName: Yaml, password: pw}\n"
        "records:\n  Account:\n    - {Name: From YAML, OwnerId: '@u'}\n", encoding="utf-8")
    emu = create_app(":memory:", path).state.emulator
    assert emu.org_id.startswith("00D000000000042") and len(emu.org_id) == 18
    assert emu.daily_max == 500 and emu.settings["query_batch_size"] == 3
    users = {u["Username"]: u["Id"] for u in emu.store.all_rows("User")}
    assert set(users) == {"admin@example.com", "yaml@x.test"}
    assert emu.store.all_rows("Account")[0]["OwnerId"] == users["yaml@x.test"]


def test_lead_assignment_rules_and_auto_assign_header(sf_emulator):
    import time

    refs = sf_emulator.seed({
        "users": [{"_ref": "q", "Username": "queue@x.test", "Email": "queue@x.test", "LastName": "Queue"},
                  {"_ref": "rep", "Username": "rep@x.test", "Email": "rep@x.test", "LastName": "Rep"}],
        "assignment_rules": [{"object": "Lead", "owner": "@q"}]})
    s = sf_emulator.session()
    api = sf_emulator.api_url
    admin = sf_emulator.state.default_user_id

    def owner_of(rid):
        return next(r["OwnerId"] for r in sf_emulator.records("Lead") if r["Id"] == rid)

    lead = {"LastName": "A", "Company": "C"}
    assert owner_of(s.post(f"{api}/sobjects/Lead", json=lead, timeout=10).json()["id"]) == refs["q"]
    given = {**lead, "OwnerId": refs["rep"]}
    assert owner_of(s.post(f"{api}/sobjects/Lead", json=given, timeout=10).json()["id"]) == refs["q"]
    off = {"Sforce-Auto-Assign": "FALSE"}
    assert owner_of(s.post(f"{api}/sobjects/Lead", json=given, headers=off, timeout=10).json()["id"]) == refs["rep"]
    assert owner_of(s.post(f"{api}/sobjects/Lead", json=lead, headers=off, timeout=10).json()["id"]) == admin
    res = s.post(f"{api}/composite/sobjects", headers=off, timeout=10,
                 json={"records": [{"attributes": {"type": "Lead"}, **given}]}).json()
    assert owner_of(res[0]["id"]) == refs["rep"]
    contact = s.post(f"{api}/sobjects/Contact", json={"LastName": "C"}, timeout=10).json()["id"]
    assert next(c["OwnerId"] for c in sf_emulator.records("Contact") if c["Id"] == contact) == admin
    for extra, expected in (({}, admin), ({"assignmentRuleId": "01Q000000000001"}, refs["q"])):
        job = s.post(f"{api}/jobs/ingest", json={"object": "Lead", "operation": "insert", **extra}, timeout=10).json()
        s.put(f"{api}/jobs/ingest/{job['id']}/batches", data=f"LastName,Company\nBulk{expected},C\n",
              headers={"Content-Type": "text/csv"}, timeout=10)
        s.patch(f"{api}/jobs/ingest/{job['id']}", json={"state": "UploadComplete"}, timeout=10)
        for _ in range(200):
            if s.get(f"{api}/jobs/ingest/{job['id']}", timeout=10).json()["state"] == "JobComplete":
                break
            time.sleep(0.02)
        assert next(r["OwnerId"] for r in sf_emulator.records("Lead") if r["LastName"] == f"Bulk{expected}") == expected


def test_lengths_count_utf16_units_as_salesforce_does(sf_emulator):
    """An emoji is two characters to Salesforce (Salesforce Help 005166849): 20 emoji fill a 40-long
    FirstName, 21 do not, though they are 21 code points."""
    s = sf_emulator.session()
    ok = s.post(f"{sf_emulator.api_url}/sobjects/Lead",
                json={"LastName": "A", "Company": "C", "FirstName": "😀" * 20}, timeout=10)
    assert ok.status_code == 201, ok.text
    e = _err(s.post(f"{sf_emulator.api_url}/sobjects/Lead",
                    json={"LastName": "A", "Company": "C", "FirstName": "😀" * 21}, timeout=10))
    assert e["errorCode"] == "STRING_TOO_LONG" and e["fields"] == ["FirstName"]
