"""Many clients at once while data changes: every reader sees every record, nobody gets an error."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests


def test_concurrent_readers_during_activity_miss_nothing(andsend_emulator):
    auth = {"Authorization": f"Bearer {andsend_emulator.api_key}"}
    stop = threading.Event()
    touched: list[str] = []

    def writer() -> None:
        while not stop.is_set():
            ids = andsend_emulator.activity(edited_prospects=3, new_purchases=1)
            touched.extend(ids["edited_prospects"] + ids["new_purchases"])

    def reader(_: int) -> dict[str, str]:
        session = requests.Session()
        last: dict[str, str] = {}
        cursor = None
        while True:
            params = {"limit": 25, **({"cursor": cursor} if cursor else {})}
            response = session.get(
                f"{andsend_emulator.base_url}/v1/prospects", params=params, headers=auth, timeout=30
            )
            assert response.status_code == 200, response.text
            body = response.json()
            last.update({r["id"]: r["updated_at"] for r in body["data"]})
            cursor = body["next_cursor"]
            if cursor is None:
                return last

    background = threading.Thread(target=writer)
    background.start()
    try:
        with ThreadPoolExecutor(max_workers=12) as pool:
            passes = list(pool.map(reader, range(12)))
    finally:
        stop.set()
        background.join()
    assert len(touched) > 0
    for seen in passes:
        assert len(seen) == 500  # every prospect, in every concurrent pass
    stats = andsend_emulator.stats()
    assert set(stats["by_status"]) == {"200"} and stats["api_requests"] >= 12 * 20
