"""Property test: random SOQL filters over random records give the same ids in SQLite as in plain Python.

The Python side is an independent reading of the Salesforce semantics the compiler implements:
two-valued logic (null never equals a value, ``!=``/``NOT IN`` include nulls), case-insensitive text
comparison (per character lower case) except on case-sensitive fields, ``LIKE`` wildcards with
``\\%``/``\\_`` escapes, ``= ''`` meaning null, and ORDER BY with nulls first (ascending) or last
(descending) and insertion order among ties.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulators.salesforce.soql import sort_key
from tests.salesforce_emulator.soql_db import SoqlDb, f

DESCRIBE = {"name": "Prospect__c", "keyPrefix": "a01", "fields": [
    f("Id", "id"), f("IsDeleted", "boolean"), f("Name"), f("Email__c", "email"),
    f("Key__c", caseSensitive=True), f("Count__c", "int"), f("Score__c", "double"), f("Active__c", "boolean"),
    f("Day__c", "date"), f("Seen__c", "datetime"),
]}
TEXT = ("Name", "Email__c", "Key__c")
NUMBERS = ("Count__c", "Score__c")
NOW = datetime(2026, 3, 18, 15, 30, tzinfo=timezone.utc)

# Characters chosen to stress escaping and case folding: quotes, backslashes, LIKE wildcards, letters
# whose case mapping is non-ASCII, changes length (İ), maps to ASCII (KELVIN SIGN), or is contextual (Σ).
ALPHABET = list("aAbBzZ09 '\\%_\"\n\täÄöÖßẞİıΣσςéÉ") + ["\u212a", "k", "K", "ŉ"]


def ci(s: str) -> str:
    """Case-insensitive key: each character's lower case when that is one character and stays
    non-ASCII for a non-ASCII character (the documented folding rule of the emulator)."""
    out = []
    for ch in s:
        low = ch.lower()
        out.append(low if len(low) == 1 and (ch.isascii() or not low.isascii()) else ch)
    return "".join(out)


def soql_string(value: str, draw: Any) -> str:
    out = []
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append(draw(st.sampled_from(["\\t", "\t"])))
        elif ch == '"':
            out.append(draw(st.sampled_from(['\\"', '"'])))
        elif not ch.isascii() and draw(st.booleans()):
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


# Half the strings are ASCII made of wildcard/escape characters, so LIKE escaping gets exercised often.
texts = st.one_of(
    st.text(alphabet=ALPHABET, min_size=1, max_size=6),
    st.text(alphabet="aA%_\\'", min_size=1, max_size=5),
)
days = st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31))
moments = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)).map(
    lambda d: d.replace(microsecond=(d.microsecond // 1000) * 1000)
)


def stored_dt(d: datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}+0000"


# Built once: creating strategies inside the test's draws is what makes hypothesis slow.
_RECORD = st.fixed_dictionaries({
    "Name": st.none() | texts, "Email__c": st.none() | texts, "Key__c": st.none() | texts,
    "Count__c": st.none() | st.integers(-5, 5),
    "Score__c": st.none() | st.integers(-300, 300).map(lambda x: x / 100),
    "Active__c": st.booleans(),
    "Day__c": st.none() | days.map(date.isoformat),
    "Seen__c": st.none() | moments.map(stored_dt),
})


def records() -> Any:
    return st.lists(_RECORD, max_size=8)


@dataclass
class Q:
    soql: str
    check: Any  # record -> bool
    leaves: tuple[Q, ...] = ()  # the comparisons inside, each also checked on its own (no masking)


def _vary_case(value: str, draw: Any) -> str:
    return draw(st.sampled_from([value, value.upper(), value.lower(), value.swapcase()]))


def _string_value(field: str, recs: list[dict[str, Any]], draw: Any) -> str:
    seen = [r[field] for r in recs if r[field] is not None]
    if seen and draw(st.booleans()):
        return _vary_case(draw(st.sampled_from(seen)), draw)
    return draw(st.one_of(texts, st.just("")))


def _text_eq(field: str, lit: str) -> Any:
    if lit == "":
        return lambda r: r[field] is None
    if field == "Key__c":
        return lambda r: r[field] == lit
    return lambda r: r[field] is not None and ci(r[field]) == ci(lit)


_OPS = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


@st.composite
def leaf(draw: Any, recs: list[dict[str, Any]]) -> Q:
    kind = draw(st.sampled_from(["eq", "ne", "cmp", "in", "not_in", "null", "not_null", "like", "like"]))
    fields = TEXT if kind == "like" else TEXT + NUMBERS + ("Active__c", "Day__c", "Seen__c")
    field = draw(st.sampled_from(fields))
    if kind in ("null", "not_null"):
        op = "=" if kind == "null" else "!="
        return Q(f"{field} {op} null", (lambda r: r[field] is None) if op == "=" else (lambda r: r[field] is not None))

    def value() -> tuple[str, Any, Any]:
        """(soql literal, python value, equality predicate)."""
        if field in TEXT:
            v = _string_value(field, recs, draw)
            return soql_string(v, draw), v, _text_eq(field, v)
        if field == "Count__c":
            v = draw(st.integers(-6, 6))
            return str(v), v, (lambda r: r[field] is not None and r[field] == v)
        if field == "Score__c":
            v = draw(st.integers(-300, 300)) / 100
            return f"{v:.2f}", v, (lambda r: r[field] is not None and r[field] == v)
        if field == "Active__c":
            b = draw(st.booleans())
            return ("true" if b else "false"), b, (lambda r: r[field] == b)
        if field == "Day__c":
            seen = [r[field] for r in recs if r[field]]
            d = draw(st.sampled_from(seen)) if seen and draw(st.booleans()) else draw(days).isoformat()
            return d, d, (lambda r: r[field] == d)
        seen = [r[field] for r in recs if r[field]]
        s = draw(st.sampled_from(seen)) if seen and draw(st.booleans()) else stored_dt(draw(moments))
        return s[:19] + "." + s[20:23] + "Z", s, (lambda r: r[field] == s)

    if kind == "like":
        seen = [r[field] for r in recs if r[field] is not None]
        base = _vary_case(draw(st.sampled_from(seen)), draw) if seen and draw(st.booleans()) else draw(texts)
        soql_parts, regex = [], []
        for ch in base:
            choice = draw(st.sampled_from(["keep", "keep", "keep", "one", "any"]))
            if choice == "one":
                soql_parts.append("_")
                regex.append(".")
            elif choice == "any":
                soql_parts.append("%")
                regex.append(".*")
            else:
                soql_parts.append({"\\": "\\\\", "'": "\\'", "%": "\\%", "_": "\\_", "\n": "\\n"}.get(ch, ch))
                regex.append(re.escape(ci(ch)))
        if draw(st.booleans()):
            soql_parts.append("%")
            regex.append(".*")
        rx = re.compile("".join(regex), re.DOTALL)
        return Q(f"{field} LIKE '{''.join(soql_parts)}'",
                 lambda r: r[field] is not None and rx.fullmatch(ci(r[field])) is not None)
    if kind in ("in", "not_in"):
        items = [value() for _ in range(draw(st.integers(1, 4)))]
        with_null = draw(st.booleans()) and draw(st.booleans())
        lits = [i[0] for i in items] + (["null"] if with_null else [])
        preds = [i[2] for i in items]

        def member(r: dict[str, Any]) -> bool:
            return any(p(r) for p in preds) or (with_null and r[field] is None)

        neg = kind == "not_in"
        return Q(f"{field} {'NOT IN' if neg else 'IN'} ({', '.join(lits)})",
                 (lambda r: not member(r)) if neg else member)
    lit, v, eq = value()
    if kind == "cmp" and field != "Active__c":
        op = draw(st.sampled_from(sorted(_OPS)))
        fn = _OPS[op]
        if field in TEXT:
            key = (lambda s: s) if field == "Key__c" else ci
            return Q(f"{field} {op} {lit}", lambda r: r[field] is not None and fn(key(r[field]), key(v)))
        return Q(f"{field} {op} {lit}", lambda r: r[field] is not None and fn(r[field], v))
    if kind == "ne":
        return Q(f"{field} {draw(st.sampled_from(['!=', '<>']))} {lit}", lambda r: not eq(r))
    return Q(f"{field} = {lit}", eq)


def tree(recs: list[dict[str, Any]], depth: int) -> Any:
    @st.composite
    def node(draw: Any) -> Q:
        if depth == 0 or draw(st.booleans()):
            q = draw(leaf(recs))
            q.leaves = (q,)
            return q
        shape = draw(st.sampled_from(["and", "or", "not"]))
        if shape == "not":
            inner = draw(tree(recs, depth - 1))
            return Q(f"NOT ({inner.soql})", lambda r: not inner.check(r), inner.leaves)
        items = draw(st.lists(tree(recs, depth - 1), min_size=2, max_size=3))
        joined = f" {shape.upper()} ".join(f"({i.soql})" for i in items)
        leaves = tuple(x for i in items for x in i.leaves)
        if shape == "and":
            return Q(joined, lambda r: all(i.check(r) for i in items), leaves)
        return Q(joined, lambda r: any(i.check(r) for i in items), leaves)

    return node()


@st.composite
def scenarios(draw: Any) -> tuple[list[dict[str, Any]], Q, tuple[str, bool, bool | None] | None]:
    recs = draw(records())
    q = draw(tree(recs, 3))
    order = None
    if draw(st.booleans()):
        order = (draw(st.sampled_from(TEXT + NUMBERS + ("Day__c", "Seen__c"))), draw(st.booleans()),
                 draw(st.sampled_from([None, True, False])))
    return recs, q, order


def expected_order(rows: list[tuple[int, dict[str, Any]]], field: str, desc: bool,
                   nulls_first: bool | None) -> list[int]:
    key = sort_key if field in TEXT else (lambda v: v)
    present = [(i, r) for i, r in rows if r[field] is not None]
    nulls = [i for i, r in rows if r[field] is None]
    present.sort(key=lambda ir: key(ir[1][field]), reverse=desc)  # stable: ties keep insertion order
    first = True if nulls_first is None else nulls_first  # nulls first by default, both directions
    ordered = [i for i, _ in present]
    return nulls + ordered if first else ordered + nulls


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_compiled_filters_match_python_semantics(scenario: Any) -> None:
    recs, q, order = scenario
    db = SoqlDb({"Prospect__c": DESCRIBE})
    ids = [db.insert("Prospect__c", **r) for r in recs]
    deleted = db.insert("Prospect__c", Name="deleted", IsDeleted=True)  # never in results
    soql = f"SELECT Id FROM Prospect__c WHERE {q.soql}"
    expect = [ids[i] for i, r in enumerate(recs) if q.check(r)]
    if order is not None:
        field, desc, nulls_first = order
        soql += f" ORDER BY {field}{' DESC' if desc else ''}"
        soql += "" if nulls_first is None else (" NULLS FIRST" if nulls_first else " NULLS LAST")
        picked = [(i, r) for i, r in enumerate(recs) if q.check(r)]
        expect = [ids[i] for i in expected_order(picked, field, desc, nulls_first)]
    got = db.ids(soql, now=NOW)
    assert got == expect, soql
    assert deleted not in got
    assert db.count(f"SELECT COUNT() FROM Prospect__c WHERE {q.soql}", now=NOW) == len(expect)
    for one in q.leaves:
        expect_one = [ids[i] for i, r in enumerate(recs) if one.check(r)]
        assert db.ids(f"SELECT Id FROM Prospect__c WHERE {one.soql}", now=NOW) == expect_one, one.soql


def test_ci_rule_matches_known_cases() -> None:
    # Guards the oracle itself: these are the behaviours the property relies on.
    assert ci("ÄNN@X.DE") == "änn@x.de" and ci("\u212a") == "\u212a" and ci("İ") == "İ"
    assert ci("ΣΑΣ") == "σασ"  # per character: no final-sigma rule


# Any text the target can send: everything but NUL and lone surrogates (neither can be stored).
any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                   min_size=1, max_size=40)


@settings(max_examples=100, deadline=None)
@given(st.lists(any_text, min_size=1, max_size=8, unique=True), st.data())
def test_target_quoting_round_trips_through_the_emulator_parser(values: list[str], data: Any) -> None:
    """The target's one escaping function and the emulator's parser agree on every string: an
    equality, an IN list (chunked as the target sends it) and a literal LIKE find exactly the record
    holding the value, case-insensitively."""
    from target_salesforce_andsend.salesforce.soql import chunked_in_queries, like_pattern, quote

    db = SoqlDb({"Prospect__c": DESCRIBE})
    ids = {v: db.insert("Prospect__c", Name=v, Key__c=v) for v in values}
    probe = data.draw(st.sampled_from(values))
    expect = sorted(ids[v] for v in values if ci(v) == ci(probe))
    assert sorted(db.ids(f"SELECT Id FROM Prospect__c WHERE Name = {quote(probe)}")) == expect
    assert db.ids(f"SELECT Id FROM Prospect__c WHERE Key__c = {quote(probe)}") == [ids[probe]]
    assert sorted(db.ids(f"SELECT Id FROM Prospect__c WHERE Name LIKE {like_pattern(probe)}")) == expect
    assert ids[probe] in db.ids(f"SELECT Id FROM Prospect__c WHERE Name LIKE {like_pattern(probe, contains=True)}")
    found: list[str] = []
    for stmt in chunked_in_queries("SELECT Id FROM Prospect__c WHERE", "Key__c", values, max_statement_chars=300):
        found += db.ids(stmt)
    assert sorted(found) == sorted(ids.values())


SOQL_PIECES = [
    "SELECT", "Id", "Name", "Email__c", "Key__c", "Count__c", "Score__c", "Active__c", "Day__c", "Seen__c",
    "Owner", ".", ",", "FROM", "Prospect__c", "Lead", "WHERE", "AND", "OR", "NOT", "(", ")", "=", "!=", "<",
    ">=", "LIKE", "IN", "NOT IN", "null", "true", "FALSE", "'a'", "'%\\_'", "'\\q'", "'", '"x"', "\\", "5",
    "-3.5", "99999999999999999999", "2026-01-01", "2026-13-45", "2026-01-01T00:00:00Z", "TODAY",
    "LAST_N_DAYS:3", "LAST_N_DAYS:99999999", "ORDER BY", "ASC", "DESC", "NULLS FIRST", "LIMIT", "OFFSET",
    "2001", "COUNT()", "COUNT", "\n", "  ", "ä", "\u212a", ";", "--", "/*",
]


ANY_FIELD = st.sampled_from(["Id", "Name", "Email__c", "Key__c", "Count__c", "Score__c", "Active__c", "Day__c",
                             "Seen__c", "IsDeleted", "Nope", "Name.X", "prospect__c.Name"])
ANY_VALUE = st.sampled_from([
    "'a'", "'A%'", "''", "null", "true", "5", "-3.5", "99999999999999999999", "2026-01-01",
    "2026-01-01T00:00:00Z", "TODAY", "LAST_N_DAYS:3", "LAST_N_YEARS:99999", "'a01000000000001'", "'x\\%'",
    "'\\u00e4'",
])


@st.composite
def shaped_queries(draw: Any) -> str:
    """Grammatical statements mixing every field with every operator and value: type errors,
    unknown fields and valid filters alike."""
    def cond() -> str:
        f, op = draw(ANY_FIELD), draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "LIKE", "IN", "NOT IN"]))
        if op.endswith("IN"):
            return f"{f} {op} ({', '.join(draw(st.lists(ANY_VALUE, min_size=1, max_size=3)))})"
        return f"{f} {op} {draw(ANY_VALUE)}"
    fields = ", ".join(draw(st.lists(ANY_FIELD, min_size=1, max_size=3, unique=True)))
    head = "SELECT COUNT()" if draw(st.booleans()) and draw(st.booleans()) else f"SELECT {fields}"
    where = f" WHERE {cond()}" + (f" {draw(st.sampled_from(['AND', 'OR']))} {cond()}" if draw(st.booleans()) else "")
    order = f" ORDER BY {draw(ANY_FIELD)} {draw(st.sampled_from(['', 'DESC', 'NULLS LAST']))}" if draw(
        st.booleans()) else ""
    limit = f" LIMIT {draw(st.integers(0, 5))}" if draw(st.booleans()) else ""
    return f"{head} FROM Prospect__c{where}{order}{limit}"


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    shaped_queries(),
    shaped_queries(),
    st.lists(st.sampled_from(SOQL_PIECES), max_size=20).map(" ".join),
    st.lists(st.sampled_from(SOQL_PIECES), max_size=12).map(
        lambda p: "SELECT Id FROM Prospect__c WHERE " + " ".join(p)),
    st.text(max_size=60),
))
def test_any_input_is_a_result_or_a_salesforce_error_never_a_crash(text: str) -> None:
    """Whatever a client sends, the compiler answers with SQL that runs or with a SoqlError (a 400),
    never another exception (a 500) and never SQL that SQLite rejects."""
    from emulators.salesforce.soql import SoqlError

    db = SoqlDb({"Prospect__c": DESCRIBE})
    db.insert("Prospect__c", Name="a", Count__c=1)
    try:
        cq = db.compile(text, now=NOW)
    except SoqlError as e:
        assert e.error_code in {"MALFORMED_QUERY", "INVALID_TYPE", "INVALID_FIELD", "NUMBER_OUTSIDE_VALID_RANGE",
                                "INVALID_QUERY_FILTER_OPERATOR", "QUERY_TOO_COMPLICATED"}
        assert e.message
        return
    rows = db.conn.execute(cq.sql, cq.params).fetchall()
    if not cq.is_count:
        for row in rows:
            cq.shape(row, api_version="60.0")
