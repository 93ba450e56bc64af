"""Process-wide memory settings of the target.

glibc gives every thread that allocates its own malloc arena (up to 8 per core), and freed
blocks stay in the arena of the thread that allocated them. The target decodes Salesforce
responses on its call pool and batches on its lanes, so the same memory ends up spread
over a dozen arenas; two arenas keep the peak lower at the same speed (README, "malloc arenas";
benchmarks/pipeline_benchmark.py). ``MALLOC_ARENA_MAX`` set in the environment wins (it is read
by glibc itself at start-up).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from typing import Any

_M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)
ARENAS = 2

log = logging.getLogger(__name__)


_libc: Any = None


def _glibc() -> Any:
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            try:
                # glibc's soname: find_library would run ldconfig in a subprocess.
                _libc = ctypes.CDLL("libc.so.6")
                _libc.malloc_trim.argtypes = [ctypes.c_size_t]
                _libc.malloc_trim.restype = ctypes.c_int
            except (OSError, AttributeError):  # not glibc
                _libc = False
    return _libc


def release_free_memory() -> bool:
    """Give the pages of freed blocks back to the OS (glibc ``malloc_trim``), as a batch ends.

    A batch's big strings (request and response bodies, a Bulk file, texts of its records) are
    allocated with malloc, and glibc keeps the pages of those freed inside its heaps: without
    this, the peak of one phase stays the resident size of every phase after it."""
    libc = _glibc()
    return bool(libc and libc.malloc_trim(0))


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas before the target starts its threads; True when applied."""
    if not sys.platform.startswith("linux") or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no arenas to cap)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = bool(mallopt(_M_ARENA_MAX, arenas))
    log.debug("malloc arenas capped at %d: %s", arenas, applied)
    return applied
