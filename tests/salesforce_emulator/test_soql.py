"""SOQL parser/compiler: queries run against a real SQLite database in the emulator's storage layout."""

from __future__ import annotations

import re

import pytest

from emulators.salesforce.soql import SoqlError
from tests.salesforce_emulator.soql_db import NOW, SoqlDb


@pytest.fixture()
def db() -> SoqlDb:
    d = SoqlDb()
    d.ann = d.insert("User", Username="ann@acme.test", Email="ann@acme.test", Name="Ann Lee", IsActive=True)
    d.bob = d.insert("User", Username="bob@acme.test", Email="bob@acme.test", Name="Bob Roe", IsActive=False)
    d.acme = d.insert("Account", Name="Acme GmbH", OwnerId=d.ann, NumberOfEmployees=50, AnnualRevenue=1.5e6)
    d.c1 = d.insert("Contact", LastName="Lee", Name="Cat Lee", Email="cat@acme.de", AccountId=d.acme, OwnerId=d.bob)
    d.l1 = d.insert("Lead", LastName="Müller", Name="Änne Müller", Company="Acme", Email="ÄNN@x.de",
                    Status="Open", IsConverted=False, NumberOfEmployees=10, Score__c=2.5, OwnerId=d.ann,
                    ConvertedDate=None, CreatedDate="2026-03-18T09:00:00.000+0000", Ext_Key__c="AbC")
    d.l2 = d.insert("Lead", LastName="O'Brien", Name="Pat O'Brien", Company="Back\\slash Ltd", Email="pat@ob.ie",
                    Status="Working", IsConverted=True, NumberOfEmployees=200, Score__c=None, OwnerId=d.bob,
                    ConvertedDate="2026-03-17", CreatedDate="2026-03-01T00:00:00.000+0000", Ext_Key__c="abc",
                    ConvertedContactId=d.c1)
    d.l3 = d.insert("Lead", LastName="Zed", Name="Zed", Company="100% Pure_Co", Email=None, Status="Open",
                    IsConverted=False, NumberOfEmployees=None, Score__c=7.0, OwnerId=None,
                    ConvertedDate="2025-12-31", CreatedDate="2025-06-30T23:59:59.000+0000", Title="CEO")
    d.l4 = d.insert("Lead", LastName="Gone", Name="Gone", Company="Acme", Email="gone@x.de", IsDeleted=True,
                    Status="Open", IsConverted=False)
    d.t1 = d.insert("Task", Subject="Call", WhoId=d.l1, WhatId=d.acme, ActivityDate="2026-03-18", OwnerId=d.ann)
    d.t2 = d.insert("Task", Subject="Email", WhoId=d.c1, ActivityDate="2026-03-11", OwnerId=d.ann)
    d.t3 = d.insert("Task", Subject="Note", WhoId=None, ActivityDate=None, OwnerId=d.bob)
    return d


def err(db: SoqlDb, soql: str) -> SoqlError:
    with pytest.raises(SoqlError) as info:
        db.compile(soql)
    return info.value


def position(e: SoqlError) -> tuple[int, int]:
    m = re.search(r"ERROR at Row:(\d+):Column:(\d+)", e.message)
    assert m, e.message
    return int(m.group(1)), int(m.group(2))


# ---------------------------------------------------------------------------------------- basics


def test_select_shapes_records_with_canonical_names_and_types(db: SoqlDb) -> None:
    recs = db.records("select id, email, isconverted, numberofemployees, score__c, converteddate, createddate "
                      "from lead where email = 'pat@ob.ie'")
    assert recs == [{
        "attributes": {"type": "Lead", "url": f"/services/data/v60.0/sobjects/Lead/{db.l2}"},
        "Id": db.l2, "Email": "pat@ob.ie", "IsConverted": True, "NumberOfEmployees": 200, "Score__c": None,
        "ConvertedDate": "2026-03-17", "CreatedDate": "2026-03-01T00:00:00.000+0000",
    }]


def test_compiled_query_interface(db: SoqlDb) -> None:
    cq = db.compile("SELECT id, owner.email FROM LEAD WHERE Company = 'Acme' AND NumberOfEmployees > 5 LIMIT 7")
    assert cq.sobject == "Lead" and not cq.is_count
    assert cq.select_paths == ["Id", "Owner.Email"]
    # Every literal is a bound parameter, in order; none appears in the SQL text.
    assert cq.params == ["Acme", 5, 7, 0] and cq.sql.count("?") == 4
    assert "Acme" not in cq.sql and " 5" not in cq.sql and "7" not in cq.sql
    # The selected columns come first; the rows carry hidden trailing columns that shape() reads.
    row = db.conn.execute(cq.sql, cq.params).fetchone()
    assert row[:2] == (db.l1, "ann@acme.test") and len(row) > 2


def test_default_order_is_insertion_and_deleted_rows_are_hidden(db: SoqlDb) -> None:
    assert db.ids("SELECT Id FROM Lead") == [db.l1, db.l2, db.l3]
    assert db.ids("SELECT Id FROM Lead", include_deleted=True) == [db.l1, db.l2, db.l3, db.l4]


def test_equality_is_case_insensitive_including_non_ascii(db: SoqlDb) -> None:
    assert db.ids("SELECT Id FROM Lead WHERE Email = 'änn@x.de'") == [db.l1]
    assert db.ids("SELECT Id FROM Lead WHERE Email = 'ÄNN@X.DE'") == [db.l1]
    assert db.ids("SELECT Id FROM Lead WHERE Email = 'PAT@OB.IE'") == [db.l2]
    assert db.ids("SELECT Id FROM Lead WHERE Name = 'änne müller'") == [db.l1]
    assert db.ids("SELECT Id FROM Lead WHERE Email = 'ann@x.de'") == []  # Ä is not A


def test_case_sensitive_field_compares_exactly(db: SoqlDb) -> None:
    assert db.ids("SELECT Id FROM Lead WHERE Ext_Key__c = 'abc'") == [db.l2]
    assert db.ids("SELECT Id FROM Lead WHERE Ext_Key__c IN ('AbC', 'ABC')") == [db.l1]
    # LIKE stays case-insensitive even on case-sensitive fields.
    assert db.ids("SELECT Id FROM Lead WHERE Ext_Key__c LIKE 'ab%'") == [db.l1, db.l2]


def test_in_and_not_in_lists(db: SoqlDb) -> None:
    assert db.ids("SELECT Id FROM Lead WHERE Email IN ('PAT@ob.ie', 'änn@X.de', 'nobody@x')") == [db.l1, db.l2]
    # NOT IN includes rows whose value is null (Salesforce two-valued logic).
    assert db.ids("SELECT Id FROM Lead WHERE Email NOT IN ('pat@ob.ie')") == [db.l1, db.l3]
    assert db.ids("SELECT Id FROM Lead WHERE Email IN ('pat@ob.ie', null)") == [db.l2, db.l3]
    assert db.ids("SELECT Id FROM Lead WHERE Email NOT IN ('pat@ob.ie', null)") == [db.l1]


def test_null_comparisons_and_empty_string(db: SoqlDb) -> None:
    assert db.ids("SELECT Id FROM Lead WHERE Email = null") == [db.l3]
    assert db.ids("SELECT Id FROM Lead WHERE Email != NULL") == [db.l1, db.l2]
    assert db.ids("SELECT Id FROM Lead WHERE Email = ''") == [db.l3]
    assert db.ids("SELECT Id FROM Lead WHERE Email != ''") == [db.l1, db.l2]
    assert db.ids("SELECT Id FROM Lead WHERE OwnerId = null") == [db.l3]
    # != includes nulls; < excludes them.
    assert db.ids("SELECT Id FROM Lead WHERE Title != 'CEO'") == [db.l1, db.l2]
    assert db.ids("SELECT Id FROM Lead WHERE NumberOfEmployees < 100") == [db.l1]
    assert db.ids("SELECT Id FROM Lead WHERE NOT NumberOfEmployees < 100") == [db.l2, db.l3]


def test_like_wildcards_and_escapes(db: SoqlDb) -> None:
    assert db.ids("SELECT Id FROM Lead WHERE Company LIKE 'ac%'") == [db.l1]
    assert db.ids("SELECT Id FROM Lead WHERE Company LIKE '%\\%%'") == [db.l3]  # literal %
    assert db.ids("SELECT Id FROM Lead WHERE Company LIKE '%e\\_c%'") == [db.l3]  # literal _
    assert db.ids("SELECT Id FROM Lead WHERE Company LIKE '%e_c%'") == [db.l3]
    assert db.ids("SELECT Id FROM Lead WHERE Company LIKE 'Ac_e'") == [db.l1]
    assert db.ids("SELECT Id FROM Lead WHERE Company LIKE '100_'") == []
    assert db.ids("SELECT Id FROM Lead WHERE Company LIKE '%\\\\%'") == [db.l2]  # literal backslash
    assert db.ids("SELECT Id FROM Lead WHERE Name LIKE 'äNNE%'") == [db.l1]  # non-ASCII, case-insensitive
    assert db.ids("SELECT Id FROM Lead WHERE Name LIKE '_nne%'") == [db.l1]  # _ is one character
    assert db.ids("SELECT Id FROM Lead WHERE NOT Email LIKE '%@x.de'") == [db.l2, db.l3]


def test_string_escapes_quotes_and_backslashes(db: SoqlDb) -> None:
    assert db.ids("SELECT Id FROM Lead WHERE LastName = 'O\\'Brien'") == [db.l2]
    assert db.ids("SELECT Id FROM Lead WHERE Company = 'Back\\\\slash Ltd'") == [db.l2]
    assert db.ids("SELECT Id FROM Lead WHERE LastName = 'M\\u00fcller'") == [db.l1]
    assert db.ids("SELECT Id FROM Lead WHERE Company = '100% Pure_Co'") == [db.l3]  # no wildcards in =
    assert db.ids("SELECT Id FROM Lead WHERE Company IN ('100%', '100% Pure_Co')") == [db.l3]
    lid = db.insert("Lead", LastName="Tab", Company="a\tb\nc\"d", Status="Open")
    assert db.ids("SELECT Id FROM Lead WHERE Company = 'a\\tb\\nc\\\"d'") == [lid]
    assert db.ids("SELECT Id FROM Lead WHERE Company = 'a\\Tb\\Nc\"d'") == [lid]  # upper-case escapes, bare "
    lid2 = db.insert("Lead", LastName="Raw", Company="line1\nline2", Status="Open")
    assert db.ids("SELECT Id FROM Lead WHERE Company = 'line1\nline2'") == [lid2]  # a raw newline in a literal


def test_like_only_escapes_are_errors_elsewhere(db: SoqlDb) -> None:
    # Salesforce docs: \% and \_ are valid in LIKE expressions only.
    e = err(db, "SELECT Id FROM Lead WHERE Company = '100\\% Pure'")
    assert e.error_code == "MALFORMED_QUERY" and position(e) == (1, 41)
    assert "Illegal character sequence '\\%'" in e.message
    e = err(db, "SELECT Id FROM Lead WHERE Company IN ('ok',\n 'a\nb\\_c')")
    assert e.error_code == "MALFORMED_QUERY" and position(e) == (3, 2)
    e = err(db, "SELECT Id FROM Lead WHERE Company = 'x\ny\\q'")
    assert "Illegal character sequence '\\q'" in e.message and position(e) == (2, 2)


@pytest.mark.parametrize(
    "literal",
    ["' OR 1=1 --", "'; DROP TABLE Lead; --", "x' OR 'a'='a", "\" OR \"\"=\"", "%' OR Id != null OR Name LIKE '"],
)
def test_injection_attempts_stay_literals(db: SoqlDb, literal: str) -> None:
    escaped = literal.replace("\\", "\\\\").replace("'", "\\'")
    cq = db.compile(f"SELECT Id FROM Lead WHERE Email = '{escaped}' OR Company IN ('{escaped}')")
    assert literal not in cq.sql and "DROP" not in cq.sql and "1=1" not in cq.sql
    assert literal in cq.params
    assert db.ids(f"SELECT Id FROM Lead WHERE Email = '{escaped}' OR Company IN ('{escaped}')") == []
    assert db.ids(f"SELECT Id FROM Lead WHERE Company LIKE '{escaped}'") == []
    assert db.table_count("Lead") == 4


def test_and_or_not_nesting(db: SoqlDb) -> None:
    assert db.ids("SELECT Id FROM Lead WHERE Status = 'Open' AND (Company = 'Acme' OR Title = 'CEO')") == [
        db.l1, db.l3]
    assert db.ids("SELECT Id FROM Lead WHERE (Status = 'Open' AND Company = 'Acme') OR Email = 'pat@ob.ie'") == [
        db.l1, db.l2]
    assert db.ids("SELECT Id FROM Lead WHERE NOT (Status = 'Open' AND Company = 'Acme')") == [db.l2, db.l3]
    assert db.ids("SELECT Id FROM Lead WHERE NOT Status = 'Open' AND Company != null") == [db.l2]
    assert db.ids("SELECT Id FROM Lead WHERE Status = 'Open' AND Company = 'Acme' AND Email != null") == [db.l1]
    assert db.ids("SELECT Id FROM Lead WHERE Email = 'x' OR Email = 'pat@ob.ie' OR Title = 'CEO'") == [
        db.l2, db.l3]


def test_mixing_and_or_without_parentheses_is_malformed(db: SoqlDb) -> None:
    e = err(db, "SELECT Id FROM Lead WHERE Status = 'Open' AND Company = 'Acme' OR Title = 'CEO'")
    assert e.error_code == "MALFORMED_QUERY"
    assert "unexpected token: 'OR'" in e.message
    assert position(e) == (1, 64)


def test_booleans_and_numbers(db: SoqlDb) -> None:
    assert db.ids("SELECT Id FROM Lead WHERE IsConverted = TRUE") == [db.l2]
    assert db.ids("SELECT Id FROM Lead WHERE IsConverted != true") == [db.l1, db.l3]
    assert db.ids("SELECT Id FROM Lead WHERE NumberOfEmployees >= 10 AND NumberOfEmployees <= 200") == [
        db.l1, db.l2]
    assert db.ids("SELECT Id FROM Lead WHERE Score__c > 2.5") == [db.l3]
    assert db.ids("SELECT Id FROM Lead WHERE Score__c IN (2.5, 7)") == [db.l1, db.l3]
    assert db.ids("SELECT Id FROM Account WHERE AnnualRevenue = 1500000") == [db.acme]


def test_relationship_fields_in_select_where_and_order(db: SoqlDb) -> None:
    recs = db.records("SELECT Id, Owner.Email, owner.name FROM Lead ORDER BY Owner.Email DESC NULLS LAST")
    assert [r["Id"] for r in recs] == [db.l2, db.l1, db.l3]
    assert recs[0]["Owner"] == {
        "attributes": {"type": "User", "url": f"/services/data/v60.0/sobjects/User/{db.bob}"},
        "Email": "bob@acme.test", "Name": "Bob Roe",
    }
    assert recs[2]["Owner"] is None
    assert db.ids("SELECT Id FROM Lead WHERE Owner.Email = 'ANN@acme.test'") == [db.l1]
    assert db.ids("SELECT Id FROM Lead WHERE Owner.IsActive = false") == [db.l2]


def test_two_level_and_polymorphic_relationships(db: SoqlDb) -> None:
    recs = db.records("SELECT Subject, Who.Name, What.Name FROM Task ORDER BY Subject")
    assert [r["Subject"] for r in recs] == ["Call", "Email", "Note"]
    # Polymorphic relationships report type "Name"; the url names the real object.
    assert recs[0]["Who"] == {
        "attributes": {"type": "Name", "url": f"/services/data/v60.0/sobjects/Lead/{db.l1}"}, "Name": "Änne Müller"}
    assert recs[1]["Who"] == {
        "attributes": {"type": "Name", "url": f"/services/data/v60.0/sobjects/Contact/{db.c1}"}, "Name": "Cat Lee"}
    assert recs[0]["What"]["attributes"]["type"] == "Account"  # single target here: its own type
    assert recs[1]["What"] is None and recs[2]["Who"] is None
    assert db.ids("SELECT Id FROM Task WHERE Who.Name LIKE 'cat%'") == [db.t2]
    rec = db.records("SELECT Id, ConvertedContact.Account.Owner.Email FROM Lead WHERE IsConverted = true")[0]
    assert rec["ConvertedContact"]["attributes"]["type"] == "Contact"
    assert rec["ConvertedContact"]["Account"]["Owner"]["Email"] == "ann@acme.test"
    assert db.records(f"SELECT ConvertedContact.Account.Name FROM Lead WHERE Id = '{db.l1}'")[0][
        "ConvertedContact"] is None


def test_count(db: SoqlDb) -> None:
    assert db.count("SELECT COUNT() FROM Lead") == 3
    assert db.count("SELECT count() FROM Lead WHERE Status = 'open'") == 2
    assert db.count("SELECT COUNT() FROM Lead LIMIT 1") == 1
    assert db.count("SELECT COUNT() FROM Lead", include_deleted=True) == 4
    cq = db.compile("SELECT COUNT() FROM Lead")
    assert cq.is_count and cq.select_paths == []
    e = err(db, "SELECT COUNT() FROM Lead ORDER BY Name")
    assert e.error_code == "MALFORMED_QUERY" and position(e) == (1, 35)
    assert err(db, "SELECT Id, COUNT() FROM Lead").error_code == "MALFORMED_QUERY"


def test_order_by_nulls_and_case_insensitivity(db: SoqlDb) -> None:
    db.insert("Lead", LastName="ann", Name="ann", Company="x", Status="Open", Email="a@a")
    names = [r["LastName"] for r in db.records("SELECT LastName FROM Lead ORDER BY LastName")]
    assert names == ["ann", "Müller", "O'Brien", "Zed"]  # "ann" before "M...": case-insensitive
    names = [r["LastName"] for r in db.records("SELECT LastName FROM Lead ORDER BY LastName DESC")]
    assert names == ["Zed", "O'Brien", "Müller", "ann"]
    assert db.ids("SELECT Id FROM Lead WHERE Company != 'x' ORDER BY Email") == [db.l3, db.l1, db.l2]
    assert db.ids("SELECT Id FROM Lead WHERE Company != 'x' ORDER BY Email NULLS LAST") == [db.l1, db.l2, db.l3]
    # Nulls sort first by default in both directions (Salesforce SOQL ORDER BY docs).
    assert db.ids("SELECT Id FROM Lead WHERE Company != 'x' ORDER BY Email DESC") == [db.l3, db.l2, db.l1]
    assert db.ids("SELECT Id FROM Lead WHERE Company != 'x' ORDER BY Email DESC NULLS LAST") == [
        db.l2, db.l1, db.l3]
    assert db.ids("SELECT Id FROM Lead WHERE Company != 'x' ORDER BY Email DESC NULLS FIRST") == [
        db.l3, db.l2, db.l1]
    assert db.ids("SELECT Id FROM Lead ORDER BY Status DESC, NumberOfEmployees ASC NULLS LAST") == [
        db.l2, db.l1, db.l3, db.ids("SELECT Id FROM Lead WHERE Company = 'x'")[0]]


def test_limit_and_offset(db: SoqlDb) -> None:
    assert db.ids("SELECT Id FROM Lead LIMIT 2") == [db.l1, db.l2]
    assert db.ids("SELECT Id FROM Lead LIMIT 2 OFFSET 1") == [db.l2, db.l3]
    assert db.ids("SELECT Id FROM Lead OFFSET 2") == [db.l3]
    assert db.ids("SELECT Id FROM Lead ORDER BY Name DESC LIMIT 1") == [db.l3]
    assert db.ids("SELECT Id FROM Lead OFFSET 2000") == []
    e = err(db, "SELECT Id FROM Lead LIMIT 5 OFFSET 2001")
    assert e.error_code == "NUMBER_OUTSIDE_VALID_RANGE" and position(e) == (1, 36)
    assert "Maximum SOQL offset allowed is 2000" in e.message


# ------------------------------------------------------------------------------ dates and datetimes


def test_absolute_dates_and_datetimes(db: SoqlDb) -> None:
    assert db.ids("SELECT Id FROM Lead WHERE ConvertedDate = 2026-03-17") == [db.l2]
    assert db.ids("SELECT Id FROM Lead WHERE ConvertedDate < 2026-01-01") == [db.l3]
    assert db.ids("SELECT Id FROM Lead WHERE ConvertedDate IN (2026-03-17, 2025-12-31)") == [db.l2, db.l3]
    assert db.ids("SELECT Id FROM Lead WHERE CreatedDate >= 2026-03-01T00:00:00Z") == [db.l1, db.l2]
    assert db.ids("SELECT Id FROM Lead WHERE CreatedDate = 2026-03-01T00:00:00.000Z") == [db.l2]
    # Offsets are converted to UTC: 2026-03-01T01:00+01:00 is 2026-03-01T00:00Z.
    assert db.ids("SELECT Id FROM Lead WHERE CreatedDate = 2026-03-01T01:00:00+01:00") == [db.l2]
    assert db.ids("SELECT Id FROM Lead WHERE CreatedDate = 2025-07-01T01:59:59+02:00") == [db.l3]
    assert db.ids("SELECT Id FROM Lead WHERE CreatedDate < 2025-07-01T01:59:59+02:00") == []
    assert db.ids("SELECT Id FROM Lead WHERE CreatedDate < 2025-06-30T19:00:00-05:00") == [db.l3]


def test_datetime_literals_with_fractional_seconds(db: SoqlDb) -> None:
    # Every documented form plus the fractions clients send (tap-salesforce: microseconds and Z;
    # Salesforce accepts them). Stored values have milliseconds; a finer literal compares by instant.
    assert db.ids("SELECT Id FROM Lead WHERE CreatedDate >= 2026-03-01T00:00:00.000000Z") == [db.l1, db.l2]
    assert db.ids("SELECT Id FROM Lead WHERE CreatedDate = 2026-03-01T00:00:00.0Z") == [db.l2]
    assert db.ids("SELECT Id FROM Lead WHERE CreatedDate = 2026-03-01T00:00:00.000000000Z") == [db.l2]
    assert db.ids("SELECT Id FROM Lead WHERE CreatedDate > 2026-02-28T23:59:59.999999Z") == [db.l1, db.l2]
    assert db.ids("SELECT Id FROM Lead WHERE CreatedDate > 2026-03-01T00:00:00.000001Z") == [db.l1]
    assert db.ids("SELECT Id FROM Lead WHERE CreatedDate >= 2026-03-01T00:00:00.000001Z") == [db.l1]
    assert db.ids("SELECT Id FROM Lead WHERE CreatedDate <= 2026-03-01T00:00:00.000999Z") == [db.l2, db.l3]
    assert db.ids("SELECT Id FROM Lead WHERE CreatedDate = 2026-03-01T00:00:00.000001Z") == []
    assert db.ids("SELECT Id FROM Lead WHERE CreatedDate = 2026-03-01T01:00:00.000000+01:00") == [db.l2]


def test_relative_date_literals_with_fixed_now(db: SoqlDb) -> None:
    # NOW = Wednesday 2026-03-18 15:30 UTC; weeks start on Sunday 2026-03-15.
    assert db.ids("SELECT Id FROM Task WHERE ActivityDate = TODAY") == [db.t1]
    assert db.ids("SELECT Id FROM Task WHERE ActivityDate = today") == [db.t1]
    assert db.ids("SELECT Id FROM Task WHERE ActivityDate = LAST_WEEK") == [db.t2]
    assert db.ids("SELECT Id FROM Task WHERE ActivityDate = THIS_WEEK") == [db.t1]
    assert db.ids("SELECT Id FROM Task WHERE ActivityDate < THIS_WEEK") == [db.t2]
    assert db.ids("SELECT Id FROM Task WHERE ActivityDate > LAST_WEEK") == [db.t1]
    assert db.ids("SELECT Id FROM Task WHERE ActivityDate = LAST_N_DAYS:7") == [db.t1, db.t2]
    assert db.ids("SELECT Id FROM Task WHERE ActivityDate = LAST_N_DAYS:6") == [db.t1]
    assert db.ids("SELECT Id FROM Task WHERE ActivityDate != THIS_MONTH") == [db.t3]  # null is not in it
    assert db.ids("SELECT Id FROM Task WHERE ActivityDate IN (YESTERDAY, TODAY)") == [db.t1]
    assert db.ids("SELECT Id FROM Lead WHERE ConvertedDate = YESTERDAY") == [db.l2]
    assert db.ids("SELECT Id FROM Lead WHERE ConvertedDate = LAST_YEAR") == [db.l3]
    assert db.ids("SELECT Id FROM Lead WHERE ConvertedDate = THIS_QUARTER") == [db.l2]
    assert db.ids("SELECT Id FROM Lead WHERE ConvertedDate >= LAST_QUARTER") == [db.l2, db.l3]
    # Datetime fields: the range starts at 00:00:00 UTC.
    assert db.ids("SELECT Id FROM Lead WHERE CreatedDate = TODAY") == [db.l1]
    assert db.ids("SELECT Id FROM Lead WHERE CreatedDate = THIS_MONTH") == [db.l1, db.l2]
    assert db.ids("SELECT Id FROM Lead WHERE CreatedDate < LAST_N_MONTHS:3") == [db.l3]
    assert db.ids("SELECT Id FROM Lead WHERE CreatedDate <= YESTERDAY") == [db.l2, db.l3]


def test_relative_ranges_against_other_now(db: SoqlDb) -> None:
    from datetime import datetime, timezone

    later = datetime(2026, 3, 19, 0, 0, 1, tzinfo=timezone.utc)
    assert db.ids("SELECT Id FROM Task WHERE ActivityDate = YESTERDAY", now=later) == [db.t1]
    naive = datetime(2026, 3, 11, 23, 0)  # a naive now is taken as UTC
    assert db.ids("SELECT Id FROM Task WHERE ActivityDate = TODAY", now=naive) == [db.t2]


@pytest.mark.parametrize(
    ("soql", "message"),
    [
        ("SELECT Id FROM Lead WHERE ConvertedDate = 2026-03-17T00:00:00Z", "must be of type date"),
        ("SELECT Id FROM Lead WHERE ConvertedDate = '2026-03-17'", "must be of type date and should not be"),
        ("SELECT Id FROM Lead WHERE CreatedDate > 2026-03-17", "must be of type dateTime"),
        ("SELECT Id FROM Lead WHERE IsConverted = 'true'", "must be of type boolean and should not be enclosed"),
        ("SELECT Id FROM Lead WHERE IsConverted = 1", "must be of type boolean"),
        ("SELECT Id FROM Lead WHERE NumberOfEmployees = '10'", "must be of type integer"),
        ("SELECT Id FROM Lead WHERE Score__c IN (1, 'x')", "must be of type double"),
        ("SELECT Id FROM Lead WHERE Email = 5", "must be of type string and should be enclosed in quotes"),
        ("SELECT Id FROM Lead WHERE Email IN (true)", "must be of type string"),
        ("SELECT Id FROM Lead WHERE Email = TODAY", "must be of type string"),
        ("SELECT Id FROM Lead WHERE NumberOfEmployees LIKE '1%'", "LIKE can only be used with string fields"),
        ("SELECT Id FROM Lead WHERE Description = 'x'", "can not be filtered"),
        ("SELECT Id FROM Lead ORDER BY Description", "can not be sorted"),
        ("SELECT Id FROM Lead WHERE IsConverted > false", "invalid operator on boolean field"),
    ],
)
def test_type_errors_are_invalid_field(db: SoqlDb, soql: str, message: str) -> None:
    e = err(db, soql)
    assert e.error_code == "INVALID_FIELD"
    assert message in e.message
    assert "ERROR at Row:1:Column:" in e.message


def test_id_literals(db: SoqlDb) -> None:
    assert db.ids(f"SELECT Id FROM Lead WHERE Id = '{db.l2}'") == [db.l2]
    assert db.ids(f"SELECT Id FROM Lead WHERE Id = '{db.l2[:15]}'") == [db.l2]  # 15-character form
    assert db.ids(f"SELECT Id FROM Lead WHERE OwnerId IN ('{db.ann[:15]}', '{db.bob}')") == [db.l1, db.l2]
    assert db.ids(f"SELECT Id FROM Lead WHERE OwnerId != '{db.ann}'") == [db.l2, db.l3]
    e = err(db, "SELECT Id FROM Lead WHERE Id = 'not-an-id'")
    assert e.error_code == "INVALID_QUERY_FILTER_OPERATOR" and "invalid ID field: not-an-id" in e.message
    assert position(e) == (1, 32)
    bad_checksum = db.l2[:15] + "XXX"
    assert err(db, f"SELECT Id FROM Lead WHERE Id IN ('{db.l1}', '{bad_checksum}')").error_code == (
        "INVALID_QUERY_FILTER_OPERATOR")
    assert db.ids(f"SELECT Id FROM Lead WHERE Id = '{db.l2[:15]}{db.l2[15:].lower()}'") == [db.l2]


# ---------------------------------------------------------------------------------------- errors


def test_unknown_object_is_invalid_type_with_position(db: SoqlDb) -> None:
    e = err(db, "SELECT Id FROM Leads")
    assert e.error_code == "INVALID_TYPE"
    assert "sObject type 'Leads' is not supported. If you are attempting to use a custom object, be sure to " \
           "append the '__c' after the entity name." in e.message
    assert position(e) == (1, 16)
    assert e.message.split("\n")[1:3] == ["SELECT Id FROM Leads", " " * 15 + "^"]


def test_unknown_field_is_invalid_field_with_echo_and_caret(db: SoqlDb) -> None:
    e = err(db, "SELECT Id, Foo FROM Lead")
    assert e.error_code == "INVALID_FIELD"
    assert e.message == (
        "\nSELECT Id, Foo FROM Lead\n           ^\nERROR at Row:1:Column:12\n"
        "No such column 'Foo' on entity 'Lead'. If you are attempting to use a custom field, be sure to append "
        "the '__c' after the custom field name. Please reference your WSDL or the describe call for the "
        "appropriate names."
    )
    soql = "SELECT Id\nFROM Lead\nWHERE Email = 'x' AND Emial = 'y'"
    e = err(db, soql)
    assert e.error_code == "INVALID_FIELD" and position(e) == (3, 23)
    assert "No such column 'Emial' on entity 'Lead'" in e.message
    e = err(db, "SELECT Id FROM Lead ORDER BY Owner.Nope")
    assert "No such column 'Nope' on entity 'User'" in e.message and position(e) == (1, 30)


def test_unknown_relationship_is_invalid_field(db: SoqlDb) -> None:
    for soql, rel in [
        ("SELECT Id, Boss.Email FROM Lead", "Boss"),
        ("SELECT Id, Email.Foo FROM Lead", "Email"),
        ("SELECT Id, OwnerId.Email FROM Lead", "OwnerId"),
        ("SELECT Id, Who.Owner.Email FROM Task", "Owner"),
    ]:
        e = err(db, soql)
        assert e.error_code == "INVALID_FIELD", soql
        assert f"Didn't understand relationship '{rel}' in field path" in e.message
        assert position(e) == (1, 12)
    # A relationship name alone is not a field.
    assert err(db, "SELECT Owner FROM Lead").error_code == "INVALID_FIELD"


@pytest.mark.parametrize(
    ("soql", "column", "detail"),
    [
        ('SELECT Id FROM Lead WHERE Email = "x"', 35, "no viable alternative at character '\"'"),
        ("SELECT Id FROM Lead WHERE", 26, "unexpected token: '<EOF>'"),
        ("SELECT Id FROM Lead WHERE Email = 'x' Company = 'y'", 39, "unexpected token: 'Company'"),
        ("SELECT Id FROM Lead WHERE Email = 'unterminated", 35, "no viable alternative at character '''"),
        ("SELECT Id,, Email FROM Lead", 11, "unexpected token: ','"),
        ("SELECT Id FROM Lead WHERE Email IN ()", 37, "unexpected token: ')'"),
        ("SELECT Id FROM Lead WHERE Email IN ('a' 'b')", 41, "unexpected token: ''b''"),
        ("SELECT Id FROM Lead WHERE Email = bare", 35, "bare"),
        ("SELECT Id FROM Lead LIMIT -1", 27, "-"),
        ("DELETE FROM Lead", 1, "unexpected token: 'DELETE'"),
        ("SELECT Id FROM Lead WHERE Name = 'a\\qb'", 36, "Illegal character sequence '\\q' in string literal"),
        ("SELECT Id FROM Lead WHERE Name = 'a\\u12'", 36, "Illegal character sequence '\\u12'"),
        ("SELECT Id FROM Lead WHERE ConvertedDate = 2026-02-30", 43, "invalid date/time literal: 2026-02-30"),
        ("SELECT Id FROM Lead WHERE Email < null", 35, "only = and != can compare with null"),
        ("SELECT Id, id FROM Lead", 12, "duplicate field selected: Id"),
    ],
)
def test_malformed_queries_report_row_and_column(db: SoqlDb, soql: str, column: int, detail: str) -> None:
    e = err(db, soql)
    assert e.error_code == "MALFORMED_QUERY"
    assert detail in e.message
    assert position(e) == (1, column)
    lines = e.message.split("\n")
    assert lines[1] == soql and lines[2] == " " * (column - 1) + "^"


def test_length_limits(db: SoqlDb) -> None:
    ok = "x" * 4000
    assert db.ids(f"SELECT Id FROM Lead WHERE Email = '{ok}'") == []
    e = err(db, f"SELECT Id FROM Lead WHERE Email = 'a' OR Email = '{ok}x'")
    assert e.error_code == "MALFORMED_QUERY" and "String literal is too long" in e.message
    assert position(e) == (1, 50)
    # The limit is per literal: many literals may add up to far more than 4,000 characters.
    values = ", ".join(f"'{i:03d}{'y' * 3000}'" for i in range(20))
    assert db.ids(f"SELECT Id FROM Lead WHERE Email IN ({values})") == []
    long_query = "SELECT Id FROM Lead WHERE Email IN (" + ", ".join(["'abcdefgh@example.com'"] * 5000) + ")"
    assert len(long_query) > 100_000
    e = err(db, long_query)
    assert e.error_code == "MALFORMED_QUERY"
    assert "SOQL statements can not be longer than 100000 characters" in e.message


def test_keywords_and_names_are_case_insensitive(db: SoqlDb) -> None:
    recs = db.records("sElEcT ID, EMAIL, oWnEr.EmAiL fRoM lEaD wHeRe EMAIL iN ('PAT@OB.IE') aNd NoT "
                      "isconverted = FALSE oRdEr By EMAIL dEsC nUlLs LaSt LiMiT 5 oFfSeT 0")
    assert recs == [{
        "attributes": {"type": "Lead", "url": f"/services/data/v60.0/sobjects/Lead/{db.l2}"},
        "Id": db.l2, "Email": "pat@ob.ie",
        "Owner": {"attributes": {"type": "User", "url": f"/services/data/v60.0/sobjects/User/{db.bob}"},
                  "Email": "bob@acme.test"},
    }]
    # The object name as a path prefix, and <> as !=.
    assert db.ids("SELECT Lead.Id FROM Lead WHERE Lead.Email <> 'pat@ob.ie' AND Email != null") == [db.l1]
    # Keywords are only keywords where the grammar expects them.
    assert db.ids("SELECT Id FROM Lead WHERE Title IN ('null') OR Status = 'limit'") == []


def test_in_list_fast_path_matches_token_path(db: SoqlDb) -> None:
    values = ["'pat@ob.ie'", "'ÄNN@x.de'", "null", "'it\\'s'", "'back\\\\slash'"]
    fast = f"SELECT Id FROM Lead WHERE Email IN ({', '.join(values)})"
    # A trailing space inside a string breaks nothing; a bare word forces the token-wise rule.
    assert db.ids(fast) == [db.l1, db.l2, db.l3]
    e = err(db, "SELECT Id FROM Lead WHERE Email IN ('a',\n  'b', nope)")
    assert e.error_code == "MALFORMED_QUERY" and position(e) == (2, 8)
    e = err(db, "SELECT Id FROM Lead WHERE Email IN ('a',\n  'b\\q')")
    assert "Illegal character sequence '\\q'" in e.message and position(e) == (2, 5)
    e = err(db, "SELECT Id FROM Lead WHERE NumberOfEmployees NOT IN (1,\n 2, 'three')")
    assert e.error_code == "INVALID_FIELD" and position(e) == (2, 5)


def test_shape_api_version_and_include_deleted(db: SoqlDb) -> None:
    cq = db.compile("SELECT Name FROM Lead WHERE IsDeleted = true", include_deleted=True)
    row = db.conn.execute(cq.sql, cq.params).fetchone()
    assert cq.shape(row, api_version="v58.0") == {
        "attributes": {"type": "Lead", "url": f"/services/data/v58.0/sobjects/Lead/{db.l4}"}, "Name": "Gone"}
    assert db.ids("SELECT Id FROM Lead WHERE IsDeleted = true") == []
    with pytest.raises(TypeError):
        db.compile("SELECT COUNT() FROM Lead").shape((1,), api_version="60.0")


def test_complexity_limits_and_number_ranges(db: SoqlDb) -> None:
    # Long flat OR chains run (grouped so SQLite's expression depth limit is not hit).
    chain = " OR ".join(f"NumberOfEmployees = {i}" for i in range(3000))
    assert db.ids(f"SELECT Id FROM Lead WHERE {chain}") == [db.l1, db.l2]
    dates = ", ".join(["TODAY"] * 1500 + ["2026-03-17"])
    assert db.ids(f"SELECT Id FROM Lead WHERE ConvertedDate IN ({dates})") == [db.l2]
    # Deep nesting and too many literals are refused, not crashed on.
    assert db.ids(f"SELECT Id FROM Lead WHERE {'(' * 500}Email = 'pat@ob.ie'{')' * 500}") == [db.l2]
    deep = "Email = 'x'"
    for i in range(150):
        deep = f"Email = 'y' {'AND' if i % 2 else 'OR'} ({deep})"
    assert err(db, f"SELECT Id FROM Lead WHERE {deep}").error_code == "QUERY_TOO_COMPLICATED"
    assert err(db, f"SELECT Id FROM Lead WHERE {'NOT ' * 150}Email = 'x'").error_code == "QUERY_TOO_COMPLICATED"
    many = ", ".join(["1"] * 31_000)
    assert err(db, f"SELECT Id FROM Lead WHERE NumberOfEmployees IN ({many})").error_code == "QUERY_TOO_COMPLICATED"
    e = err(db, "SELECT Id FROM Lead WHERE NumberOfEmployees > 9223372036854775808")
    assert e.error_code == "NUMBER_OUTSIDE_VALID_RANGE" and position(e) == (1, 47)
    assert db.ids("SELECT Id FROM Lead WHERE NumberOfEmployees < 9223372036854775807 LIMIT 99999999999999999999") == [
        db.l1, db.l2]
    e = err(db, "SELECT Id FROM Task WHERE ActivityDate = LAST_N_YEARS:99999")
    assert e.error_code == "NUMBER_OUTSIDE_VALID_RANGE" and position(e) == (1, 42)


def test_non_ascii_equality_uses_nocase_indexes_and_stays_exact(db: SoqlDb) -> None:
    from emulators.salesforce.soql import case_variants

    assert sorted(case_variants("ä@x")) == ["Ä@x", "ä@x"]
    assert case_variants("ÄÖÜÄÖÜ") is None  # 64 spellings: falls back to sf_fold
    db.conn.execute('CREATE INDEX lead_email ON "Lead" ("Email" COLLATE NOCASE)')
    cq = db.compile("SELECT Id FROM Lead WHERE Email IN ('änn@x.de', 'pat@ob.ie')")
    plan = " ".join(str(r) for r in db.conn.execute("EXPLAIN QUERY PLAN " + cq.sql, cq.params))
    assert "USING INDEX lead_email" in plan and "sf_fold" not in cq.sql
    assert db.ids("SELECT Id FROM Lead WHERE Email IN ('änn@x.de', 'PAT@ob.ie')") == [db.l1, db.l2]
    many = db.insert("Lead", LastName="ÄÖÜäöü", Company="x", Status="Open")
    cq = db.compile("SELECT Id FROM Lead WHERE LastName = 'äöüÄÖÜ'")
    assert "sf_fold" in cq.sql
    assert db.ids("SELECT Id FROM Lead WHERE LastName = 'äöüÄÖÜ'") == [many]
    assert db.ids("SELECT Id FROM Lead WHERE LastName IN ('äöüÄÖÜ', 'müller')") == [db.l1, many]
    # Kelvin sign (folds to ASCII k under Unicode) and dotted İ stay distinct from k / i.
    kelvin = db.insert("Lead", LastName="\u212a", Company="x", Status="Open")
    assert db.ids("SELECT Id FROM Lead WHERE LastName = 'k'") == []
    assert db.ids("SELECT Id FROM Lead WHERE LastName = '\u212a'") == [kelvin]


def test_rows_count_newlines_only_and_eof_position(db: SoqlDb) -> None:
    # A U+2028 inside a literal is not a line break for the row/column count.
    e = err(db, "SELECT Id FROM Lead WHERE Company = 'a\u2028b' AND\r\n  Foo = 'x'")
    assert position(e) == (2, 3) and e.message.split("\n")[1] == "  Foo = 'x'"
    e = err(db, "SELECT Id FROM Lead WHERE\n")
    assert position(e) == (2, 1) and "'<EOF>'" in e.message


def test_concurrent_compiles_are_independent(db: SoqlDb) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from emulators.salesforce.soql import compile_query

    def work(i: int) -> tuple[str, list]:
        cq = compile_query(f"SELECT Id FROM Lead WHERE NumberOfEmployees = {i} OR Email IN ('u{i}@x', 'ä{i}@x')",
                           db.lookup, now=NOW)
        return cq.sql, cq.params

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(400)))
    for i, (_sql, params) in enumerate(results):
        assert params[0] == i and f"u{i}@x" in params and f"Ä{i}@x" in params


def test_object_alias(db: SoqlDb) -> None:
    recs = db.records("SELECT c.Email, c.Account.Name FROM Contact c WHERE c.Email LIKE 'cat%' ORDER BY c.Email")
    assert [(r["Email"], r["Account"]["Name"]) for r in recs] == [("cat@acme.de", "Acme GmbH")]
    assert db.ids("select Id from Lead l where l.Status = 'Open' limit 1") == [db.l1]
    e = err(db, "SELECT x.Email FROM Contact c")
    assert e.error_code == "INVALID_FIELD" and "Didn't understand relationship 'x'" in e.message


def test_parse_cache_holds_short_statements_only(db: SoqlDb) -> None:
    from emulators.salesforce.soql import parser

    short = f"SELECT Id FROM Lead WHERE Email = 'cache-{id(db)}@x'"
    db.compile(short)
    hits = parser._parse_cached.cache_info().hits
    db.compile(short)
    assert parser._parse_cached.cache_info().hits == hits + 1
    size = parser._parse_cached.cache_info().currsize
    long = "SELECT Id FROM Lead WHERE Email IN (" + ", ".join(f"'{i}-{id(db)}@x.de'" for i in range(400)) + ")"
    assert db.ids(long) == [] and parser._parse_cached.cache_info().currsize == size


def test_fold_rule_keeps_lengths_and_non_ascii(db: SoqlDb) -> None:
    from emulators.salesforce.soql import fold

    assert fold("ÄNN@X.DE") == "änn@x.de"
    assert fold("\u212a") == "\u212a" and fold("İ") == "İ"  # KELVIN SIGN -> k would be ASCII; İ -> 2 chars
    assert fold("ΣΑΣ") == "σασ"
    kelvin = db.insert("Lead", LastName="\u212aelvin", Company="x", Status="Open")
    # Through sf_fold (range and non-ASCII LIKE): the Kelvin sign is not an ASCII k.
    assert kelvin not in db.ids("SELECT Id FROM Lead WHERE LastName < 'l'")
    assert db.ids("SELECT Id FROM Lead WHERE LastName LIKE '\u212a%'") == [kelvin]
    assert db.ids("SELECT Id FROM Lead WHERE LastName LIKE 'k%'") == []
    assert db.ids("SELECT Id FROM Lead WHERE LastName LIKE '%Ü%'") == [db.l1]  # Müller
