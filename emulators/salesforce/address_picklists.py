"""State and Country/Territory Picklists, an org option (``org.state_country_picklists``).

With the option on (Salesforce Help, "State and Country/Territory Picklists" and "Integration Values
for State and Country/Territory Picklists"), every address has ``<prefix>CountryCode`` and
``<prefix>StateCode`` picklists holding ISO codes beside the text fields, whose values must then be
the integration values (the names). Writing either the name or the code sets the other; a name or
code outside the list fails with ``FIELD_INTEGRITY_EXCEPTION`` ("There's a problem with this
country, even though it may appear correct..."). Countries are ISO 3166-1 (pycountry); states are
configured, as in a new org, for the United States, Canada and Australia (ISO 3166-2).
"""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any

import pycountry

STATE_COUNTRIES = ("US", "CA", "AU")
COUNTRY_ERROR = ("There's a problem with this country, even though it may appear correct. Please select a "
                 "country/territory from the list of valid countries.")
STATE_ERROR = ("There's a problem with this state, even though it may appear correct. Please select a state "
               "from the list of valid states.")


@lru_cache(maxsize=1)
def countries() -> dict[str, str]:
    """ISO alpha-2 code -> integration value (name)."""
    return {c.alpha_2: c.name for c in pycountry.countries}


@lru_cache(maxsize=1)
def states() -> dict[str, dict[str, str]]:
    """Country code -> {state code (without the country prefix) -> name}."""
    return {cc: {s.code.split("-", 1)[1]: s.name for s in pycountry.subdivisions.get(country_code=cc)}
            for cc in STATE_COUNTRIES}


def _picklist(name: str, label: str, values: dict[str, str], compound: str) -> dict[str, Any]:
    return {"name": name, "type": "picklist", "label": label, "length": 10, "custom": False,
            "restrictedPicklist": True, "compoundFieldName": compound, "picklistValues": [
                {"active": True, "defaultValue": False, "label": label_, "validFor": None, "value": code}
                for code, label_ in sorted(values.items())]}


def _valid_for(state: str) -> str:
    """The ``validFor`` bitmap of a state code: bit n (most significant bit of each byte first) set
    for the n-th value of the controlling CountryCode picklist whose states include it (REST API,
    sObject Describe: PicklistEntry ``validFor`` of a dependent picklist)."""
    order = sorted(countries())
    bits = bytearray((len(order) + 7) // 8)
    for cc, per in states().items():
        if state in per:
            n = order.index(cc)
            bits[n // 8] |= 0x80 >> (n % 8)
    return base64.b64encode(bytes(bits)).decode("ascii")


def code_fields(schema_fields: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The code picklists an object gains: one pair per compound address it has; StateCode depends
    on CountryCode (``controllerName``, ``validFor``) as in a real org."""
    out = []
    for name, f in schema_fields.items():
        if f["type"] != "address":
            continue
        prefix = name[: -len("Address")]
        if f"{prefix}CountryCode" not in schema_fields:
            out.append(_picklist(f"{prefix}CountryCode", f"{prefix} Country Code".strip(), countries(), name))
        if f"{prefix}StateCode" not in schema_fields:
            every = {code: n for per in states().values() for code, n in per.items()}
            state = _picklist(f"{prefix}StateCode", f"{prefix} State Code".strip(), every, name)
            state.update(controllerName=f"{prefix}CountryCode", dependentPicklist=True)
            for entry in state["picklistValues"]:
                entry["validFor"] = _valid_for(entry["value"])
            out.append(state)
    return out


class AddressError(Exception):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _lookup(table: dict[str, str], value: str) -> str | None:
    """The code for a name or a code (case-insensitive), or None."""
    low = value.strip().casefold()
    for code, name in table.items():
        if code.casefold() == low or name.casefold() == low:
            return code
    return None


def apply(schema_fields: dict[str, dict[str, Any]], row: dict[str, Any], given: dict[str, Any]) -> None:
    """Fill and check the country and state of every address the write touches (mutates ``row``)."""
    for name, f in schema_fields.items():
        if f["type"] != "address":
            continue
        p = name[: -len("Address")]
        country, ccode, state, scode = (f"{p}Country", f"{p}CountryCode", f"{p}State", f"{p}StateCode")
        if not any(k in given for k in (country, ccode, state, scode)):
            continue
        code = None
        if row.get(ccode):
            code = _lookup(countries(), str(row[ccode]))
            if code is None:
                raise AddressError(COUNTRY_ERROR, ccode)
        if row.get(country) and (country in given or not code):
            by_name = _lookup(countries(), str(row[country]))
            if by_name is None or (code and ccode in given and by_name != code):
                raise AddressError(COUNTRY_ERROR, country)
            code = by_name
        row[ccode] = code
        row[country] = countries()[code] if code else row.get(country)
        known = states().get(code or "")
        if row.get(state) or row.get(scode):
            if known is None:
                raise AddressError(STATE_ERROR, state)
            scode_value = _lookup(known, str(row[scode])) if row.get(scode) else None
            if row.get(scode) and scode_value is None:
                raise AddressError(STATE_ERROR, scode)
            if row.get(state) and (state in given or not scode_value):
                by_name = _lookup(known, str(row[state]))
                if by_name is None:
                    raise AddressError(STATE_ERROR, state)
                scode_value = by_name
            row[scode] = scode_value
            row[state] = known[scode_value] if scode_value else None
