r"""SOQL subset parser and compiler: SOQL text -> parameterised SQLite SELECT over the emulator store.

Grammar: ``../shared/reference/soql-subset.lark`` (Lark, LALR), with one deliberate difference:
like Salesforce, AND and OR may not be mixed at one level without parentheses
(``a AND b OR c`` is ``MALFORMED_QUERY``), so queries the emulator accepts also run on a real org.

Semantics follow Salesforce, not SQL:

* Two-valued logic. Every comparison is true or false, never NULL: ``Email != 'x'`` and
  ``Email NOT IN (...)`` include rows whose Email is null, ``NOT (Amount < 5)`` includes null amounts.
* ``= ''`` is the same as ``= null`` (Salesforce stores no empty strings).
* String ``=``, ``!=``, ``IN``, ``NOT IN``, ``<``.., ``LIKE`` are case-insensitive (Unicode-aware, see
  :func:`fold`) unless the field's describe says ``caseSensitive``; LIKE is always case-insensitive.
  Equality uses SQLite's ``COLLATE NOCASE`` (index-friendly) on ASCII values and on the case
  variants of non-ASCII ones (:func:`case_variants`), which is exactly :func:`fold` equality; the
  ``sf_fold`` SQL function covers the rest. ORDER BY text sorts by :func:`sort_key` (``sf_sortkey``).
* String escapes as documented: ``\' \" \\ \n \r \t \b \f \uXXXX`` (letters also upper case);
  ``\%`` and ``\_`` only inside LIKE patterns; anything else is ``MALFORMED_QUERY``.
* Date literals only filter date fields, datetime literals datetime fields; relative literals
  (TODAY, LAST_N_DAYS:n, ...) are UTC day ranges against the injected ``now`` (:mod:`soql_dates`).
* Id and reference values must be 15/18-character ids and are compared in their 18-character form.
* Polymorphic relationships (``Who``) join every target in ``referenceTo`` and COALESCE; their
  records report ``attributes.type`` ``"Name"``, as Salesforce does.

Every literal reaches SQLite as a bound parameter; identifiers in the SQL text come from describe
documents only. Connections that run compiled SQL must call :func:`register_sqlite_functions` once.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, VisitError

from emulators.salesforce.ids import normalize as normalize_id
from emulators.salesforce.soql_dates import relative_range

__all__ = [
    "CompiledQuery",
    "SoqlError",
    "case_variants",
    "compile_query",
    "fold",
    "register_sqlite_functions",
    "sort_key",
]

MAX_STATEMENT_CHARS = 100_000
MAX_STRING_LITERAL_CHARS = 4_000
MAX_OFFSET = 2_000
MAX_NESTING = 100  # nested NOT/AND/OR levels; deeper filters are QUERY_TOO_COMPLICATED
MAX_PARAMS = 30_000  # below SQLite's default 32,766 bound variables per statement

# Value literals (shared by the grammar terminals and the fast IN-list lexer).
_V_STRING = r"'[^'\\]*(?:\\.[^'\\]*)*'"  # unrolled (?:\\.|[^'\\])*: much faster in re
_V_DATETIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})"
_V_DATE = r"\d{4}-\d{2}-\d{2}(?![0-9T])"
_V_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_V_KW = r"(?i:null|true|false)(?![A-Za-z0-9_])"
_V_DATE_LITERAL = (
    r"(?i:(?:YESTERDAY|TODAY|TOMORROW|LAST_WEEK|THIS_WEEK|NEXT_WEEK|LAST_MONTH|THIS_MONTH|NEXT_MONTH"
    r"|LAST_90_DAYS|NEXT_90_DAYS|THIS_QUARTER|LAST_QUARTER|NEXT_QUARTER|THIS_YEAR|LAST_YEAR|NEXT_YEAR)"
    r"(?![A-Za-z0-9_:])"
    r"|(?:LAST_N_DAYS|NEXT_N_DAYS|LAST_N_WEEKS|NEXT_N_WEEKS|LAST_N_MONTHS|NEXT_N_MONTHS|LAST_N_YEARS"
    r"|NEXT_N_YEARS):\d+(?![A-Za-z0-9_]))"
)
_V_ANY = "|".join((_V_STRING, _V_DATETIME, _V_DATE, _V_DATE_LITERAL, _V_NUMBER, _V_KW))
# A whole "( v, v, ... )" as one token: long IN lists (the target's batched lookups) lex in one regex
# match instead of one token per value. Anything it does not match falls back to the token-wise rule.
_V_LIST = rf"\(\s*(?:{_V_ANY})(?:\s*,\s*(?:{_V_ANY}))*\s*\)"

_GRAMMAR = r"""
start: "SELECT"i select_list "FROM"i NAME NAME? where_clause? order_clause? limit_clause? offset_clause?

select_list: COUNT "(" ")"           -> count_list
           | PATH ("," PATH)*         -> field_list

where_clause: "WHERE"i cond

// Salesforce: AND and OR cannot be mixed at one level without parentheses.
?cond: not_expr
     | not_expr ("AND"i not_expr)+   -> and_
     | not_expr ("OR"i not_expr)+    -> or_

?not_expr: "NOT"i not_expr                                   -> not_
         | "(" cond ")"
         | PATH OP value                                     -> compare
         | PATH "LIKE"i STRING                               -> like
         | PATH "IN"i "(" value ("," value)* ")"             -> in_
         | PATH "NOT"i "IN"i "(" value ("," value)* ")"      -> not_in
         | PATH "IN"i VALUE_LIST                             -> in_list
         | PATH "NOT"i "IN"i VALUE_LIST                      -> not_in_list

?value: STRING | NUMBER | NULL | TRUE | FALSE | DATETIME | DATE | DATE_LITERAL

order_clause: "ORDER"i "BY"i order_item ("," order_item)*
order_item: PATH DIR? NULLS?
limit_clause: "LIMIT"i INT
offset_clause: "OFFSET"i INT

COUNT: "COUNT"i
NULL: "null"i
TRUE: "true"i
FALSE: "false"i
OP: "=" | "!=" | "<>" | "<=" | ">=" | "<" | ">"
DIR: /ASC|DESC/i
NULLS: /NULLS\s+(FIRST|LAST)/i
DATETIME.3: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})/
DATE.2: /\d{4}-\d{2}-\d{2}/
VALUE_LIST.5: /@V_LIST@/
DATE_LITERAL.2: /(YESTERDAY|TODAY|TOMORROW|LAST_WEEK|THIS_WEEK|NEXT_WEEK|LAST_MONTH|THIS_MONTH|NEXT_MONTH|LAST_90_DAYS|NEXT_90_DAYS|THIS_QUARTER|LAST_QUARTER|NEXT_QUARTER|THIS_YEAR|LAST_YEAR|NEXT_YEAR)(?![A-Za-z0-9_])|(LAST_N_DAYS|NEXT_N_DAYS|LAST_N_WEEKS|NEXT_N_WEEKS|LAST_N_MONTHS|NEXT_N_MONTHS|LAST_N_YEARS|NEXT_N_YEARS):\d+/i
STRING: /'[^'\\]*(\\.[^'\\]*)*'/
NUMBER: /[+-]?(\d+(\.\d*)?|\.\d+)/
INT: /\d+/
PATH: /[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*/
NAME: /[A-Za-z][A-Za-z0-9_]*/
%ignore /\s+/
""".replace("@V_LIST@", _V_LIST)


# --------------------------------------------------------------------------------------------- errors


class SoqlError(Exception):
    """A query Salesforce would reject; ``error_code`` and ``message`` go into the 400 response body."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


def _echo(soql: str, line: int, column: int, detail: str) -> str:
    """Salesforce's error shape: the offending line, a caret under the column, the position, the detail."""
    lines = soql.split("\n")  # rows as the lexer counts them: only \n ends a line
    src = lines[line - 1].rstrip("\r") if 0 < line <= len(lines) else ""
    start = 0
    if len(src) > 160:  # long statements: echo a window around the error, as Salesforce does
        start = max(0, column - 1 - 80)
        src = src[start : start + 160]
    caret = " " * max(0, column - 1 - start) + "^"
    return f"\n{src}\n{caret}\nERROR at Row:{line}:Column:{column}\n{detail}"


def _err(code: str, soql: str, line: int, column: int, detail: str) -> SoqlError:
    return SoqlError(code, _echo(soql, line, column, detail))


def _custom_field_hint(name: str, entity: str) -> str:
    return (
        f"No such column '{name}' on entity '{entity}'. If you are attempting to use a custom field, be sure "
        "to append the '__c' after the custom field name. Please reference your WSDL or the describe call "
        "for the appropriate names."
    )


# ------------------------------------------------------------------------------------------ case folding


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


# ------------------------------------------------------------------------------------------------ AST


@dataclass(slots=True)  # AST nodes: never mutated after parsing (they are cached)
class _Path:
    text: str
    line: int
    column: int


@dataclass(slots=True)  # AST nodes: never mutated after parsing (they are cached)
class _Lit:
    kind: str  # STRING NUMBER NULL TRUE FALSE DATETIME DATE DATE_LITERAL
    # decoded: (str, like pattern, offset in raw of a LIKE-only escape or None) / int|float / None / bool /
    # "YYYY-MM-DD" / stored datetime text / (name, n)
    value: Any
    raw: str
    line: int
    column: int


@dataclass(slots=True)  # AST nodes: never mutated after parsing (they are cached)
class _Compare:
    path: _Path
    op: str
    value: _Lit


@dataclass(slots=True)  # AST nodes: never mutated after parsing (they are cached)
class _Like:
    path: _Path
    pattern: _Lit


@dataclass(slots=True)  # AST nodes: never mutated after parsing (they are cached)
class _In:
    path: _Path
    values: tuple[_Lit, ...]
    negate: bool


@dataclass(slots=True)  # AST nodes: never mutated after parsing (they are cached)
class _Not:
    expr: Any


@dataclass(slots=True)  # AST nodes: never mutated after parsing (they are cached)
class _BoolOp:
    op: str  # AND / OR
    items: tuple[Any, ...]


@dataclass(slots=True)  # AST nodes: never mutated after parsing (they are cached)
class _Order:
    path: _Path
    desc: bool
    nulls_first: bool


@dataclass(slots=True)  # AST nodes: never mutated after parsing (they are cached)
class _Query:
    is_count: bool
    fields: tuple[_Path, ...]
    sobject: str
    sobject_line: int
    sobject_column: int
    alias: str | None  # FROM Contact c: "c." may prefix paths
    where: Any
    order: tuple[_Order, ...]
    limit: int | None
    offset: int | None
    offset_line: int
    offset_column: int


# ----------------------------------------------------------------------------------- literal decoding


class _PosError(Exception):
    """A parse-time error at a position; ``_parse`` turns it into a SoqlError echoing the statement."""

    def __init__(self, code: str, line: int, column: int, detail: str) -> None:
        super().__init__(detail)
        self.code, self.line, self.column, self.detail = code, line, column, detail


# Salesforce "Quoted String Escape Sequences"; the letter escapes may also be upper case.
_SIMPLE_ESCAPES = {
    "'": "'", '"': '"', "\\": "\\", "n": "\n", "N": "\n", "r": "\r", "R": "\r", "t": "\t", "T": "\t",
    "b": "\b", "B": "\b", "f": "\f", "F": "\f",
}
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")


def _pos_in(raw: str, line: int, column: int, offset: int) -> tuple[int, int]:
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
            raise _PosError(
                "MALFORMED_QUERY", *_pos_in(raw, line, column, 1 + i),
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


def _lit(kind: str, raw: str, line: int, column: int) -> _Lit:
    if kind == "STRING":
        value, pattern, like_escape = _decode_string(raw, line, column)
        if len(value) > MAX_STRING_LITERAL_CHARS:
            raise _PosError(
                "MALFORMED_QUERY", line, column,
                f"String literal is too long: {len(value)} characters (maximum {MAX_STRING_LITERAL_CHARS})",
            )
        return _Lit(kind, (value, pattern, like_escape), raw, line, column)
    if kind == "NUMBER":
        num: int | float = float(raw) if ("." in raw) else int(raw)
        if (isinstance(num, int) and not -(2**63) <= num < 2**63) or abs(num) > 1e300:
            raise _PosError("NUMBER_OUTSIDE_VALID_RANGE", line, column, f"Number is out of range: {raw}")
        return _Lit(kind, num, raw, line, column)
    if kind == "KW":  # null / true / false inside a fast-lexed IN list
        kind = raw.upper()
    if kind == "NULL":
        return _Lit(kind, None, raw, line, column)
    if kind in ("TRUE", "FALSE"):
        return _Lit(kind, kind == "TRUE", raw, line, column)
    try:
        if kind == "DATE":
            return _Lit(kind, date.fromisoformat(raw).isoformat(), raw, line, column)
        if kind == "DATETIME":
            return _Lit(kind, _decode_datetime(raw), raw, line, column)
    except ValueError:
        raise _PosError("MALFORMED_QUERY", line, column, f"invalid date/time literal: {raw}") from None
    if kind == "DATE_LITERAL":
        name, _, num_text = raw.upper().partition(":")
        return _Lit(kind, (name, int(num_text) if num_text else None), raw, line, column)
    raise AssertionError(kind)  # pragma: no cover - the grammar has no other value terminals


def _tok_lit(tok: Token) -> _Lit:
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


def _split_value_list(tok: Token) -> tuple[_Lit, ...]:
    """Split a VALUE_LIST token (a whole ``( v, v, ... )`` lexed at once, for speed) into literals."""
    text = tok.value
    line0, col0 = tok.line or 1, tok.column or 1
    out: list[_Lit] = []
    append = out.append
    multiline = "\n" in text
    for m in _ITEM_RE.finditer(text, 1):  # 1: after "("
        raw = m.group()
        start = m.start()
        if multiline and "\n" in text[:start]:
            line, column = _pos_in(text, line0, col0, start)
        else:
            line, column = line0, col0 + start
        if raw[0] == "'" and "\\" not in raw and len(raw) <= MAX_STRING_LITERAL_CHARS + 2:
            body = raw[1:-1]  # the common case (plain e-mail addresses, ids), without the general path
            append(_Lit("STRING", (body, body, None), raw, line, column))
        else:
            append(_lit(_item_kind(raw), raw, line, column))
    return tuple(out)


# ------------------------------------------------------------------------------------------- parsing


@v_args(inline=True)
class _Build(Transformer):  # type: ignore[type-arg]
    """Builds the AST inside the LALR parser's callbacks (no intermediate tree). Stateless."""

    @staticmethod
    def _path(tok: Token) -> _Path:
        return _Path(tok.value, tok.line or 1, tok.column or 1)

    def start(self, select: tuple[bool, tuple[_Path, ...]], name: Token, *rest: Any) -> _Query:
        alias = None
        if rest and isinstance(rest[0], Token):  # FROM Contact c
            alias, rest = rest[0].value, rest[1:]
        parts = dict(rest)
        offset_tok = parts.get("offset")
        return _Query(
            is_count=select[0],
            fields=select[1],
            sobject=name.value,
            sobject_line=name.line or 1,
            sobject_column=name.column or 1,
            alias=alias,
            where=parts.get("where"),
            order=tuple(parts.get("order", ())),
            limit=int(parts["limit"]) if "limit" in parts else None,
            offset=int(offset_tok) if offset_tok is not None else None,
            offset_line=offset_tok.line if offset_tok is not None else 1,
            offset_column=offset_tok.column if offset_tok is not None else 1,
        )

    def count_list(self, _tok: Token) -> tuple[bool, tuple[_Path, ...]]:
        return (True, ())

    def field_list(self, *paths: Token) -> tuple[bool, tuple[_Path, ...]]:
        return (False, tuple(self._path(p) for p in paths))

    def where_clause(self, cond: Any) -> tuple[str, Any]:
        return ("where", cond)

    def order_clause(self, *items: _Order) -> tuple[str, Any]:
        return ("order", items)

    def order_item(self, path: Token, *mods: Token) -> _Order:
        desc = False
        nulls: bool | None = None
        for m in mods:
            if m.type == "DIR":
                desc = m.value.upper() == "DESC"
            else:
                nulls = m.value.upper().endswith("FIRST")
        # Salesforce docs (SOQL ORDER BY): "By default, null values are sorted first", whatever the direction.
        return _Order(self._path(path), desc, True if nulls is None else nulls)

    def limit_clause(self, tok: Token) -> tuple[str, Any]:
        return ("limit", tok.value)

    def offset_clause(self, tok: Token) -> tuple[str, Any]:
        return ("offset", tok)

    def and_(self, *items: Any) -> _BoolOp:
        return _BoolOp("AND", items)

    def or_(self, *items: Any) -> _BoolOp:
        return _BoolOp("OR", items)

    def not_(self, expr: Any) -> _Not:
        return _Not(expr)

    def compare(self, path: Token, op: Token, value: Token) -> _Compare:
        sym = "!=" if op.value == "<>" else op.value
        return _Compare(self._path(path), sym, _tok_lit(value))

    def like(self, path: Token, pattern: Token) -> _Like:
        return _Like(self._path(path), _tok_lit(pattern))

    def in_(self, path: Token, *values: Token) -> _In:
        return _In(self._path(path), tuple(_tok_lit(v) for v in values), False)

    def not_in(self, path: Token, *values: Token) -> _In:
        return _In(self._path(path), tuple(_tok_lit(v) for v in values), True)

    def in_list(self, path: Token, values: Token) -> _In:
        return _In(self._path(path), _split_value_list(values), False)

    def not_in_list(self, path: Token, values: Token) -> _In:
        return _In(self._path(path), _split_value_list(values), True)


_PARSER: Lark | None = None


def _parser() -> Lark:
    global _PARSER
    if _PARSER is None:
        # LALR + contextual lexer: keywords stay usable as names where a keyword cannot appear.
        # The transformer runs inside the parser's reductions, so no parse tree is built.
        _PARSER = Lark(_GRAMMAR, parser="lalr", lexer="contextual", transformer=_Build())
    return _PARSER


def _line_col_of_end(soql: str) -> tuple[int, int]:
    lines = soql.split("\n")
    return len(lines), len(lines[-1]) + 1


def _syntax_error(soql: str, exc: UnexpectedInput) -> SoqlError:
    if isinstance(exc, UnexpectedCharacters):
        ch = soql[exc.pos_in_stream] if exc.pos_in_stream < len(soql) else ""
        line, column = exc.line, exc.column
        detail = f"line {line}:{column - 1} no viable alternative at character '{ch}'"
        return _err("MALFORMED_QUERY", soql, line, column, detail)
    tok = getattr(exc, "token", None)
    if isinstance(exc, UnexpectedEOF) or tok is None or tok.type == "$END":
        line, column = _line_col_of_end(soql)
        return _err("MALFORMED_QUERY", soql, line, column, "unexpected token: '<EOF>'")
    return _err("MALFORMED_QUERY", soql, tok.line or 1, tok.column or 1, f"unexpected token: '{tok.value}'")


_CACHED_STATEMENT_CHARS = 4_000


def _parse(soql: str) -> _Query:
    """Parse, through a cache by text for short statements (repeated lookups); long ones (batched IN
    lists) are practically never repeated and would make the cache hold megabytes of literals."""
    if len(soql) <= _CACHED_STATEMENT_CHARS:
        return _parse_cached(soql)
    return _parse_text(soql)


@lru_cache(maxsize=2048)
def _parse_cached(soql: str) -> _Query:
    return _parse_text(soql)  # the AST is never mutated; describes are applied per compile


def _parse_text(soql: str) -> _Query:
    if len(soql) > MAX_STATEMENT_CHARS:
        raise SoqlError(
            "MALFORMED_QUERY", f"SOQL statements can not be longer than {MAX_STATEMENT_CHARS} characters."
        )
    try:
        result = _parser().parse(soql)
    except _PosError as exc:
        raise _err(exc.code, soql, exc.line, exc.column, exc.detail) from None
    except VisitError as exc:
        if isinstance(exc.orig_exc, _PosError):
            e = exc.orig_exc
            raise _err(e.code, soql, e.line, e.column, e.detail) from None
        raise
    except UnexpectedInput as exc:
        raise _syntax_error(soql, exc) from None
    assert isinstance(result, _Query)
    return result


# ------------------------------------------------------------------------------------------ compiling

_TEXT_TYPES = frozenset(
    {"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox", "encryptedstring"}
)
_ID_TYPES = frozenset({"id", "reference"})
_NUMBER_TYPES = frozenset({"int", "double", "currency", "percent", "long"})
_TYPE_NAMES = {"int": "integer", "long": "long", "double": "double", "currency": "currency", "percent": "percent"}


@dataclass(slots=True)
class _Target:
    name: str  # canonical object name
    alias: str
    describe: dict[str, Any]
    fields: dict[str, dict[str, Any]]  # lower name -> field


@dataclass(slots=True)
class _Node:
    """A relationship hop reachable from the base object (``Owner``, ``Account.Owner``, ``Who``)."""

    key: tuple[str, ...]  # lower-case relationship names from the base object
    canonical: tuple[str, ...]
    targets: list[_Target]
    polymorphic: bool = False  # referenceTo lists several objects: records report type "Name"


@dataclass(slots=True)
class _Column:
    """A resolved field path: its SQL expression and describe field."""

    sql: str
    field: dict[str, Any]
    canonical: str  # "Owner.Email"
    node: tuple[str, ...]  # node key; () for the base object


@dataclass
class CompiledQuery:
    """A compiled SOQL statement: run ``sql`` with ``params``; turn rows into records with ``shape``.

    The SQL returns ``len(select_paths)`` columns in ``select_paths`` order, followed by hidden columns
    (record Ids of the base object and of every relationship) that ``shape`` needs: pass whole rows.
    """

    sobject: str
    sql: str
    params: list[Any]
    is_count: bool
    select_paths: list[str]
    _shape_plan: Any = field(default=None, repr=False)

    def shape(self, row: Sequence[Any], *, api_version: str) -> dict[str, Any]:
        """One JSON record as the REST API returns it."""
        if self.is_count:
            raise TypeError("COUNT() queries have no records to shape")
        version = api_version if api_version.startswith("v") else f"v{api_version}"
        return self._shape_plan(row, version)


_SOBJECT_HINT = (
    "If you are attempting to use a custom object, be sure to append the '__c' after the entity name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)
_RELATIONSHIP_HINT = (
    "If you are attempting to use a custom relationship, be sure to append the '__r' after the custom "
    "relationship name. Please reference your WSDL or the describe call for the appropriate names."
)


def _too_complicated() -> SoqlError:
    return SoqlError(
        "QUERY_TOO_COMPLICATED",
        "Query is either selecting too many fields or the filter conditions are too complicated.",
    )


def _join(op: str, parts: list[str]) -> str:
    """``a OP b OP ...`` grouped as a balanced tree: SQLite limits expression depth to 1,000 and
    parses a flat chain left-deep, so a long OR list would otherwise exceed it."""
    if len(parts) == 1:
        return parts[0]
    if len(parts) <= 16:
        return "(" + f" {op} ".join(parts) + ")"
    mid = len(parts) // 2
    return f"({_join(op, parts[:mid])} {op} {_join(op, parts[mid:])})"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# Compound fields (Address, Location) are read-only views of their component fields: never stored,
# selected as one JSON object, not filterable or sortable ("Compound Fields", SOAP API Developer Guide).
COMPOUND_TYPES = frozenset({"address", "location"})
# Component field -> key in the compound value, by the component's name without its prefix.
_COMPOUND_KEYS = {"street": "street", "city": "city", "state": "state", "statecode": "stateCode",
                  "postalcode": "postalCode", "country": "country", "countrycode": "countryCode",
                  "latitude": "latitude", "longitude": "longitude", "geocodeaccuracy": "geocodeAccuracy"}


def compound_key(compound: str, component: str) -> str | None:
    """The key of ``component`` (``BillingCity``) in the value of ``compound`` (``BillingAddress``)."""
    prefix = compound[: -len("Address")] if compound.endswith("Address") else ""
    return _COMPOUND_KEYS.get(component[len(prefix):].lower())


def _compound_sql(alias: str, name: str, fields: Any) -> str:
    parts = []
    for fd in sorted(fields, key=lambda d: d["name"]):
        if (fd.get("compoundFieldName") or "").lower() != name.lower():
            continue
        key = compound_key(name, fd["name"])
        if key:
            parts.append(f"'{key}', {alias}.{_q(fd['name'])}")
    return f"json_object({', '.join(sorted(parts))})" if parts else "NULL"


def _compound(value: Any) -> Any:
    data = json.loads(value) if isinstance(value, str) else value
    if not isinstance(data, dict) or all(v is None for v in data.values()):
        return None
    return dict(sorted(data.items()))


def _convert(ftype: str) -> Callable[[Any], Any] | None:
    if ftype in COMPOUND_TYPES:
        return _compound
    if ftype == "boolean":
        return lambda v: None if v is None else bool(v)
    if ftype in ("int", "long"):
        return lambda v: None if v is None else int(v)
    if ftype in ("double", "currency", "percent"):
        return lambda v: None if v is None else float(v)
    return None


class _Compiler:
    def __init__(self, soql: str, lookup: Callable[[str], dict | None], now: datetime) -> None:
        self.soql = soql
        self.lookup = lookup
        self.now = now
        self.params: list[Any] = []
        self.nodes: dict[tuple[str, ...], _Node] = {}
        self.joins: list[str] = []
        self._alias_n = 0
        self._today: date | None = None

    # -- describes and paths

    @staticmethod
    def _field_map(describe: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {f["name"].lower(): f for f in describe.get("fields", [])}

    def _new_alias(self) -> str:
        self._alias_n += 1
        return f"t{self._alias_n}"

    def base(self, q: _Query) -> None:
        describe = self.lookup(q.sobject)
        if describe is None:
            raise _err(
                "INVALID_TYPE", self.soql, q.sobject_line, q.sobject_column,
                f"sObject type '{q.sobject}' is not supported. {_SOBJECT_HINT}",
            )
        self.sobject = describe["name"]
        self.alias = q.alias
        root = _Target(self.sobject, "t0", describe, self._field_map(describe))
        self.nodes[()] = _Node((), (), [root])

    def _node(self, path: _Path, parts: list[str]) -> _Node:
        """Resolve (joining as needed) the relationship node for ``parts`` (relationship names)."""
        key: tuple[str, ...] = ()
        node = self.nodes[()]
        for rel in parts:
            child_key = key + (rel.lower(),)
            child = self.nodes.get(child_key)
            if child is None:
                if len(node.targets) != 1:
                    # Polymorphic relationships (Who, What) expose only their own fields, no further hops.
                    raise self._bad_relationship(path, rel)
                parent = node.targets[0]
                ref = next(
                    (f for f in parent.fields.values()
                     if f.get("type") == "reference" and (f.get("relationshipName") or "").lower() == rel.lower()),
                    None,
                )
                if ref is None:
                    raise self._bad_relationship(path, rel)
                targets: list[_Target] = []
                for obj in ref.get("referenceTo") or []:
                    describe = self.lookup(obj)
                    if describe is None:
                        continue  # e.g. Group in Owner's referenceTo when the org has no Group object
                    alias = self._new_alias()
                    targets.append(_Target(describe["name"], alias, describe, self._field_map(describe)))
                    self.joins.append(
                        f"LEFT JOIN {_q(describe['name'])} AS {alias} "
                        f"ON {alias}.\"Id\" = {parent.alias}.{_q(ref['name'])}"
                    )
                if not targets:
                    raise self._bad_relationship(path, rel)
                child = _Node(child_key, node.canonical + (ref["relationshipName"],), targets,
                              polymorphic=len(ref.get("referenceTo") or []) > 1)
                self.nodes[child_key] = child
            node = child
            key = child_key
        return node

    def _bad_relationship(self, path: _Path, rel: str) -> SoqlError:
        return _err(
            "INVALID_FIELD", self.soql, path.line, path.column,
            f"Didn't understand relationship '{rel}' in field path. {_RELATIONSHIP_HINT}",
        )

    def column(self, path: _Path) -> _Column:
        parts = path.text.split(".")
        # Salesforce accepts the alias or the object name as a prefix: SELECT c.Email FROM Contact c,
        # SELECT Lead.Email FROM Lead.
        if len(parts) > 1 and self.alias and parts[0].lower() == self.alias.lower():
            parts = parts[1:]
        elif len(parts) > 1 and parts[0].lower() == self.sobject.lower():
            root_fields = self.nodes[()].targets[0].fields
            is_rel = any((f.get("relationshipName") or "").lower() == parts[0].lower() for f in root_fields.values())
            if not is_rel:
                parts = parts[1:]
        node = self._node(path, parts[:-1])
        fname = parts[-1]
        hits = [(t, t.fields[fname.lower()]) for t in node.targets if fname.lower() in t.fields]
        if not hits:
            entity = node.targets[0].name if len(node.targets) == 1 else "Name"
            raise _err("INVALID_FIELD", self.soql, path.line, path.column, _custom_field_hint(fname, entity))
        f = hits[0][1]
        if f["type"] in COMPOUND_TYPES:
            t = hits[0][0]
            sql = _compound_sql(t.alias, f["name"], t.fields.values())
        else:
            exprs = [f"{t.alias}.{_q(fd['name'])}" for t, fd in hits]
            sql = exprs[0] if len(exprs) == 1 else f"COALESCE({', '.join(exprs)})"
        return _Column(sql, f, ".".join(node.canonical + (f["name"],)), node.key)

    # -- WHERE

    def _bind(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def _bind_all(self, values: list[Any]) -> str:
        self.params.extend(values)
        return ", ".join(["?"] * len(values))

    def cond(self, expr: Any, depth: int = 0) -> str:
        if depth > MAX_NESTING:
            raise _too_complicated()
        if isinstance(expr, _BoolOp):
            return _join(expr.op, [self.cond(e, depth + 1) for e in expr.items])
        if isinstance(expr, _Not):
            return f"(NOT {self.cond(expr.expr, depth + 1)})"
        if isinstance(expr, _Compare):
            return self.compare(expr)
        if isinstance(expr, _Like):
            return self.like(expr)
        if isinstance(expr, _In):
            return self.in_(expr)
        raise AssertionError(expr)  # pragma: no cover

    def _filter_column(self, path: _Path) -> _Column:
        col = self.column(path)
        if col.field.get("filterable") is False:
            raise _err(
                "INVALID_FIELD", self.soql, path.line, path.column,
                f"field '{col.field['name']}' can not be filtered in a query call",
            )
        return col

    def _type_error(self, col: _Column, lit: _Lit, expected: str, quoted: bool) -> SoqlError:
        quotes = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
        return _err(
            "INVALID_FIELD", self.soql, lit.line, lit.column,
            f"value of filter criterion for field '{col.field['name']}' must be of type {expected} and {quotes}",
        )

    def _today_date(self) -> date:
        if self._today is None:
            now = self.now if self.now.tzinfo else self.now.replace(tzinfo=timezone.utc)
            self._today = now.astimezone(timezone.utc).date()
        return self._today

    def _range(self, col: _Column, lit: _Lit) -> tuple[str, str]:
        """A relative date literal as [start, end) in the column's stored text format."""
        name, n = lit.value
        try:
            start, end = relative_range(name, n, self._today_date())
        except (OverflowError, ValueError):
            raise _err(
                "NUMBER_OUTSIDE_VALID_RANGE", self.soql, lit.line, lit.column,
                f"invalid date literal range: {lit.raw}",
            ) from None
        if col.field["type"] == "date":
            return start.isoformat(), end.isoformat()
        return f"{start.isoformat()}T00:00:00.000+0000", f"{end.isoformat()}T00:00:00.000+0000"

    def _plain_string(self, lit: _Lit) -> str:
        """A string literal outside LIKE, where \\% and \\_ are not valid escapes (Salesforce docs)."""
        value, _pattern, like_escape = lit.value
        if like_escape is not None:
            seq = lit.raw[like_escape : like_escape + 2]
            raise _err(
                "MALFORMED_QUERY", self.soql, *_pos_in(lit.raw, lit.line, lit.column, like_escape),
                f"Invalid string literal {lit.raw}. Illegal character sequence '{seq}' in string literal: "
                "\\% and \\_ are only valid in LIKE patterns.",
            )
        return value

    def _value(self, col: _Column, lit: _Lit) -> Any:
        """Type-check a non-null literal against the field; return the storage value (or range marker)."""
        ftype = col.field["type"]
        kind = lit.kind
        if ftype in _TEXT_TYPES:
            if kind != "STRING":
                raise self._type_error(col, lit, "string", quoted=True)
            return self._plain_string(lit)
        if ftype in _ID_TYPES:
            if kind != "STRING":
                raise self._type_error(col, lit, "string", quoted=True)
            text = self._plain_string(lit)
            if text == "":
                return ""
            canonical = normalize_id(text)  # 15 -> 18 characters; None when malformed or bad checksum
            if canonical is None:
                raise _err(
                    "INVALID_QUERY_FILTER_OPERATOR", self.soql, lit.line, lit.column, f"invalid ID field: {text}"
                )
            return canonical
        if ftype == "boolean":
            if kind not in ("TRUE", "FALSE"):
                raise self._type_error(col, lit, "boolean", quoted=False)
            return 1 if lit.value else 0
        if ftype in _NUMBER_TYPES:
            if kind != "NUMBER":
                raise self._type_error(col, lit, _TYPE_NAMES.get(ftype, ftype), quoted=False)
            return lit.value
        if ftype == "date":
            if kind == "DATE_LITERAL":
                return self._range(col, lit)
            if kind != "DATE":
                raise self._type_error(col, lit, "date", quoted=False)
            return lit.value
        if ftype == "datetime":
            if kind == "DATE_LITERAL":
                return self._range(col, lit)
            if kind != "DATETIME":
                raise self._type_error(col, lit, "dateTime", quoted=False)
            return lit.value
        raise _err(
            "INVALID_FIELD", self.soql, lit.line, lit.column,
            f"field '{col.field['name']}' of type {ftype} can not be filtered in a query call",
        )

    def _is_ci_text(self, col: _Column) -> bool:
        return col.field["type"] in _TEXT_TYPES and not col.field.get("caseSensitive")

    def _eq_any(self, col: _Column, values: list[Any]) -> str:
        """A definite (never NULL) SQL condition: column equals one of ``values`` (non-null storage values)."""
        c = col.sql
        parts: list[str] = []
        if any(v == "" for v in values):
            # Salesforce stores no empty strings: '' means null.
            parts.append(f"{c} IS NULL")
            values = [v for v in values if v != ""]
        if values:
            if self._is_ci_text(col):
                # ASCII values and the case variants of non-ASCII ones compare with NOCASE (so the
                # store's NOCASE indexes are used); values with too many variants go through sf_fold.
                ascii_vals = [v for v in values if v.isascii()]
                other: list[str] = []
                if len(ascii_vals) < len(values):
                    for v in values:
                        if v.isascii():
                            continue
                        variants = case_variants(v)
                        if variants is None:
                            other.append(fold(v))
                        else:
                            ascii_vals.extend(variants)
                sub: list[str] = []
                if ascii_vals:
                    if len(ascii_vals) == 1:
                        sub.append(f"{c} = {self._bind(ascii_vals[0])} COLLATE NOCASE")
                    else:
                        sub.append(f"{c} COLLATE NOCASE IN ({self._bind_all(ascii_vals)})")
                if other:
                    sub.append(f"sf_fold({c}) IN ({self._bind_all(other)})")
                inner = _join("OR", sub)
            elif len(values) == 1:
                inner = f"{c} = {self._bind(values[0])}"
            else:
                inner = f"{c} IN ({self._bind_all(values)})"
            parts.append(f"({c} IS NOT NULL AND ({inner}))")
        return _join("OR", parts)

    def _in_range(self, col: _Column, rng: tuple[str, str]) -> str:
        c = col.sql
        return f"({c} IS NOT NULL AND {c} >= {self._bind(rng[0])} AND {c} < {self._bind(rng[1])})"

    def _membership(self, col: _Column, lits: Sequence[_Lit]) -> str:
        """Definite condition: the column equals any of the literals (null, values, date ranges)."""
        parts: list[str] = []
        values: list[Any] = []
        plain_text = col.field["type"] in _TEXT_TYPES
        for lit in lits:
            if lit.kind == "NULL":
                parts.append(f"{col.sql} IS NULL")
                continue
            if plain_text and lit.kind == "STRING" and lit.value[2] is None:
                values.append(lit.value[0])  # fast path of _value for text fields
                continue
            v = self._value(col, lit)
            if isinstance(v, tuple):
                parts.append(self._in_range(col, v))
            else:
                values.append(v)
        if values:
            parts.append(self._eq_any(col, values))
        return _join("OR", parts)

    def compare(self, cmp: _Compare) -> str:
        col = self._filter_column(cmp.path)
        op = cmp.op
        lit = cmp.value
        if op in ("=", "!="):
            cond = self._membership(col, [lit])
            return cond if op == "=" else f"(NOT {cond})"
        if lit.kind == "NULL":
            raise _err(
                "MALFORMED_QUERY", self.soql, lit.line, lit.column,
                f"invalid operator {op} for a null value: only = and != can compare with null",
            )
        ftype = col.field["type"]
        if ftype == "boolean":
            raise _err(
                "INVALID_FIELD", self.soql, cmp.path.line, cmp.path.column,
                f"invalid operator on boolean field '{col.field['name']}'",
            )
        v = self._value(col, lit)
        c = col.sql
        if isinstance(v, tuple):  # relative date range [start, end)
            start, end = v
            edge = {"<": ("<", start), "<=": ("<", end), ">": (">=", end), ">=": (">=", start)}[op]
            return f"({c} IS NOT NULL AND {c} {edge[0]} {self._bind(edge[1])})"
        if self._is_ci_text(col):
            return f"({c} IS NOT NULL AND sf_fold({c}) {op} {self._bind(fold(v))})"
        return f"({c} IS NOT NULL AND {c} {op} {self._bind(v)})"

    def like(self, node: _Like) -> str:
        col = self._filter_column(node.path)
        ftype = col.field["type"]
        if ftype not in _TEXT_TYPES:
            raise _err(
                "INVALID_FIELD", self.soql, node.path.line, node.path.column,
                f"invalid operator on {ftype} field '{col.field['name']}'. LIKE can only be used with string fields",
            )
        pattern: str = node.pattern.value[1]
        c = col.sql
        # LIKE is case-insensitive on every string field. SQLite's LIKE folds ASCII only, which is exact
        # for ASCII patterns (see _FoldTable); other patterns match the folded column.
        if pattern.isascii():
            return f"({c} IS NOT NULL AND {c} LIKE {self._bind(pattern)} ESCAPE '\\')"
        return f"({c} IS NOT NULL AND sf_fold({c}) LIKE {self._bind(fold(pattern))} ESCAPE '\\')"

    def in_(self, node: _In) -> str:
        col = self._filter_column(node.path)
        cond = self._membership(col, node.values)
        return f"(NOT {cond})" if node.negate else cond

    # -- ORDER BY

    def order(self, items: Sequence[_Order]) -> str:
        out: list[str] = []
        for item in items:
            col = self.column(item.path)
            if col.field.get("sortable") is False:
                raise _err(
                    "INVALID_FIELD", self.soql, item.path.line, item.path.column,
                    f"field '{col.field['name']}' can not be sorted in a query call",
                )
            expr = f"sf_sortkey({col.sql})" if col.field["type"] in _TEXT_TYPES else col.sql
            direction = "DESC" if item.desc else "ASC"
            nulls = "NULLS FIRST" if item.nulls_first else "NULLS LAST"
            out.append(f"{expr} {direction} {nulls}")
        out.append('t0."_rowid"')  # stable order among equal keys: insertion order
        return ", ".join(out)


def _make_shaper(
    sobject: str, columns: list[_Column], nodes: dict[tuple[str, ...], _Node], base_id_index: int,
    node_id_index: dict[tuple[str, ...], list[int]],
) -> Callable[[Sequence[Any], str], dict[str, Any]]:
    # Precompute per column: the node chain it lives under and its value converter.
    plan: list[tuple[int, tuple[tuple[str, ...], ...], str, Callable[[Any], Any] | None]] = []
    for i, col in enumerate(columns):
        chain = tuple(col.node[:k] for k in range(1, len(col.node) + 1))
        plan.append((i, chain, col.field["name"], _convert(col.field["type"])))
    node_info = {
        key: (nodes[key].canonical[-1], [t.name for t in nodes[key].targets], node_id_index[key],
              nodes[key].polymorphic)
        for key in node_id_index
    }

    def shape(row: Sequence[Any], version: str) -> dict[str, Any]:
        base_id = row[base_id_index]
        rec: dict[str, Any] = {
            "attributes": {"type": sobject, "url": f"/services/data/{version}/sobjects/{sobject}/{base_id}"}
        }
        made: dict[tuple[str, ...], dict[str, Any] | None] = {(): rec}
        for i, chain, name, conv in plan:
            target: dict[str, Any] | None = rec
            for key in chain:
                if key in made:
                    target = made[key]
                else:
                    rel_name, types, id_idx, polymorphic = node_info[key]
                    parent = target
                    rid, rtype = None, None
                    for obj, j in zip(types, id_idx, strict=True):
                        if row[j] is not None:
                            rid, rtype = row[j], obj
                            break
                    if parent is None or rid is None:
                        target = None
                    else:
                        target = {
                            # Salesforce: a polymorphic relationship's record has type "Name"; the url
                            # names the real object.
                            "attributes": {"type": "Name" if polymorphic else rtype,
                                           "url": f"/services/data/{version}/sobjects/{rtype}/{rid}"}
                        }
                    if parent is not None:
                        parent[rel_name] = target
                    made[key] = target
                if target is None:
                    break
            if target is None:
                continue
            v = row[i]
            target[name] = conv(v) if conv is not None and v is not None else v
        return rec

    return shape


def compile_query(
    soql: str, lookup: Callable[[str], dict | None], *, now: datetime, include_deleted: bool = False
) -> CompiledQuery:
    """Compile SOQL into a parameterised SQLite SELECT; raises :class:`SoqlError` as Salesforce would."""
    q = _parse(soql)
    comp = _Compiler(soql, lookup, now)
    comp.base(q)
    if q.offset is not None and q.offset > MAX_OFFSET:
        raise _err(
            "NUMBER_OUTSIDE_VALID_RANGE", soql, q.offset_line, q.offset_column,
            f"Maximum SOQL offset allowed is {MAX_OFFSET}",
        )
    table = _q(comp.sobject)

    columns: list[_Column] = []
    if not q.is_count:
        seen: set[str] = set()
        for path in q.fields:
            col = comp.column(path)
            if col.canonical.lower() in seen:
                raise _err("MALFORMED_QUERY", soql, path.line, path.column, f"duplicate field selected: {col.canonical}")
            seen.add(col.canonical.lower())
            columns.append(col)

    where_parts: list[str] = []
    if not include_deleted:
        where_parts.append('t0."IsDeleted" = 0')
    if q.where is not None:
        where_parts.append(comp.cond(q.where))

    order_sql = ""
    if q.order:
        if q.is_count:
            first = q.order[0].path
            raise _err("MALFORMED_QUERY", soql, first.line, first.column, "ORDER BY is not allowed with COUNT()")
        order_sql = comp.order(q.order)
    else:
        order_sql = 't0."_rowid"'

    tail = ""
    tail_params: list[Any] = []
    if q.limit is not None or q.offset is not None:
        tail = " LIMIT ? OFFSET ?"
        tail_params = [min(q.limit, 2**63 - 1) if q.limit is not None else -1, q.offset or 0]

    from_sql = f"{table} AS t0" + "".join(" " + j for j in comp.joins)
    where_sql = (" WHERE " + " AND ".join(where_parts)) if where_parts else ""
    params = comp.params + tail_params
    if len(params) > MAX_PARAMS:
        raise _too_complicated()

    if q.is_count:
        if tail:
            sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM {from_sql}{where_sql}{tail})"  # noqa: S608 - identifiers from describes, literals bound
        else:
            sql = f"SELECT COUNT(*) FROM {from_sql}{where_sql}"  # noqa: S608 - identifiers from describes, literals bound
        return CompiledQuery(comp.sobject, sql, params, True, [])

    # Hidden trailing columns: the base Id (for attributes.url) and each relationship target's Id.
    select_sql = [c.sql for c in columns]
    base_id_index = len(select_sql)
    select_sql.append('t0."Id"')
    node_id_index: dict[tuple[str, ...], list[int]] = {}
    for key, node in comp.nodes.items():
        if not key:
            continue
        node_id_index[key] = []
        for t in node.targets:
            node_id_index[key].append(len(select_sql))
            select_sql.append(f'{t.alias}."Id"')
    sql = f"SELECT {', '.join(select_sql)} FROM {from_sql}{where_sql} ORDER BY {order_sql}{tail}"  # noqa: S608 - identifiers from describes, literals bound
    shaper = _make_shaper(comp.sobject, columns, comp.nodes, base_id_index, node_id_index)
    return CompiledQuery(comp.sobject, sql, params, False, [c.canonical for c in columns], shaper)
