"""Salesforce record ids: 15-character case-sensitive form, 18-character checksummed form.

Ids are generated deterministically from a per-prefix counter (stored by the caller), so a
reset followed by the same seed yields the same ids and tests stay reproducible.
"""

from __future__ import annotations

import re

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


def checksum(id15: str) -> str:
    """The three check characters: per 5-char chunk, bit i set when char i is upper-case."""
    out = []
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out.append(_CHECK[bits])
    return "".join(out)


def to18(value: str) -> str:
    """15- or 18-character id -> canonical 18-character form (ValueError when malformed)."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise ValueError(f"malformed id: {value!r}")
    id15 = value[:15]
    full = id15 + checksum(id15)
    if len(value) == 18 and value[15:].upper() != full[15:]:
        raise ValueError(f"bad id checksum: {value!r}")
    return full


def normalize(value: object) -> str | None:
    """Canonical 18-char id, or None when the value is not a well-formed id."""
    try:
        return to18(value)  # type: ignore[arg-type]
    except ValueError:
        return None


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
