"""Per-record write outcomes, shared by the Collections and Bulk paths."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .retry_policy import TRANSIENT_CODES


@dataclass
class WriteResult:
    """The outcome of one input record; ``errors`` items are ``{statusCode, message, fields}``."""

    success: bool
    id: str | None = None
    created: bool | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def error_code(self) -> str | None:
        return str(self.errors[0].get("statusCode")) if self.errors else None

    @property
    def error_message(self) -> str | None:
        return str(self.errors[0].get("message", "")) if self.errors else None

    @property
    def transient(self) -> bool:
        return not self.success and any(e.get("statusCode") in TRANSIENT_CODES for e in self.errors)

    @classmethod
    def from_collections(cls, item: dict[str, Any] | None) -> WriteResult:
        if not isinstance(item, dict):
            return cls(False, errors=[{"statusCode": "UNKNOWN_ERROR", "message": "no result returned", "fields": []}])
        errors = [
            {"statusCode": e.get("statusCode") or e.get("errorCode") or "UNKNOWN_ERROR",
             "message": e.get("message", ""), "fields": list(e.get("fields") or []),
             **({"duplicateResult": e["duplicateResult"]} if "duplicateResult" in e else {})}
            for e in (item.get("errors") or []) if isinstance(e, dict)
        ]
        return cls(bool(item.get("success")), item.get("id"), item.get("created"), errors)


def parse_bulk_error(text: str | None) -> list[dict[str, Any]]:
    """``sf__Error`` (``CODE:message:field1,field2 --``) to ``[{statusCode, message, fields}]``."""
    text = (text or "").strip()
    if not text:
        return [{"statusCode": "UNKNOWN_ERROR", "message": "", "fields": []}]
    code, _, rest = text.partition(":")
    rest = rest.strip()
    if rest.endswith("--"):
        rest = rest[:-2].rstrip()
    message, fields_text = rest, ""
    if ":" in rest:
        message, _, fields_text = rest.rpartition(":")
    fields = [f.strip() for f in fields_text.split(",") if f.strip()]
    return [{"statusCode": code.strip() or "UNKNOWN_ERROR", "message": message.strip(), "fields": fields}]


def sf_datetime(value: datetime) -> str:
    """Salesforce's datetime form (UTC, milliseconds, ``Z``); naive values are taken as UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
