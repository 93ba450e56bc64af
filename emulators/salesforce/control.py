"""Control plane ``/__emulator__/...`` (docs/DESIGN.md): never counted, no auth."""

from __future__ import annotations

import json
from typing import Any

from emulators.salesforce.core import Resp
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
    head = parts[0] if parts else ""
    if head == "reset" and method == "POST":
        emu.reset()
        return Resp(200, {"ok": True})
    if head == "seed" and method == "POST":
        return Resp(200, {"refs": emu.seed(data)})
    if head == "limits" and method in ("PUT", "POST"):
        if "daily_api_max" in data:
            emu.daily_max = int(data["daily_api_max"])
        if "daily_api_used" in data:
            emu.daily_used = int(data["daily_api_used"])
        emu.persist_usage()
        return Resp(200, {"daily_api_max": emu.daily_max, "daily_api_used": emu.daily_used})
    if head == "limits" and method == "GET":
        return Resp(200, {"daily_api_max": emu.daily_max, "daily_api_used": emu.daily_used})
    if head == "clock" and method == "POST":
        if not isinstance(data, dict) or "now" not in data:
            raise ValueError('body must be {"now": "<ISO datetime>"|null}')
        emu.set_clock(data["now"])
        return Resp(200, {"now": emu.now_text()})
    if head == "clock" and method == "GET":
        return Resp(200, {"now": emu.now_text(), "frozen": emu._frozen is not None})
    if head == "faults":
        if method == "POST":
            if not isinstance(data, dict):
                raise ValueError("faults must be a JSON object")
            emu.set_faults(Faults.from_json(data))
            return Resp(200, vars(emu.faults))
        if method == "DELETE":
            emu.set_faults(Faults())
            return Resp(200, vars(emu.faults))
        if method == "GET":
            return Resp(200, vars(emu.faults))
    if head == "revoke-tokens" and method == "POST":
        emu.auth.revoke_all_access()
        return Resp(200, {"ok": True})
    if head == "settings":
        if method in ("PUT", "POST"):
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
        return Resp(200, dict(emu.settings))
    if head == "convert-lead" and method == "POST":
        if not isinstance(data, dict) or not data.get("lead_id"):
            raise ValueError('body must be {"lead_id": ..., "account_id"?: ..., "converted_status"?: ...}')
        return Resp(200, emu.convert_lead(str(data["lead_id"]), account_id=data.get("account_id"),
                                          converted_status=data.get("converted_status") or "Closed - Converted"))
    if head == "describe" and len(parts) == 3 and parts[2] == "fields" and method == "POST":
        if emu.registry.get(parts[1]) is None:
            return _bad(f"unknown object {parts[1]}", 404)
        return Resp(201, emu.add_field(parts[1], data))
    if head == "stats":
        if len(parts) == 1 and method == "GET":
            return Resp(200, emu.stats())
        if len(parts) == 2 and parts[1] == "reset" and method == "POST":
            emu.reset_stats()
            return Resp(200, emu.stats())
    if head == "records" and len(parts) == 2 and method == "GET":
        schema = emu.registry.get(parts[1])
        if schema is None:
            return _bad(f"unknown object {parts[1]}", 404)
        return Resp(200, emu.store.all_rows(schema.name))
    if head == "org-rules" and len(parts) == 1 and method == "GET":
        return Resp(200, emu.org_rules.as_fixture())
    if head == "org-rules" and parts[1:] == ["relax"] and method == "POST":
        if not isinstance(data, dict):
            raise ValueError('body must be {"validation_rules"|"automation"|"duplicate_rules": [names] | true}')
        with emu.store.lock:
            removed = emu.org_rules.relax(data)
            emu.store.set_meta("org_rules", emu.org_rules.as_fixture())
        return Resp(200, {"removed": removed})
    if head == "tokens" and method == "GET":
        return Resp(200, {"active_access_tokens": len(emu.auth._access)})
    return _bad("unknown control-plane call", 404)
