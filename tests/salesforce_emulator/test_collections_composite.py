"""sObject Collections and Composite: ordering, allOrNone rollback, limits, references."""

from __future__ import annotations


def _lead(i, **extra):
    return {"attributes": {"type": "Lead"}, "LastName": f"L{i}", "Company": "Acme", **extra}


def test_collections_create_partial_success_in_order(sf_emulator):
    s = sf_emulator.session()
    records = [_lead(0), {"attributes": {"type": "Lead"}, "Company": "NoName"}, _lead(2, Email="bad@"), _lead(3)]
    r = s.post(f"{sf_emulator.api_url}/composite/sobjects", json={"records": records}, timeout=10)
    assert r.status_code == 200
    res = r.json()
    assert [x["success"] for x in res] == [True, False, False, True]
    assert res[1] == {"success": False, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING",
                                                    "message": "Required fields are missing: [LastName]",
                                                    "fields": ["LastName"]}]}
    assert res[2]["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS"
    assert sorted(x["LastName"] for x in sf_emulator.records("Lead")) == ["L0", "L3"]


def test_collections_all_or_none_rolls_back(sf_emulator):
    s = sf_emulator.session()
    records = [_lead(0), _lead(1, Status="x" * 300), _lead(2)]
    res = s.post(f"{sf_emulator.api_url}/composite/sobjects", json={"allOrNone": True, "records": records},
                 timeout=10).json()
    assert res[1]["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    for i in (0, 2):
        assert res[i] == {"success": False, "errors": [{
            "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
            "message": "Record rolled back because not all records were valid and the request was using AllOrNone "
                       "header", "fields": []}]}
    assert sf_emulator.records("Lead") == []


def test_collections_limits_and_mixed_types(sf_emulator):
    s = sf_emulator.session()
    r = s.post(f"{sf_emulator.api_url}/composite/sobjects", json={"records": [_lead(i) for i in range(201)]},
               timeout=10)
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    mixed = [{"attributes": {"type": "Account"}, "Name": "Acme"}, _lead(1),
             {"attributes": {"type": "Contact"}, "LastName": "C"}]
    res = s.post(f"{sf_emulator.api_url}/composite/sobjects", json={"records": mixed}, timeout=10).json()
    assert [x["id"][:3] for x in res] == ["001", "00Q", "003"]
    r = s.post(f"{sf_emulator.api_url}/composite/sobjects", json={"records": [{"LastName": "no type"}]}, timeout=10)
    assert r.status_code == 400
    alternating = [_lead(i) if i % 2 else {"attributes": {"type": "Account"}, "Name": f"A{i}"} for i in range(12)]
    r = s.post(f"{sf_emulator.api_url}/composite/sobjects", json={"records": alternating}, timeout=10)
    assert r.status_code == 400  # more than 10 chunks


def test_collections_upsert_update_delete(sf_emulator):
    s = sf_emulator.session()
    api = sf_emulator.api_url
    recs = [_lead(i, Andsend_Prospect_Id__c=f"p{i}") for i in range(3)]
    res = s.patch(f"{api}/composite/sobjects/Lead/Andsend_Prospect_Id__c", json={"records": recs}, timeout=10).json()
    assert [x["created"] for x in res] == [True, True, True]
    recs = [_lead(0, Andsend_Prospect_Id__c="P0", Title="T"), _lead(9, Andsend_Prospect_Id__c="p9"),
            _lead(5, Andsend_Prospect_Id__c="dup"), _lead(6, Andsend_Prospect_Id__c="DUP")]
    res = s.patch(f"{api}/composite/sobjects/Lead/Andsend_Prospect_Id__c", json={"records": recs}, timeout=10).json()
    assert res[0]["created"] is False and res[0]["id"] == res[0]["id"]
    assert res[1]["created"] is True
    assert [x["errors"][0]["statusCode"] for x in res[2:]] == ["DUPLICATE_EXTERNAL_ID"] * 2
    ids = [x["id"] for x in res[:2]]
    upd = s.patch(f"{api}/composite/sobjects", json={"records": [
        {"attributes": {"type": "Lead"}, "id": ids[0], "Title": "X"},
        {"attributes": {"type": "Lead"}, "id": "00Q000000000000", "Title": "Y"},
        {"attributes": {"type": "Lead"}, "id": "garbage", "Title": "Z"},
        {"attributes": {"type": "Lead"}, "Title": "no id"}]}, timeout=10).json()
    assert upd[0] == {"id": ids[0], "success": True, "errors": []}
    assert [u["errors"][0]["statusCode"] for u in upd[1:]] == ["INVALID_CROSS_REFERENCE_KEY", "MALFORMED_ID",
                                                               "MISSING_ARGUMENT"]
    d = s.delete(f"{api}/composite/sobjects", params={"ids": f"{ids[0]},{ids[0]},bogus"}, timeout=10).json()
    assert [x["success"] for x in d] == [True, False, False]
    assert d[1]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    got = s.post(f"{api}/composite/sobjects/Lead", json={"ids": [ids[1], ids[0], "nope"], "fields": ["Title"]},
                 timeout=10).json()
    assert got[0]["Id"] == ids[1] and got[1] is None and got[2] is None
    r = s.get(f"{api}/composite/sobjects/Lead", params={"ids": ids[1], "fields": "Nope__c"}, timeout=10)
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_FIELD"


def test_composite_references_and_all_or_none(sf_emulator):
    s = sf_emulator.session()
    api = sf_emulator.api_url
    body = {"allOrNone": False, "compositeRequest": [
        {"method": "POST", "url": "/services/data/v60.0/sobjects/Account", "referenceId": "acct",
         "body": {"Name": "Acme"}},
        {"method": "POST", "url": "/services/data/v60.0/sobjects/Contact", "referenceId": "con",
         "body": {"LastName": "Lee", "AccountId": "@{acct.id}", "Email": "lee@acme.de"}},
        {"method": "GET", "referenceId": "q",
         "url": "/services/data/v60.0/query?q=SELECT+Id,AccountId+FROM+Contact+WHERE+Email='lee@acme.de'"},
        {"method": "PATCH", "url": "/services/data/v60.0/sobjects/Contact/@{q.records[0].Id}", "referenceId": "upd",
         "body": {"Title": "CEO"}},
        {"method": "POST", "url": "/services/data/v60.0/sobjects/Lead", "referenceId": "bad", "body": {"Company": "x"}},
        {"method": "PATCH", "url": "/services/data/v60.0/sobjects/Lead/@{bad.id}", "referenceId": "dep",
         "body": {"Title": "x"}},
    ]}
    r = s.post(f"{api}/composite", json=body, timeout=10)
    assert r.status_code == 200
    out = {x["referenceId"]: x for x in r.json()["compositeResponse"]}
    assert (out["acct"]["httpStatusCode"] == 201
            and out["acct"]["httpHeaders"]["Location"].endswith(out["acct"]["body"]["id"]))
    assert out["con"]["httpStatusCode"] == 201
    assert out["q"]["body"]["records"][0]["AccountId"] == out["acct"]["body"]["id"]
    assert out["upd"]["httpStatusCode"] == 204
    assert out["bad"]["httpStatusCode"] == 400
    assert out["dep"]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert sf_emulator.records("Contact")[0]["Title"] == "CEO"
    assert sf_emulator.stats()["by_kind"].get("composite") == 1

    body["allOrNone"] = True
    body["compositeRequest"][0]["body"] = {"Name": "Globex"}
    body["compositeRequest"][1]["body"]["Email"] = "other@globex.com"
    out = s.post(f"{api}/composite", json=body, timeout=10).json()["compositeResponse"]
    codes = [(x["referenceId"], x["httpStatusCode"]) for x in out]
    assert all(status == 400 for _, status in codes)
    assert out[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert [a["Name"] for a in sf_emulator.records("Account")] == ["Acme"]  # Globex rolled back


def test_composite_bad_requests(sf_emulator):
    s = sf_emulator.session()
    api = sf_emulator.api_url
    sub = {"method": "GET", "url": "/services/data/v60.0/limits"}
    r = s.post(f"{api}/composite", json={"compositeRequest": [sub]}, timeout=10)
    assert r.status_code == 400  # referenceId missing
    many = [dict(sub, referenceId=f"r{i}") for i in range(26)]
    assert s.post(f"{api}/composite", json={"compositeRequest": many}, timeout=10).status_code == 400
    r = s.post(f"{api}/composite", data="{not json", headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_lock_row_faults_are_per_record_and_deterministic(sf_emulator):
    s = sf_emulator.session()
    outcomes = []
    for _ in range(2):
        sf_emulator.reset()
        sf_emulator.faults(lock_row_rate=0.3, random_seed=42)
        res = s.post(f"{sf_emulator.api_url}/composite/sobjects", json={"records": [_lead(i) for i in range(50)]},
                     timeout=10).json()
        failed = [i for i, x in enumerate(res) if not x["success"]]
        assert all(res[i]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW" for i in failed)
        assert len(sf_emulator.records("Lead")) == 50 - len(failed)
        outcomes.append(failed)
    assert outcomes[0] == outcomes[1] and 5 < len(outcomes[0]) < 30


def test_composite_reference_into_collection_results(sf_emulator):
    s = sf_emulator.session()
    body = {"compositeRequest": [
        {"method": "POST", "url": "/services/data/v60.0/composite/sobjects", "referenceId": "accts",
         "body": {"records": [{"attributes": {"type": "Account"}, "Name": "A"},
                              {"attributes": {"type": "Account"}, "Name": "B"}]}},
        {"method": "POST", "url": "/services/data/v60.0/sobjects/Contact", "referenceId": "c",
         "body": {"LastName": "L", "AccountId": "@{accts[1].id}"}},
        {"method": "GET", "url": "/services/data/v60.0/sobjects/Contact/@{c.id}?fields=AccountId",
         "referenceId": "read"}]}
    out = s.post(f"{sf_emulator.api_url}/composite", json=body, timeout=10).json()["compositeResponse"]
    assert [x["httpStatusCode"] for x in out] == [200, 201, 200]
    assert out[2]["body"]["AccountId"] == out[0]["body"][1]["id"]
