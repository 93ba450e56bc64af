"""Airbyte's source-salesforce (PyPI, unmodified, in its own venv) checks, discovers and reads the
emulator: objects with compound address fields over REST, the others through Bulk API 2.0 query jobs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.third_party.clients import CLIENT_ID, CLIENT_SECRET, Org, client_python, run_client, start_org

pytestmark = pytest.mark.e2e  # runs the CLIs as subprocesses

SOURCE = "airbyte-source-salesforce==2.10.3"
STREAMS = ("Account", "Contact", "Lead", "Task", "User")
FIXTURE: dict[str, Any] = {
    "records": {
        "Account": [{"_ref": f"a{i}", "Name": f"Acme {i} GmbH", "BillingCity": "Berlin"} for i in range(4)],
        "Contact": [{"_ref": f"c{i}", "LastName": f"Roe {i}", "Email": f"roe{i}@acme.de", "AccountId": f"@a{i}"}
                    for i in range(4)],
        "Lead": [{"LastName": f"Lee {i}", "Company": "Acme", "Email": f"lee{i}@acme.de"} for i in range(6)],
        "Task": [{"Subject": f"Email {i}", "WhoId": f"@c{i}", "Status": "Completed"} for i in range(4)],
    }
}


@pytest.fixture(scope="module")
def source_python() -> Path:
    return client_python("airbyte-source-salesforce", SOURCE)


@pytest.fixture
def org() -> Iterator[Org]:
    org = start_org(FIXTURE)
    try:
        yield org
    finally:
        org.stop()


def _messages(stdout: str) -> list[dict[str, Any]]:
    out = []
    for line in stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict) and "type" in msg:
            out.append(msg)
    return out


def _run(python: Path, org: Org, tmp: Path, *args: str) -> list[dict[str, Any]]:
    done = run_client(python, org, "source_salesforce.run:run", list(args), tmp)
    msgs = _messages(done.stdout)
    errors = [m for m in msgs if m["type"] == "TRACE" and m["trace"].get("type") == "ERROR"]
    assert done.returncode == 0 and not errors, (done.stderr[-2000:], errors[:1])
    return msgs


def test_check_discover_and_read(source_python: Path, org: Org, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                  "refresh_token": org.refresh_token(), "is_sandbox": False,
                                  # Recent: the source reads in date windows from start_date on.
                                  "start_date": (datetime.now(timezone.utc) - timedelta(days=7)).strftime(
                                      "%Y-%m-%dT%H:%M:%SZ")}))
    check = _run(source_python, org, tmp_path, "check", "--config", str(config))
    assert [m["connectionStatus"]["status"] for m in check if m["type"] == "CONNECTION_STATUS"] == ["SUCCEEDED"]
    discovered = _run(source_python, org, tmp_path, "discover", "--config", str(config))
    streams = {s["name"]: s for m in discovered if m["type"] == "CATALOG" for s in m["catalog"]["streams"]}
    assert set(STREAMS) <= set(streams), sorted(streams)
    assert streams["Account"]["json_schema"]["properties"]["BillingAddress"]["type"] == ["object", "null"]
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"streams": [
        {"stream": streams[name], "sync_mode": "incremental", "destination_sync_mode": "append",
         "cursor_field": ["SystemModstamp"]} for name in STREAMS]}))
    read = _run(source_python, org, tmp_path, "read", "--config", str(config), "--catalog", str(catalog))
    got: dict[str, dict[str, dict]] = {name: {} for name in STREAMS}
    for m in read:
        if m["type"] == "RECORD":
            got[m["record"]["stream"]][m["record"]["data"]["Id"]] = m["record"]["data"]
    for name in STREAMS:
        assert set(got[name]) == {r["Id"] for r in org.rows(name)}, name
    assert all(rec["BillingAddress"]["city"] == "Berlin" for rec in got["Account"].values())
    kinds = org.emu.by_kind
    assert kinds["bulk_query_create"] >= 1, dict(kinds)  # Task has no compound field: Bulk 2.0
    assert kinds["query"] >= 4, dict(kinds)  # the objects with addresses: REST
