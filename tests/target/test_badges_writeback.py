"""Badge write-back against the Andsend emulator: batching, retries on 429/5xx, key never logged."""

from __future__ import annotations

import logging

import pytest
import requests

from target_salesforce_andsend.andsend_writeback import AndsendBadgeWriter, WriteBackError
from tests.target._activities_support import andsend_results, grey_badge, start_andsend


@pytest.fixture(scope="module")
def andsend_api(tmp_path_factory):
    server, api = start_andsend(tmp_path_factory.mktemp("andsend"), prospects=400, searches=6, results_per_search=300)
    yield api
    server.stop()


def stored(api) -> dict[str, dict]:
    rows = requests.get(api.base_url + "/__emulator__/badges", timeout=10).json()
    rows = rows.get("data", rows) if isinstance(rows, dict) else rows
    return {b["result_id"]: b for b in rows}


def test_batches_of_at_most_1000_land_in_emulator(andsend_api):
    results = andsend_results(andsend_api, 1500)
    assert len(results) >= 1001
    writer = AndsendBadgeWriter(andsend_api.base_url, andsend_api.key, batch_size=1000)
    updated = writer.put([grey_badge(r) for r in results])
    assert updated == len(results)
    assert writer.calls == 2
    got = stored(andsend_api)
    assert {r["id"] for r in results} <= got.keys()
    assert all(got[r["id"]]["exists"] is False for r in results)


def test_retries_429_and_5xx_then_succeeds(andsend_api, caplog):
    results = andsend_results(andsend_api, 30)
    requests.post(andsend_api.base_url + "/__emulator__/faults",
                  json={"rate_429": 0.4, "rate_5xx": 0.3, "retry_after_seconds": 0, "random_seed": 3}, timeout=10)
    sleeps: list[float] = []
    writer = AndsendBadgeWriter(andsend_api.base_url, andsend_api.key, batch_size=5, max_retries=20,
                                backoff_base=0.0, sleep=sleeps.append)
    with caplog.at_level(logging.DEBUG):
        writer.put([grey_badge(r) for r in results])
    requests.delete(andsend_api.base_url + "/__emulator__/faults", timeout=10)
    assert writer.retries > 0 and len(sleeps) == writer.retries
    assert {r["id"] for r in results} <= stored(andsend_api).keys()
    assert andsend_api.key not in caplog.text


def test_bad_key_fails_without_leaking_it(andsend_api, caplog):
    results = andsend_results(andsend_api, 2)
    secret = "sekret-key-do-not-log"
    writer = AndsendBadgeWriter(andsend_api.base_url, secret, max_retries=1, sleep=lambda s: None)
    with caplog.at_level(logging.DEBUG), pytest.raises(WriteBackError) as err:
        writer.put([grey_badge(r) for r in results])
    assert "401" in str(err.value)
    assert secret not in str(err.value) and secret not in caplog.text


def test_retry_after_header_honoured(andsend_api):
    results = andsend_results(andsend_api, 1)
    requests.post(andsend_api.base_url + "/__emulator__/faults",
                  json={"rate_429": 1.0, "retry_after_seconds": 7}, timeout=10)
    sleeps: list[float] = []
    writer = AndsendBadgeWriter(andsend_api.base_url, andsend_api.key, max_retries=2, sleep=sleeps.append)
    with pytest.raises(WriteBackError):
        writer.put([grey_badge(results[0])])
    requests.delete(andsend_api.base_url + "/__emulator__/faults", timeout=10)
    assert sleeps == [7.0, 7.0]
