"""Describe documents of the emulator's default org, for pure (no HTTP) tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path

DESCRIBES_DIR = Path(__file__).resolve().parents[2] / "emulators" / "salesforce" / "describes"


def describe(sobject: str) -> dict:
    return json.loads((DESCRIBES_DIR / f"{sobject}.json").read_text())


def describes(*objects: str, omit: dict[str, list[str]] | None = None) -> dict[str, dict]:
    out = {o: describe(o) for o in (objects or ("Lead", "Contact", "Account"))}
    for obj, names in (omit or {}).items():
        doc = copy.deepcopy(out[obj])
        doc["fields"] = [f for f in doc["fields"] if f["name"] not in names]
        out[obj] = doc
    return out
