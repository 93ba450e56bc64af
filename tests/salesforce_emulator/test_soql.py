"""SOQL parser/compiler: queries run against a real SQLite database in the emulator's storage layout."""

from __future__ import annotations

import re

import pytest

from emulators.salesforce.soql import SoqlError
from tests.salesforce_emulator.soql_db import SoqlDb


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
    cq = db.compile("SELECT id, owner.email FROM LEAD")
    assert cq.sobject == "Lead" and not cq.is_count
    assert cq.select_paths == ["Id", "Owner.Email"]
    assert "?" not in cq.sql or cq.params is not None


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
    assert db.ids("SELECT Id FROM Lead WHERE Company = '100\\% Pure\\_Co'") == [db.l3]
    lid = db.insert("Lead", LastName="Tab", Company="a\tb\nc\"d", Status="Open")
    assert db.ids("SELECT Id FROM Lead WHERE Company = 'a\\tb\\nc\\\"d'") == [lid]


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
    recs = db.records("SELECT Id, Owner.Email, owner.name FROM Lead ORDER BY Owner.Email DESC")
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
    assert recs[0]["Who"]["attributes"]["type"] == "Lead" and recs[0]["Who"]["Name"] == "Änne Müller"
    assert recs[1]["Who"]["attributes"]["type"] == "Contact" and recs[1]["Who"]["Name"] == "Cat Lee"
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
    assert db.ids("SELECT Id FROM Lead WHERE Company != 'x' ORDER BY Email DESC") == [db.l2, db.l1, db.l3]
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
