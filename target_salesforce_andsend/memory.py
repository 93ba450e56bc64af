"""Process-wide memory settings of the target.

glibc gives every thread that allocates its own malloc arena (up to 8 per core), and freed
blocks stay in the arena of the thread that allocated them. The target decodes Salesforce
responses on its reader/writer pools and batches on its lanes, so the same few MB end up spread
over a dozen arenas: at N = 100,000 (benchmarks/pipeline_benchmark.py) peak RSS was 288 MiB with
the default and 243 MiB with two arenas, at the same speed. ``MALLOC_ARENA_MAX`` set in the
environment wins (it is read by glibc itself at start-up).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

_M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)
ARENAS = 2

log = logging.getLogger(__name__)


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
