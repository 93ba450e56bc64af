"""Control plane, fault injection, limits, bad requests, concurrency, persistence, CLI."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from emulators.salesforce.server import create_app
from emulators.serving import serve_in_thread


def test_stats_by_kind_method_resource(sf_emulator):
    s = sf_emulator.session()
    api = sf_emulator.api_url
    s.get(f"{api}/limits", timeout=10)
    s.get(f"{api}/sobjects/Lead/describe", timeout=10)
    rid = s.post(f"{api}/sobjects/Lead", json={"LastName": "A", "Company": "C"}, timeout=10).json()["id"]
    s.get(f"{api}/sobjects/Lead/{rid}", timeout=10)
    s.get(f"{api}/query", params={"q": "SELECT Id FROM Lead"}, timeout=10)
    st = sf_emulator.stats()
    assert st["api_requests"] == 5
    assert st["by_kind"] == {"oauth": 1, "limits": 1, "describe": 1, "sobject_create": 1, "sobject_read": 1,
                             "query": 1}
    assert st["by_method"]["GET"] == 4 and st["by_resource"]["sobjects"] == 3
    assert st["records_written"] == 1
    sf_emulator.reset_stats()
    st = sf_emulator.stats()
    assert st["api_requests"] == 0 and st["daily_api_used"] == 5  # daily usage is not a stat


def test_daily_limit_and_limit_exceeded_after(sf_emulator):
    s = sf_emulator.session()
    api = sf_emulator.api_url
    sf_emulator.limits(daily_api_max=3, daily_api_used=1)
    assert s.get(f"{api}/limits", timeout=10).json()["DailyApiRequests"] == {"Max": 3, "Remaining": 1}
    r = s.get(f"{api}/limits", timeout=10)
    assert r.status_code == 200 and r.headers["Sforce-Limit-Info"] == "api-usage=3/3"
    r = s.get(f"{api}/limits", timeout=10)
    assert r.status_code == 403
    assert r.json() == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    sf_emulator.limits(daily_api_max=1000, daily_api_used=0)
    sf_emulator.faults(limit_exceeded_after=2)
    assert [s.get(f"{api}/limits", timeout=10).status_code for _ in range(4)] == [200, 200, 403, 403]
    sf_emulator.faults()
    assert s.get(f"{api}/limits", timeout=10).status_code == 200


def test_503_rate_and_revoke_every(sf_emulator):
    s = sf_emulator.session()
    api = sf_emulator.api_url
    sf_emulator.faults(error_503_rate=0.5, random_seed=7)
    codes = [s.get(f"{api}/limits", timeout=10).status_code for _ in range(20)]
    assert set(codes) == {200, 503} and 3 < codes.count(503) < 17
    r = next(r for r in (s.get(f"{api}/limits", timeout=10) for _ in range(50)) if r.status_code == 503)
    assert r.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    sf_emulator.faults(error_503_rate=0.5, random_seed=7)
    assert [s.get(f"{api}/limits", timeout=10).status_code for _ in range(20)] == codes  # deterministic
    sf_emulator.faults(revoke_tokens_every=3)
    codes = [s.get(f"{api}/limits", timeout=10).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 401]
    s = sf_emulator.session()
    assert s.get(f"{api}/limits", timeout=10).status_code == 200


def test_latency_is_async(sf_emulator):
    s_tok = sf_emulator.token()
    sf_emulator.faults(latency_ms=800)

    def call(_):
        return requests.get(f"{sf_emulator.api_url}/limits", headers={"Authorization": f"Bearer {s_tok}"},
                            timeout=20).status_code

    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(call, range(8))) == [200] * 8
    elapsed = time.monotonic() - start
    assert 0.8 <= elapsed < 4.0  # eight 800 ms sleeps overlapped, not serialised (6.4 s)


def test_seed_reset_and_records(sf_emulator):
    refs = sf_emulator.seed({"records": {"Account": [{"_ref": "a", "Name": "Acme"}],
                                         "Contact": [{"LastName": "Lee", "AccountId": "@a"}]}})
    assert sf_emulator.records("Contact")[0]["AccountId"] == refs["a"]
    s = sf_emulator.session()
    s.post(f"{sf_emulator.api_url}/sobjects/Lead", json={"LastName": "A", "Company": "C"}, timeout=10)
    sf_emulator.faults(latency_ms=5)
    sf_emulator.reset()
    assert sf_emulator.records("Lead") == [] and sf_emulator.records("Contact") == []
    assert requests.get(f"{sf_emulator.base_url}/__emulator__/faults", timeout=10).json()["latency_ms"] == 0
    assert s.get(f"{sf_emulator.api_url}/limits", timeout=10).status_code == 200  # token survived the reset
    r = requests.post(f"{sf_emulator.base_url}/__emulator__/seed", json={"records": {"Nope": [{}]}}, timeout=10)
    assert r.status_code == 400
    r = requests.post(f"{sf_emulator.base_url}/__emulator__/faults", json={"bogus": 1}, timeout=10)
    assert r.status_code == 400
    assert requests.get(f"{sf_emulator.base_url}/__emulator__/records/Nope", timeout=10).status_code == 404


def test_bad_requests_get_salesforce_errors(sf_emulator):
    s = sf_emulator.session()
    api = sf_emulator.api_url
    cases = [
        (s.post(f"{api}/sobjects/Lead", data="{oops", headers={"Content-Type": "application/json"}), 400,
         "JSON_PARSER_ERROR"),
        (s.post(f"{api}/sobjects/Lead", data="", headers={"Content-Type": "application/json"}), 400,
         "JSON_PARSER_ERROR"),
        (s.post(f"{api}/sobjects/Lead", json=[1, 2]), 400, "JSON_PARSER_ERROR"),
        (s.post(f"{api}/sobjects/Nope", json={}), 404, "NOT_FOUND"),
        (s.put(f"{api}/sobjects/Lead", json={}), 405, "METHOD_NOT_ALLOWED"),
        (s.post(f"{api}/sobjects/Lead", data="LastName=A", headers={"Content-Type": "text/plain"}), 415,
         "UNSUPPORTED_MEDIA_TYPE"),
        (s.get(f"{api}/query", params={"q": "SELEKT Id FROM Lead"}), 400, "MALFORMED_QUERY"),
        (s.get(f"{api}/query", params={"q": "SELECT Id FROM Nope"}), 400, "INVALID_TYPE"),
        (s.get(f"{api}/query/01g5g0000000001AAA-200"), 400, "INVALID_QUERY_LOCATOR"),
        (s.get(f"{api}/nothing/here"), 404, "NOT_FOUND"),
        (s.get(f"{sf_emulator.base_url}/services/data/v12.0/limits"), 404, "NOT_FOUND"),
        (s.post(f"{api}/composite/sobjects", json={"records": "no"}), 400, "JSON_PARSER_ERROR"),
        (s.post(f"{api}/composite/sobjects", json={"records": [{"attributes": {"type": "Lead"}, "Foo": 1}]}), 400,
         "INVALID_FIELD"),
    ]
    for r, status, code in cases:
        assert (r.status_code, r.json()[0]["errorCode"]) == (status, code), r.text


def test_concurrent_requests(sf_emulator):
    token = sf_emulator.token()
    api = sf_emulator.api_url

    def work(i):
        with requests.Session() as s:
            s.headers["Authorization"] = f"Bearer {token}"
            recs = [{"attributes": {"type": "Lead"}, "LastName": f"L{i}-{j}", "Company": "C"} for j in range(20)]
            res = s.post(f"{api}/composite/sobjects", json={"records": recs}, timeout=30).json()
            q = s.get(f"{api}/query", params={"q": f"SELECT COUNT() FROM Lead WHERE LastName LIKE 'L{i}-%'"},
                      timeout=30).json()
            return sum(x["success"] for x in res), q["totalSize"]

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(work, range(40)))
    assert results == [(20, 20)] * 40
    assert len(sf_emulator.records("Lead")) == 800
    assert len({r["Id"] for r in sf_emulator.records("Lead")}) == 800


def test_file_database_survives_restart(tmp_path):
    db = str(tmp_path / "sf.sqlite")
    app = create_app(db)
    server = serve_in_thread(app)
    try:
        tok = requests.post(f"{server.base_url}/services/oauth2/token", data={
            "grant_type": "password", "client_id": "emulator-client-id", "client_secret": "emulator-client-secret",
            "username": "admin@example.com", "password": "emulatortoken"}, timeout=10).json()["access_token"]
        h = {"Authorization": f"Bearer {tok}"}
        requests.post(f"{server.base_url}/__emulator__/describe/Lead/fields",
                      json={"name": "Tier__c", "type": "string", "length": 10}, timeout=10)
        first = requests.post(f"{server.base_url}/services/data/v60.0/sobjects/Lead",
                              json={"LastName": "Persist", "Company": "C", "Tier__c": "A"}, headers=h,
                              timeout=10).json()["id"]
    finally:
        server.stop()
        app.state.emulator.store.close()
    app = create_app(db)
    server = serve_in_thread(app)
    try:
        h = {"Authorization": f"Bearer {tok}"}  # tokens persist with the database
        q = requests.get(f"{server.base_url}/services/data/v60.0/query",
                         params={"q": "SELECT Id, Tier__c FROM Lead"}, headers=h, timeout=10).json()
        assert [(r["Id"], r["Tier__c"]) for r in q["records"]] == [(first, "A")]
        second = requests.post(f"{server.base_url}/services/data/v60.0/sobjects/Lead",
                               json={"LastName": "Next", "Company": "C"}, headers=h, timeout=10).json()["id"]
        assert second != first and second > first
        assert len(requests.get(f"{server.base_url}/__emulator__/records/User", timeout=10).json()) == 1
    finally:
        server.stop()
        app.state.emulator.store.close()


@pytest.mark.e2e
def test_cli_prints_base_url_first(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "emulators.cli", "salesforce", "--port", "0", "--db",
                             str(tmp_path / "cli.sqlite"), "--fixture", "emulators/salesforce/fixtures/rich.json"],
                            stdout=subprocess.PIPE, text=True)
    try:
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:")
        r = requests.get(f"{base}/services/data/", timeout=10)
        assert r.status_code == 200
        users = requests.get(f"{base}/__emulator__/records/User", timeout=10).json()
        assert len(users) == 4
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.e2e
def test_cli_https(tmp_path):
    import urllib3

    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    proc = subprocess.Popen([sys.executable, "-m", "emulators.cli", "salesforce", "--port", "0", "--https",
                             "--instance-url", "https://acme.my.salesforce.com"], stdout=subprocess.PIPE, text=True)
    try:
        base = proc.stdout.readline().strip()
        assert base.startswith("https://127.0.0.1:")
        r = requests.post(f"{base}/services/oauth2/token", data={
            "grant_type": "password", "client_id": "emulator-client-id", "client_secret": "emulator-client-secret",
            "username": "admin@example.com", "password": "emulatortoken"}, verify=False, timeout=10)
        assert r.json()["instance_url"] == "https://acme.my.salesforce.com"
    finally:
        proc.terminate()
        proc.wait(10)
