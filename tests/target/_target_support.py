"""Helpers for the target tests: config for the emulator, running the target in-process with
stdout captured (and checked to hold STATE lines only), Singer message builders."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

from target_salesforce_andsend.target import TargetSalesforceAndsend
from tests.postgres_server import with_test_store
from tests.target._salesforce_support import password_config

ROOT = Path(__file__).resolve().parents[2]
STREAMS = Path(__file__).resolve().parent / "streams"
SCHEMAS = {name: json.loads((ROOT / "schemas" / f"{name}.json").read_text())
           for name in ("prospects", "users", "touchpoints", "search_results")}
STAMP = "2026-01-01T00:00:00Z"


def target_config(emulator: Any, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    config = password_config(emulator, output_dir=str(tmp_path / "out"))
    config.update(extra)
    return with_test_store(config)


def prospect(pid: str, **fields: Any) -> dict[str, Any]:
    record = {"id": pid, "status": "purchased", "purchased": True, "first_name": "Ann", "last_name": f"Lee {pid}",
              "email": f"{pid}@acme.test", "company_name": "Acme GmbH", "company_domain": "acme.test",
              "title": "CTO", "created_at": STAMP, "updated_at": STAMP}
    record.update(fields)
    return record


def messages(stream: str, records: list[dict], *, state: dict | None = None, schema: str | None = None) -> list[str]:
    lines = [json.dumps({"type": "SCHEMA", "stream": stream, "schema": SCHEMAS[schema or stream],
                         "key_properties": ["id"]})]
    lines += [json.dumps({"type": "RECORD", "stream": stream, "record": r}, ensure_ascii=False) for r in records]
    lines.append(json.dumps({"type": "STATE", "value": state or {"bookmarks": {stream: {"n": len(records)}}}}))
    return lines


def singer_file(name: str) -> str:
    return (STREAMS / name).read_text(encoding="utf-8")


class TargetRun:
    def __init__(self, stdout: str, report: dict | None, error: BaseException | None, rejects: list[dict]):
        self.stdout = stdout
        self.report = report or {}
        self.error = error
        self.rejects = rejects

    def counts(self, obj: str, role: str = "prospects") -> dict[str, int]:
        return self.report.get("counts", {}).get(role, {}).get(obj, {})

    @property
    def states(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def run_target(config: dict, lines: list[str] | str, *, expect_error: bool = False) -> TargetRun:
    """Run the target in-process on `lines`; assert stdout holds JSON state lines only."""
    text = lines if isinstance(lines, str) else "\n".join(lines) + "\n"
    out = io.StringIO()
    error: BaseException | None = None
    with contextlib.redirect_stdout(out):
        try:
            target = TargetSalesforceAndsend(config=config)
            target.listen(io.StringIO(text))
        except Exception as exc:  # the caller decides whether that was expected
            error = exc
    if error is not None and not expect_error:
        raise error
    if expect_error:
        assert error is not None, "the run was expected to fail"
    for line in out.getvalue().splitlines():
        state = json.loads(line)  # stdout is STATE only: every line is one state document
        assert isinstance(state, dict) and "bookmarks" in state, line
    out_dir = Path(config["output_dir"])
    report_path = Path(config.get("report_path") or out_dir / "report.json")
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    rejects_path = Path(config.get("rejects_path") or out_dir / "rejects.jsonl")
    rejects = [json.loads(x) for x in rejects_path.read_text().splitlines()] if rejects_path.exists() else []
    return TargetRun(out.getvalue(), report, error, rejects)


def live(records: list[dict]) -> list[dict]:
    return [r for r in records if not r.get("IsDeleted")]
