"""Shared helpers for the activities and badges tests (not a test module)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.postgres_server import with_test_store

ROOT = Path(__file__).resolve().parents[2]
BADGE_SCHEMA = json.loads((ROOT / "schemas" / "badges.json").read_text())


@dataclass
class AndsendApi:
    base_url: str
    key: str = "andsend-demo-key"

    def get(self, path: str, **params) -> dict:
        resp = requests.get(self.base_url + path, params=params,
                            headers={"Authorization": f"Bearer {self.key}"}, timeout=30)
        resp.raise_for_status()
        return resp.json()


def andsend_results(api: AndsendApi, n: int) -> list[dict]:
    """Up to n real search results from the Andsend emulator (badges must name real results)."""
    out: list[dict] = []
    cursor = None
    while len(out) < n:
        params = {"limit": min(1000, n - len(out))}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/v1/search-results", **params)
        out.extend(page["data"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return out[:n]


def grey_badge(result: dict) -> dict:
    return {"result_id": result["id"], "search_id": result["search_id"], "prospect_key": None,
            "exists": False, "crm": "salesforce", "object_type": None, "record_id": None,
            "record_url": None, "checked_at": "2026-01-01T00:00:00Z"}


def start_andsend(tmp_dir: Path, **sizes):
    """An in-process Andsend emulator (small data set); returns (RunningServer, AndsendApi)."""
    from emulators.andsend.server import create_app
    from emulators.serving import serve_in_thread

    server = serve_in_thread(create_app(str(tmp_dir / "andsend.sqlite"), **sizes))
    return server, AndsendApi(server.base_url)


# -- Salesforce emulator helpers -----------------------------------------------------------------

NO_TASK_EXTERNAL_ID = {"describe": {"omit_fields": {"Task": ["Andsend_Touchpoint_Id__c"]}}}
USERS = [
    {"_ref": "ann", "Username": "ann@acme.test", "Email": "Ann.Owner@Acme.test", "FirstName": "Ann",
     "LastName": "Owner", "IsActive": True},
    {"_ref": "bob", "Username": "bob@acme.test", "Email": "bob@acme.test", "FirstName": "Bob",
     "LastName": "Gone", "IsActive": False},
    {"_ref": "carl", "Username": "carl@acme.test", "Email": "carl@acme.test", "FirstName": "Carl",
     "LastName": "Fallback", "IsActive": True},
]


def start_sf(fixture: dict | None = None):
    from emulators.salesforce.server import create_app
    from emulators.serving import serve_in_thread

    return serve_in_thread(create_app(":memory:", fixture))


def sf_control(server, method: str, path: str, **kw) -> requests.Response:
    resp = requests.request(method, f"{server.base_url}/__emulator__/{path}", timeout=30, **kw)
    resp.raise_for_status()
    return resp


def seed(server, fixture: dict) -> dict[str, str]:
    return sf_control(server, "POST", "seed", json=fixture).json()["refs"]


def records(server, sobject: str) -> list[dict]:
    return [r for r in sf_control(server, "GET", f"records/{sobject}").json() if not r.get("IsDeleted")]


def stats(server) -> dict:
    return sf_control(server, "GET", "stats").json()


def target_config(server, out_dir: Path, **extra) -> dict:
    config = {
        "login_url": server.base_url,
        "auth_flow": "password",
        "client_id": "emulator-client-id",
        "client_secret": "emulator-client-secret",
        "username": "admin@example.com",
        "password": "emulator",
        "security_token": "token",
        "output_dir": str(out_dir),
        "retry_backoff_seconds": 0.01,
        "bulk_poll_seconds": 0.05,
        "max_retries": 4,
    }
    config.update(extra)
    return with_test_store(config)


def make_run(server, out_dir: Path, **extra):
    import logging
    import uuid

    from target_salesforce_andsend.context import build_run

    # Runs built here are never finished (their lease never released): each gets its own pipeline.
    extra.setdefault("pipeline_id", f"test-{uuid.uuid4().hex}")
    return build_run(target_config(server, out_dir, **extra), logging.getLogger("test.activities"))


def touchpoint(tid: str, prospect_id: str, **kw) -> dict:
    tp = {
        "id": tid, "prospect_id": prospect_id, "campaign_id": "cmp_1", "user_id": "usr_1",
        "user_email": "ann.owner@acme.test", "channel": "email", "type": "email_sent",
        "subject": f"Subject line {tid}", "body": f"Hello,\n\nBody text of {tid}.\n\nBye",
        "executed_at": "2026-01-05T10:15:00Z", "created_at": "2026-01-05T10:15:00Z",
        "updated_at": "2026-01-05T10:15:00Z",
    }
    tp.update(kw)
    return tp


@pytest.fixture(scope="module")
def servers():
    """Two orgs for the whole module: with and without the Task external-id field."""
    started = {
        "ext": start_sf({"users": USERS}),
        "noext": start_sf({"users": USERS, **NO_TASK_EXTERNAL_ID}),
    }
    yield started
    for s in started.values():
        s.stop()


@pytest.fixture(params=["ext", "noext"])
def sf(request, servers):
    """Each test runs against both orgs, reset to their fixture."""
    server = servers[request.param]
    sf_control(server, "POST", "reset")
    server.variant = request.param
    return server
