"""Country and state values for orgs with State and Country/Territory Picklists.

With the picklists on, every address has ``<prefix>CountryCode`` and ``<prefix>StateCode``
restricted picklists holding ISO codes (ISO 3166-1 alpha-2; states by their ISO 3166-2 code without
the country part), and a text value Salesforce does not know is refused with
``FIELD_INTEGRITY_EXCEPTION`` [Help: "State and Country/Territory Picklists", "Integration Values for
State and Country/Territory Picklists"]. Sending the code is the stable way (admins may rename the
integration values, never the codes), so where describe shows those picklists a catalog entry for
``Country``/``MailingCountry``/``BillingCountry`` (or a ``State`` field) is written to the code
field: names, common spellings and ISO alpha-2/alpha-3 codes resolve through pycountry; states
resolve among the subdivisions of the record's country. A value that cannot be resolved, or a
code the org's picklist lacks, is left out (the rest of the record is written) and reported.
Orgs without the picklists get the text as it is.

Pure: describe fields in, codes out.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pycountry
from anyascii import anyascii

# Spellings ISO 3166 does not carry (pycountry knows names, official and common names, codes).
COUNTRY_ALIASES = {
    "uk": "GB", "u.k.": "GB", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB",
    "wales": "GB", "northern ireland": "GB", "usa": "US", "u.s.": "US", "u.s.a.": "US", "us": "US",
    "america": "US", "united states of america": "US", "russia": "RU", "holland": "NL",
    "the netherlands": "NL", "south korea": "KR", "korea": "KR", "north korea": "KP", "czech republic": "CZ",
    "vietnam": "VN", "iran": "IR", "syria": "SY", "taiwan": "TW", "laos": "LA", "moldova": "MD",
    "tanzania": "TZ", "venezuela": "VE", "bolivia": "BO", "turkey": "TR", "ivory coast": "CI",
    "macedonia": "MK", "uae": "AE", "deutschland": "DE", "osterreich": "AT", "schweiz": "CH", "suisse": "CH",
    "espana": "ES", "italia": "IT", "sverige": "SE", "norge": "NO", "danmark": "DK", "nederland": "NL",
    "polska": "PL", "suomi": "FI", "belgie": "BE", "belgique": "BE", "brasil": "BR", "mexico": "MX",
    "ceska republika": "CZ", "magyarorszag": "HU", "eire": "IE",
}


def _fold(text: str) -> str:
    return " ".join(anyascii(text).casefold().replace("&", "and").split())


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    out: dict[str, str] = {}
    for c in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            value = getattr(c, attr, None)
            if value:
                out.setdefault(_fold(value), c.alpha_2)
        out.setdefault(c.alpha_2.casefold(), c.alpha_2)
        out.setdefault(c.alpha_3.casefold(), c.alpha_2)
    for alias, code in COUNTRY_ALIASES.items():
        out.setdefault(_fold(alias), code)
    return out


def country_code(value: Any) -> str | None:
    """ISO alpha-2 code for a country name, common spelling or ISO alpha-2/alpha-3 code."""
    if not isinstance(value, str) or not value.strip():
        return None
    key = _fold(value.strip().strip("."))
    names = _country_names()
    found = names.get(key) or names.get(key.removeprefix("the ")) or names.get(key.replace(".", ""))
    return found


def state_code(value: Any, country: str | None) -> str | None:
    """State code (the ISO 3166-2 code without the country part) of ``value`` in ``country``."""
    if not country or not isinstance(value, str) or not value.strip():
        return None
    key = _fold(value.strip())
    for sub in pycountry.subdivisions.get(country_code=country) or []:
        short = sub.code.split("-", 1)[1]
        if key in (short.casefold(), sub.code.casefold(), _fold(sub.name)):
            return short
    return None


@dataclass(frozen=True)
class AddressField:
    """A text address field whose value goes to a code picklist instead."""

    text: str          # e.g. MailingCountry
    code: str          # e.g. MailingCountryCode
    kind: str          # country | state
    prefix: str        # e.g. Mailing
    allowed: frozenset[str]
    valid_for: dict[str, frozenset[str]] | None  # state code -> country codes (dependent picklist), if given

    def accepts(self, code: str, country: str | None) -> bool:
        if code not in self.allowed:
            return False
        if self.kind == "state" and self.valid_for is not None and country is not None:
            return country in self.valid_for.get(code, frozenset())
        return True


def _valid_for(state: dict, country: dict | None) -> dict[str, frozenset[str]] | None:
    """Decode a dependent picklist's ``validFor`` bitmaps (bit n, most significant first, = the
    controlling field's n-th value) [REST API, sObject Describe: PicklistEntry validFor]."""
    if country is None or state.get("controllerName") != country.get("name"):
        return None
    controller = [p["value"] for p in country.get("picklistValues") or []]
    out: dict[str, frozenset[str]] = {}
    for p in state.get("picklistValues") or []:
        if not p.get("validFor"):
            return None
        bits = base64.b64decode(p["validFor"])
        valid = frozenset(v for n, v in enumerate(controller)
                          if n // 8 < len(bits) and bits[n // 8] & (0x80 >> (n % 8)))
        out[p["value"]] = out.get(p["value"], frozenset()) | valid  # a code several countries share
    return out


def address_fields(fields: dict[str, dict]) -> dict[str, AddressField]:
    """casefolded text field name -> AddressField, for every address with code picklists."""
    out: dict[str, AddressField] = {}
    for f in fields.values():
        name = f.get("name", "")
        for kind, suffix in (("country", "CountryCode"), ("state", "StateCode")):
            if not name.endswith(suffix) or f.get("type") != "picklist":
                continue
            prefix = name[: -len(suffix)]
            text = prefix + ("Country" if kind == "country" else "State")
            allowed = frozenset(p["value"] for p in f.get("picklistValues") or [] if p.get("active", True))
            valid_for = _valid_for(f, fields.get(f"{prefix}CountryCode".casefold())) if kind == "state" else None
            out[text.casefold()] = AddressField(text, name, kind, prefix, allowed, valid_for)
    return out


def resolve(fields: dict[str, AddressField], values: dict[str, Any],
            current: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    """``values`` (field name -> value) with the address text fields replaced by their code
    fields; and the values left out: [(field, value, reason)]. The state of an address resolves
    in that address's country (the value sent, else the record's current code)."""
    out = dict(values)
    dropped: list[tuple[str, str, str]] = []
    countries: dict[str, str | None] = {}
    order = sorted(values, key=lambda n: 0 if (fields.get(n.casefold()) and fields[n.casefold()].kind == "country")
                   else 1)
    for name in order:
        spec = fields.get(name.casefold())
        if spec is None:
            continue
        value = out.pop(name)
        if spec.kind == "country":
            code = country_code(value)
            countries[spec.prefix] = code
            if code is None or not spec.accepts(code, None):
                reason = "unknown country" if code is None else f"country {code} is not in the org's list"
                dropped.append((spec.text, str(value), reason))
                continue
            out[spec.code] = code
        else:
            country = countries.get(spec.prefix) or (current or {}).get(f"{spec.prefix}CountryCode") or \
                country_code((current or {}).get(f"{spec.prefix}Country"))
            code = state_code(value, country)
            if code is None or not spec.accepts(code, country):
                reason = ("no country to resolve the state in" if not country else
                          f"unknown state of {country}" if code is None else
                          f"state {code} of {country} is not in the org's list")
                dropped.append((spec.text, str(value), reason))
                continue
            out[spec.code] = code
    return out, dropped
