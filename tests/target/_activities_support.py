"""Shared helpers for the activities and badges tests."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BADGE_SCHEMA = json.loads((ROOT / "schemas" / "badges.json").read_text())
