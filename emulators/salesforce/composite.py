"""Composite API (``POST /composite``, reference §9): up to 25 subrequests with ``@{ref.path}`` references."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from emulators.salesforce.core import Call, Resp, parse_query_string
from emulators.salesforce.state import Emulator
from emulators.salesforce.validation import RequestError

MAX_SUBREQUESTS = 25
MAX_QUERY_OR_COLLECTION = 5
_REF_RE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.|\[)[^}]*)\}")  # @{ref.field}, @{ref[0].id}
_REF_ID_RE = re.compile(r"^[A-Za-z0-9_]+$")
_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_URL_RE = re.compile(r"^/services/data/v(\d+\.\d)/(.*)$")
HALTED_ROLLBACK = "The transaction was rolled back since another operation in the same transaction failed."


class _Unresolved(Exception):
    def __init__(self, ref: str, path: str) -> None:
        super().__init__(f"{ref}.{path}")
        self.ref = ref
        self.path = path


class _Rollback(Exception):
    pass


def _lookup(value: Any, path: str) -> Any:
    for name, index in _PATH_TOKEN.findall(path):
        if name:
            if not isinstance(value, dict):
                raise KeyError(path)
            # Reference paths are case-sensitive in Salesforce except that "id" is how results spell it.
            if name in value:
                value = value[name]
            else:
                match = next((k for k in value if k.lower() == name.lower()), None)
                if match is None:
                    raise KeyError(path)
                value = value[match]
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                raise KeyError(path)
            value = value[int(index)]
    return value


def _substitute(text: str, results: dict[str, Resp]) -> str:
    def repl(m: re.Match[str]) -> str:
        ref, path = m.group(1), m.group(2).removeprefix(".")
        resp = results.get(ref)
        if resp is None or resp.status >= 400:
            raise _Unresolved(ref, path)
        try:
            value = _lookup(resp.body, path)
        except KeyError:
            raise _Unresolved(ref, path) from None
        if isinstance(value, (dict, list)):
            raise _Unresolved(ref, path)
        return "" if value is None else (json.dumps(value) if isinstance(value, bool) else str(value))

    return _REF_RE.sub(repl, text)


def _resolve(value: Any, results: dict[str, Resp]) -> Any:
    if isinstance(value, str):
        return _substitute(value, results)
    if isinstance(value, list):
        return [_resolve(v, results) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, results) for k, v in value.items()}
    return value


def _validate(body: Any) -> tuple[bool, list[dict[str, Any]]]:
    if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
        raise RequestError("JSON_PARSER_ERROR", "The request body needs a 'compositeRequest' array")
    subs = body["compositeRequest"]
    all_or_none = body.get("allOrNone", False)
    if not isinstance(all_or_none, bool):
        raise RequestError("JSON_PARSER_ERROR", "allOrNone must be a boolean")
    if not subs:
        raise RequestError("INVALID_INPUT", "compositeRequest must contain at least one subrequest")
    if len(subs) > MAX_SUBREQUESTS:
        raise RequestError("LIMIT_EXCEEDED", f"The request can’t contain more than {MAX_SUBREQUESTS} operations.")
    seen: set[str] = set()
    heavy = 0
    for sub in subs:
        if not isinstance(sub, dict):
            raise RequestError("JSON_PARSER_ERROR", "Each subrequest must be a JSON object")
        ref = sub.get("referenceId")
        if not isinstance(ref, str) or not ref:
            raise RequestError("INVALID_INPUT", "referenceId is required for every subrequest")
        if not _REF_ID_RE.match(ref):
            raise RequestError("INVALID_INPUT", f"Invalid referenceId: {ref}. The referenceId can contain only "
                               "alphanumeric characters and underscores.")
        if ref in seen:
            raise RequestError("INVALID_INPUT", f"Duplicate referenceId provided in the request: {ref}")
        seen.add(ref)
        method = sub.get("method")
        url = sub.get("url")
        if not isinstance(method, str) or method.upper() not in ("GET", "POST", "PATCH", "PUT", "DELETE", "HEAD"):
            raise RequestError("INVALID_INPUT", f"Invalid method for subrequest {ref}")
        if not isinstance(url, str) or not url.startswith("/services/data/v"):
            raise RequestError("INVALID_INPUT", f"Invalid url for subrequest {ref}: {url}")
        path = url.split("?")[0]
        if "/query" in path or "/queryAll" in path or "/composite/sobjects" in path:
            heavy += 1
    if heavy > MAX_QUERY_OR_COLLECTION:
        raise RequestError("LIMIT_EXCEEDED", "Limit Exceeded: at most 5 query or sObject Collections operations in "
                           "a composite request.")
    return all_or_none, subs


def composite(emu: Emulator, call: Call) -> Resp:
    from emulators.salesforce.routes import dispatch_api

    all_or_none, subs = _validate(call.json())
    results: dict[str, Resp] = {}
    out: list[dict[str, Any]] = []
    failed_at: int | None = None

    def run_all() -> None:
        nonlocal failed_at
        for i, sub in enumerate(subs):
            ref = sub["referenceId"]
            if failed_at is not None and all_or_none:
                resp = Resp(400, [{"errorCode": "PROCESSING_HALTED", "message": HALTED_ROLLBACK}])
            else:
                resp = _run_one(emu, call, sub, results, dispatch_api)
            results[ref] = resp
            out.append({"body": resp.body, "httpHeaders": resp.headers, "httpStatusCode": resp.status,
                        "referenceId": ref})
            if resp.status >= 400 and failed_at is None:
                failed_at = i

    if all_or_none:
        try:
            with emu.store.transaction():
                run_all()
                if failed_at is not None:
                    raise _Rollback
        except _Rollback:
            for i, item in enumerate(out):
                if i != failed_at and item["httpStatusCode"] < 400:
                    item.update(body=[{"errorCode": "PROCESSING_HALTED", "message": HALTED_ROLLBACK}],
                                httpHeaders={}, httpStatusCode=400)
    else:
        run_all()
    return Resp(200, {"compositeResponse": out})


def _run_one(emu: Emulator, parent: Call, sub: dict[str, Any], results: dict[str, Resp], dispatch: Any) -> Resp:
    try:
        url = _substitute(sub["url"], results)
        body = _resolve(sub.get("body"), results)
    except _Unresolved as exc:
        return Resp(400, [{"errorCode": "PROCESSING_HALTED",
                           "message": f"Invalid reference specified. No value for {exc.ref}.{exc.path} found in "
                                      f"{exc.ref}. Provided referenceId ({exc.ref}) must be a previously executed "
                                      "subrequest that succeeded."}])
    if emu.roll(emu.faults.subrequest_503_rate):
        return Resp(503, [{"errorCode": "SERVER_UNAVAILABLE",
                           "message": "Server temporarily unavailable: please retry."}])
    parts = urlsplit(url)
    m = _URL_RE.match(parts.path)
    if not m:
        return Resp(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
    headers = {k.lower(): str(v) for k, v in (sub.get("httpHeaders") or {}).items()}
    for name in ("sforce-duplicate-rule-header", "sforce-auto-assign", "sforce-query-options"):
        if name in parent.headers and name not in headers:
            headers[name] = parent.headers[name]
    call = Call(method=sub["method"].upper(), path=m.group(2),
                query=parse_query_string(parts.query, keep_blank_values=False), headers=headers,
                body=json.dumps(body).encode() if body is not None else b"", api_version=m.group(1),
                user_id=parent.user_id, in_composite=True)
    if body is not None:
        call._json = body
    kind, resp = dispatch(emu, call)
    emu.count_subrequest(kind)
    return resp
