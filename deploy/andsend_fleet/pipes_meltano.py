"""The Dagster Pipes process of one tenant run: ``python -m deploy.andsend_fleet.pipes_meltano``.

Launched by the tenant's asset (``PipesSubprocessClient``), it prepares the tenant's directories and
PostgreSQL schema, runs ``meltano run`` with exactly the environment the plan lists (its stdout and
stderr go to the Dagster step's logs), reads the target's report, and reports back over Pipes: a
materialization with the run's figures when the run succeeded, and always a custom message with the
verdict (``outcome.judge``), from which the asset decides to fail, retry or hold the tenant. Its own
exit code is 0 whenever it could report; Meltano's is in the message.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path
from typing import Any

from dagster_pipes import PipesContext, open_dagster_pipes

from deploy.andsend_fleet.outcome import judge

TAIL_LINES = 60


def ensure_schema(url: str, schema: str) -> None:
    """The tenant's schema in the fleet's PostgreSQL store (the store creates its tables in it)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True, connect_timeout=30) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def run_meltano(command: list[str], env: dict[str, str], cwd: str, timeout: float) -> tuple[int, str]:
    """Run Meltano in its own process group, its output copied to ours line by line; returns the exit
    code and the last lines (for the verdict when the target wrote no report)."""
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, text=True, errors="replace")
    tail: deque[str] = deque(maxlen=TAIL_LINES)

    def forward(signum: int, frame: Any) -> None:  # Dagster stops the step: stop Meltano cleanly
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    timer = threading.Timer(timeout, forward, (signal.SIGTERM, None))
    timer.daemon = True
    timer.start()
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stderr.write(line)
        tail.append(line)
    code = proc.wait()
    timer.cancel()
    return code, "".join(tail)


def pipes_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """Raw values as they are; mappings and lists as JSON metadata (Pipes wants them typed)."""
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if isinstance(value, dict | list):
            out[key] = {"raw_value": value, "type": "json"}
        elif value is not None:
            out[key] = value
    return out


def run(pipes: PipesContext) -> None:
    plan = pipes.extras["plan"]
    env = {key: os.environ[key] for key in plan["env_keys"] if key in os.environ}
    tenant_dir = Path(plan["tenant_dir"])
    (tenant_dir / ".meltano").mkdir(parents=True, exist_ok=True)
    (tenant_dir / "tenant.env").touch()
    if plan.get("store_schema"):
        ensure_schema(env["TARGET_SALESFORCE_ANDSEND_STATE_STORE_URL"], plan["store_schema"])
    report_path = Path(plan["report_path"])
    if report_path.exists():  # a report left by an earlier run must not pass for this run's
        report_path.replace(report_path.with_name("report.previous.json"))
    pipes.log.info(f"tenant {plan['tenant']}: meltano run, state id {plan['state_id']}")
    code, tail = run_meltano(plan["command"], env, plan["cwd"], float(plan["timeout_seconds"]))
    report = None
    if report_path.exists():
        try:
            report = json.loads(report_path.read_text(encoding="utf-8"))
        except ValueError:
            report = None
    outcome = judge(code, report, tail)
    if outcome.ok:
        pipes.report_asset_materialization(metadata=pipes_metadata({"verdict": outcome.verdict, **outcome.metadata}))
    pipes.report_custom_message({"verdict": outcome.verdict, "message": outcome.message,
                                 "metadata": outcome.metadata})


def main() -> int:
    with open_dagster_pipes() as pipes:
        run(pipes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
