"""No request, however odd, gets a 500 or a hang: every answer has Salesforce's error shape."""

from __future__ import annotations

import itertools
import json

import pytest

PATHS = ["", "limits", "sobjects", "sobjects/Lead", "sobjects/Lead/describe", "sobjects/Lead/00Q000000000000",
         "sobjects/Lead/Id", "sobjects/Lead/Email/a@b.c", "sobjects/Lead/a/b/c/d", "sobjects/%E2%9C%93",
         "query", "query/abc", "queryAll/01g-x", "composite", "composite/sobjects", "composite/sobjects/Lead",
         "composite/sobjects/Lead/Andsend_Prospect_Id__c", "composite/batch", "jobs/ingest", "jobs/ingest/750x",
         "jobs/ingest/750x/batches", "jobs/ingest/750x/failedResults", "jobs/query"]
BODIES = [None, b"", b"null", b"[]", b"{}", b"[{}]", b'{"records": [null, 1, "x"]}',
          b'{"compositeRequest": [1]}', b'{"LastName": {"a": 1}}', b'{"allOrNone": "yes", "records": []}',
          b"\xff\xfe", b'{"state": 5}', "{\"LastName\": \"\u00e9\u4e2d\\u0000\", \"Company\": \"x\"}".encode(),
          json.dumps({"ids": [None, 5], "fields": [1]}).encode()]
METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]


@pytest.mark.parametrize("method", METHODS)
def test_odd_requests_never_500(sf_emulator, method):
    s = sf_emulator.session()
    for path, body in itertools.product(PATHS, BODIES):
        r = s.request(method, f"{sf_emulator.api_url}/{path}", data=body,
                      headers={"Content-Type": "application/json"}, params={"q": "SELECT", "ids": "x,,y"},
                      timeout=10)
        assert r.status_code < 500, (method, path, body, r.status_code, r.text)
        if r.status_code >= 400:
            err = r.json()
            assert isinstance(err, list) and err[0]["errorCode"] and "message" in err[0], (path, r.text)


def test_odd_control_plane_and_oauth(sf_emulator):
    import requests

    base = sf_emulator.base_url
    for method, path, body in [("POST", "__emulator__/seed", b"[1]"), ("POST", "__emulator__/clock", b'{"now": 5}'),
                               ("PUT", "__emulator__/settings", b'{"query_batch_size": -1}'),
                               ("POST", "__emulator__/describe/Lead/fields", b'{"type": "string"}'),
                               ("POST", "__emulator__/faults", b'{"error_503_rate": 2}'),
                               ("POST", "__emulator__/seed", b'{"records": {"Lead": [{"OwnerId": "@nope"}]}}'),
                               ("POST", "services/oauth2/token", b"\xff"),
                               ("POST", "services/oauth2/token",
                                b"grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=x"),
                               ("POST", "services/Soap/u/60.0", b"<not xml"),
                               ("GET", "services/oauth2/authorize", None)]:
        r = requests.request(method, f"{base}/{path}", data=body, timeout=10)
        assert 400 <= r.status_code < 600 and r.status_code != 500 or path.startswith("services/Soap"), (path, r.text)
