"""The AST the parser builds: plain, slotted dataclasses, never mutated after parsing (the parser
caches them by statement text). Positions (line, column) are 1-based, for error echoes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class FieldPath:
    text: str
    line: int
    column: int


@dataclass(slots=True)
class Lit:
    kind: str  # STRING NUMBER NULL TRUE FALSE DATETIME DATE DATE_LITERAL
    # decoded: (str, like pattern, offset in raw of a LIKE-only escape or None) / int|float / None / bool /
    # "YYYY-MM-DD" / stored datetime text / (name, n)
    value: Any
    raw: str
    line: int
    column: int


@dataclass(slots=True)
class Compare:
    path: FieldPath
    op: str
    value: Lit


@dataclass(slots=True)
class Like:
    path: FieldPath
    pattern: Lit


@dataclass(slots=True)
class In:
    path: FieldPath
    values: tuple[Lit, ...]
    negate: bool


@dataclass(slots=True)
class Not:
    expr: Any


@dataclass(slots=True)
class BoolOp:
    op: str  # AND / OR
    items: tuple[Any, ...]


@dataclass(slots=True)
class Order:
    path: FieldPath
    desc: bool
    nulls_first: bool


@dataclass(slots=True)
class Query:
    is_count: bool
    fields: tuple[FieldPath, ...]
    sobject: str
    sobject_line: int
    sobject_column: int
    alias: str | None  # FROM Contact c: "c." may prefix paths
    where: Any
    order: tuple[Order, ...]
    limit: int | None
    offset: int | None
    offset_line: int
    offset_column: int


