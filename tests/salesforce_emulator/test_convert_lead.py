"""Lead conversion in the Salesforce emulator (control plane ``convert-lead``, what convertLead does)."""

from __future__ import annotations

import time

import pytest
import requests


def test_convert_lead_creates_contact_and_account_and_locks_the_lead(sf_emulator):
    s = sf_emulator.session()
    lead = s.post(f"{sf_emulator.api_url}/sobjects/Lead", json={
        "LastName": "Lee", "FirstName": "Ann", "Company": "Acme", "Email": "ann@acme.test",
        "HasOptedOutOfEmail": True}, timeout=30).json()["id"]
    before = s.get(f"{sf_emulator.api_url}/sobjects/Lead/{lead}", timeout=30).json()["SystemModstamp"]
    time.sleep(1.1)  # SystemModstamp has whole seconds in the emulator
    out = sf_emulator._control("POST", "convert-lead", {"lead_id": lead})
    row = s.get(f"{sf_emulator.api_url}/sobjects/Lead/{lead}", timeout=30).json()
    assert row["IsConverted"] is True and row["Status"] == "Closed - Converted"
    assert row["ConvertedContactId"] == out["contact_id"] and row["ConvertedAccountId"] == out["account_id"]
    assert row["SystemModstamp"] > before and row["ConvertedDate"] == row["SystemModstamp"][:10]
    contact = s.get(f"{sf_emulator.api_url}/sobjects/Contact/{out['contact_id']}", timeout=30).json()
    assert contact["AccountId"] == out["account_id"] and contact["Email"] == "ann@acme.test"
    assert contact["HasOptedOutOfEmail"] is True and contact["OwnerId"] == row["OwnerId"]
    account = s.get(f"{sf_emulator.api_url}/sobjects/Account/{out['account_id']}", timeout=30).json()
    assert account["Name"] == "Acme"
    refused = s.patch(f"{sf_emulator.api_url}/sobjects/Lead/{lead}", json={"Title": "CTO"}, timeout=30)
    assert refused.status_code == 400 and refused.json()[0]["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    with pytest.raises(requests.HTTPError):
        sf_emulator._control("POST", "convert-lead", {"lead_id": lead})
