"""The /__emulator__ control plane: faults, rate limit, activity, clock, reset."""

from __future__ import annotations

import time

import requests

from tests.andsend_emulator.test_api import read_all


def _statuses(emu, n: int) -> list[int]:
    return [emu.get("/v1/users", limit=1).status_code for _ in range(n)]


def test_injected_429_carries_retry_after_and_rate_limit_headers(andsend_emulator):
    andsend_emulator.faults(rate_429=1.0, retry_after_seconds=7)
    response = andsend_emulator.get("/v1/prospects")
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["Retry-After"] == "7"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["X-RateLimit-Limit"]) > 0 and int(response.headers["X-RateLimit-Reset"]) >= 1
    assert response.json()["status"] == 429
    andsend_emulator.faults()  # clear
    assert andsend_emulator.get("/v1/prospects").status_code == 200


def test_fault_sequence_is_deterministic_for_a_seed(andsend_emulator):
    runs = []
    for _ in range(2):
        andsend_emulator.faults(rate_429=0.3, rate_5xx=0.3, random_seed=42)
        runs.append(_statuses(andsend_emulator, 40))
    andsend_emulator.faults(rate_429=0.3, rate_5xx=0.3, random_seed=43)
    other = _statuses(andsend_emulator, 40)
    andsend_emulator.faults()
    assert runs[0] == runs[1] != other
    assert {429, 200} <= set(runs[0]) and set(runs[0]) & {500, 503}
    assert set(runs[0]) <= {200, 429, 500, 503}
    stats = andsend_emulator.stats()
    assert stats["by_status"]["429"] >= 1 and stats["api_requests"] >= 120


def test_5xx_are_problem_json_and_auth_is_checked_first(andsend_emulator):
    andsend_emulator.faults(rate_5xx=1.0)
    response = andsend_emulator.get("/v1/users")
    assert response.status_code in (500, 503)
    assert response.headers["content-type"] == "application/problem+json"
    assert andsend_emulator.get("/v1/users", api_key="wrong").status_code == 401


def test_latency_fault_delays_api_calls_only(andsend_emulator):
    andsend_emulator.faults(latency_ms=300)
    start = time.monotonic()
    assert andsend_emulator.get("/v1/users").status_code == 200
    slow = time.monotonic() - start
    start = time.monotonic()
    andsend_emulator.stats()
    fast = time.monotonic() - start
    assert slow >= 0.3 and fast < 0.3


def test_rate_limit_window_answers_429_with_retry_after_the_window_reset(andsend_emulator):
    andsend_emulator.faults(rate_limit_per_minute=3)
    responses = [andsend_emulator.get("/v1/users") for _ in range(5)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses[:3]] == ["2", "1", "0"]
    assert all(r.headers["X-RateLimit-Limit"] == "3" for r in responses)
    limited = responses[3]
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["Retry-After"] == limited.headers["X-RateLimit-Reset"]


def test_faults_reject_unknown_or_bad_values(andsend_emulator):
    for body in ({"rate_429": -1}, {"nope": 1}, {"rate_429": 0.7, "rate_5xx": 0.7}, {"latency_ms": "x"}):
        response = requests.post(f"{andsend_emulator.base_url}/__emulator__/faults", json=body, timeout=10)
        assert response.status_code == 400, body


def test_activity_purchases_reveal_contact_data_and_touchpoints_follow_purchase(andsend_emulator):
    available = {
        p["id"]: p for p in read_all(andsend_emulator, "/v1/prospects", limit=1000, purchased="false")
    }
    ids = andsend_emulator.activity(
        new_purchases=5, new_touchpoints=8, new_search_results=4, edited_prospects=2
    )
    assert [
        len(ids[k]) for k in ("new_purchases", "new_touchpoints", "new_search_results", "edited_prospects")
    ] == [5, 8, 4, 2]
    users = {u["id"] for u in read_all(andsend_emulator, "/v1/users")}
    for pid in ids["new_purchases"]:
        assert available[pid]["status"] == "available"
        now = andsend_emulator.get(f"/v1/prospects/{pid}").json()
        assert now["purchased"] and now["status"] == "purchased" and now["purchased_by_user_id"] in users
        assert now["updated_at"] == now["purchased_at"] > available[pid]["updated_at"]
    purchased = {
        p["id"]: p for p in read_all(andsend_emulator, "/v1/prospects", limit=1000, purchased="true")
    }
    assert sum(1 for pid in ids["new_purchases"] if purchased[pid]["email"]) >= 3  # revealed on purchase
    touchpoints = {t["id"]: t for t in read_all(andsend_emulator, "/v1/touchpoints", limit=1000)}
    for tid in ids["new_touchpoints"]:
        tp = touchpoints[tid]
        assert tp["prospect_id"] in purchased
        assert purchased[tp["prospect_id"]]["purchased_at"] < tp["executed_at"] <= tp["created_at"]
        assert tp["channel"] == ("email" if tp["type"] == "email_sent" else "linkedin")
    results = {r["id"]: r for r in read_all(andsend_emulator, "/v1/search-results", limit=1000)}
    assert set(ids["new_search_results"]) <= set(results)
    before = {p["id"]: p for p in read_all(andsend_emulator, "/v1/prospects", limit=1000)}
    edited = andsend_emulator.activity(edited_prospects=20)["edited_prospects"]
    fields = ("title", "phone", "email", "campaign_ids")
    for pid in edited:
        now = andsend_emulator.get(f"/v1/prospects/{pid}").json()
        assert now["updated_at"] > before[pid]["updated_at"]
        assert any(now[f] != before[pid][f] for f in fields), pid
        changeable = (*fields, "updated_at")
        assert {k: v for k, v in now.items() if k not in changeable} == {
            k: v for k, v in before[pid].items() if k not in changeable
        }
    bad = requests.post(
        f"{andsend_emulator.base_url}/__emulator__/activity", json={"new_things": 1}, timeout=10
    )
    assert bad.status_code == 400


def test_clock_stamps_writes_and_reset_restores_generated_data(andsend_emulator):
    original = read_all(andsend_emulator, "/v1/prospects", limit=1000)
    andsend_emulator.clock("2027-03-04T05:06:07.250Z")
    ids = andsend_emulator.activity(new_purchases=2)
    bought = andsend_emulator.get(f"/v1/prospects/{ids['new_purchases'][0]}").json()
    assert bought["purchased_at"] == "2027-03-04T05:06:07.250Z"
    andsend_emulator.clock(None)
    results = read_all(andsend_emulator, "/v1/search-results", limit=5)
    requests.put(
        f"{andsend_emulator.base_url}/v1/search-results/badges",
        json={
            "badges": [
                {
                    "result_id": results[0]["id"],
                    "search_id": results[0]["search_id"],
                    "exists": True,
                    "crm": "salesforce",
                }
            ]
        },
        headers={"Authorization": f"Bearer {andsend_emulator.api_key}"},
        timeout=10,
    ).raise_for_status()
    andsend_emulator.faults(rate_429=1.0)
    andsend_emulator.reset()
    assert read_all(andsend_emulator, "/v1/prospects", limit=1000) == original
    assert andsend_emulator.badges() == []
    assert andsend_emulator.stats()["api_requests"] == 1  # faults were cleared too: the read above worked
    # Activity after a reset repeats the same choices (deterministic per seed and call number).
    assert andsend_emulator.activity(new_purchases=2) == ids
