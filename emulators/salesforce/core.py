"""Request/response values shared by the Salesforce emulator's handlers.

Handlers are plain synchronous functions ``handler(emu, call) -> Resp`` so that the HTTP layer and the
Composite API (which replays subrequests in-process) dispatch them the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from emulators.salesforce.validation import RequestError

JSON_TYPE = "application/json;charset=UTF-8"
_UNSET = object()


@dataclass
class Call:
    method: str
    path: str  # below /services/data/vNN.0/, no leading slash
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    api_version: str
    user_id: str
    in_composite: bool = False
    _json: Any = field(default=_UNSET, repr=False)

    def json(self) -> Any:
        if self._json is _UNSET:
            self._json = parse_json(self.body)
        return self._json

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    @property
    def base(self) -> str:
        return f"/services/data/v{self.api_version}"

    def auto_assign(self) -> bool:
        """``Sforce-Auto-Assign``: active assignment rules run unless the caller sends FALSE."""
        return self.header("sforce-auto-assign", "TRUE").strip().lower() not in ("false", "0")

    def allow_save(self) -> bool:
        value = self.header("sforce-duplicate-rule-header").replace(" ", "").lower()
        return "allowsave=true" in value


@dataclass
class Resp:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str | None = JSON_TYPE


def parse_json(body: bytes) -> Any:
    if not body or not body.strip():
        raise RequestError("JSON_PARSER_ERROR", "No content to map due to end-of-input at [line:1, column:0]")
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise RequestError("JSON_PARSER_ERROR", "Invalid UTF-8 start byte at [line:1, column:1]") from None
    except json.JSONDecodeError as exc:
        raise RequestError(
            "JSON_PARSER_ERROR", f"Unexpected character ({exc.msg}) at [line:{exc.lineno}, column:{exc.colno}]"
        ) from None


def error(status: int, code: str, message: str, fields: list[str] | None = None) -> Resp:
    item: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        item["fields"] = fields
    return Resp(status, [item])


def not_found(message: str = "The requested resource does not exist") -> Resp:
    return error(404, "NOT_FOUND", message)


def method_not_allowed(method: str, allowed: list[str]) -> Resp:
    resp = error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are {','.join(allowed)}")
    resp.headers["Allow"] = ", ".join(allowed)
    return resp
