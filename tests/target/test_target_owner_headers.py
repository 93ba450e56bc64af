"""The Sforce-Auto-Assign header each owner_fallback sends, observed on the wire: the emulator app
is served behind a small ASGI wrapper that records request headers."""

from __future__ import annotations

import json

import pytest

from emulators.salesforce.server import create_app
from emulators.serving import serve_in_thread
from tests.conftest import SalesforceEmulator
from tests.target._target_support import live, messages, prospect, run_target, target_config


class HeaderRecorder:
    def __init__(self, app):
        self.app = app
        self.state = app.state
        self.seen: list[tuple[str, str, str | None]] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
            self.seen.append((scope["method"], scope["path"], headers.get("sforce-auto-assign")))
            if scope["method"] == "POST" and scope["path"].endswith("/composite"):
                receive = self._composite_reader(receive)
        await self.app(scope, receive, send)

    def _composite_reader(self, receive):
        """Records each subrequest of a Composite call as if it had been sent alone."""
        body = bytearray()

        async def wrapped():
            message = await receive()
            body.extend(message.get("body", b""))
            if not message.get("more_body"):
                for sub in json.loads(bytes(body) or b"{}").get("compositeRequest", []):
                    sub_headers = {k.lower(): v for k, v in (sub.get("httpHeaders") or {}).items()}
                    self.seen.append((sub["method"], sub["url"].split("?")[0], sub_headers.get("sforce-auto-assign")))
            return message

        return wrapped


@pytest.fixture
def recorded_emulator():
    app = create_app(":memory:")
    recorder = HeaderRecorder(app)
    server = serve_in_thread(recorder)
    try:
        yield SalesforceEmulator(server.base_url, app), recorder
    finally:
        server.stop()
        app.state.emulator.store.close()


@pytest.mark.parametrize(("fallback", "headers"), [("assignment_rules", ["FALSE", "TRUE"]),
                                                  ("integration_user", ["FALSE"])])
def test_auto_assign_header_per_fallback(recorded_emulator, tmp_path, fallback, headers):
    emu, recorder = recorded_emulator
    refs = emu.seed({"users": [{"_ref": "s", "Username": "s@sf.test", "Email": "seller@andsend.test",
                                "LastName": "S", "IsActive": True}]})
    records = [prospect("h-own", email="own@h.test", purchased_by_user_email="seller@andsend.test"),
               prospect("h-none", email="none@h.test", purchased_by_user_email="ghost@andsend.test")]
    run_target(target_config(emu, tmp_path, owner_fallback=fallback), messages("prospects", records))
    # Creates: Collections inserts, or upserts on Andsend_Prospect_Id__c where the org has it.
    creates = [h for method, path, h in recorder.seen
               if (method == "POST" and path.endswith("/composite/sobjects"))
               or (method == "PATCH" and path.endswith("/composite/sobjects/Lead/Andsend_Prospect_Id__c"))]
    # An explicit owner always goes with FALSE; creates sharing a header value share a call.
    assert sorted(creates) == headers
    owners = {r["Andsend_Prospect_Id__c"]: r["OwnerId"] for r in live(emu.records("Lead"))}
    assert owners["h-own"] == refs["s"]
