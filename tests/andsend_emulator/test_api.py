"""The /v1 API of the Andsend emulator over real HTTP: pages, filters, auth, errors, headers."""

from __future__ import annotations

import base64

import requests

from emulators.andsend.generator import parse_ts

LISTS = (
    "/v1/users",
    "/v1/campaigns",
    "/v1/prospects",
    "/v1/searches",
    "/v1/search-results",
    "/v1/touchpoints",
)


def read_all(emu, path: str, **params) -> list[dict]:
    records, cursor = [], None
    while True:
        page = emu.get(path, **params, **({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        body = page.json()
        records.extend(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            return records


def test_every_list_pages_in_updated_at_id_order_without_repeats(andsend_emulator):
    for path in LISTS:
        records = read_all(andsend_emulator, path, limit=37)
        keys = [(r["updated_at"], r["id"]) for r in records]
        assert keys == sorted(keys), path
        assert len({r["id"] for r in records}) == len(records), path
        assert records, path
    config = andsend_emulator._control("GET", "config")
    assert (
        len(read_all(andsend_emulator, "/v1/prospects", limit=1000)) == config["counts"]["prospects"] == 500
    )


def test_default_and_maximum_page_sizes(andsend_emulator):
    assert len(andsend_emulator.get("/v1/prospects").json()["data"]) == 100
    assert len(andsend_emulator.get("/v1/prospects", limit=1000).json()["data"]) == 500
    for bad in ("0", "1001", "-3", "ten", "1.5"):
        response = andsend_emulator.get("/v1/prospects", limit=bad)
        assert response.status_code == 400, bad
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == 400 and problem["invalid_params"][0]["name"] == "limit"


def test_updated_since_is_inclusive_and_accepts_offsets(andsend_emulator):
    everything = read_all(andsend_emulator, "/v1/touchpoints", limit=1000)
    pivot = sorted(everything, key=lambda r: (r["updated_at"], r["id"]))[len(everything) // 2]
    since = pivot["updated_at"]
    newer = read_all(andsend_emulator, "/v1/touchpoints", limit=200, updated_since=since)
    expected = {r["id"] for r in everything if r["updated_at"] >= since}
    assert {r["id"] for r in newer} == expected
    assert pivot["id"] in expected
    # The same instant written with a +02:00 offset selects the same records.
    ms = parse_ts(since)
    from datetime import datetime, timedelta, timezone

    local = datetime.fromtimestamp(ms / 1000, timezone(timedelta(hours=2))).isoformat(timespec="milliseconds")
    assert {
        r["id"] for r in read_all(andsend_emulator, "/v1/touchpoints", limit=500, updated_since=local)
    } == expected
    # One microsecond later excludes records stamped exactly at the pivot millisecond.
    later = since.replace("Z", "") + "001Z"
    assert all(
        r["updated_at"] > since for r in read_all(andsend_emulator, "/v1/touchpoints", updated_since=later)
    )
    bad = andsend_emulator.get("/v1/touchpoints", updated_since="yesterday")
    assert bad.status_code == 400 and bad.json()["invalid_params"][0]["name"] == "updated_since"


def test_purchased_filter_and_contact_data_hidden_until_purchase(andsend_emulator):
    bought = read_all(andsend_emulator, "/v1/prospects", limit=1000, purchased="true")
    rest = read_all(andsend_emulator, "/v1/prospects", limit=1000, purchased="false")
    assert bought and rest and len(bought) + len(rest) == 500
    assert all(p["purchased"] and p["status"] == "purchased" and p["purchased_at"] for p in bought)
    assert all(not p["purchased"] and p["email"] is None and p["phone"] is None for p in rest)
    assert sum(p["email"] is not None for p in bought) > 0.8 * len(bought)
    assert andsend_emulator.get("/v1/prospects", purchased="yes").status_code == 400


def test_get_one_prospect_and_404_problem(andsend_emulator):
    first = andsend_emulator.get("/v1/prospects", limit=1).json()["data"][0]
    one = andsend_emulator.get(f"/v1/prospects/{first['id']}")
    assert one.status_code == 200 and one.json() == first
    missing = andsend_emulator.get("/v1/prospects/prs_nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["type"].endswith("/not-found")


def test_auth_errors_are_problem_json(andsend_emulator):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic andsend-demo-key"}):
        response = requests.get(f"{andsend_emulator.base_url}/v1/users", headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
        body = response.json()
        assert body["status"] == 401 and body["title"] and body["type"].startswith("https://")
        assert "andsend-demo-key" not in response.text


def test_cursor_is_opaque_base64url_of_last_position_and_garbage_is_400(andsend_emulator):
    page = andsend_emulator.get("/v1/users", limit=3).json()
    cursor = page["next_cursor"]
    decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    assert page["data"][-1]["id"] in decoded and page["data"][-1]["updated_at"] in decoded
    for bad in ("!!!", "bm90IGpzb24", base64.urlsafe_b64encode(b'{"a": 1}').decode()):
        response = andsend_emulator.get("/v1/users", cursor=bad)
        assert response.status_code == 400, bad
        assert response.json()["invalid_params"][0]["name"] == "cursor"


def test_search_results_are_flat_with_search_name_and_filter(andsend_emulator):
    searches = read_all(andsend_emulator, "/v1/searches")
    results = read_all(andsend_emulator, "/v1/search-results", limit=1000)
    names = {s["id"]: s["name"] for s in searches}
    assert all(r["search_name"] == names[r["search_id"]] for r in results)
    one = searches[0]["id"]
    only = read_all(andsend_emulator, "/v1/search-results", search_id=one)
    assert only and {r["id"] for r in only} == {r["id"] for r in results if r["search_id"] == one}


def test_unknown_path_is_problem_json(andsend_emulator):
    response = andsend_emulator.get("/v1/nothing-here")
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"


def test_stats_count_v1_calls_by_path_and_not_control_calls(andsend_emulator):
    andsend_emulator.reset_stats()
    andsend_emulator.get("/v1/users")
    andsend_emulator.get("/v1/users", api_key="bad")
    andsend_emulator.get("/v1/prospects/prs_x")
    andsend_emulator.activity(new_touchpoints=1)
    stats = andsend_emulator.stats()
    assert stats["api_requests"] == 3
    assert stats["by_path"] == {"/v1/users": 2, "/v1/prospects/{id}": 1}
    andsend_emulator.reset_stats()
    assert andsend_emulator.stats()["api_requests"] == 0


def test_create_app_in_memory_with_sizes():
    from emulators.andsend.server import create_app
    from emulators.serving import serve_in_thread

    app = create_app(
        ":memory:", seed=3, prospects=40, users=5, searches=2, results_per_search=10, api_key="k"
    )
    server = serve_in_thread(app)
    try:
        auth = {"Authorization": "Bearer k"}
        users = requests.get(f"{server.base_url}/v1/users", headers=auth, timeout=10).json()["data"]
        prospects = requests.get(
            f"{server.base_url}/v1/prospects", params={"limit": 1000}, headers=auth, timeout=10
        ).json()["data"]
        assert len(users) == 5 and len(prospects) == 40
    finally:
        server.stop()


def test_api_serves_the_generated_records_exactly(andsend_emulator):
    from emulators.andsend.generator import GeneratorConfig, generate

    config = GeneratorConfig.from_dict(andsend_emulator._control("GET", "config")["config"])
    data = generate(config)
    expected = {
        "/v1/users": data.users,
        "/v1/campaigns": data.campaigns,
        "/v1/searches": data.searches,
        "/v1/search-results": data.search_results,
        "/v1/touchpoints": data.touchpoints,
        "/v1/prospects": [
            p if p["purchased"] else {**p, "email": None, "phone": None} for p in data.prospects
        ],
    }
    for path, records in expected.items():
        served = read_all(andsend_emulator, path, limit=1000)
        assert sorted(served, key=lambda r: r["id"]) == sorted(records, key=lambda r: r["id"]), path
        assert [list(r) for r in served[:3]] == [list(records[0])] * 3  # field order as in the schema
