"""Request/response values shared by the Salesforce emulator's handlers.

Handlers are plain synchronous functions ``handler(emu, call) -> Resp`` so that the HTTP layer and the
Composite API (which replays subrequests in-process) dispatch them the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from emulators.salesforce.validation import RequestError

JSON_TYPE = "application/json;charset=UTF-8"
_UNSET = object()


def _unquote_plus(text: str) -> str:
    """``urllib.parse.unquote_plus`` at C speed for well-formed input: a SOQL query travels as a
    100,000-character parameter with tens of thousands of escapes, which urllib decodes one by
    one in Python. Anything unusual (a stray ``%``, invalid UTF-8) takes urllib's own path."""
    text = text.replace("+", " ")
    if "%" not in text:
        return text
    if not text.isascii():  # raw non-ASCII characters are kept as they are, as urllib keeps them
        return unquote(text)
    try:
        raw = text.replace("\\", "\\\\").replace("%", "\\x").encode("latin-1").decode("unicode_escape")
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeError, ValueError):
        return unquote(text)


def parse_query_string(text: str, *, keep_blank_values: bool = True) -> dict[str, str]:
    """A URL query string as a dict (the last of repeated names wins), as ``parse_qsl`` parses it."""
    out: dict[str, str] = {}
    for part in text.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if value or keep_blank_values:
            out[_unquote_plus(name)] = _unquote_plus(value)
    return out


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
