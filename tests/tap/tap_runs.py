"""Run tap-andsend for tests: in-process (stdout captured) or as the real CLI subprocess."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from tap_andsend.schemas import STREAM_NAMES, load_schema
from tap_andsend.tap import TapAndsend


@dataclass
class TapOutput:
    """Parsed Singer messages of one run."""

    messages: list[dict] = field(default_factory=list)

    @classmethod
    def parse(cls, lines: Iterable[str]) -> TapOutput:
        return cls([json.loads(line) for line in lines if line.strip()])

    @property
    def records(self) -> dict[str, list[dict]]:
        by_stream: dict[str, list[dict]] = defaultdict(list)
        for m in self.messages:
            if m["type"] == "RECORD":
                by_stream[m["stream"]].append(m["record"])
        return by_stream

    def ids(self, stream: str) -> list[str]:
        return [r["id"] for r in self.records.get(stream, [])]

    @property
    def states(self) -> list[dict]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def final_state(self) -> dict:
        return self.states[-1]

    def schemas(self) -> dict[str, dict]:
        return {m["stream"]: m["schema"] for m in self.messages if m["type"] == "SCHEMA"}


def catalog_for(config: dict, streams: Iterable[str] | None) -> dict | None:
    """Discovered catalog with only ``streams`` selected (None: the tap's default, all)."""
    if streams is None:
        return None
    wanted = set(streams)
    catalog = TapAndsend(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = entry["tap_stream_id"] in wanted
    return catalog


def run_in_process(
    config: dict,
    *,
    state: dict | None = None,
    streams: Iterable[str] | None = None,
    on_response: Callable[[str, requests.Response], None] | None = None,
) -> TapOutput:
    """Sync in this process, capturing stdout; ``on_response(stream, response)`` sees every HTTP reply."""
    tap = TapAndsend(config=config, state=state, catalog=catalog_for(config, streams), parse_env_config=False)
    if on_response is not None:
        for name, stream in tap.streams.items():
            stream.requests_session.hooks["response"].append(
                lambda response, *args, _name=name, **kwargs: on_response(_name, response)
            )
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        tap.sync_all()
    return TapOutput.parse(buffer.getvalue().splitlines())


def tap_command() -> list[str]:
    script = Path(sys.executable).with_name("tap-andsend")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tap_andsend.tap"]


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def start_cli(
    tmp_path: Path, config: dict, *, state: dict | None = None, name: str = "run"
) -> subprocess.Popen[str]:
    """Start the real ``tap-andsend`` CLI; stdout is a pipe of Singer lines, stderr goes to a file."""
    args = [*tap_command(), "--config", str(write_json(tmp_path / f"{name}-config.json", config))]
    if state is not None:
        args += ["--state", str(write_json(tmp_path / f"{name}-state.json", state))]
    stderr = (tmp_path / f"{name}-stderr.log").open("w", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_ANDSEND_")}
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)


def run_cli(
    tmp_path: Path, config: dict, *, state: dict | None = None, name: str = "run", timeout: float = 120
) -> tuple[int, TapOutput, str]:
    """Run the CLI to completion: (exit code, parsed stdout, stderr text)."""
    proc = start_cli(tmp_path, config, state=state, name=name)
    stdout, _ = proc.communicate(timeout=timeout)
    stderr = (tmp_path / f"{name}-stderr.log").read_text(encoding="utf-8")
    return proc.returncode, TapOutput.parse(stdout.splitlines()), stderr


def list_all(base_url: str, api_key: str, stream: str) -> list[dict]:
    """Every record of a stream straight from the API (plain requests, independent of the tap)."""
    path = "search-results" if stream == "search_results" else stream
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api_key}"
    out: list[dict] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        response = session.get(f"{base_url}/v1/{path}", params=params, timeout=30)
        response.raise_for_status()
        body = response.json()
        out.extend(body["data"])
        cursor = body.get("next_cursor")
        if not cursor:
            return out


def stream_validators() -> dict[str, Any]:
    """Draft 2020-12 validators (with format checks) for the shipped stream schemas."""
    from jsonschema import Draft202012Validator, FormatChecker

    # jsonschema only checks date-time when rfc3339-validator is installed; check it ourselves.
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def _rfc3339(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if "T" not in value.upper():
            raise ValueError("no 'T' separator")
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
        if parsed.tzinfo is None:
            raise ValueError("no UTC offset")
        return True

    return {name: Draft202012Validator(load_schema(name), format_checker=checker) for name in STREAM_NAMES}
