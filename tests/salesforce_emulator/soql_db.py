"""A real SQLite database in the emulator's storage layout (docs/DESIGN.md), for the SOQL compiler tests.

Tables are built from describe documents exactly as the layout prescribes (one table per object,
columns named by field API names, ``_rowid`` insertion order), independently of the emulator's own
store, so the compiler is tested against the contract rather than against one implementation.
"""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from emulators.salesforce.soql import CompiledQuery, compile_query, register_sqlite_functions

NOW = datetime(2026, 3, 18, 15, 30, tzinfo=timezone.utc)  # a Wednesday

_SQL_TYPES = {"boolean": "INTEGER", "int": "INTEGER", "double": "REAL", "currency": "REAL", "percent": "REAL"}
_ID_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def f(name: str, ftype: str = "string", **extra: Any) -> dict[str, Any]:
    field = {"name": name, "type": ftype, "filterable": True, "sortable": True, "caseSensitive": False,
             "referenceTo": [], "relationshipName": None}
    field.update(extra)
    return field


def _system(prefix_owner: bool = True) -> list[dict[str, Any]]:
    fields = [
        f("Id", "id"), f("IsDeleted", "boolean"), f("CreatedDate", "datetime"),
        f("CreatedById", "reference", referenceTo=["User"], relationshipName="CreatedBy"),
        f("LastModifiedDate", "datetime"),
        f("LastModifiedById", "reference", referenceTo=["User"], relationshipName="LastModifiedBy"),
        f("SystemModstamp", "datetime"),
    ]
    if prefix_owner:
        fields.append(f("OwnerId", "reference", referenceTo=["User"], relationshipName="Owner"))
    return fields


DESCRIBES: dict[str, dict[str, Any]] = {
    "User": {"name": "User", "keyPrefix": "005", "fields": _system(False) + [
        f("Username"), f("Email", "email"), f("FirstName"), f("LastName"), f("Name"), f("IsActive", "boolean"),
    ]},
    "Account": {"name": "Account", "keyPrefix": "001", "fields": _system() + [
        f("Name"), f("Website", "url"), f("NumberOfEmployees", "int"), f("AnnualRevenue", "currency"),
    ]},
    "Contact": {"name": "Contact", "keyPrefix": "003", "fields": _system() + [
        f("FirstName"), f("LastName"), f("Name"), f("Email", "email"),
        f("AccountId", "reference", referenceTo=["Account"], relationshipName="Account"),
    ]},
    "Lead": {"name": "Lead", "keyPrefix": "00Q", "fields": _system() + [
        f("FirstName"), f("LastName"), f("Name"), f("Company"), f("Email", "email"), f("Status", "picklist"),
        f("Title"), f("IsConverted", "boolean"), f("NumberOfEmployees", "int"), f("Score__c", "double"),
        f("ConvertedDate", "date"), f("Description", "textarea", filterable=False, sortable=False),
        f("Ext_Key__c", caseSensitive=True, externalId=True, unique=True),
        f("ConvertedContactId", "reference", referenceTo=["Contact"], relationshipName="ConvertedContact"),
    ]},
    "Task": {"name": "Task", "keyPrefix": "00T", "fields": _system() + [
        f("Subject", "combobox"), f("ActivityDate", "date"), f("Status", "picklist"),
        f("WhoId", "reference", referenceTo=["Contact", "Lead"], relationshipName="Who"),
        f("WhatId", "reference", referenceTo=["Account"], relationshipName="What"),
    ]},
}


def id18(id15: str) -> str:
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]) if "A" <= ch <= "Z")
        suffix += _ID_SUFFIX[bits]
    return id15 + suffix


class SoqlDb:
    """A SQLite database with one table per describe, plus helpers to insert rows and run SOQL."""

    def __init__(self, describes: dict[str, dict[str, Any]] | None = None) -> None:
        self.describes = copy.deepcopy(describes if describes is not None else DESCRIBES)
        self._by_lower = {name.lower(): d for name, d in self.describes.items()}
        self.conn = sqlite3.connect(":memory:")
        register_sqlite_functions(self.conn)
        self._counter: dict[str, int] = {}
        for d in self.describes.values():
            cols = ['"_rowid" INTEGER PRIMARY KEY']
            for fld in d["fields"]:
                decl = _SQL_TYPES.get(fld["type"], "TEXT")
                if fld["name"] == "Id":
                    decl += " NOT NULL UNIQUE"
                if fld["name"] == "IsDeleted":
                    decl += " NOT NULL DEFAULT 0"
                cols.append(f'"{fld["name"]}" {decl}')
            self.conn.execute(f'CREATE TABLE "{d["name"]}" ({", ".join(cols)})')

    def lookup(self, name: str) -> dict[str, Any] | None:
        return self._by_lower.get(name.lower())

    def insert(self, obj: str, **values: Any) -> str:
        d = self.describes[obj]
        n = self._counter.get(obj, 0) + 1
        self._counter[obj] = n
        rid = id18(f"{d['keyPrefix']}{n:012d}")
        row = {"Id": rid, "IsDeleted": 0, **values}
        row = {k: (int(v) if isinstance(v, bool) else v) for k, v in row.items()}
        cols = ", ".join(f'"{k}"' for k in row)
        marks = ", ".join("?" for _ in row)
        self.conn.execute(f'INSERT INTO "{obj}" ({cols}) VALUES ({marks})', list(row.values()))
        return rid

    def compile(self, soql: str, *, now: datetime = NOW, include_deleted: bool = False) -> CompiledQuery:
        return compile_query(soql, self.lookup, now=now, include_deleted=include_deleted)

    def records(self, soql: str, **kw: Any) -> list[dict[str, Any]]:
        cq = self.compile(soql, **kw)
        rows = self.conn.execute(cq.sql, cq.params).fetchall()
        return [cq.shape(r, api_version="60.0") for r in rows]

    def ids(self, soql: str, **kw: Any) -> list[str]:
        return [r["attributes"]["url"].rsplit("/", 1)[1] for r in self.records(soql, **kw)]

    def count(self, soql: str, **kw: Any) -> int:
        cq = self.compile(soql, **kw)
        assert cq.is_count
        return int(self.conn.execute(cq.sql, cq.params).fetchone()[0])

    def table_count(self, obj: str) -> int:
        return int(self.conn.execute(f'SELECT COUNT(*) FROM "{obj}"').fetchone()[0])


LookupFn = Callable[[str], "dict[str, Any] | None"]
