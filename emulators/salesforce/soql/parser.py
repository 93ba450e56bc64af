"""Parsing: SOQL text -> AST (:mod:`ast_nodes`), with Lark's LALR parser over ``grammar.lark``.

The AST is built in the parser's callbacks (no parse tree), literals are decoded as they are read
(:mod:`literals`), and short statements are cached by their text. Syntax errors become
``MALFORMED_QUERY`` with Salesforce's echo of the statement.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, VisitError

from .ast_nodes import BoolOp, Compare, FieldPath, In, Like, Not, Order, Query
from .errors import PosError, SoqlError, error_at
from .literals import lit_from_token, split_value_list

MAX_STATEMENT_CHARS = 100_000



@v_args(inline=True)
class _Build(Transformer):  # type: ignore[type-arg]
    """Builds the AST inside the LALR parser's callbacks (no intermediate tree). Stateless."""

    @staticmethod
    def _path(tok: Token) -> FieldPath:
        return FieldPath(tok.value, tok.line or 1, tok.column or 1)

    def start(self, select: tuple[bool, tuple[FieldPath, ...]], name: Token, *rest: Any) -> Query:
        alias = None
        if rest and isinstance(rest[0], Token):  # FROM Contact c
            alias, rest = rest[0].value, rest[1:]
        parts = dict(rest)
        offset_tok = parts.get("offset")
        return Query(
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

    def count_list(self, _tok: Token) -> tuple[bool, tuple[FieldPath, ...]]:
        return (True, ())

    def field_list(self, *paths: Token) -> tuple[bool, tuple[FieldPath, ...]]:
        return (False, tuple(self._path(p) for p in paths))

    def where_clause(self, cond: Any) -> tuple[str, Any]:
        return ("where", cond)

    def order_clause(self, *items: Order) -> tuple[str, Any]:
        return ("order", items)

    def order_item(self, path: Token, *mods: Token) -> Order:
        desc = False
        nulls: bool | None = None
        for m in mods:
            if m.type == "DIR":
                desc = m.value.upper() == "DESC"
            else:
                nulls = m.value.upper().endswith("FIRST")
        # Salesforce docs (SOQL ORDER BY): "By default, null values are sorted first", whatever the direction.
        return Order(self._path(path), desc, True if nulls is None else nulls)

    def limit_clause(self, tok: Token) -> tuple[str, Any]:
        return ("limit", tok.value)

    def offset_clause(self, tok: Token) -> tuple[str, Any]:
        return ("offset", tok)

    def and_(self, *items: Any) -> BoolOp:
        return BoolOp("AND", items)

    def or_(self, *items: Any) -> BoolOp:
        return BoolOp("OR", items)

    def not_(self, expr: Any) -> Not:
        return Not(expr)

    def compare(self, path: Token, op: Token, value: Token) -> Compare:
        sym = "!=" if op.value == "<>" else op.value
        return Compare(self._path(path), sym, lit_from_token(value))

    def like(self, path: Token, pattern: Token) -> Like:
        return Like(self._path(path), lit_from_token(pattern))

    def in_(self, path: Token, *values: Token) -> In:
        return In(self._path(path), tuple(lit_from_token(v) for v in values), False)

    def not_in(self, path: Token, *values: Token) -> In:
        return In(self._path(path), tuple(lit_from_token(v) for v in values), True)

    def in_list(self, path: Token, values: Token) -> In:
        return In(self._path(path), split_value_list(values), False)

    def not_in_list(self, path: Token, values: Token) -> In:
        return In(self._path(path), split_value_list(values), True)


_PARSER: Lark | None = None


def _parser() -> Lark:
    global _PARSER
    if _PARSER is None:
        # LALR + contextual lexer: keywords stay usable as names where a keyword cannot appear.
        # The transformer runs inside the parser's reductions, so no parse tree is built.
        grammar = files(__package__).joinpath("grammar.lark").read_text(encoding="utf-8")
        _PARSER = Lark(grammar, parser="lalr", lexer="contextual", transformer=_Build())
    return _PARSER


def _line_col_of_end(soql: str) -> tuple[int, int]:
    lines = soql.split("\n")
    return len(lines), len(lines[-1]) + 1


def _syntax_error(soql: str, exc: UnexpectedInput) -> SoqlError:
    if isinstance(exc, UnexpectedCharacters):
        ch = soql[exc.pos_in_stream] if exc.pos_in_stream < len(soql) else ""
        line, column = exc.line, exc.column
        detail = f"line {line}:{column - 1} no viable alternative at character '{ch}'"
        return error_at("MALFORMED_QUERY", soql, line, column, detail)
    tok = getattr(exc, "token", None)
    if isinstance(exc, UnexpectedEOF) or tok is None or tok.type == "$END":
        line, column = _line_col_of_end(soql)
        return error_at("MALFORMED_QUERY", soql, line, column, "unexpected token: '<EOF>'")
    return error_at("MALFORMED_QUERY", soql, tok.line or 1, tok.column or 1, f"unexpected token: '{tok.value}'")


_CACHED_STATEMENT_CHARS = 4_000


def parse(soql: str) -> Query:
    """Parse, through a cache by text for short statements (repeated lookups); long ones (batched IN
    lists) are practically never repeated and would make the cache hold megabytes of literals."""
    if len(soql) <= _CACHED_STATEMENT_CHARS:
        return _parse_cached(soql)
    return _parse_text(soql)


@lru_cache(maxsize=2048)
def _parse_cached(soql: str) -> Query:
    return _parse_text(soql)  # the AST is never mutated; describes are applied per compile


def _parse_text(soql: str) -> Query:
    if len(soql) > MAX_STATEMENT_CHARS:
        raise SoqlError(
            "MALFORMED_QUERY", f"SOQL statements can not be longer than {MAX_STATEMENT_CHARS} characters."
        )
    try:
        result = _parser().parse(soql)
    except PosError as exc:
        raise error_at(exc.code, soql, exc.line, exc.column, exc.detail) from None
    except VisitError as exc:
        if isinstance(exc.orig_exc, PosError):
            e = exc.orig_exc
            raise error_at(e.code, soql, e.line, e.column, e.detail) from None
        raise
    except UnexpectedInput as exc:
        raise _syntax_error(soql, exc) from None
    assert isinstance(result, Query)
    return result

