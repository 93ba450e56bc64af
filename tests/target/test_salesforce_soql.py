"""soql.quote / like_pattern / chunked_in_queries: unit rules, then round trips through the emulator."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from target_salesforce_andsend.salesforce.client import SalesforceClient
from target_salesforce_andsend.salesforce.soql import (
    MAX_LITERAL_CHARS,
    MAX_STATEMENT_CHARS,
    chunked_in_queries,
    like_pattern,
    quote,
    soql,
)
from tests.target._salesforce_support import password_config


def test_quote_escapes_exactly_the_soql_escapes() -> None:
    assert quote("O'Brien") == "'O\\'Brien'"
    assert quote("back\\slash") == "'back\\\\slash'"
    assert quote("a\nb\rc\td") == "'a\\nb\\rc\\td'"
    assert quote("50%_off") == "'50%_off'"  # wildcards only matter in LIKE
    assert quote("\\'") == "'\\\\\\''"
    assert quote("Zoë 日本") == "'Zoë 日本'"


def test_quote_typed_literals() -> None:
    assert quote(None) == "null"
    assert quote(True) == "true" and quote(False) == "false"
    assert quote(42) == "42" and quote(-7) == "-7"
    assert quote(1.5) == "1.5" and quote(1e-7) == "0.0000001" and quote(2e20) == "200000000000000000000"
    assert quote(Decimal("12.3400")) == "12.34"
    assert quote(date(2026, 1, 2)) == "2026-01-02"
    assert quote(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))) == "2026-01-02T01:04:05Z"
    with pytest.raises(ValueError):
        quote(float("nan"))
    with pytest.raises(TypeError):
        quote(object())  # type: ignore[arg-type]


def test_like_pattern_escapes_wildcards() -> None:
    assert like_pattern("50%_off") == "'50\\%\\_off'"
    assert like_pattern("a'b", prefix=True) == "'a\\'b%'"
    assert like_pattern("x", contains=True) == "'%x%'"
    assert like_pattern("x", suffix=True) == "'%x'"


def test_soql_helper_quotes_every_argument() -> None:
    assert soql("SELECT Id FROM Lead WHERE Email = {} AND IsConverted = {}", "a'b@x.com", False) == (
        "SELECT Id FROM Lead WHERE Email = 'a\\'b@x.com' AND IsConverted = false")


def test_chunked_in_queries_limits_dedup_and_skips() -> None:
    values = [f"user{i}@example-company.com" for i in range(20_000)]
    values += values[:500]  # duplicates
    values += [None, "x" * (MAX_LITERAL_CHARS + 1), "'" * 2100]  # unmatchable or too long once escaped
    statements = list(chunked_in_queries("SELECT Id, Email FROM Lead WHERE", "Email", values,
                                         suffix=" AND IsConverted = false"))
    assert len(statements) >= 6
    seen: list[str] = []
    for s in statements:
        assert len(s) <= MAX_STATEMENT_CHARS
        assert s.startswith("SELECT Id, Email FROM Lead WHERE Email IN ('")
        assert s.endswith("') AND IsConverted = false")
        inner = s[len("SELECT Id, Email FROM Lead WHERE Email IN ("):-len(") AND IsConverted = false")]
        seen += [v.strip("'") for v in inner.split(",")]
    assert seen == [f"user{i}@example-company.com" for i in range(20_000)]
    # max_values caps the list length too
    capped = list(chunked_in_queries("SELECT Id FROM Lead WHERE", "Email", values[:450], max_values=200))
    assert [s.count(",") + 1 for s in capped] == [200, 200, 50]
    assert list(chunked_in_queries("SELECT Id FROM Lead WHERE", "Email", [])) == []


# -- against the emulator ------------------------------------------------------------------------

WEIRD = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("'\\%_\"\n\r\t ,()=")),
        st.characters(blacklist_categories=("Cs", "Cc"), max_codepoint=0x1F600),
    ),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip() == s and not s.startswith("@"))
# (Salesforce trims text fields, so compare values it can store; "@x" is a reference in the seed format)


@pytest.fixture(scope="module")
def sf_client(sf_emulator_session):
    client = SalesforceClient(password_config(sf_emulator_session))
    yield client
    client.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=WEIRD)
def test_quoted_literal_round_trips_through_emulator_soql(sf_emulator_session, sf_client, value: str) -> None:
    tag = uuid.uuid4().hex
    decoys = {value + "%", "_" + value, value + "\\", "'" + value, value.replace("'", "") + "x"}
    decoys.discard(value)
    records = [{"_ref": "hit", "LastName": value, "Company": tag}]
    records += [{"LastName": d, "Company": tag} for d in decoys]
    refs = sf_emulator_session.seed({"records": {"Lead": records}})
    where_tag = f"Company = {quote(tag)}"

    rows = sf_client.query(f"SELECT Id, LastName FROM Lead WHERE LastName = {quote(value)} AND {where_tag}")
    assert [r["Id"] for r in rows] == [refs["hit"]]
    assert rows[0]["LastName"] == value

    rows = sf_client.query(f"SELECT Id FROM Lead WHERE LastName LIKE {like_pattern(value)} AND {where_tag}")
    assert [r["Id"] for r in rows] == [refs["hit"]]

    stmts = list(chunked_in_queries("SELECT Id FROM Lead WHERE", "LastName", [value, value],
                                    suffix=f" AND {where_tag}"))
    assert len(stmts) == 1
    assert [r["Id"] for r in sf_client.query(stmts[0])] == [refs["hit"]]


def test_in_chunking_runs_multiple_statements_within_limits(sf_emulator_session, sf_client) -> None:
    sf_emulator = sf_emulator_session
    tag = uuid.uuid4().hex
    emails = [f"o'neil.{i}.{'x' * 30}@weird-domain.example" for i in range(3000)]
    wanted = emails[::500]
    sf_emulator.seed({"records": {"Lead": [{"LastName": "Chunk", "Company": tag, "Email": e} for e in wanted]}})
    statements = list(chunked_in_queries("SELECT Id, Email FROM Lead WHERE", "Email", emails,
                                         suffix=f" AND Company = {quote(tag)}", max_statement_chars=40_000))
    assert len(statements) >= 3 and all(len(s) <= 40_000 for s in statements)
    before = sf_emulator.stats()["by_kind"]
    found = [r["Email"] for s in statements for r in sf_client.query_all(s)]
    assert sorted(found) == sorted(wanted)
    after = sf_emulator.stats()["by_kind"]
    # long statements travel in a Composite body (URLs are limited to 16 KB), one call each
    sent = (after.get("composite", 0) - before.get("composite", 0)) + (after.get("query", 0) - before.get("query", 0))
    assert sent == len(statements)
