"""Salesforce REST API emulator: the Starlette app (reference: ../shared/reference/salesforce-api.md).

``create_app(...)`` builds the app; ``app.state.emulator`` is the :class:`~emulators.salesforce.state.Emulator`
for in-process tests. Request pipeline for ``/services/data/vNN.0/...``: version check, session check (401),
daily limit and fault injection (403/503, latency), usage counting and ``Sforce-Limit-Info``, then the
handler. The control plane lives under ``/__emulator__/`` and is never counted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from emulators.salesforce import bulk_query, bulk_query_v1, control, sobjects
from emulators.salesforce.auth import OAuthError
from emulators.salesforce.bulk import BulkManager
from emulators.salesforce.core import JSON_TYPE, Call, Resp, error, method_not_allowed, parse_query_string
from emulators.salesforce.query import Cursors
from emulators.salesforce.routes import resolve
from emulators.salesforce.state import SUPPORTED_VERSIONS, Emulator

log = logging.getLogger("emulators.salesforce")
_API_RE = re.compile(r"^/services/data/v([^/]+)(?:/(.*))?$")
_SOAP_RE = re.compile(r"^/services/Soap/u/(\d+\.\d)(?:/.*)?$")
_ASYNC_RE = re.compile(r"^/services/async/(\d+\.\d)/(.*)$")
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def to_response(resp: Resp, extra_headers: dict[str, str] | None = None) -> Response:
    headers = dict(resp.headers)
    if extra_headers:
        headers.update(extra_headers)
    if resp.status == 204 or resp.body is None:
        return Response(status_code=resp.status, headers=headers)
    if isinstance(resp.body, (bytes, str)):
        return Response(resp.body, status_code=resp.status, headers=headers, media_type=resp.media_type)
    return Response(dumps(resp.body), status_code=resp.status, headers=headers, media_type=JSON_TYPE)


def _base_url(request: Request) -> str:
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{request.url.scheme}://{host}"


async def endpoint(request: Request) -> Response:
    emu: Emulator = request.app.state.emulator
    path = request.scope["path"]  # cheaper than request.url, which parses the whole URL
    if path.startswith("/__emulator__"):
        try:
            body = await request.body()
            return to_response(control.handle(emu, request.method, path[len("/__emulator__"):].strip("/"),
                                              body, dict(request.query_params)))
        except Exception:
            log.exception("emulator error on %s %s", request.method, path)
            return to_response(error(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this "
                                     "ErrorId if you contact support: 1234567890-12345 (-1)"))
    # Request durations (latency included) feed stats' busy/active/span seconds, from which a
    # benchmark computes a client's effective concurrency.
    started = time.perf_counter()
    emu.note_request_start(started)
    try:
        return await _serve(emu, request, path)
    finally:
        emu.note_request_time(started, time.perf_counter())


async def _serve(emu: Emulator, request: Request, path: str) -> Response:
    try:
        if path.rstrip("/") == "/services/data":
            emu.count_call("versions", request.method, "versions", api=False)
            if request.method != "GET":
                return to_response(method_not_allowed(request.method, ["GET"]))
            return to_response(Resp(200, sobjects.versions()))
        if path.startswith("/services/oauth2/"):
            return await _oauth(emu, request, path[len("/services/oauth2/"):].strip("/"))
        m = _SOAP_RE.match(path)
        if m:
            emu.count_call("soap_login", request.method, "soap", api=False)
            if request.method != "POST":
                return to_response(method_not_allowed(request.method, ["POST"]))
            status, xml = emu.auth.soap_call(await request.body(), m.group(1), emu.instance_url(_base_url(request)))
            return Response(xml, status_code=status, media_type="text/xml;charset=UTF-8")
        m = _API_RE.match(path)
        if m:
            return await _api(emu, request, m.group(1), m.group(2) or "")
        m = _ASYNC_RE.match(path)
        if m:
            return await _bulk_v1(emu, request, m.group(1), m.group(2))
        if path.startswith("/id/"):
            return await _identity(emu, request, path)
        return to_response(error(404, "NOT_FOUND", "The requested resource does not exist"))
    except Exception:  # a handler bug must still answer in Salesforce's shape, never hang
        log.exception("emulator error on %s %s", request.method, path)
        return to_response(error(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this "
                                 "ErrorId if you contact support: 1234567890-12345 (-1)"))


def _session_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token.strip():
        return token.strip()
    return None


async def _api(emu: Emulator, request: Request, version: str, rest: str) -> Response:
    if version == "latest":
        version = max(SUPPORTED_VERSIONS, key=float)
    if version not in SUPPORTED_VERSIONS:
        return to_response(error(404, "NOT_FOUND", "The requested resource does not exist"))
    token = _session_token(request)
    session = emu.auth.check(token) if token else None
    if session is None:
        return to_response(Resp(401, INVALID_SESSION), {"WWW-Authenticate": 'Token'})
    if emu.long_requests_over_limit():
        # More requests have been running for long_request_seconds than the org allows at once
        # (Salesforce: 25 requests of 20 s or more in production): new requests are refused.
        return to_response(error(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."),
                           {"Sforce-Limit-Info": emu.limit_header()})
    ticket = emu.long_request_start()
    try:
        return await _api_call(emu, request, version, rest, session)
    finally:
        emu.long_request_end(ticket)


async def _api_call(emu: Emulator, request: Request, version: str, rest: str, session: Any) -> Response:
    faults = emu.faults
    with emu.fault_lock:
        emu.calls_since_faults += 1
        n_calls = emu.calls_since_faults
    if (faults.limit_exceeded_after and n_calls > faults.limit_exceeded_after) or emu.daily_used >= emu.daily_max:
        return to_response(error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
                           {"Sforce-Limit-Info": emu.limit_header()})
    if faults.latency_ms or faults.latency_jitter_ms:
        jitter = 0
        if faults.latency_jitter_ms:
            with emu.fault_lock:
                jitter = emu.rng.randint(0, faults.latency_jitter_ms)
        await asyncio.sleep((faults.latency_ms + jitter) / 1000)
    if emu.roll(faults.error_503_rate):
        return to_response(error(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable: please retry."))
    body = await request.body()
    call = Call(method=request.method, path=rest,
                query=parse_query_string(request.scope["query_string"].decode("latin-1")),
                headers={k.lower(): v for k, v in request.headers.items()}, body=body, api_version=version,
                user_id=session.user_id)
    parts = rest.strip("/").split("/") if rest.strip("/") else []
    resource = parts[0].lower() if parts else "resources"
    if resource == "jobs" and len(parts) > 1:
        resource = f"jobs/{parts[1].lower()}"
    route = resolve(emu, call)
    # Counted before the handler runs, so /limits already reflects this call, as Salesforce's does.
    emu.count_call(route.kind, request.method, resource, api=True)
    resp = route.respond()
    if faults.revoke_tokens_every and n_calls % faults.revoke_tokens_every == 0:
        emu.auth.revoke_all_access()
    return to_response(resp, {"Sforce-Limit-Info": emu.limit_header()})


async def _bulk_v1(emu: Emulator, request: Request, version: str, rest: str) -> Response:
    """Bulk API 1.0 (``/services/async``): its own session header and error shapes (bulk_query_v1.py)."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    parts = [p for p in rest.strip("/").split("/") if p]
    wants_json = "json" in headers.get("content-type", "").lower()
    session = emu.auth.check(headers.get("x-sfdc-session", "").strip()) if headers.get("x-sfdc-session") else None
    if session is None:
        return to_response(bulk_query_v1._fail(400, "InvalidSessionId", "Invalid session id", wants_json))
    if emu.daily_used >= emu.daily_max:
        return to_response(bulk_query_v1._fail(403, "ExceededQuota", "TotalRequests Limit exceeded.", wants_json))
    emu.count_call(bulk_query_v1.kind_of(request.method, parts), request.method, "async", api=True)
    resp = emu.bulk_v1.handle(request.method, version, parts, headers, await request.body(), session.user_id)
    return to_response(resp, {"Sforce-Limit-Info": emu.limit_header()})


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


async def _oauth(emu: Emulator, request: Request, action: str) -> Response:
    emu.count_call("oauth", request.method, "oauth2", api=False)
    base = _base_url(request)
    try:
        if action == "token":
            if request.method != "POST":
                return to_response(method_not_allowed(request.method, ["POST"]))
            form = {**dict(request.query_params), **(await _form(request))}
            body = emu.auth.token(form, authorization=request.headers.get("authorization"),
                                  host=request.headers.get("host", ""), login_url=base,
                                  instance_url=emu.instance_url(base))
            return Response(dumps(body), media_type=JSON_TYPE,
                            headers={"Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"})
        if action == "authorize":
            if request.method == "GET":
                page = emu.auth.authorize_form(dict(request.query_params))
                return HTMLResponse(page)
            if request.method == "POST":
                form = await _form(request)
                try:
                    location = emu.auth.authorize_submit(form)
                except OAuthError as exc:
                    if exc.error in ("invalid_grant", "inactive_user"):
                        return HTMLResponse(emu.auth.authorize_form(form, error="Please check your username and "
                                                                                "password."), status_code=200)
                    raise
                return RedirectResponse(location, status_code=302)
            return to_response(method_not_allowed(request.method, ["GET", "POST"]))
        if action == "revoke":
            form = {**dict(request.query_params), **(await _form(request))}
            token = form.get("token", "")
            if not token or not emu.auth.revoke(token):
                raise OAuthError("unsupported_token_type", "this token type is not supported")
            return Response(status_code=200)
        if action == "userinfo":
            return await _identity(emu, request, None)
    except OAuthError as exc:
        return Response(dumps(exc.body()), status_code=exc.status, media_type=JSON_TYPE)
    return to_response(error(404, "NOT_FOUND", "The requested resource does not exist"))


async def _identity(emu: Emulator, request: Request, path: str | None) -> Response:
    token = _session_token(request)
    session = emu.auth.check(token) if token else None
    if session is None:
        return Response("Bad_OAuth_Token", status_code=403, media_type="text/plain")
    row = emu.store.get("User", session.user_id) or {}
    base = _base_url(request)
    return Response(dumps({
        "id": f"{base}/id/{emu.org_id}/{session.user_id}", "user_id": session.user_id,
        "organization_id": emu.org_id, "username": row.get("Username"), "email": row.get("Email"),
        "display_name": row.get("Name"), "active": bool(row.get("IsActive")),
        "urls": {"rest": f"{emu.instance_url(base)}/services/data/v{{version}}/",
                 "sobjects": f"{emu.instance_url(base)}/services/data/v{{version}}/sobjects/"},
    }), media_type=JSON_TYPE)


def create_app(db_path: str = ":memory:", fixture: dict[str, Any] | str | Path | None = None, *,
               https: bool = False, describe_dir: str | Path | None = None,
               instance_url: str | None = None) -> Starlette:
    """Build the emulator app. ``https=True`` also writes a self-signed certificate whose paths are in
    ``app.state.tls`` (``(certfile, keyfile)``) for whoever serves the app."""
    emu = Emulator(db_path, fixture, describe_dir=describe_dir, instance_url=instance_url)
    emu.query_cursors = Cursors()
    emu.bulk = BulkManager(emu)
    emu.bulk_v1 = bulk_query_v1.BulkQueryV1(emu)
    emu.bulk_query = bulk_query.BulkQueryManager(emu)
    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=ALL_METHODS)])
    app.state.emulator = emu
    app.state.tls = None
    if https:
        from emulators.salesforce.tls import self_signed_cert

        app.state.tls = self_signed_cert(tempfile.mkdtemp(prefix="sf-emulator-tls-"))
    return app
