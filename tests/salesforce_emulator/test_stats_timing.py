"""Stats' request timing: busy_seconds (sum of request durations) and span_seconds (first request
start to last response), from which benchmarks compute a client's effective concurrency."""

from __future__ import annotations

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
    sf_emulator.reset_stats()
    assert sf_emulator.stats()["busy_seconds"] == 0
