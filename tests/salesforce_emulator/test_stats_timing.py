"""Stats' request timing: busy_seconds (sum of request durations), active_seconds (time with at
least one request in flight) and span_seconds (first request start to last response), from which
benchmarks compute a client's effective concurrency."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor


def test_busy_and_span_seconds_show_concurrency(sf_emulator):
    api = sf_emulator.api_url
    sessions = [sf_emulator.session() for _ in range(4)]
    sf_emulator.reset_stats()
    assert sf_emulator.stats()["busy_seconds"] == 0 and sf_emulator.stats()["span_seconds"] == 0
    sf_emulator.faults(latency_ms=200)
    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda s: s.get(f"{api}/limits", timeout=10).status_code, sessions))
    assert codes == [200] * 4
    st = sf_emulator.stats()
    assert st["busy_seconds"] >= 4 * 0.2  # every request slept its latency
    assert 0.2 <= st["span_seconds"] < st["busy_seconds"] / 2  # they overlapped
    assert 0.2 <= st["active_seconds"] <= st["span_seconds"]
    sf_emulator.reset_stats()
    assert sf_emulator.stats()["busy_seconds"] == 0


def test_active_seconds_leave_out_the_gaps_between_requests(sf_emulator):
    """Two requests one second apart: the span covers the gap, active time does not."""
    api = sf_emulator.api_url
    session = sf_emulator.session()
    sf_emulator.reset_stats()
    sf_emulator.faults(latency_ms=100)
    assert session.get(f"{api}/limits", timeout=10).status_code == 200
    time.sleep(1.0)
    assert session.get(f"{api}/limits", timeout=10).status_code == 200
    st = sf_emulator.stats()
    assert st["span_seconds"] >= 1.2
    assert 0.2 <= st["active_seconds"] < 0.6
    assert abs(st["active_seconds"] - st["busy_seconds"]) < 0.01  # one at a time: busy == active
