"""Case folding and sort keys: the Unicode-aware case-insensitive comparison SOQL applies to text, and
the SQLite functions (``sf_fold``, ``sf_sortkey``) through which compiled SQL uses them."""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from typing import Any

__all__ = ["case_variants", "fold", "register_sqlite_functions", "sort_key"]



class _FoldTable(dict):  # type: ignore[type-arg]
    """Per-character lower-casing for ``str.translate``, computed lazily.

    A character folds to its single-character lower case. Characters whose lower case is not one
    character (U+0130) or is ASCII while they are not (KELVIN SIGN) stay as they are, so folding keeps
    lengths (``_`` in LIKE counts characters) and keeps non-ASCII text non-ASCII (which makes
    SQLite's ASCII-only ``NOCASE`` exactly equivalent for ASCII values).
    """

    def __missing__(self, cp: int) -> int:
        ch = chr(cp)
        low = ch.lower()
        out = ord(low) if len(low) == 1 and (ch.isascii() or not low.isascii()) else cp
        self[cp] = out
        return out


_FOLD = _FoldTable()


def fold(value: str) -> str:
    """The case-insensitive comparison key of a string (what ``sf_fold`` computes in SQL)."""
    if value.isascii():
        return value.lower()
    return value.translate(_FOLD)


_CASE_CLASSES: dict[str, tuple[str, ...]] | None = None
_MAX_CASE_VARIANTS = 32


def _case_classes() -> dict[str, tuple[str, ...]]:
    """Folded non-ASCII character -> every character folding to it (built once, a few ms).

    Only code points below U+20000 have case mappings (the last cased script, Adlam, ends at
    U+1E95F), so the scan stops there."""
    global _CASE_CLASSES
    if _CASE_CLASSES is None:
        classes: dict[str, list[str]] = {}
        for cp in range(0x80, 0x20000):
            ch = chr(cp)
            low = ch.lower()
            if low != ch and len(low) == 1 and not low.isascii():  # the _FoldTable rule
                classes.setdefault(low, [low]).append(ch)
        _CASE_CLASSES = {k: tuple(v) for k, v in classes.items()}
    return _CASE_CLASSES


_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]")


@functools.lru_cache(maxsize=262_144)  # clients look the same values up again and again
def case_variants(value: str) -> tuple[str, ...] | None:
    """Spellings of a non-ASCII ``value`` that, compared with SQLite's ASCII-only ``NOCASE``, match
    exactly the strings whose :func:`fold` equals ``fold(value)`` (ASCII letters are left to NOCASE,
    each non-ASCII letter is expanded to its case class). None when there would be too many."""
    classes = _case_classes()
    # The value as alternating pieces: ASCII text (kept) and one non-ASCII character (its case
    # class); the variants are their product, joined once each (a value is mostly ASCII).
    pieces: list[tuple[str, ...]] = []
    count = 1
    last = 0
    for m in _NON_ASCII_RUN.finditer(value):
        if m.start() > last:
            pieces.append((value[last:m.start()],))
        alts = classes.get(fold(m.group()), (m.group(),))
        count *= len(alts)
        if count > _MAX_CASE_VARIANTS:
            return None
        pieces.append(alts)
        last = m.end()
    if last < len(value):
        pieces.append((value[last:],))
    return tuple("".join(p) for p in itertools.product(*pieces))


def sort_key(value: str) -> str:
    """ORDER BY key for text: case-insensitive, accents secondary (``Änne`` sorts among the ``A``s).

    An approximation of Salesforce's locale collation: letters compare without diacritics first,
    then the folded text breaks ties so the order stays total and deterministic.
    """
    if value.isascii():
        return value.lower()
    base = "".join(ch for ch in unicodedata.normalize("NFKD", value) if not unicodedata.combining(ch))
    return fold(base) + "\x00" + fold(value)


def _sql_fold(value: Any) -> Any:
    return fold(value) if isinstance(value, str) else value


def _sql_sort_key(value: Any) -> Any:
    return sort_key(value) if isinstance(value, str) else value


def register_sqlite_functions(conn: Any) -> None:
    """Install ``sf_fold``/``sf_sortkey`` on a sqlite3 connection; call once per connection running SOQL."""
    conn.create_function("sf_fold", 1, _sql_fold, deterministic=True)
    conn.create_function("sf_sortkey", 1, _sql_sort_key, deterministic=True)

