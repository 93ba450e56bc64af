"""SOQL literals and statements. ``quote`` is THE escaping function: every literal goes through it.

Limits (Salesforce): a statement is at most 100,000 characters and each string literal at most
4,000. ``chunked_in_queries`` splits long ``IN`` lists to fit both.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

MAX_STATEMENT_CHARS = 100_000
MAX_LITERAL_CHARS = 4_000
# Margin under the hard limit for callers that append to a statement and for any
# server-side rewriting; still big enough that an IN list of emails holds ~3,000 values.
DEFAULT_STATEMENT_BUDGET = MAX_STATEMENT_CHARS - 2_000

# Backslash first, so escapes added for other characters are not escaped again.
_ESCAPES = (
    ("\\", "\\\\"),
    ("'", "\\'"),
    ("\n", "\\n"),
    ("\r", "\\r"),
    ("\t", "\\t"),
    ("\b", "\\b"),
    ("\f", "\\f"),
)


def _escape(text: str) -> str:
    for raw, escaped in _ESCAPES:
        if raw in text:
            text = text.replace(raw, escaped)
    return text


def quote(value: str | int | float | bool | None | date | datetime | Decimal) -> str:
    """A SOQL literal for ``value``: quoted and escaped strings, bare numbers, true/false/null,
    ``YYYY-MM-DD`` dates and ``YYYY-MM-DDThh:mm:ssZ`` datetimes (UTC)."""
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + _escape(value) + "'"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"SOQL has no literal for {value!r}")
        return _plain_decimal(Decimal(repr(value)))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"SOQL has no literal for {value!r}")
        return _plain_decimal(value)
    if isinstance(value, datetime):  # before date: datetime is a date
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    raise TypeError(f"cannot make a SOQL literal from {type(value).__name__}")


def _plain_decimal(d: Decimal) -> str:
    # SOQL numbers have no exponent form.
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def like_pattern(value: str, *, prefix: bool = False, contains: bool = False, suffix: bool = False) -> str:
    """A quoted LIKE pattern matching ``value`` literally (``%``/``_`` escaped), optionally as a
    prefix (``value%``), substring (``%value%``) or suffix (``%value``)."""
    body = _escape(value).replace("%", "\\%").replace("_", "\\_")
    if contains:
        body = f"%{body}%"
    elif prefix:
        body = f"{body}%"
    elif suffix:
        body = f"%{body}"
    return "'" + body + "'"


def literal_fits(value: Any) -> bool:
    """Whether ``value`` can appear as a literal (strings: at most 4,000 characters escaped)."""
    if isinstance(value, str):
        return len(quote(value)) - 2 <= MAX_LITERAL_CHARS
    return value is not None


def chunked_in_queries(
    select_prefix: str,
    field: str,
    values: Iterable[Any],
    *,
    suffix: str = "",
    max_statement_chars: int = DEFAULT_STATEMENT_BUDGET,
    max_values: int | None = None,
) -> Iterator[str]:
    """``select_prefix + f" {field} IN (...)" + suffix`` statements covering every distinct value.

    ``select_prefix`` ends with ``WHERE`` (or ``... AND``); ``suffix`` may add conditions,
    ``ORDER BY``... Values are de-duplicated (order kept); ``None`` and strings longer than a
    literal allows (they cannot equal a field value) are skipped. Each statement stays within
    ``max_statement_chars`` and, if given, ``max_values`` values.
    """
    head = f"{select_prefix.rstrip()} {field} IN ("
    tail = ")" + (suffix if not suffix or suffix.startswith(" ") else " " + suffix)
    fixed = len(head) + len(tail)
    if fixed + 2 >= max_statement_chars:
        raise ValueError("select_prefix and suffix alone exceed the statement budget")
    seen: set[Any] = set()
    batch: list[str] = []
    size = fixed
    for value in values:
        if value is None or value in seen or not literal_fits(value):
            continue
        seen.add(value)
        lit = quote(value)
        extra = len(lit) + (1 if batch else 0)
        if batch and (size + extra > max_statement_chars or (max_values and len(batch) >= max_values)):
            yield head + ",".join(batch) + tail
            batch, size = [], fixed
            extra = len(lit)
        batch.append(lit)
        size += extra
    if batch:
        yield head + ",".join(batch) + tail


def soql(template: str, *args: Any, **kwargs: Any) -> str:
    """Format a statement with every argument passed through :func:`quote`.

    ``soql("SELECT Id FROM Lead WHERE Email = {} AND IsConverted = {}", email, False)``.
    Field and object names are never arguments: they come from code or describe, not data.
    """
    return template.format(*(quote(a) for a in args), **{k: quote(v) for k, v in kwargs.items()})
