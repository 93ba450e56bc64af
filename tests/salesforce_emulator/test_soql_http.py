"""SOQL through the running Salesforce emulator: GET /query and /queryAll over HTTP, results checked
against the emulator's own record dump."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.conftest import SalesforceEmulator


@pytest.fixture()
def org(sf_emulator: SalesforceEmulator) -> tuple[SalesforceEmulator, requests.Session, dict[str, str]]:
    refs = sf_emulator.seed({
        "users": [{"_ref": "u1", "Username": "ann@acme.test", "Email": "ann@acme.test", "FirstName": "Ann",
                   "LastName": "Lee", "IsActive": True}],
        "records": {
            "Account": [{"_ref": "a1", "Name": "Acme GmbH"}],
            "Lead": [
                {"_ref": "l1", "LastName": "Ännchen", "Company": "Acme", "Email": "ANN@x.de", "OwnerId": "@u1"},
                {"_ref": "l2", "LastName": "O'Brien", "Company": "Back\\slash", "Email": "pat@ob.ie"},
                {"_ref": "l3", "LastName": "apfel", "Company": "100% Pure_Co"},
                {"_ref": "l4", "LastName": "Zed", "Company": "Acme", "Email": "zed@x.de", "OwnerId": "@u1"},
            ],
        },
    })
    return sf_emulator, sf_emulator.session(), refs


def query(org: Any, soql: str, *, all_rows: bool = False, **headers: str) -> requests.Response:
    emu, s, _ = org
    return s.get(f"{emu.api_url}/{'queryAll' if all_rows else 'query'}", params={"q": soql}, headers=headers,
                 timeout=30)


def test_unicode_case_insensitive_match_and_relationship_shape(org: Any) -> None:
    emu, _, refs = org
    r = query(org, "select id, EMAIL, owner.email from LEAD where lastname in ('äNNCHEN', 'nobody')")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["totalSize"] == 1 and body["done"] is True
    assert body["records"] == [{
        "attributes": {"type": "Lead", "url": f"/services/data/v60.0/sobjects/Lead/{refs['l1']}"},
        "Id": refs["l1"], "Email": "ANN@x.de",
        "Owner": {"attributes": {"type": "User", "url": f"/services/data/v60.0/sobjects/User/{refs['u1']}"},
                  "Email": "ann@acme.test"},
    }]


def test_order_by_text_pages_in_order(org: Any) -> None:
    emu, _, refs = org
    emu.settings(query_batch_size=2)
    r = query(org, "SELECT LastName FROM Lead WHERE Company != null ORDER BY LastName")
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["done"] is False and first["totalSize"] >= 4
    names = [x["LastName"] for x in first["records"]]
    emu_s = org[1]
    nxt = first["nextRecordsUrl"]
    while nxt:
        page = emu_s.get(f"{emu.base_url}{nxt}", timeout=30).json()
        names += [x["LastName"] for x in page["records"]]
        nxt = page.get("nextRecordsUrl")
    ours = [n for n in names if n in ("Ännchen", "O'Brien", "apfel", "Zed")]
    assert ours == ["Ännchen", "apfel", "O'Brien", "Zed"]  # case-insensitive, accents secondary


def test_injection_literals_stay_literals(org: Any) -> None:
    emu, _, _ = org
    before = len(emu.records("Lead"))
    for literal in ["' OR 1=1 --", "'; DROP TABLE Lead; --", "x' OR Name != null OR Name = '"]:
        escaped = literal.replace("\\", "\\\\").replace("'", "\\'")
        r = query(org, f"SELECT Id FROM Lead WHERE Email = '{escaped}' OR LastName LIKE '{escaped}'")
        assert r.status_code == 200, r.text
        assert r.json()["totalSize"] == 0
    assert len(emu.records("Lead")) == before
    r = query(org, "SELECT Id FROM Lead WHERE LastName = 'O\\'Brien' AND Company = 'Back\\\\slash'")
    assert r.json()["totalSize"] == 1


def test_errors_come_back_as_salesforce_error_bodies(org: Any) -> None:
    r = query(org, "SELECT Id, Foo FROM Lead")
    assert r.status_code == 400
    [e] = r.json()
    assert e["errorCode"] == "INVALID_FIELD"
    assert "ERROR at Row:1:Column:12" in e["message"] and "No such column 'Foo' on entity 'Lead'" in e["message"]
    r = query(org, "SELECT Id FROM Nope")
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_TYPE"
    r = query(org, 'SELECT Id FROM Lead WHERE Email = "x"')
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "MALFORMED_QUERY"
    r = query(org, "SELECT Id FROM Lead OFFSET 2001")
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "NUMBER_OUTSIDE_VALID_RANGE"


def test_count_and_query_all_and_relative_dates(org: Any) -> None:
    emu, s, refs = org
    r = query(org, "SELECT COUNT() FROM Lead WHERE Company = 'ACME'")
    assert r.json() == {"totalSize": 2, "done": True, "records": []}
    assert s.delete(f"{emu.api_url}/sobjects/Lead/{refs['l4']}", timeout=30).status_code == 204
    assert query(org, "SELECT COUNT() FROM Lead WHERE Company = 'acme'").json()["totalSize"] == 1
    assert query(org, "SELECT COUNT() FROM Lead WHERE Company = 'acme'", all_rows=True).json()["totalSize"] == 2
    # Relative dates follow the emulator clock (moving it far ahead expires tokens: log in again).
    emu.clock("2030-01-01T23:00:00Z")
    later = (emu, emu.session(), refs)
    lead = later[1].post(f"{emu.api_url}/sobjects/Lead", json={"LastName": "New", "Company": "Clock"},
                         timeout=30).json()
    r = query(later, "SELECT Id, CreatedDate FROM Lead WHERE CreatedDate = TODAY")
    assert r.status_code == 200, r.text
    assert [x["Id"] for x in r.json()["records"]] == [lead["id"]]
    assert r.json()["records"][0]["CreatedDate"].startswith("2030-01-01T23:00:00")
    emu.clock("2030-01-02T00:30:00Z")  # past midnight, within the token TTL
    assert query(later, "SELECT Id FROM Lead WHERE CreatedDate = TODAY").json()["totalSize"] == 0
    assert query(later, "SELECT Id FROM Lead WHERE CreatedDate = YESTERDAY").json()["totalSize"] == 1
