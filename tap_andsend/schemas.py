"""Find and load the stream schemas shipped with the tap.

The wheel carries them as ``tap_andsend/schemas/`` (hatch force-include); an editable
install or a checkout has only the repository's top-level ``schemas/`` directory.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

STREAM_NAMES = ("users", "campaigns", "prospects", "search_results", "touchpoints")


@cache
def schemas_dir() -> Traversable:
    """Directory holding ``<stream>.json``: the packaged copy first, else the repository's."""
    packaged = files("tap_andsend") / "schemas"
    if packaged.is_dir() and (packaged / "users.json").is_file():
        return packaged
    repo_dir = Path(__file__).resolve().parent.parent / "schemas"
    if (repo_dir / "users.json").is_file():
        return repo_dir
    raise FileNotFoundError(
        "tap-andsend stream schemas not found: expected tap_andsend/schemas/ in the installed "
        f"package or {repo_dir} in a source checkout"
    )


def load_schema(stream_name: str) -> dict[str, Any]:
    """Return a fresh copy of the JSON schema of ``stream_name`` (callers may mutate it)."""
    if stream_name not in STREAM_NAMES:
        raise KeyError(f"unknown Andsend stream: {stream_name!r}")
    text = (schemas_dir() / f"{stream_name}.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
