"""The Salesforce emulator's route table: every declared route answers through its handler and is
counted under its declared kind; refused methods and unknown paths are counted as ``other``."""

from __future__ import annotations

import requests

from emulators.salesforce.control import CONTROL_ROUTES
from emulators.salesforce.routes import API_ROUTES

# A value for each path parameter: well-formed, but naming nothing, so no call changes the org.
PARAMS = {"sobject": "Lead", "id": "00Q000000000001AAA", "field": "Email", "value": "nobody@example.com",
          "locator": "01g000000000001AAA-2000", "job": "750000000000001AAA", "record_type": "012000000000000AAA"}


def _url(api: str, path: str) -> str:
    parts = [PARAMS[p[1:-1]] if p.startswith("{") else p for p in path.split("/")] if path else []
    return "/".join([api, *parts])


def test_no_two_routes_share_a_path_and_method() -> None:
    for table in (API_ROUTES, CONTROL_ROUTES):
        seen: set[tuple[str, str]] = set()
        for route in table.routes:
            for method in route.methods:
                assert (route.path.lower(), method) not in seen, (route.path, method)
                seen.add((route.path.lower(), method))


# The kinds clients and benchmarks read from stats (the target's client counts its calls alike).
EXPECTED_KINDS = {
    ("GET", ""): "other", ("GET", "limits"): "limits", ("GET", "sobjects"): "describe",
    ("GET", "sobjects/{sobject}"): "describe", ("POST", "sobjects/{sobject}"): "sobject_create",
    ("GET", "sobjects/{sobject}/describe"): "describe", ("POST", "sobjects/{sobject}/id"): "sobject_create",
    ("GET", "sobjects/{sobject}/{id}"): "sobject_read", ("HEAD", "sobjects/{sobject}/{id}"): "sobject_read",
    ("PATCH", "sobjects/{sobject}/{id}"): "sobject_update", ("DELETE", "sobjects/{sobject}/{id}"): "sobject_delete",
    ("GET", "sobjects/{sobject}/{field}/{value}"): "sobject_read",
    ("PATCH", "sobjects/{sobject}/{field}/{value}"): "sobject_upsert",
    ("POST", "sobjects/{sobject}/{field}/{value}"): "sobject_upsert",
    ("DELETE", "sobjects/{sobject}/{field}/{value}"): "sobject_delete",
    ("GET", "query"): "query", ("GET", "query/{locator}"): "query_more",
    ("GET", "queryAll"): "query", ("GET", "queryAll/{locator}"): "query_more",
    ("POST", "composite"): "composite", ("POST", "composite/sobjects"): "collections_create",
    ("PATCH", "composite/sobjects"): "collections_update", ("DELETE", "composite/sobjects"): "collections_delete",
    ("GET", "composite/sobjects/{sobject}"): "collections_retrieve",
    ("POST", "composite/sobjects/{sobject}"): "collections_retrieve",
    ("PATCH", "composite/sobjects/{sobject}/{field}"): "collections_upsert",
    ("GET", "jobs/query"): "bulk_query_status", ("POST", "jobs/query"): "bulk_query_create",
    ("GET", "jobs/query/{job}"): "bulk_query_status", ("PATCH", "jobs/query/{job}"): "bulk_query_status",
    ("DELETE", "jobs/query/{job}"): "bulk_query_status", ("GET", "jobs/query/{job}/results"): "bulk_query_results",
    ("GET", "ui-api/object-info/{sobject}/picklist-values/{record_type}"): "ui_api",
    ("GET", "jobs/ingest"): "bulk_status", ("POST", "jobs/ingest"): "bulk_create_job",
    ("GET", "jobs/ingest/{job}"): "bulk_status", ("PATCH", "jobs/ingest/{job}"): "bulk_close",
    ("DELETE", "jobs/ingest/{job}"): "bulk_status", ("PUT", "jobs/ingest/{job}/batches"): "bulk_upload",
    ("GET", "jobs/ingest/{job}/successfulResults"): "bulk_results",
    ("GET", "jobs/ingest/{job}/failedResults"): "bulk_results",
    ("GET", "jobs/ingest/{job}/unprocessedrecords"): "bulk_results",
}


def test_the_table_declares_exactly_the_expected_kinds() -> None:
    declared = {(m, r.path): r.kind for r in API_ROUTES.routes for m in r.methods}
    assert declared == EXPECTED_KINDS


def test_every_route_answers_through_its_handler_under_its_kind(sf_emulator) -> None:
    s = sf_emulator.session()
    api = sf_emulator.api_url
    for (method, path), kind in EXPECTED_KINDS.items():
        sf_emulator.reset_stats()
        body = b"{}" if method in ("POST", "PATCH", "PUT") else None
        r = s.request(method, _url(api, path), data=body, timeout=30,
                      headers={"Content-Type": "text/csv" if method == "PUT" else "application/json"})
        assert r.status_code not in (405, 500), (method, path, r.status_code, r.text[:300])
        assert sf_emulator.stats()["by_kind"] == {kind: 1}, (method, path)


def test_refused_methods_and_unknown_paths_are_counted_as_other(sf_emulator) -> None:
    s = sf_emulator.session()
    api = sf_emulator.api_url
    sf_emulator.reset_stats()
    r = s.put(f"{api}/sobjects/Lead/00Q000000000001AAA", json={}, timeout=30)
    assert r.status_code == 405 and r.headers["Allow"] == "GET, PATCH, DELETE, HEAD"
    r = s.post(f"{api}/sobjects/Lead/describe", json={}, timeout=30)
    assert r.status_code == 405 and r.headers["Allow"] == "GET"
    r = s.get(f"{api}/jobs/ingest/750000000000001AAA/batches", timeout=30)
    assert r.status_code == 405 and r.headers["Allow"] == "PUT"
    r = s.get(f"{api}/sobjects/Lead/Email/x/extra", timeout=30)
    assert r.status_code == 404 and r.json()[0]["errorCode"] == "NOT_FOUND"
    assert sf_emulator.stats()["by_kind"] == {"other": 4}
    # Literal segments match whatever their case; the id route still reads a record named "id".
    assert s.get(f"{api}/SObjects/Lead/DESCRIBE", timeout=30).json()["name"] == "Lead"
    assert s.get(f"{api}/sobjects/Lead/id", timeout=30).status_code == 404


def test_a_composite_inside_a_composite_is_refused_before_its_method(sf_emulator) -> None:
    s = sf_emulator.session()
    sub = {"method": "GET", "url": "/services/data/v60.0/composite", "referenceId": "inner"}
    r = s.post(f"{sf_emulator.api_url}/composite", json={"compositeRequest": [sub]}, timeout=30)
    inner = r.json()["compositeResponse"][0]
    assert inner["httpStatusCode"] == 400 and inner["body"][0]["errorCode"] == "INVALID_INPUT"


def test_control_plane_routes_answer_and_are_never_counted(sf_emulator) -> None:
    base = f"{sf_emulator.base_url}/__emulator__"
    sf_emulator.reset_stats()
    for path in ("limits", "clock", "faults", "settings", "stats", "records/Lead", "tokens"):
        assert requests.get(f"{base}/{path}", timeout=30).status_code == 200, path
    r = requests.put(f"{base}/reset", timeout=30)
    assert r.status_code == 404 and r.json() == {"error": "unknown control-plane call"}
    assert sf_emulator.stats()["api_requests"] == 0
