"""Values: a prospect's mapped value (``source_value``, the catalog's transforms applied in order)
and its coercion to what a Salesforce field of the describe type accepts (``coerce``, ``same_value``).

Pure. Each transform is a small function in ``TRANSFORMS`` (transform type -> function of the value
so far, the transform's entry and the record); ``catalog.py`` loads and validates the entries.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Any, Protocol

from .normalize import normalize_domain
from .tasks import cut_units, sf_len

OWNER_SOURCE = "$owner"

TEXT_TYPES = {
    "string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox",
    "encryptedstring",
}
NUMBER_TYPES = {"int", "double", "currency", "percent", "long"}

# What Salesforce accepts in an Email field (RFC 5322 dot-atom, ASCII): checked before sending so
# such values are rejected as bad input with a clear reason instead of costing a call.
SALESFORCE_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


class CoercionError(ValueError):
    """A value cannot be written to a field of this type (bad input: the record is rejected)."""


def _lookup(record: dict, path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""



class MappedSource(Protocol):
    """What ``source_value`` reads of a catalog entry (``catalog.Mapping``)."""

    @property
    def source(self) -> tuple[str, ...]: ...

    @property
    def transforms(self) -> tuple[dict, ...]: ...


Transform = Callable[[Any, dict, dict], Any]  # (value so far, transform entry, record) -> value


def _domain_from_website(value: Any, t: dict, record: dict) -> Any:
    return normalize_domain(value) if isinstance(value, str) else None


def _lowercase(value: Any, t: dict, record: dict) -> Any:
    return value.lower() if isinstance(value, str) else value


def _uppercase(value: Any, t: dict, record: dict) -> Any:
    return value.upper() if isinstance(value, str) else value


def _trim(value: Any, t: dict, record: dict) -> Any:
    return value.strip() if isinstance(value, str) else value


def _join(value: Any, t: dict, record: dict) -> Any:
    parts = [_lookup(record, f) for f in t["fields"]]
    text = t.get("separator", " ").join(str(p).strip() for p in parts if not _empty(p))
    return text or None


def _template(value: Any, t: dict, record: dict) -> Any:
    flat = _Blank({k: ("" if v is None else v) for k, v in record.items()})
    text = re.sub(r"\s+", " ", t["template"].format_map(flat)).strip()
    return text or None


def _default(value: Any, t: dict, record: dict) -> Any:
    return t["value"] if _empty(value) else value


def _constant(value: Any, t: dict, record: dict) -> Any:
    return t["value"]


def _map(value: Any, t: dict, record: dict) -> Any:
    key = value if not isinstance(value, str) else value.strip()
    table = {str(k).casefold(): v for k, v in t["values"].items()}
    return table.get(str(key).casefold(), t.get("default")) if key is not None else t.get("default")


TRANSFORMS: dict[str, Transform] = {
    "domain_from_website": _domain_from_website,
    "lowercase": _lowercase,
    "uppercase": _uppercase,
    "trim": _trim,
    "join": _join,
    "template": _template,
    "default": _default,
    "constant": _constant,
    "map": _map,
}


def source_value(record: dict, mapping: MappedSource) -> Any:
    """The mapped value for one prospect, transforms applied; None means "nothing to write"."""
    value: Any = None
    for src in mapping.source:
        if src == OWNER_SOURCE:
            continue
        candidate = _lookup(record, src)
        if not _empty(candidate):
            value = candidate
            break
    for t in mapping.transforms:
        transform = TRANSFORMS.get(t["type"])
        if transform is not None:  # the schema allows no other type; an unknown one changes nothing
            value = transform(value, t, record)
    if isinstance(value, str):
        value = value.strip()
    return None if _empty(value) else value


# ------------------------------------------------------------------------------ coercion


def _parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        if re.fullmatch(r".*[+-]\d{4}$", text):
            text = text[:-2] + ":" + text[-2:]
        dt = datetime.fromisoformat(text)
    else:
        raise CoercionError(f"not a date/time: {value!r}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def coerce(value: Any, desc: dict, *, on_overlength: str = "truncate") -> Any:
    """Convert a mapped value to what the Salesforce field accepts, or raise CoercionError."""
    ftype = desc.get("type")
    name = desc.get("name")
    if value is None:
        return None
    if ftype in TEXT_TYPES or ftype == "reference":
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (dict, list)):
            raise CoercionError(f"{name}: expected text, got {type(value).__name__}")
        elif isinstance(value, float) and value.is_integer():
            text = str(int(value))
        else:
            text = str(value).strip()
        if ftype == "email" and not SALESFORCE_EMAIL_RE.match(text):
            raise CoercionError(f"{name}: invalid email address {text!r}")
        if ftype in ("picklist", "multipicklist") and desc.get("restrictedPicklist"):
            allowed = {p["value"].casefold(): p["value"]
                       for p in desc.get("picklistValues", []) if p.get("active", True)}
            parts = text.split(";") if ftype == "multipicklist" else [text]
            canon = []
            for part in parts:
                if part.strip().casefold() not in allowed:
                    raise CoercionError(f"{name}: {part!r} is not an allowed picklist value")
                canon.append(allowed[part.strip().casefold()])
            text = ";".join(canon)
        # Salesforce counts a field's length in UTF-16 code units (an emoji or a supplementary-plane
        # CJK character counts as two): the one rule, tasks.sf_len, as for Task Subject/Description.
        limit = desc.get("length") or 0
        if limit and sf_len(text) > limit:
            if on_overlength == "reject" or ftype in ("email", "url", "reference"):
                raise CoercionError(f"{name}: value of {sf_len(text)} characters exceeds the field length {limit}")
            text = cut_units(text, limit)
        return text
    if ftype == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)):
            return bool(value)
        text = str(value).strip().casefold()
        if text in ("true", "yes", "y", "1", "on"):
            return True
        if text in ("false", "no", "n", "0", "off", ""):
            return False
        raise CoercionError(f"{name}: not a boolean: {value!r}")
    if ftype in ("int", "long"):
        try:
            number = float(str(value).strip()) if not isinstance(value, (int, float)) else float(value)
        except ValueError as exc:
            raise CoercionError(f"{name}: not a whole number: {value!r}") from exc
        if isinstance(value, bool) or not number.is_integer():
            raise CoercionError(f"{name}: not a whole number: {value!r}")
        return int(number)
    if ftype in ("double", "currency", "percent"):
        if isinstance(value, bool):
            raise CoercionError(f"{name}: not a number: {value!r}")
        try:
            number = float(str(value).strip().replace(",", "")) if isinstance(value, str) else float(value)
        except (TypeError, ValueError) as exc:
            raise CoercionError(f"{name}: not a number: {value!r}") from exc
        if math.isnan(number) or math.isinf(number):
            raise CoercionError(f"{name}: not a finite number: {value!r}")
        return number
    if ftype == "date":
        try:
            if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
                return date.fromisoformat(value.strip()).isoformat()
            return _parse_datetime(value).date().isoformat()
        except (ValueError, CoercionError) as exc:
            raise CoercionError(f"{name}: not a date: {value!r}") from exc
    if ftype == "datetime":
        try:
            return _parse_datetime(value).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        except (ValueError, CoercionError) as exc:
            raise CoercionError(f"{name}: not a date-time: {value!r}") from exc
    raise CoercionError(f"{name}: fields of type {ftype} cannot be written by the target")


def same_value(new: Any, current: Any, desc: dict) -> bool:
    """Whether writing `new` would leave the field as it is (so the update is not sent)."""
    if _empty(current):
        return _empty(new)
    if new is None:
        return False
    ftype = desc.get("type")
    try:
        if ftype == "email":
            return str(new).strip().casefold() == str(current).strip().casefold()
        if ftype == "boolean":
            return bool(new) == (current if isinstance(current, bool) else str(current).casefold() == "true")
        if ftype in NUMBER_TYPES:
            return float(new) == float(current)
        if ftype == "date":
            return str(new)[:10] == str(current)[:10]
        if ftype == "datetime":
            return _parse_datetime(new) == _parse_datetime(current)
        if ftype == "reference":
            return str(new)[:15] == str(current)[:15]
    except (TypeError, ValueError, CoercionError):
        return False
    return str(new) == str(current)


def is_empty_value(value: Any) -> bool:
    return _empty(value)
