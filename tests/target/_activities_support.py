"""Shared helpers for the activities and badges tests (not a test module)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import requests

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
