"""Compiling: AST + describes -> one parameterised SQLite SELECT over the emulator store
(docs/DESIGN.md, "Salesforce emulator storage"), with Salesforce's semantics (see README.md here).

Field paths resolve against describe documents (relationship hops become LEFT JOINs); every literal
is type-checked against its field and bound as a parameter; identifiers come from describes only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from emulators.salesforce.ids import normalize as normalize_id
from emulators.salesforce.soql_dates import relative_range

from .ast_nodes import BoolOp, Compare, FieldPath, In, Like, Lit, Not, Order, Query
from .compound import COMPOUND_TYPES, compound_key
from .errors import SoqlError, error_at
from .folding import case_variants, fold
from .literals import pos_in
from .parser import parse
from .shaping import make_shaper

MAX_OFFSET = 2_000
MAX_NESTING = 100  # nested NOT/AND/OR levels; deeper filters are QUERY_TOO_COMPLICATED
MAX_PARAMS = 30_000  # below SQLite's default 32,766 bound variables per statement

_TEXT_TYPES = frozenset(
    {"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox", "encryptedstring"}
)
_ID_TYPES = frozenset({"id", "reference"})
_NUMBER_TYPES = frozenset({"int", "double", "currency", "percent", "long"})
_TYPE_NAMES = {"int": "integer", "long": "long", "double": "double", "currency": "currency", "percent": "percent"}


@dataclass(slots=True)
class Target:
    name: str  # canonical object name
    alias: str
    describe: dict[str, Any]
    fields: dict[str, dict[str, Any]]  # lower name -> field


@dataclass(slots=True)
class Node:
    """A relationship hop reachable from the base object (``Owner``, ``Account.Owner``, ``Who``)."""

    key: tuple[str, ...]  # lower-case relationship names from the base object
    canonical: tuple[str, ...]
    targets: list[Target]
    polymorphic: bool = False  # referenceTo lists several objects: records report type "Name"


@dataclass(slots=True)
class Column:
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


def _compound_sql(alias: str, name: str, fields: Any) -> str:
    """A compound field as a JSON object of its component columns (the keys a query returns)."""
    parts = []
    for fd in sorted(fields, key=lambda d: d["name"]):
        if (fd.get("compoundFieldName") or "").lower() != name.lower():
            continue
        key = compound_key(name, fd["name"])
        if key:
            parts.append(f"'{key}', {alias}.{_q(fd['name'])}")
    return f"json_object({', '.join(sorted(parts))})" if parts else "NULL"


def _custom_field_hint(name: str, entity: str) -> str:
    return (
        f"No such column '{name}' on entity '{entity}'. If you are attempting to use a custom field, be sure "
        "to append the '__c' after the custom field name. Please reference your WSDL or the describe call "
        "for the appropriate names."
    )


class _Compiler:
    def __init__(self, soql: str, lookup: Callable[[str], dict | None], now: datetime) -> None:
        self.soql = soql
        self.lookup = lookup
        self.now = now
        self.params: list[Any] = []
        self.nodes: dict[tuple[str, ...], Node] = {}
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

    def base(self, q: Query) -> None:
        describe = self.lookup(q.sobject)
        if describe is None:
            raise error_at(
                "INVALID_TYPE", self.soql, q.sobject_line, q.sobject_column,
                f"sObject type '{q.sobject}' is not supported. {_SOBJECT_HINT}",
            )
        self.sobject = describe["name"]
        self.alias = q.alias
        root = Target(self.sobject, "t0", describe, self._field_map(describe))
        self.nodes[()] = Node((), (), [root])

    def _node(self, path: FieldPath, parts: list[str]) -> Node:
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
                targets: list[Target] = []
                for obj in ref.get("referenceTo") or []:
                    describe = self.lookup(obj)
                    if describe is None:
                        continue  # e.g. Group in Owner's referenceTo when the org has no Group object
                    alias = self._new_alias()
                    targets.append(Target(describe["name"], alias, describe, self._field_map(describe)))
                    self.joins.append(
                        f"LEFT JOIN {_q(describe['name'])} AS {alias} "
                        f"ON {alias}.\"Id\" = {parent.alias}.{_q(ref['name'])}"
                    )
                if not targets:
                    raise self._bad_relationship(path, rel)
                child = Node(child_key, node.canonical + (ref["relationshipName"],), targets,
                              polymorphic=len(ref.get("referenceTo") or []) > 1)
                self.nodes[child_key] = child
            node = child
            key = child_key
        return node

    def _bad_relationship(self, path: FieldPath, rel: str) -> SoqlError:
        return error_at(
            "INVALID_FIELD", self.soql, path.line, path.column,
            f"Didn't understand relationship '{rel}' in field path. {_RELATIONSHIP_HINT}",
        )

    def column(self, path: FieldPath) -> Column:
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
            raise error_at("INVALID_FIELD", self.soql, path.line, path.column, _custom_field_hint(fname, entity))
        f = hits[0][1]
        if f["type"] in COMPOUND_TYPES:
            t = hits[0][0]
            sql = _compound_sql(t.alias, f["name"], t.fields.values())
        else:
            exprs = [f"{t.alias}.{_q(fd['name'])}" for t, fd in hits]
            sql = exprs[0] if len(exprs) == 1 else f"COALESCE({', '.join(exprs)})"
        return Column(sql, f, ".".join(node.canonical + (f["name"],)), node.key)

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
        if isinstance(expr, BoolOp):
            return _join(expr.op, [self.cond(e, depth + 1) for e in expr.items])
        if isinstance(expr, Not):
            return f"(NOT {self.cond(expr.expr, depth + 1)})"
        if isinstance(expr, Compare):
            return self.compare(expr)
        if isinstance(expr, Like):
            return self.like(expr)
        if isinstance(expr, In):
            return self.in_(expr)
        raise AssertionError(expr)  # pragma: no cover

    def _filter_column(self, path: FieldPath) -> Column:
        col = self.column(path)
        if col.field.get("filterable") is False:
            raise error_at(
                "INVALID_FIELD", self.soql, path.line, path.column,
                f"field '{col.field['name']}' can not be filtered in a query call",
            )
        return col

    def _type_error(self, col: Column, lit: Lit, expected: str, quoted: bool) -> SoqlError:
        quotes = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
        return error_at(
            "INVALID_FIELD", self.soql, lit.line, lit.column,
            f"value of filter criterion for field '{col.field['name']}' must be of type {expected} and {quotes}",
        )

    def _today_date(self) -> date:
        if self._today is None:
            now = self.now if self.now.tzinfo else self.now.replace(tzinfo=timezone.utc)
            self._today = now.astimezone(timezone.utc).date()
        return self._today

    def _range(self, col: Column, lit: Lit) -> tuple[str, str]:
        """A relative date literal as [start, end) in the column's stored text format."""
        name, n = lit.value
        try:
            start, end = relative_range(name, n, self._today_date())
        except (OverflowError, ValueError):
            raise error_at(
                "NUMBER_OUTSIDE_VALID_RANGE", self.soql, lit.line, lit.column,
                f"invalid date literal range: {lit.raw}",
            ) from None
        if col.field["type"] == "date":
            return start.isoformat(), end.isoformat()
        return f"{start.isoformat()}T00:00:00.000+0000", f"{end.isoformat()}T00:00:00.000+0000"

    def _plain_string(self, lit: Lit) -> str:
        """A string literal outside LIKE, where \\% and \\_ are not valid escapes (Salesforce docs)."""
        value, _pattern, like_escape = lit.value
        if like_escape is not None:
            seq = lit.raw[like_escape : like_escape + 2]
            raise error_at(
                "MALFORMED_QUERY", self.soql, *pos_in(lit.raw, lit.line, lit.column, like_escape),
                f"Invalid string literal {lit.raw}. Illegal character sequence '{seq}' in string literal: "
                "\\% and \\_ are only valid in LIKE patterns.",
            )
        return value

    def _value(self, col: Column, lit: Lit) -> Any:
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
                raise error_at(
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
        raise error_at(
            "INVALID_FIELD", self.soql, lit.line, lit.column,
            f"field '{col.field['name']}' of type {ftype} can not be filtered in a query call",
        )

    def _is_ci_text(self, col: Column) -> bool:
        return col.field["type"] in _TEXT_TYPES and not col.field.get("caseSensitive")

    def _eq_any(self, col: Column, values: list[Any]) -> str:
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

    def _in_range(self, col: Column, rng: tuple[str, str]) -> str:
        c = col.sql
        return f"({c} IS NOT NULL AND {c} >= {self._bind(rng[0])} AND {c} < {self._bind(rng[1])})"

    def _membership(self, col: Column, lits: Sequence[Lit]) -> str:
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

    def compare(self, cmp: Compare) -> str:
        col = self._filter_column(cmp.path)
        op = cmp.op
        lit = cmp.value
        if op in ("=", "!="):
            cond = self._membership(col, [lit])
            return cond if op == "=" else f"(NOT {cond})"
        if lit.kind == "NULL":
            raise error_at(
                "MALFORMED_QUERY", self.soql, lit.line, lit.column,
                f"invalid operator {op} for a null value: only = and != can compare with null",
            )
        ftype = col.field["type"]
        if ftype == "boolean":
            raise error_at(
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

    def like(self, node: Like) -> str:
        col = self._filter_column(node.path)
        ftype = col.field["type"]
        if ftype not in _TEXT_TYPES:
            raise error_at(
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

    def in_(self, node: In) -> str:
        col = self._filter_column(node.path)
        cond = self._membership(col, node.values)
        return f"(NOT {cond})" if node.negate else cond

    # -- ORDER BY

    def order(self, items: Sequence[Order]) -> str:
        out: list[str] = []
        for item in items:
            col = self.column(item.path)
            if col.field.get("sortable") is False:
                raise error_at(
                    "INVALID_FIELD", self.soql, item.path.line, item.path.column,
                    f"field '{col.field['name']}' can not be sorted in a query call",
                )
            expr = f"sf_sortkey({col.sql})" if col.field["type"] in _TEXT_TYPES else col.sql
            direction = "DESC" if item.desc else "ASC"
            nulls = "NULLS FIRST" if item.nulls_first else "NULLS LAST"
            out.append(f"{expr} {direction} {nulls}")
        out.append('t0."_rowid"')  # stable order among equal keys: insertion order
        return ", ".join(out)



def compile_query(
    soql: str, lookup: Callable[[str], dict | None], *, now: datetime, include_deleted: bool = False
) -> CompiledQuery:
    """Compile SOQL into a parameterised SQLite SELECT; raises :class:`SoqlError` as Salesforce would."""
    q = parse(soql)
    comp = _Compiler(soql, lookup, now)
    comp.base(q)
    if q.offset is not None and q.offset > MAX_OFFSET:
        raise error_at(
            "NUMBER_OUTSIDE_VALID_RANGE", soql, q.offset_line, q.offset_column,
            f"Maximum SOQL offset allowed is {MAX_OFFSET}",
        )
    table = _q(comp.sobject)

    columns: list[Column] = []
    if not q.is_count:
        seen: set[str] = set()
        for path in q.fields:
            col = comp.column(path)
            if col.canonical.lower() in seen:
                raise error_at("MALFORMED_QUERY", soql, path.line, path.column,
                               f"duplicate field selected: {col.canonical}")
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
            raise error_at("MALFORMED_QUERY", soql, first.line, first.column, "ORDER BY is not allowed with COUNT()")
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
    shaper = make_shaper(comp.sobject, columns, comp.nodes, base_id_index, node_id_index)
    return CompiledQuery(comp.sobject, sql, params, False, [c.canonical for c in columns], shaper)
