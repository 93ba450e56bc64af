"""The /query and /queryAll resources: cursors, batch sizes, deleted rows, COUNT(), describe overrides."""

from __future__ import annotations

import requests

from emulators.salesforce.server import create_app
from emulators.serving import serve_in_thread


def _seed_leads(sf_emulator, n):
    sf_emulator.seed({"records": {"Lead": [{"LastName": f"L{i:04d}", "Company": "C", "Email": f"l{i}@x.com"}
                                           for i in range(n)]}})


def _all_pages(s, base, first):
    pages = [first]
    while not pages[-1]["done"]:
        pages.append(s.get(base + pages[-1]["nextRecordsUrl"], timeout=10).json())
    return pages


def test_batch_size_header_and_cursor(sf_emulator):
    _seed_leads(sf_emulator, 450)
    s = sf_emulator.session()
    r = s.get(f"{sf_emulator.api_url}/query", params={"q": "SELECT Id, LastName FROM Lead"},
              headers={"Sforce-Query-Options": "batchSize=50"}, timeout=10).json()  # clamped up to 200
    pages = _all_pages(s, sf_emulator.base_url, r)
    assert [len(p["records"]) for p in pages] == [200, 200, 50]
    assert all(p["totalSize"] == 450 for p in pages)
    assert pages[0]["nextRecordsUrl"].startswith("/services/data/v60.0/query/01g")
    assert pages[0]["nextRecordsUrl"].endswith("-200") and "nextRecordsUrl" not in pages[-1]
    names = [rec["LastName"] for p in pages for rec in p["records"]]
    assert names == [f"L{i:04d}" for i in range(450)]
    # A finished cursor is gone.
    again = s.get(sf_emulator.base_url + pages[1]["nextRecordsUrl"], timeout=10)
    assert again.status_code == 400 and again.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    assert sf_emulator.stats()["by_kind"]["query_more"] == 3


def test_admin_batch_size_and_query_all(sf_emulator):
    _seed_leads(sf_emulator, 12)
    sf_emulator.settings(query_batch_size=5)
    s = sf_emulator.session()
    api = sf_emulator.api_url
    first = s.get(f"{api}/query", params={"q": "SELECT Id FROM Lead ORDER BY LastName DESC"}, timeout=10).json()
    ids = [rec["Id"] for p in _all_pages(s, sf_emulator.base_url, first) for rec in p["records"]]
    assert len(ids) == 12 and len(set(ids)) == 12
    s.delete(f"{api}/sobjects/Lead/{ids[0]}", timeout=10)
    assert s.get(f"{api}/query", params={"q": "SELECT COUNT() FROM Lead"}, timeout=10).json() == {
        "totalSize": 11, "done": True, "records": []}
    r = s.get(f"{api}/queryAll", params={"q": "SELECT Id, IsDeleted FROM Lead WHERE IsDeleted = true"},
              timeout=10).json()
    assert [(x["Id"], x["IsDeleted"]) for x in r["records"]] == [(ids[0], True)]
    first = s.get(f"{api}/queryAll", params={"q": "SELECT Id FROM Lead"}, timeout=10).json()
    assert first["nextRecordsUrl"].startswith("/services/data/v60.0/queryAll/")
    assert sum(len(p["records"]) for p in _all_pages(s, sf_emulator.base_url, first)) == 12


def test_fixture_describe_overrides():
    fixture = {"describe": {"omit_fields": {"Lead": ["Andsend_Prospect_Id__c"]},
                            "add_fields": {"Contact": [{"name": "Segment__c", "type": "picklist",
                                                        "picklistValues": [{"value": "A", "label": "A",
                                                                            "active": True, "defaultValue": False}],
                                                        "restrictedPicklist": True}]},
                            "picklists": {"Task.TaskSubtype": ["Task", "Email", "Call"]}}}
    app = create_app(":memory:", fixture)
    server = serve_in_thread(app)
    try:
        base = server.base_url
        tok = requests.post(f"{base}/services/oauth2/token", data={
            "grant_type": "password", "client_id": "emulator-client-id", "client_secret": "emulator-client-secret",
            "username": "admin@example.com", "password": "emulatortoken"}, timeout=10).json()["access_token"]
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {tok}"
        api = f"{base}/services/data/v60.0"
        lead = s.get(f"{api}/sobjects/Lead/describe", timeout=10).json()
        assert "Andsend_Prospect_Id__c" not in [f["name"] for f in lead["fields"]]
        r = s.get(f"{api}/query", params={"q": "SELECT Andsend_Prospect_Id__c FROM Lead"}, timeout=10)
        assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_FIELD"
        r = s.patch(f"{api}/sobjects/Lead/Andsend_Prospect_Id__c/x", json={"LastName": "A"}, timeout=10)
        assert r.status_code == 404
        r = s.post(f"{api}/sobjects/Contact", json={"LastName": "A", "Segment__c": "B"}, timeout=10)
        assert r.json()[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
        r = s.post(f"{api}/sobjects/Task", json={"Subject": "x", "TaskSubtype": "LinkedIn"}, timeout=10)
        assert r.json()[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    finally:
        server.stop()
        app.state.emulator.store.close()
