"""The emulator driven by simple-salesforce (a real third-party client) over HTTPS.

simple-salesforce hard-codes ``https://login.salesforce.com`` and ``https://<instance>``; a requests
transport adapter sends those hosts to the emulator's self-signed TLS port (Host header preserved), so
the client runs unmodified and the emulator is not weakened.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceMalformedRequest

from emulators.salesforce.server import create_app
from emulators.serving import serve_in_thread

INSTANCE = "acme.my.salesforce.com"


class EmulatorAdapter(HTTPAdapter):
    """Route https://*.salesforce.com to the emulator's port, keeping the original Host header."""

    def __init__(self, port: int, cafile: str) -> None:
        super().__init__()
        self.port = port
        self.cafile = cafile

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(request.url)
        if not (parts.hostname or "").endswith("salesforce.com"):
            raise requests.ConnectionError(f"no route to {parts.hostname} in tests")
        request.headers["Host"] = parts.netloc
        request.url = urlunsplit(("https", f"127.0.0.1:{self.port}", parts.path, parts.query, ""))
        kwargs["verify"] = self.cafile
        return super().send(request, **kwargs)


@dataclass
class HttpsEmulator:
    base_url: str
    app: Any
    session: requests.Session

    def control(self, method: str, path: str, body: Any = None) -> Any:
        r = requests.request(method, f"{self.base_url}/__emulator__/{path}", json=body,
                             verify=self.app.state.tls[0], timeout=30)
        r.raise_for_status()
        return r.json()


@pytest.fixture
def sf_https() -> Iterator[HttpsEmulator]:
    app = create_app(":memory:", https=True, instance_url=f"https://{INSTANCE}")
    cert, key = app.state.tls
    server = serve_in_thread(app, ssl_certfile=cert, ssl_keyfile=key)
    session = requests.Session()
    session.mount("https://", EmulatorAdapter(server.port, cert))
    try:
        yield HttpsEmulator(server.base_url, app, session)
    finally:
        session.close()
        server.server.force_exit = True  # don't wait for TLS close handshakes of idle keep-alive sockets
        server.stop()
        app.state.emulator.store.close()


def _soap_login(env: HttpsEmulator) -> Salesforce:
    return Salesforce(username="admin@example.com", password="emulator", security_token="token",
                      session=env.session, version="60.0")


def test_soap_login_crud_and_api_usage(sf_https):
    sf = _soap_login(sf_https)
    assert sf.sf_instance == INSTANCE
    created = sf.Lead.create({"LastName": "Lee", "Company": "Acme", "Email": "ann@acme.de"})
    assert created["success"] and created["id"].startswith("00Q")
    sf.Lead.update(created["id"], {"Title": "CTO"})
    assert sf.Lead.get(created["id"])["Title"] == "CTO"
    up = sf.Lead.upsert("Andsend_Prospect_Id__c/pr-9", {"LastName": "Up", "Company": "Sert"})
    assert up == 201
    assert sf.Lead.upsert("Andsend_Prospect_Id__c/pr-9", {"Title": "Boss"}) == 200
    sf.Lead.delete(created["id"])
    rows = {r["Id"]: r for r in sf_https.control("GET", "records/Lead")}
    assert rows[created["id"]]["IsDeleted"] is True
    assert [r["Title"] for r in rows.values() if r["Andsend_Prospect_Id__c"] == "pr-9"] == ["Boss"]
    sf.query("SELECT Id FROM Lead")
    used = sf.api_usage["api-usage"]
    assert used.total == 15000 and used.used == sf_https.control("GET", "stats")["api_requests"] == 7
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Lead.create({"LastName": "x" * 81, "Company": "Acme"})
    assert exc.value.content[0]["errorCode"] == "STRING_TOO_LONG"


def test_bad_soap_login(sf_https):
    with pytest.raises(SalesforceAuthenticationFailed) as exc:
        Salesforce(username="admin@example.com", password="wrong", security_token="token", session=sf_https.session)
    assert exc.value.code == "INVALID_LOGIN"


def test_query_all_across_pages_and_collections(sf_https):
    sf = _soap_login(sf_https)
    sf_https.control("PUT", "settings", {"query_batch_size": 25})
    records = [{"attributes": {"type": "Lead"}, "LastName": f"L{i:03d}", "Company": "Acme",
                "Email": f"l{i}@acme.de"} for i in range(60)]
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
    assert all(r["success"] for r in results) and len(results) == 60
    sf_https.control("POST", "stats/reset")
    got = sf.query_all("SELECT Id, LastName FROM Lead ORDER BY LastName")
    assert got["totalSize"] == 60 and [r["LastName"] for r in got["records"]] == [f"L{i:03d}" for i in range(60)]
    assert sf_https.control("GET", "stats")["by_kind"] == {"query": 1, "query_more": 2}
    ids = [r["id"] for r in results[:3]]
    updated = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Lead"}, "id": i, "Title": "Updated"} for i in ids]})
    assert [u["success"] for u in updated] == [True] * 3
    fetched = sf.restful("composite/sobjects/Lead", params={"ids": ",".join(ids), "fields": "Title"})
    assert [f["Title"] for f in fetched] == ["Updated"] * 3
    deleted = sf.restful("composite/sobjects", method="DELETE", params={"ids": ",".join(ids)})
    assert all(d["success"] for d in deleted)
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 57


def test_bulk2_insert_and_upsert_with_failures(sf_https):
    sf = _soap_login(sf_https)
    sf_https.control("PUT", "settings", {"bulk_processing_delay_ms": 300})
    rows = [{"LastName": f"B{i}", "Company": "Bulk", "Email": f"b{i}@bulk.io"} for i in range(10)]
    rows.append({"LastName": "", "Company": "Bulk", "Email": "missing@bulk.io"})
    rows.append({"LastName": "Bad", "Company": "Bulk", "Email": "not-an-email"})
    res = sf.bulk2.Lead.insert(records=rows, wait=0.05)
    assert res[0]["numberRecordsProcessed"] == 12 and res[0]["numberRecordsFailed"] == 2
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Lead.get_failed_records(res[0]["job_id"]))))
    errors = sorted(f["sf__Error"].split(":")[0] for f in failed)
    assert errors == ["INVALID_EMAIL_ADDRESS", "REQUIRED_FIELD_MISSING"]
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Lead.get_successful_records(res[0]["job_id"]))))
    assert len(ok) == 10 and all(r["sf__Created"] == "true" and r["sf__Id"].startswith("00Q") for r in ok)
    unprocessed = sf.bulk2.Lead.get_unprocessed_records(res[0]["job_id"]).strip()
    assert sorted(unprocessed.split(",")) == ['"Company"', '"Email"', '"LastName"']  # header only
    polls = sf_https.control("GET", "stats")["by_kind"]["bulk_status"]
    assert polls >= 2  # the processing delay made the client poll
    up = [{"Andsend_Prospect_Id__c": "bx-1", "LastName": "New", "Company": "Bulk"},
          {"Andsend_Prospect_Id__c": "bx-2", "LastName": "Other", "Company": "Bulk"},
          {"Andsend_Prospect_Id__c": "bx-1", "LastName": "Again", "Company": "Bulk", "Status": "Bogus"}]
    res = sf.bulk2.Lead.upsert(records=up[:2], external_id_field="Andsend_Prospect_Id__c", wait=0.05)
    assert res[0]["numberRecordsFailed"] == 0
    res = sf.bulk2.Lead.upsert(records=[up[2], {"Andsend_Prospect_Id__c": "bx-2", "LastName": "", "Company": "Bulk",
                                                "Title": "CFO"}],
                               external_id_field="Andsend_Prospect_Id__c", wait=0.05)
    assert res[0]["numberRecordsProcessed"] == 2 and res[0]["numberRecordsFailed"] == 0
    rows = {r["Andsend_Prospect_Id__c"]: r for r in sf_https.control("GET", "records/Lead")
            if r["Andsend_Prospect_Id__c"]}
    assert rows["bx-1"]["LastName"] == "Again" and rows["bx-1"]["Status"] == "Bogus"  # Status is not restricted
    assert rows["bx-2"]["LastName"] == "Other" and rows["bx-2"]["Title"] == "CFO"  # "" leaves a value alone


def test_revoked_token_triggers_relogin(sf_https):
    sf = _soap_login(sf_https)
    sf.query("SELECT Id FROM Lead")
    sf_https.control("POST", "revoke-tokens")
    sf.query("SELECT Id FROM Lead")  # 401 INVALID_SESSION_ID -> simple-salesforce logs in again
    assert sf_https.control("GET", "stats")["by_kind"]["soap_login"] == 2


def test_oauth_password_and_jwt_logins(sf_https):
    sf = Salesforce(username="admin@example.com", password="emulatortoken", consumer_key="emulator-client-id",
                    consumer_secret="emulator-client-secret", session=sf_https.session)
    assert sf.query("SELECT Username FROM User")["records"][0]["Username"] == "admin@example.com"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    sf_https.control("POST", "seed", {"apps": [{"client_id": "jwt-app", "client_secret": "s",
                                                "jwt_public_key_pem": public_pem}]})
    sf = Salesforce(username="admin@example.com", consumer_key="jwt-app", privatekey=private_pem,
                    session=sf_https.session)
    assert sf.sf_instance == INSTANCE
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] == 1
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_pem = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    with pytest.raises(SalesforceAuthenticationFailed):
        Salesforce(username="admin@example.com", consumer_key="jwt-app", privatekey=other_pem,
                   session=sf_https.session)
    with pytest.raises(SalesforceAuthenticationFailed):
        Salesforce(username="nobody@example.com", consumer_key="jwt-app", privatekey=private_pem,
                   session=sf_https.session)


def test_refresh_token_login(sf_https):
    """A refresh token from the web-server flow, redeemed by the client, then used by simple-salesforce."""
    import base64
    import hashlib
    import re
    import secrets
    from urllib.parse import parse_qs

    s = sf_https.session
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {"response_type": "code", "client_id": "emulator-client-id", "redirect_uri": "http://127.0.0.1:8710/oauth/callback",
              "state": "xyz", "code_challenge": challenge, "code_challenge_method": "S256"}
    page = s.get("https://login.salesforce.com/services/oauth2/authorize", params=params, timeout=10)
    assert page.status_code == 200 and "<form" in page.text
    form = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    form.update(username="admin@example.com", password="emulatortoken")
    r = s.post("https://login.salesforce.com/services/oauth2/authorize", data=form, allow_redirects=False, timeout=10)
    assert r.status_code == 302
    q = parse_qs(urlsplit(r.headers["Location"]).query)
    assert q["state"] == ["xyz"]
    token = s.post("https://login.salesforce.com/services/oauth2/token", data={
        "grant_type": "authorization_code", "code": q["code"][0], "client_id": "emulator-client-id",
        "redirect_uri": "http://127.0.0.1:8710/oauth/callback", "code_verifier": verifier}, timeout=10).json()
    assert token["refresh_token"]
    refreshed = s.post("https://login.salesforce.com/services/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": token["refresh_token"], "client_id": "emulator-client-id",
        "client_secret": "emulator-client-secret"}, timeout=10).json()
    assert refreshed["access_token"] != token["access_token"] and "refresh_token" not in refreshed
    sf = Salesforce(instance_url=refreshed["instance_url"], session_id=refreshed["access_token"], session=s)
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 0


def test_soap_logout_ends_the_session(sf_https):
    """``logout()`` on the partner endpoint ends the SessionHeader's session (not a failed login)."""
    sf = _soap_login(sf_https)
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">'
        '<env:Header><SessionHeader xmlns="urn:partner.soap.sforce.com">'
        f"<sessionId>{sf.session_id}</sessionId></SessionHeader></env:Header>"
        '<env:Body><n1:logout xmlns:n1="urn:partner.soap.sforce.com"/></env:Body></env:Envelope>'
    )
    url = f"https://{INSTANCE}/services/Soap/u/60.0"
    headers = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "logout"}
    ok = sf_https.session.post(url, data=envelope, headers=headers, timeout=30)
    assert ok.status_code == 200 and "<logoutResponse/>" in ok.text
    old_session = sf.session_id
    gone = sf_https.session.get(f"https://{INSTANCE}/services/data/v60.0/limits",
                                headers={"Authorization": f"Bearer {old_session}"}, timeout=30)
    assert gone.status_code == 401 and gone.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    sf.query("SELECT Id FROM Lead")  # simple-salesforce signs in again on the 401
    assert sf.session_id != old_session
    again = sf_https.session.post(url, data=envelope, headers=headers, timeout=30)
    assert again.status_code == 500
    assert "<sf:exceptionCode>INVALID_SESSION_ID</sf:exceptionCode>" in again.text
    assert "LoginFault" not in again.text


def test_bulk2_query_jobs_with_locator_paging(sf_https):
    """Bulk API 2.0 query: create, poll, results in sets (Sforce-Locator) as CSV, through simple-salesforce."""
    sf = _soap_login(sf_https)
    sf_https.control("PUT", "settings", {"bulk_processing_delay_ms": 300})  # the client must poll
    refs = sf_https.control("POST", "seed", {"records": {"Lead": [
        {"_ref": f"l{i}", "LastName": f"Lee {i}", "Company": "Acme, Inc.", "Email": f"l{i}@acme.de",
         "HasOptedOutOfEmail": i == 3} for i in range(5)]}})["refs"]
    sets = list(sf.bulk2.Lead.query("SELECT Id, LastName, Company, HasOptedOutOfEmail, Owner.Email FROM Lead "
                                    "WHERE Company = 'Acme, Inc.' ORDER BY LastName", max_records=2, wait=1))
    assert len(sets) == 3  # 2 + 2 + 1 records, each set with its header
    rows = [row for text in sets for row in csv.DictReader(io.StringIO(text))]
    assert [r["Id"] for r in rows] == [refs[f"l{i}"] for i in range(5)]
    assert rows[0]["Company"] == "Acme, Inc." and rows[3]["HasOptedOutOfEmail"] == "true"
    assert rows[0]["Owner.Email"] == "admin@example.com"
    stats = sf_https.control("GET", "stats")["by_kind"]
    assert stats["bulk_query_create"] == 1 and stats["bulk_query_results"] == 3 and stats["bulk_query_status"] >= 1


def test_bulk2_query_refuses_what_salesforce_refuses(sf_https):
    sf = _soap_login(sf_https)
    url = f"https://{INSTANCE}/services/data/v60.0/jobs/query"
    headers = {"Authorization": f"Bearer {sf.session_id}"}
    bad = sf_https.session.post(url, json={"operation": "query", "query": "SELECT Id FROM Nope"}, headers=headers,
                                timeout=30)
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_TYPE"
    compound = sf_https.session.post(url, json={"operation": "query",
                                                "query": "SELECT Id, BillingAddress FROM Account"},
                                     headers=headers, timeout=30)
    assert compound.status_code == 400 and compound.json()[0]["errorCode"] == "API_ERROR"
    sf_https.control("PUT", "settings", {"bulk_processing_delay_ms": 5000})
    job = sf_https.session.post(url, json={"operation": "query", "query": "SELECT Id FROM Account"}, headers=headers,
                                timeout=30).json()
    early = sf_https.session.get(f"{url}/{job['id']}/results", headers=headers, timeout=30)
    assert early.status_code == 412 and early.json()[0]["errorCode"] == "JOB_NOT_COMPLETE"


def _collection(method: str, url: str, ref: str, records: list[dict], **extra: Any) -> dict:
    return {"method": method, "url": f"/services/data/v60.0/{url}", "referenceId": ref,
            "body": {"allOrNone": False, "records": records}, **extra}


def test_collections_inside_composite_with_salesforce_limits(sf_https):
    """Five Collections (1,000 records) in one Composite call counted once; per-subrequest
    outcomes (a collection over 200 records refused alone); six heavy subrequests refused whole."""
    sf = _soap_login(sf_https)
    leads = [{"attributes": {"type": "Lead"}, "LastName": f"C{i:04d}", "Company": "Acme"} for i in range(1000)]
    sf_https.control("POST", "stats/reset")
    body = {"allOrNone": False, "compositeRequest": [
        _collection("POST", "composite/sobjects", f"c{k}", leads[k * 200:(k + 1) * 200]) for k in range(4)] + [
        _collection("PATCH", "composite/sobjects/Lead/Andsend_Prospect_Id__c", "u0",
                    [{"attributes": {"type": "Lead"}, "Andsend_Prospect_Id__c": f"pr-{i}", "LastName": f"U{i}",
                      "Company": "Acme"} for i in range(201)],
                    httpHeaders={"Sforce-Auto-Assign": "FALSE"})]}
    out = sf.restful("composite", method="POST", json=body)["compositeResponse"]
    assert [s["httpStatusCode"] for s in out] == [200, 200, 200, 200, 400]
    assert all(r["success"] for s in out[:4] for r in s["body"]) and len(out[0]["body"]) == 200
    assert out[4]["body"][0]["errorCode"] == "EXCEEDED_ID_LIMIT"  # that subrequest only
    stats = sf_https.control("GET", "stats")
    assert stats["by_kind"] == {"composite": 1} and stats["api_requests"] == 1
    assert stats["composite_subrequests"] == {"collections_create": 4, "collections_upsert": 1}
    assert len(sf_https.control("GET", "records/Lead")) == 800

    six = {"allOrNone": False, "compositeRequest": [
        _collection("POST", "composite/sobjects", f"s{k}", leads[:1]) for k in range(5)] + [
        {"method": "GET", "url": "/services/data/v60.0/query?q=SELECT+Id+FROM+Lead+LIMIT+1", "referenceId": "q"}]}
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful("composite", method="POST", json=six)
    assert exc.value.content[0]["errorCode"] == "LIMIT_EXCEEDED"
    assert len(sf_https.control("GET", "records/Lead")) == 800  # nothing of it ran
    many = {"compositeRequest": [{"method": "GET", "url": "/services/data/v60.0/sobjects/Lead/describe",
                                  "referenceId": f"d{k}"} for k in range(26)]}
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful("composite", method="POST", json=many)
    assert exc.value.content[0]["errorCode"] == "LIMIT_EXCEEDED"
