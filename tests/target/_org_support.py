"""Helpers for the messy-org target tests: the link store a run wrote, and small org fixtures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from target_salesforce_andsend.links import open_store


def stored_links(config: dict[str, Any], run: Any) -> dict[str, dict[str, Any]]:
    """prospect id -> link row, read from the store the run wrote (SQLite or PostgreSQL)."""
    org_id = run.report["org"]["org_id"]
    store = open_store(config, Path(config["output_dir"]) / "links.sqlite", org_id)
    try:
        return {row["prospect_id"]: row for row in store.iter_links()}
    finally:
        store.close()


SELLER = {"_ref": "ann", "Username": "ann@acme-sales.test", "Email": "ann@acme-sales.test", "FirstName": "Ann",
          "LastName": "Lee", "IsActive": True}
