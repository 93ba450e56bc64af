"""Compound fields (Address, Location): read-only views of their component fields, never stored,
selected as one JSON object, not filterable or sortable ("Compound Fields", SOAP API Developer Guide)."""

from __future__ import annotations

import json
from typing import Any

COMPOUND_TYPES = frozenset({"address", "location"})
# Component field -> key in the compound value, by the component's name without its prefix.
_COMPOUND_KEYS = {"street": "street", "city": "city", "state": "state", "statecode": "stateCode",
                  "postalcode": "postalCode", "country": "country", "countrycode": "countryCode",
                  "latitude": "latitude", "longitude": "longitude", "geocodeaccuracy": "geocodeAccuracy"}


def compound_key(compound: str, component: str) -> str | None:
    """The key of ``component`` (``BillingCity``) in the value of ``compound`` (``BillingAddress``)."""
    prefix = compound[: -len("Address")] if compound.endswith("Address") else ""
    return _COMPOUND_KEYS.get(component[len(prefix):].lower())


def decode_compound(value: Any) -> Any:
    """A selected compound value (SQLite's JSON text) as the API returns it: null when every part is."""
    data = json.loads(value) if isinstance(value, str) else value
    if not isinstance(data, dict) or all(v is None for v in data.values()):
        return None
    return dict(sorted(data.items()))

