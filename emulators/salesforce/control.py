"""Control plane ``/__emulator__/...`` (docs/DESIGN.md): never counted, no auth; its route table is at the end."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from emulators.salesforce.core import Resp
from emulators.salesforce.routes import Route, RouteTable
from emulators.salesforce.state import Emulator, Faults


def _bad(message: str, status: int = 400) -> Resp:
    return Resp(status, {"error": message})


def _json(body: bytes) -> Any:
    if not body.strip():
        return {}
    return json.loads(body)


def handle(emu: Emulator, method: str, path: str, body: bytes, query: dict[str, str]) -> Resp:
    try:
        data = _json(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _bad(f"malformed JSON: {exc}")
    parts = path.split("/") if path else []
    try:
        return _route(emu, method, parts, data)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return _bad(f"{type(exc).__name__}: {exc}")


def _route(emu: Emulator, method: str, parts: list[str], data: Any) -> Resp:
    match = CONTROL_ROUTES.match(method, parts)
    if match.route is None:
        return _bad("unknown control-plane call", 404)
    return match.route.handler(emu, data, *match.params)


def _reset(emu: Emulator, data: Any) -> Resp:
    emu.reset()
    return Resp(200, {"ok": True})


def _seed(emu: Emulator, data: Any) -> Resp:
    return Resp(200, {"refs": emu.seed(data)})


def _limits(emu: Emulator, data: Any) -> Resp:
    return Resp(200, {"daily_api_max": emu.daily_max, "daily_api_used": emu.daily_used})


def _set_limits(emu: Emulator, data: Any) -> Resp:
    if "daily_api_max" in data:
        emu.daily_max = int(data["daily_api_max"])
    if "daily_api_used" in data:
        emu.daily_used = int(data["daily_api_used"])
    emu.persist_usage()
    return _limits(emu, data)


def _clock(emu: Emulator, data: Any) -> Resp:
    return Resp(200, {"now": emu.now_text(), "frozen": emu._frozen is not None})


def _set_clock(emu: Emulator, data: Any) -> Resp:
    if not isinstance(data, dict) or "now" not in data:
        raise ValueError('body must be {"now": "<ISO datetime>"|null}')
    emu.set_clock(data["now"])
    return Resp(200, {"now": emu.now_text()})


def _faults(emu: Emulator, data: Any) -> Resp:
    return Resp(200, vars(emu.faults))


def _set_faults(emu: Emulator, data: Any) -> Resp:
    if not isinstance(data, dict):
        raise ValueError("faults must be a JSON object")
    emu.set_faults(Faults.from_json(data))
    return Resp(200, vars(emu.faults))


def _clear_faults(emu: Emulator, data: Any) -> Resp:
    emu.set_faults(Faults())
    return Resp(200, vars(emu.faults))


def _revoke_tokens(emu: Emulator, data: Any) -> Resp:
    emu.auth.revoke_all_access()
    return Resp(200, {"ok": True})


def _settings(emu: Emulator, data: Any) -> Resp:
    return Resp(200, dict(emu.settings))


def _set_settings(emu: Emulator, data: Any) -> Resp:
    if not isinstance(data, dict):
        raise ValueError("settings must be a JSON object")
    unknown = set(data) - set(emu.settings)
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    for k, v in data.items():
        number = (int, float) if k == "long_request_seconds" else int
        if isinstance(v, bool) or not isinstance(v, number) or v < 0 or (k == "query_batch_size" and v < 1):
            raise ValueError(f"{k} must be a positive {'integer' if number is int else 'number'}")
        emu.settings[k] = v
    return _settings(emu, data)


def _convert_lead(emu: Emulator, data: Any) -> Resp:
    if not isinstance(data, dict) or not data.get("lead_id"):
        raise ValueError('body must be {"lead_id": ..., "account_id"?: ..., "converted_status"?: ...}')
    return Resp(200, emu.convert_lead(str(data["lead_id"]), account_id=data.get("account_id"),
                                      converted_status=data.get("converted_status") or "Closed - Converted"))


def _add_field(emu: Emulator, data: Any, obj: str) -> Resp:
    if emu.registry.get(obj) is None:
        return _bad(f"unknown object {obj}", 404)
    return Resp(201, emu.add_field(obj, data))


def _stats(emu: Emulator, data: Any) -> Resp:
    return Resp(200, emu.stats())


def _reset_stats(emu: Emulator, data: Any) -> Resp:
    emu.reset_stats()
    return Resp(200, emu.stats())


def _records(emu: Emulator, data: Any, obj: str) -> Resp:
    schema = emu.registry.get(obj)
    if schema is None:
        return _bad(f"unknown object {obj}", 404)
    return Resp(200, emu.store.all_rows(schema.name))


def _org_rules(emu: Emulator, data: Any) -> Resp:
    return Resp(200, emu.org_rules.as_fixture())


def _relax_org_rules(emu: Emulator, data: Any) -> Resp:
    if not isinstance(data, dict):
        raise ValueError('body must be {"validation_rules"|"automation"|"duplicate_rules": [names] | true}')
    with emu.store.lock:
        removed = emu.org_rules.relax(data)
        emu.store.set_meta("org_rules", emu.org_rules.as_fixture())
    return Resp(200, {"removed": removed})


def _tokens(emu: Emulator, data: Any) -> Resp:
    return Resp(200, {"active_access_tokens": len(emu.auth._access)})


ControlHandler = Callable[..., Resp]
C = Route[ControlHandler]

# ``handler(emu, json_body, *path_params)``. Control calls are never counted: no kind.
CONTROL_ROUTES = RouteTable[ControlHandler]([
    C("reset", ("POST",), None, _reset),
    C("seed", ("POST",), None, _seed),
    C("limits", ("GET",), None, _limits),
    C("limits", ("PUT", "POST"), None, _set_limits),
    C("clock", ("GET",), None, _clock),
    C("clock", ("POST",), None, _set_clock),
    C("faults", ("GET",), None, _faults),
    C("faults", ("POST",), None, _set_faults),
    C("faults", ("DELETE",), None, _clear_faults),
    C("revoke-tokens", ("POST",), None, _revoke_tokens),
    C("settings", ("GET",), None, _settings),
    C("settings", ("PUT", "POST"), None, _set_settings),
    C("convert-lead", ("POST",), None, _convert_lead),
    C("describe/{sobject}/fields", ("POST",), None, _add_field),
    C("stats", ("GET",), None, _stats),
    C("stats/reset", ("POST",), None, _reset_stats),
    C("records/{sobject}", ("GET",), None, _records),
    C("org-rules", ("GET",), None, _org_rules),
    C("org-rules/relax", ("POST",), None, _relax_org_rules),
    C("tokens", ("GET",), None, _tokens),
])
