"""Salesforce record ids: 15-character case-sensitive form, 18-character checksummed form.

Ids are generated deterministically from a per-prefix counter (stored by the caller), so a
reset followed by the same seed yields the same ids and tests stay reproducible.
"""

from __future__ import annotations

import re
from functools import lru_cache

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECK = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_RE = re.compile(r"^[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?$")

KEY_PREFIXES = {
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Lead": "00Q",
    "Task": "00T",
    "Organization": "00D",
    "BulkJob": "750",
    "QueryLocator": "01g",
}
PREFIX_TO_OBJECT = {v: k for k, v in KEY_PREFIXES.items()}


@lru_cache(maxsize=65536)
def _chunk_check(chunk: str) -> str:
    bits = 0
    for i, ch in enumerate(chunk):
        if "A" <= ch <= "Z":
            bits |= 1 << i
    return _CHECK[bits]


def checksum(id15: str) -> str:
    """The three check characters: per 5-char chunk, bit i set when char i is upper-case."""
    return _chunk_check(id15[0:5]) + _chunk_check(id15[5:10]) + _chunk_check(id15[10:15])


def to18(value: str) -> str:
    """15- or 18-character id -> canonical 18-character form (ValueError when malformed)."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise ValueError(f"malformed id: {value!r}")
    id15 = value[:15]
    full = id15 + checksum(id15)
    if len(value) == 18 and value[15:].upper() != full[15:]:
        raise ValueError(f"bad id checksum: {value!r}")
    return full


@lru_cache(maxsize=65536)
def _normalize_str(value: str) -> str | None:
    try:
        return to18(value)
    except ValueError:
        return None


def normalize(value: object) -> str | None:
    """Canonical 18-char id, or None when the value is not a well-formed id."""
    return _normalize_str(value) if isinstance(value, str) else None


def encode62(n: int, width: int) -> str:
    chars = []
    while n:
        n, r = divmod(n, 62)
        chars.append(BASE62[r])
    s = "".join(reversed(chars)) or "0"
    if len(s) > width:
        raise OverflowError("id counter exhausted")
    return s.rjust(width, "0")


def make_id(prefix: str, counter: int, pod: str = "5g") -> str:
    """Deterministic 18-char id: prefix + 2-char pod + 10 base-62 counter digits + checksum."""
    id15 = prefix + pod + encode62(counter, 10)
    return id15 + checksum(id15)
