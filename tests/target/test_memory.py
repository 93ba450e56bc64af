"""memory.limit_malloc_arenas: applied on glibc unless the environment already decides."""

from __future__ import annotations

import os
import sys

import pytest

from target_salesforce_andsend.memory import limit_malloc_arenas, release_free_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc arenas are Linux only")
def test_arenas_are_capped_on_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas() is True


def test_an_explicit_malloc_arena_max_is_left_to_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc_trim is Linux only")
def test_freed_blocks_pages_go_back_to_the_os() -> None:
    # 2 KB blocks (malloc, not Python's small-object arenas), all freed but the last: glibc keeps
    # the pages below it until trimmed.
    blocks = [bytes(2048) + i.to_bytes(4, "little") for i in range(60_000)]
    last = blocks[-1]
    del blocks
    before = _rss_mib()
    assert release_free_memory() is True
    assert before - _rss_mib() > 60, (before, _rss_mib())
    assert len(last) == 2052
