"""Literal decoding: quoted strings (escapes, LIKE patterns), numbers, dates and datetimes (to the
stored text form), relative date literals; and the splitting of a fast-lexed ``VALUE_LIST`` token."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

from lark import Token

from .ast_nodes import Lit
from .errors import PosError

MAX_STRING_LITERAL_CHARS = 4_000

_V_STRING = r"'[^'\\]*(?:\\.[^'\\]*)*'"  # as V_STRING in grammar.lark; unrolled: much faster in re

# Salesforce "Quoted String Escape Sequences"; the letter escapes may also be upper case.
_SIMPLE_ESCAPES = {
    "'": "'", '"': '"', "\\": "\\", "n": "\n", "N": "\n", "r": "\r", "R": "\r", "t": "\t", "T": "\t",
    "b": "\b", "B": "\b", "f": "\f", "F": "\f",
}
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")


def pos_in(raw: str, line: int, column: int, offset: int) -> tuple[int, int]:
    """Line and column of ``raw[offset]`` for a token starting at (line, column)."""
    before = raw[:offset]
    nl = before.count("\n")
    if not nl:
        return line, column + offset
    return line + nl, offset - before.rfind("\n")


def _decode_string(raw: str, line: int, column: int) -> tuple[str, str, int | None]:
    """Decode a quoted SOQL string -> (value, like_pattern, like_escape_offset).

    ``value`` is the text for =, IN...; ``like_pattern`` is the same literal as a SQLite LIKE pattern
    with ``\\`` as escape character (``%``/``_`` wildcards, ``\\%``/``\\_`` literal).
    ``like_escape_offset`` is the offset in ``raw`` of the first ``\\%``/``\\_``: those escapes are
    valid in LIKE patterns only, and an error anywhere else.
    """
    body = raw[1:-1]
    if "\\" not in body:
        return body, body, None
    like_escape: int | None = None
    out: list[str] = []
    pat: list[str] = []
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            pat.append(ch)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < n else ""
        if nxt in _SIMPLE_ESCAPES:
            c = _SIMPLE_ESCAPES[nxt]
            out.append(c)
            pat.append("\\\\" if c == "\\" else c)
            i += 2
        elif nxt in ("%", "_"):
            out.append(nxt)
            pat.append("\\" + nxt)
            if like_escape is None:
                like_escape = 1 + i
            i += 2
        elif nxt == "u" and _HEX4.fullmatch(body, i + 2, i + 6):
            c = chr(int(body[i + 2 : i + 6], 16))
            out.append(c)
            pat.append(c if c not in "%_\\" else "\\" + c)
            i += 6
        else:
            seq = body[i : i + 6] if nxt == "u" else body[i : i + 2]
            raise PosError(
                "MALFORMED_QUERY", *pos_in(raw, line, column, 1 + i),
                f"Invalid string literal '{body}'. Illegal character sequence '{seq}' in string literal.",
            )
    return "".join(out), "".join(pat), like_escape


_DATETIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})", re.IGNORECASE
)


def _stored_datetime(dt: datetime) -> str:
    """The stored text form (milliseconds). A literal finer than that (clients such as tap-salesforce
    send microseconds, which Salesforce accepts) keeps its microseconds: stored values compare with
    it as text exactly as their instants compare ('+' sorts before every digit)."""
    dt = dt.astimezone(timezone.utc)
    if dt.microsecond % 1000:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}+0000"
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def _decode_datetime(text: str) -> str:
    m = _DATETIME_RE.fullmatch(text)
    if not m:
        raise ValueError(text)
    y, mo, d, h, mi, s, frac, tz = m.groups()
    if tz.upper() == "Z":
        tzinfo = timezone.utc
    else:
        sign = 1 if tz[0] == "+" else -1
        tzinfo = timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
    # Beyond microseconds there is nothing to compare with: further digits are dropped.
    micros = int((frac or "0")[:6].ljust(6, "0"))
    dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micros, tzinfo=tzinfo)
    return _stored_datetime(dt)


def _lit(kind: str, raw: str, line: int, column: int) -> Lit:
    if kind == "STRING":
        value, pattern, like_escape = _decode_string(raw, line, column)
        if len(value) > MAX_STRING_LITERAL_CHARS:
            raise PosError(
                "MALFORMED_QUERY", line, column,
                f"String literal is too long: {len(value)} characters (maximum {MAX_STRING_LITERAL_CHARS})",
            )
        return Lit(kind, (value, pattern, like_escape), raw, line, column)
    if kind == "NUMBER":
        num: int | float = float(raw) if ("." in raw) else int(raw)
        if (isinstance(num, int) and not -(2**63) <= num < 2**63) or abs(num) > 1e300:
            raise PosError("NUMBER_OUTSIDE_VALID_RANGE", line, column, f"Number is out of range: {raw}")
        return Lit(kind, num, raw, line, column)
    if kind == "KW":  # null / true / false inside a fast-lexed IN list
        kind = raw.upper()
    if kind == "NULL":
        return Lit(kind, None, raw, line, column)
    if kind in ("TRUE", "FALSE"):
        return Lit(kind, kind == "TRUE", raw, line, column)
    try:
        if kind == "DATE":
            return Lit(kind, date.fromisoformat(raw).isoformat(), raw, line, column)
        if kind == "DATETIME":
            return Lit(kind, _decode_datetime(raw), raw, line, column)
    except ValueError:
        raise PosError("MALFORMED_QUERY", line, column, f"invalid date/time literal: {raw}") from None
    if kind == "DATE_LITERAL":
        name, _, num_text = raw.upper().partition(":")
        return Lit(kind, (name, int(num_text) if num_text else None), raw, line, column)
    raise AssertionError(kind)  # pragma: no cover - the grammar has no other value terminals


def lit_from_token(tok: Token) -> Lit:
    return _lit(tok.type, tok.value, tok.line or 1, tok.column or 1)


_ITEM_RE = re.compile(_V_STRING + r"|[^\s,()]+")
_DATE_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _item_kind(raw: str) -> str:
    """The terminal a value inside an already validated VALUE_LIST is (cheap, by its shape)."""
    first = raw[0]
    if first == "'":
        return "STRING"
    if first.isalpha():
        return "KW" if raw.lower() in ("null", "true", "false") else "DATE_LITERAL"
    if "T" in raw or "t" in raw:
        return "DATETIME"
    if len(raw) == 10 and _DATE_SHAPE.fullmatch(raw):
        return "DATE"
    return "NUMBER"


def split_value_list(tok: Token) -> tuple[Lit, ...]:
    """Split a VALUE_LIST token (a whole ``( v, v, ... )`` lexed at once, for speed) into literals."""
    text = tok.value
    line0, col0 = tok.line or 1, tok.column or 1
    out: list[Lit] = []
    append = out.append
    multiline = "\n" in text
    for m in _ITEM_RE.finditer(text, 1):  # 1: after "("
        raw = m.group()
        start = m.start()
        if multiline and "\n" in text[:start]:
            line, column = pos_in(text, line0, col0, start)
        else:
            line, column = line0, col0 + start
        if raw[0] == "'" and "\\" not in raw and len(raw) <= MAX_STRING_LITERAL_CHARS + 2:
            body = raw[1:-1]  # the common case (plain e-mail addresses, ids), without the general path
            append(Lit("STRING", (body, body, None), raw, line, column))
        else:
            append(_lit(_item_kind(raw), raw, line, column))
    return tuple(out)

