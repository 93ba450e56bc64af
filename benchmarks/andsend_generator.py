"""Print how long the Andsend emulator takes to generate and load N prospects (default 100,000).

.venv/bin/python benchmarks/andsend_generator.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from emulators.andsend.generator import GeneratorConfig, generate
from emulators.andsend.store import Store


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    start = time.perf_counter()
    data = generate(GeneratorConfig(seed=1, prospects=n))
    generated = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(str(Path(tmp) / "andsend.sqlite"))
        store.load(data)
        loaded = time.perf_counter()
        page_start = time.perf_counter()
        _, more = store.page("prospects", limit=1000, filters={"purchased": True})
        page_ms = (time.perf_counter() - page_start) * 1000
        store.close()
    print(f"prospects:            {n:,}")
    print(f"touchpoints:          {len(data.touchpoints):,}")
    print(f"search results:       {len(data.search_results):,}")
    print(f"generate:             {generated - start:.1f} s")
    print(f"load (SQLite):        {loaded - generated:.1f} s")
    print(f"total:                {loaded - start:.1f} s")
    print(f"first 1000-row page:  {page_ms:.1f} ms (more pages: {more})")


if __name__ == "__main__":
    main()
