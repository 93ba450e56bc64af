"""Salesforce emulator: discovery, OAuth password/client_credentials, describe, single-record DML."""

from __future__ import annotations

import re

import requests

from emulators.salesforce.ids import to18


def test_versions_need_no_auth_and_are_not_counted(sf_emulator):
    r = requests.get(f"{sf_emulator.base_url}/services/data/", timeout=10)
    assert r.status_code == 200
    versions = {v["version"]: v for v in r.json()}
    assert versions["60.0"] == {"label": "Spring '24", "url": "/services/data/v60.0", "version": "60.0"}
    assert sf_emulator.stats()["api_requests"] == 0


def test_password_grant_shape_and_usage_header(sf_emulator):
    r = requests.post(f"{sf_emulator.base_url}/services/oauth2/token", data={
        "grant_type": "password", "client_id": "emulator-client-id", "client_secret": "emulator-client-secret",
        "username": "admin@example.com", "password": "emulatortoken"}, timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert "refresh_token" not in body
    assert body["token_type"] == "Bearer" and re.fullmatch(r"\d{13}", body["issued_at"])
    assert re.fullmatch(r".*/id/00D\w{15}/005\w{15}", body["id"])
    s = requests.Session()
    s.headers["Authorization"] = f"OAuth {body['access_token']}"  # legacy scheme accepted
    r = s.get(f"{body['instance_url']}/services/data/v60.0/limits", timeout=10)
    assert r.status_code == 200
    assert re.fullmatch(r"api-usage=1/15000", r.headers["Sforce-Limit-Info"])
    assert r.json()["DailyApiRequests"] == {"Max": 15000, "Remaining": 14999}


def test_bad_logins(sf_emulator):
    url = f"{sf_emulator.base_url}/services/oauth2/token"
    r = requests.post(url, data={"grant_type": "password", "client_id": "emulator-client-id",
                                 "client_secret": "emulator-client-secret", "username": "admin@example.com",
                                 "password": "wrong"}, timeout=10)
    assert r.status_code == 400 and r.json() == {"error": "invalid_grant",
                                                 "error_description": "authentication failure"}
    r = requests.post(url, data={"grant_type": "password", "client_id": "nope", "client_secret": "x",
                                 "username": "admin@example.com", "password": "emulatortoken"}, timeout=10)
    assert r.json()["error"] == "invalid_client_id"
    r = requests.post(url, data={"grant_type": "magic"}, timeout=10)
    assert r.json()["error"] == "unsupported_grant_type"


def test_client_credentials_only_on_my_domain(sf_emulator):
    url = f"{sf_emulator.base_url}/services/oauth2/token"
    auth = ("emulator-client-id", "emulator-client-secret")
    r = requests.post(url, data={"grant_type": "client_credentials"}, auth=auth, timeout=10)
    assert r.status_code == 200 and r.json()["access_token"]
    r = requests.post(url, data={"grant_type": "client_credentials"}, auth=auth,
                      headers={"Host": "login.salesforce.com"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_invalid_tokens_get_401(sf_emulator):
    for header in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        r = requests.get(f"{sf_emulator.api_url}/sobjects", headers=header, timeout=10)
        assert r.status_code == 401
        assert r.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert sf_emulator.stats()["api_requests"] == 0


def test_describe_global_and_object(sf_emulator):
    s = sf_emulator.session()
    g = s.get(f"{sf_emulator.api_url}/sobjects", timeout=10).json()
    assert g["maxBatchSize"] == 200
    names = {o["name"]: o for o in g["sobjects"]}
    assert {"Lead", "Contact", "Account", "User", "Task"} <= set(names)
    assert names["Lead"]["keyPrefix"] == "00Q"
    d = s.get(f"{sf_emulator.api_url}/sobjects/lead/describe", timeout=10).json()
    fields = {f["name"]: f for f in d["fields"]}
    ext = fields["Andsend_Prospect_Id__c"]
    assert ext["externalId"] and ext["unique"] and ext["idLookup"] and ext["length"] == 64
    assert fields["LastName"]["nillable"] is False and fields["LastName"]["length"] == 80
    t = s.get(f"{sf_emulator.api_url}/sobjects/Task/describe", timeout=10).json()
    sub = next(f for f in t["fields"] if f["name"] == "TaskSubtype")
    assert sub["restrictedPicklist"] and not sub["updateable"]
    assert "LinkedIn" in [p["value"] for p in sub["picklistValues"]]
    r = s.get(f"{sf_emulator.api_url}/sobjects/Nope/describe", timeout=10)
    assert r.status_code == 404 and r.json()[0]["errorCode"] == "NOT_FOUND"


def test_added_field_shows_in_describe_and_is_writable(sf_emulator):
    sf_emulator.add_field("Lead", {"name": "Score__c", "type": "double", "precision": 18, "scale": 2})
    s = sf_emulator.session()
    d = s.get(f"{sf_emulator.api_url}/sobjects/Lead/describe", timeout=10).json()
    assert "Score__c" in [f["name"] for f in d["fields"]]
    r = s.post(f"{sf_emulator.api_url}/sobjects/Lead", json={"LastName": "A", "Company": "B", "score__c": 4.5},
               timeout=10)
    assert r.status_code == 201
    assert sf_emulator.records("Lead")[-1]["Score__c"] == 4.5


def test_single_record_crud(sf_emulator):
    s = sf_emulator.session()
    api = sf_emulator.api_url
    r = s.post(f"{api}/sobjects/Lead", json={"lastname": "Lee", "Company": "Acme", "Email": "ann@acme.de"},
               timeout=10)
    assert r.status_code == 201
    rid = r.json()["id"]
    assert rid.startswith("00Q") and len(rid) == 18 and to18(rid[:15]) == rid
    assert r.headers["Location"] == f"/services/data/v60.0/sobjects/Lead/{rid}"
    got = s.get(f"{api}/sobjects/Lead/{rid[:15]}", params={"fields": "id,lastname,Status"}, timeout=10).json()
    assert got == {"attributes": {"type": "Lead", "url": f"/services/data/v60.0/sobjects/Lead/{rid}"},
                   "Id": rid, "LastName": "Lee", "Status": "Open - Not Contacted"}
    assert s.patch(f"{api}/sobjects/Lead/{rid}", json={"Title": "CTO"}, timeout=10).status_code == 204
    row = next(x for x in sf_emulator.records("Lead") if x["Id"] == rid)
    assert row["Title"] == "CTO" and row["OwnerId"] == sf_emulator.state.default_user_id
    assert row["IsDeleted"] is False and row["CreatedDate"].endswith(".000+0000")
    assert s.delete(f"{api}/sobjects/Lead/{rid}", timeout=10).status_code == 204
    assert s.get(f"{api}/sobjects/Lead/{rid}", timeout=10).status_code == 404
    assert next(x for x in sf_emulator.records("Lead") if x["Id"] == rid)["IsDeleted"] is True
    r = s.post(f"{api}/sobjects/Lead", json={"Id": rid, "LastName": "X", "Company": "Y"}, timeout=10)
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_FIELD"


def test_upsert_by_external_id(sf_emulator):
    s = sf_emulator.session()
    api = sf_emulator.api_url
    url = f"{api}/sobjects/Lead/Andsend_Prospect_Id__c/p-1"
    r = s.patch(url, json={"LastName": "Lee", "Company": "Acme"}, timeout=10)
    assert r.status_code == 201 and r.json()["created"] is True
    rid = r.json()["id"]
    r = s.patch(f"{api}/sobjects/Lead/Andsend_Prospect_Id__c/P-1", json={"Title": "CEO"}, timeout=10)
    assert r.status_code == 200 and r.json() == {"id": rid, "success": True, "errors": [], "created": False}
    r = s.patch(f"{api}/sobjects/Lead/Andsend_Prospect_Id__c/p-2?updateOnly=true", json={"Title": "x"}, timeout=10)
    assert r.status_code == 404
    r = s.patch(f"{api}/sobjects/Lead/Nope__c/p-2", json={"Title": "x"}, timeout=10)
    assert r.status_code == 404
    # Two Leads sharing an idLookup value (Email) -> 300 with the matching URLs.
    for _ in range(2):
        s.post(f"{api}/sobjects/Lead", json={"LastName": "D", "Company": "C", "Email": "dup@x.com"}, timeout=10)
    r = s.patch(f"{api}/sobjects/Lead/Email/DUP@x.com", json={"Title": "x"}, timeout=10)
    assert r.status_code == 300 and len(r.json()) == 2
    r = s.post(f"{api}/sobjects/Lead/Id", json={"LastName": "New", "Company": "C"}, timeout=10)
    assert r.status_code == 201
    rows = [x for x in sf_emulator.records("Lead") if x["Andsend_Prospect_Id__c"] == "p-1"]
    assert len(rows) == 1 and rows[0]["Title"] == "CEO"
