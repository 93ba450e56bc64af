"""singer-io's tap-salesforce (PyPI, unmodified, in its own venv) reads the emulator: discovery, REST
full and incremental syncs with its own state, and its Bulk API 1.0 mode."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.third_party.clients import (
    CLIENT_ID,
    CLIENT_SECRET,
    Org,
    client_python,
    run_client,
    singer_lines,
    start_org,
)

pytestmark = pytest.mark.e2e  # runs the CLIs as subprocesses

TAP = "tap-salesforce==2.8.1"
STREAMS = ("Account", "Contact", "Lead", "Task", "User")
FIXTURE: dict[str, Any] = {
    "records": {
        "Account": [{"_ref": f"a{i}", "Name": f"Acme {i} GmbH", "Website": f"https://acme{i}.de",
                     "BillingCity": "Berlin"} for i in range(5)],
        "Lead": [{"LastName": f"Lee {i}", "Company": f"Acme {i}", "Email": f"lee{i}@acme{i}.de",
                  "Title": "CTO" if i % 2 else None} for i in range(7)],
    }
}


@pytest.fixture(scope="module")
def tap_python() -> Path:
    return client_python("tap-salesforce", TAP)


@pytest.fixture
def org() -> Iterator[Org]:
    org = start_org(FIXTURE)
    try:
        yield org
    finally:
        org.stop()


def _control(org: Org, method: str, path: str, body: Any = None) -> Any:
    r = requests.request(method, f"{org.server.base_url}/__emulator__/{path}", json=body, verify=org.cafile,
                         timeout=30)
    r.raise_for_status()
    return r.json()


def _config(tmp: Path, org: Org, api_type: str) -> Path:
    path = tmp / f"config-{api_type}.json"
    path.write_text(json.dumps({
        "refresh_token": org.refresh_token(), "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "start_date": "2000-01-01T00:00:00Z", "api_type": api_type, "select_fields_by_default": True,
        "is_sandbox": False,
    }))
    return path


def _catalog(tap_python: Path, org: Org, tmp: Path, api_type: str = "REST") -> Path:
    # Discovery depends on the mode: in BULK it marks compound address fields unsupported.
    done = run_client(tap_python, org, "tap_salesforce:main", ["--config", str(_config(tmp, org, api_type)),
                                                                "--discover"], tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    catalog = json.loads(done.stdout)
    by_name = {s["stream"]: s for s in catalog["streams"]}
    assert set(STREAMS) <= set(by_name), sorted(by_name)
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                # As a user of the tap does: select the stream and its incremental key.
                entry["metadata"]["selected"] = stream["stream"] in STREAMS
                entry["metadata"]["replication-method"] = "INCREMENTAL"
                entry["metadata"]["replication-key"] = "SystemModstamp"
    path = tmp / f"catalog-{api_type}.json"
    path.write_text(json.dumps(catalog))
    return path


def _sync(tap_python: Path, org: Org, tmp: Path, catalog: Path, api_type: str,
          state: dict | None = None) -> tuple[dict[str, dict[str, dict]], dict]:
    args = ["--config", str(_config(tmp, org, api_type)), "--properties", str(catalog)]
    if state is not None:
        (tmp / "state.json").write_text(json.dumps(state))
        args += ["--state", str(tmp / "state.json")]
    done = run_client(tap_python, org, "tap_salesforce:main", args, tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    records: dict[str, dict[str, dict]] = {s: {} for s in STREAMS}
    last_state: dict = {}
    for msg in singer_lines(done.stdout):
        if msg["type"] == "RECORD":
            records[msg["stream"]][msg["record"]["Id"]] = msg["record"]
        elif msg["type"] == "STATE":
            last_state = msg["value"]
    return records, last_state


def test_discover_and_rest_full_then_incremental(tap_python: Path, org: Org, tmp_path: Path) -> None:
    catalog = _catalog(tap_python, org, tmp_path)
    records, state = _sync(tap_python, org, tmp_path, catalog, "REST")
    for stream in STREAMS:
        assert set(records[stream]) == {r["Id"] for r in org.rows(stream)}, stream
    lead = next(r for r in org.rows("Lead") if r["Email"] == "lee1@acme1.de")
    assert records["Lead"][lead["Id"]]["Title"] == "CTO"
    first_mark = max(r["SystemModstamp"] for r in org.rows("Lead"))
    assert state["bookmarks"]["Lead"]["SystemModstamp"][:19] == first_mark[:19], state

    # Later changes: one Lead edited, one created. The tap asks SystemModstamp >= its bookmark with
    # microseconds ("...10:00:00.000000Z"), which Salesforce accepts.
    # The tap never moves a bookmark past its own clock: the changes are a second later, in real time.
    time.sleep(1.1)
    seeded = _control(org, "POST", "seed", {"records": {"Lead": [{"LastName": "New", "Company": "Neu AG",
                                                                   "Email": "new@neu.de"}]}})
    assert seeded
    token = org.emu.auth.issue_access(lead["OwnerId"] or org.rows("User")[0]["Id"], None)
    r = requests.patch(f"{org.server.base_url}/services/data/v61.0/sobjects/Lead/{lead['Id']}",
                       json={"Title": "CEO"}, headers={"Authorization": f"Bearer {token}"}, verify=org.cafile,
                       timeout=30)
    assert r.status_code == 204, r.text
    again, state2 = _sync(tap_python, org, tmp_path, catalog, "REST", state)
    changed = {r["Id"] for r in org.rows("Lead") if r["SystemModstamp"] > first_mark}
    assert len(changed) == 2
    # >= on the bookmark re-reads the records stamped exactly at it (Singer's at-least-once).
    at_bookmark = {r["Id"] for r in org.rows("Lead") if r["SystemModstamp"][:19] == first_mark[:19]}
    assert set(again["Lead"]) == changed | at_bookmark
    assert again["Lead"][lead["Id"]]["Title"] == "CEO"
    second_mark = max(r["SystemModstamp"] for r in org.rows("Lead"))
    assert state2["bookmarks"]["Lead"]["SystemModstamp"][:19] == second_mark[:19] > first_mark[:19]


def test_bulk_api_1_query_mode(tap_python: Path, org: Org, tmp_path: Path) -> None:
    rest, _ = _sync(tap_python, org, tmp_path, _catalog(tap_python, org, tmp_path), "REST")
    bulk, state = _sync(tap_python, org, tmp_path, _catalog(tap_python, org, tmp_path, "BULK"), "BULK")
    for stream in STREAMS:
        assert set(bulk[stream]) == {r["Id"] for r in org.rows(stream)}, stream
        for rid, rec in rest[stream].items():  # the same values through both APIs (typed by the tap)
            compound = {k for k in rec if k.endswith("Address")}
            assert not compound & set(bulk[stream][rid]), (stream, compound)
            assert bulk[stream][rid] == {k: v for k, v in rec.items() if k not in compound}, (stream, rid)
    assert all(rec["BillingAddress"]["city"] == "Berlin" for rec in rest["Account"].values())  # REST reads them
    assert "SystemModstamp" in state["bookmarks"]["Account"]
    stats = _control(org, "GET", "stats")
    assert stats["by_kind"]["bulk1_create_job"] == len(STREAMS)
    assert stats["by_kind"]["bulk1_results"] >= len(STREAMS)
