"""Badge write-back: PUT upserts by result_id, GET pages and filters, invalid calls are atomic 400s."""

from __future__ import annotations

import requests

from tests.andsend_emulator.test_api import read_all


def _put(emu, body, *, api_key=None):
    return requests.put(
        f"{emu.base_url}/v1/search-results/badges",
        json=body,
        headers={"Authorization": f"Bearer {api_key or emu.api_key}"},
        timeout=30,
    )


def _badge(result, *, exists=False, **extra):
    badge = {
        "result_id": result["id"],
        "search_id": result["search_id"],
        "exists": exists,
        "crm": "salesforce",
    }
    badge.update(extra)
    return badge


def test_put_then_get_round_trip_and_upsert(andsend_emulator):
    results = read_all(andsend_emulator, "/v1/search-results", limit=1000)
    assert len(results) > 60
    badges = [_badge(r) for r in results[:50]]
    black = _badge(
        results[0],
        exists=True,
        object_type="Lead",
        record_id="00Q000000000001AAA",
        record_url="https://example.my.salesforce.com/00Q000000000001AAA",
        prospect_key="email:a@b.c",
        checked_at="2026-01-02T03:04:05.000Z",
    )
    response = _put(andsend_emulator, {"badges": badges})
    assert response.status_code == 200 and response.json() == {"updated": 50}
    assert _put(andsend_emulator, {"badges": [black]}).json() == {"updated": 1}

    stored = {b["result_id"]: b for b in andsend_emulator.badges()}
    assert len(stored) == 50
    assert stored[results[0]["id"]] == {
        **dict.fromkeys(("prospect_key", "object_type", "record_id", "record_url", "checked_at")),
        **black,
    }
    assert stored[results[1]["id"]]["exists"] is False

    # GET pages in result_id order and filters by search and by repeated result_id.
    paged = read_all(andsend_emulator, "/v1/search-results/badges", limit=7)
    assert [b["result_id"] for b in paged] == sorted(stored)
    assert paged == [stored[k] for k in sorted(stored)]
    search_id = results[0]["search_id"]
    by_search = read_all(andsend_emulator, "/v1/search-results/badges", search_id=search_id)
    assert {b["result_id"] for b in by_search} == {
        k for k, b in stored.items() if b["search_id"] == search_id
    }
    picked = [results[0]["id"], results[3]["id"], "res_unknown"]
    some = andsend_emulator.get("/v1/search-results/badges", result_id=picked).json()
    assert {b["result_id"] for b in some["data"]} == set(picked[:2]) and some["next_cursor"] is None


def test_invalid_badges_are_rejected_atomically(andsend_emulator):
    results = read_all(andsend_emulator, "/v1/search-results", limit=1000)
    other_search = next(r["search_id"] for r in results if r["search_id"] != results[0]["search_id"])
    cases = [
        {"badges": [_badge(results[0]), {**_badge(results[1]), "crm": "hubspot"}]},
        {"badges": [_badge(results[0]), {**_badge(results[1]), "result_id": "res_nope"}]},
        {"badges": [_badge(results[0]), {**_badge(results[1]), "search_id": other_search}]},
        {"badges": [_badge(results[0]), {**_badge(results[1]), "surprise": 1}]},
        {"badges": [_badge(results[0]), {"result_id": results[1]["id"]}]},
        {"badges": [_badge(results[0])] * 1001},
        {"nope": []},
        [],
    ]
    for body in cases:
        response = _put(andsend_emulator, body)
        assert response.status_code == 400, body
        assert response.headers["content-type"] == "application/problem+json"
    not_json = requests.put(
        f"{andsend_emulator.base_url}/v1/search-results/badges",
        data=b"{",
        headers={"Authorization": f"Bearer {andsend_emulator.api_key}"},
        timeout=10,
    )
    assert not_json.status_code == 400
    problem = _put(andsend_emulator, cases[1]).json()
    assert problem["invalid_params"] == [{"name": "badges/1/result_id", "reason": "no such search result"}]
    assert andsend_emulator.badges() == []  # nothing from any rejected call was written


def test_a_full_batch_of_1000_is_accepted(andsend_emulator):
    results = read_all(andsend_emulator, "/v1/search-results", limit=1000)
    extra = andsend_emulator.activity(new_search_results=1000 - len(results))["new_search_results"]
    results = read_all(andsend_emulator, "/v1/search-results", limit=1000)
    assert len(results) == 1000 and set(extra) <= {r["id"] for r in results}
    assert _put(andsend_emulator, {"badges": [_badge(r) for r in results]}).json() == {"updated": 1000}
    assert len(andsend_emulator.badges()) == 1000


def test_badges_need_the_api_key(andsend_emulator):
    results = read_all(andsend_emulator, "/v1/search-results", limit=5)
    assert _put(andsend_emulator, {"badges": [_badge(results[0])]}, api_key="wrong").status_code == 401
    assert andsend_emulator.badges() == []
