"""LookupMemory under concurrent batches: a full memory evicting on other threads never makes a
lookup fail between asking and reading (one lock hold per answer)."""

from __future__ import annotations

import threading

from target_salesforce_andsend.matching import LookupMemory


def test_a_full_memory_answers_in_one_step_while_other_threads_evict() -> None:
    memory = LookupMemory(max_values=8, max_people=8)
    stop = threading.Event()

    def churn() -> None:  # other batches remembering new companies: the oldest keep going out
        i = 0
        while not stop.is_set():
            memory.put("Account", "company", f"c{i % 64}", [{"Id": str(i % 64)}])
            i += 1

    threads = [threading.Thread(target=churn) for _ in range(2)]
    for t in threads:
        t.start()
    answers = {"hit": 0, "miss": 0}
    try:
        for n in range(20_000):
            key = f"c{n % 64}"
            found = memory.get("Account", "company", key)  # never raises, whatever is evicted meanwhile
            if found is None:
                answers["miss"] += 1
            else:
                assert found == [{"Id": key[1:]}]
                answers["hit"] += 1
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert len(memory) <= 8
    assert answers["hit"] + answers["miss"] == 20_000
