"""Compound address fields: in describe, selected as one object, read-only, not filterable (SOAP API
Developer Guide, "Compound Fields"; "Address Compound Fields")."""

from __future__ import annotations


def test_describe_lists_compound_address_and_its_components(sf_emulator):
    s = sf_emulator.session()
    describe = s.get(f"{sf_emulator.api_url}/sobjects/Account/describe", timeout=10).json()
    fields = {f["name"]: f for f in describe["fields"]}
    billing = fields["BillingAddress"]
    assert billing["type"] == "address" and not billing["createable"] and not billing["updateable"]
    assert not billing["filterable"] and not billing["sortable"]
    for part in ("Street", "City", "State", "PostalCode", "Country", "Latitude", "Longitude", "GeocodeAccuracy"):
        assert fields[f"Billing{part}"]["compoundFieldName"] == "BillingAddress"
        assert fields[f"Shipping{part}"]["compoundFieldName"] == "ShippingAddress"
    lead = {f["name"]: f for f in s.get(f"{sf_emulator.api_url}/sobjects/Lead/describe", timeout=10).json()["fields"]}
    assert lead["Address"]["type"] == "address" and lead["City"]["compoundFieldName"] == "Address"


def test_query_returns_the_compound_value_and_refuses_to_filter_on_it(sf_emulator):
    s = sf_emulator.session()
    ids = sf_emulator.seed({"records": {"Lead": [
        {"_ref": "l1", "LastName": "Lee", "Company": "Acme", "Street": "Main St 1", "City": "Berlin",
         "PostalCode": "10115", "Country": "Germany", "Latitude": 52.53},
        {"_ref": "l2", "LastName": "Nil", "Company": "Acme"}]}})
    r = s.get(f"{sf_emulator.api_url}/query", params={"q": "SELECT Id, Address, City FROM Lead WHERE Company = 'Acme' "
                                                          "ORDER BY LastName"}, timeout=10)
    assert r.status_code == 200, r.text
    rows = {row["Id"]: row for row in r.json()["records"]}
    assert rows[ids["l1"]]["Address"] == {"city": "Berlin", "country": "Germany", "geocodeAccuracy": None,
                                          "latitude": 52.53, "longitude": None, "postalCode": "10115",
                                          "state": None, "street": "Main St 1"}
    assert rows[ids["l2"]]["Address"] is None  # every component empty
    bad = s.get(f"{sf_emulator.api_url}/query", params={"q": "SELECT Id FROM Lead WHERE Address = null"}, timeout=10)
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"
    assert "can not be filtered" in bad.json()[0]["message"]


def test_compound_field_is_read_only_and_shows_in_record_reads(sf_emulator):
    s = sf_emulator.session()
    r = s.post(f"{sf_emulator.api_url}/sobjects/Account", json={"Name": "Acme", "BillingAddress": {"city": "X"}},
               timeout=10)
    assert r.status_code == 400 and r.json()[0]["errorCode"] in ("INVALID_FIELD_FOR_INSERT_UPDATE", "INVALID_FIELD")
    r = s.post(f"{sf_emulator.api_url}/sobjects/Account", json={"Name": "Acme", "BillingCity": "Oslo"}, timeout=10)
    assert r.status_code == 201, r.text
    rec = s.get(f"{sf_emulator.api_url}/sobjects/Account/{r.json()['id']}", timeout=10).json()
    assert rec["BillingAddress"]["city"] == "Oslo" and rec["ShippingAddress"] is None
