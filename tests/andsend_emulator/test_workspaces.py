"""Workspaces: one Andsend emulator, several API keys, each key seeing only its own workspace's data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from emulators.andsend.server import create_app, workspace_db_path
from emulators.serving import serve_in_thread

SIZES: dict[str, Any] = {"prospects": 60, "users": 4, "campaigns": 2, "searches": 2, "results_per_search": 5}


@pytest.fixture
def emulator(tmp_path: Path) -> Any:
    app = create_app(str(tmp_path / "andsend.sqlite"), **SIZES, workspaces={"acme": "key-acme", "globex": "key-globex"})
    server = serve_in_thread(app)
    yield server.base_url
    server.stop()


def _all(base: str, key: str, resource: str) -> list[dict[str, Any]]:
    rows, cursor = [], None
    while True:
        params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        r = requests.get(f"{base}/v1/{resource}", params=params, headers={"Authorization": f"Bearer {key}"},
                         timeout=30)
        r.raise_for_status()
        rows += r.json()["data"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return rows


def test_each_key_sees_only_its_workspace(emulator: str, tmp_path: Path) -> None:
    seen = {key: _all(emulator, key, "prospects") for key in ("andsend-demo-key", "key-acme", "key-globex")}
    ids = {key: {p["id"] for p in rows} for key, rows in seen.items()}
    emails = {key: {p["email"] for p in rows if p.get("email")} for key, rows in seen.items()}
    assert all(len(rows) == 60 for rows in seen.values())
    keys = list(seen)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            assert not ids[a] & ids[b], (a, b)
            assert not emails[a] & emails[b], (a, b)
    # a record of one workspace is not found with another's key
    one = next(iter(ids["key-acme"]))
    r = requests.get(f"{emulator}/v1/prospects/{one}", headers={"Authorization": "Bearer key-globex"}, timeout=30)
    assert r.status_code == 404
    r = requests.get(f"{emulator}/v1/prospects/{one}", headers={"Authorization": "Bearer key-acme"}, timeout=30)
    assert r.status_code == 200
    refused = requests.get(f"{emulator}/v1/prospects", headers={"Authorization": "Bearer nope"}, timeout=30)
    assert refused.status_code == 401
    assert Path(workspace_db_path(str(tmp_path / "andsend.sqlite"), "acme")).exists()


def test_control_plane_targets_one_workspace(emulator: str) -> None:
    before = {key: len(_all(emulator, key, "touchpoints")) for key in ("key-acme", "key-globex")}
    requests.post(f"{emulator}/__emulator__/stats/reset", timeout=30).raise_for_status()
    r = requests.post(f"{emulator}/__emulator__/activity", params={"workspace": "acme"},
                      json={"new_touchpoints": 7}, timeout=30)
    r.raise_for_status()
    assert len(r.json()["new_touchpoints"]) == 7
    after = {key: len(_all(emulator, key, "touchpoints")) for key in ("key-acme", "key-globex")}
    assert after == {"key-acme": before["key-acme"] + 7, "key-globex": before["key-globex"]}
    stats = requests.get(f"{emulator}/__emulator__/stats", timeout=30).json()
    assert set(stats["by_workspace"]) == {"acme", "globex"}
    counts = requests.get(f"{emulator}/__emulator__/config", params={"workspace": "globex"}, timeout=30).json()
    assert counts["counts"]["prospects"] == 60
    bad = requests.get(f"{emulator}/__emulator__/config", params={"workspace": "initech"}, timeout=30)
    assert bad.status_code == 400


def test_workspace_keys_must_differ(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="own API key"):
        create_app(str(tmp_path / "a.sqlite"), **SIZES, workspaces={"acme": "andsend-demo-key"})
