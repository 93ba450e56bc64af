"""Start ``andsend-emulators`` subcommands as real processes, as the demo and Meltano users do.

The interoperability and Meltano tests drive the programs exactly as a user would (separate
processes talking HTTP and Singer over pipes), so they start the emulators through their CLI
rather than in-process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

BIN = Path(sys.executable).parent


def executable(name: str) -> str:
    path = BIN / name
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: install the project into this venv (pip install -e .[dev])"
        )
    return str(path)


class EmulatorProcess:
    """``andsend-emulators <args>`` in the background; ``base_url`` is its first stdout line."""

    def __init__(
        self,
        args: list[str],
        log_dir: Path,
        name: str,
        *,
        program: str | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.out = log_dir / f"{name}.out"
        self.err = log_dir / f"{name}.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                [program or executable("andsend-emulators"), *args],
                stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd,
            )  # fmt: skip
        self.base_url = self._wait_for_url()

    def _wait_for_url(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            head = self.out.read_text().split("\n", 1)
            if len(head) == 2 and head[0].startswith("http"):
                return head[0].strip().rstrip("/")
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"andsend-emulators {self.name} did not print its base URL:\n{self.err.read_text()[-3000:]}"
        )

    def get(self, path: str, **kwargs: object) -> requests.Response:
        response = requests.get(self.base_url + path, timeout=30, **kwargs)  # type: ignore[arg-type]
        response.raise_for_status()
        return response

    def post(self, path: str, body: object = None) -> requests.Response:
        response = requests.post(self.base_url + path, json=body, timeout=60)
        response.raise_for_status()
        return response

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def records(payload: object) -> list[dict]:
    """Rows of ``GET /__emulator__/records/{Object}`` or ``/__emulator__/badges`` (list or wrapped)."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        for key in ("records", "data", "badges", "rows"):
            if isinstance(payload.get(key), list):
                return payload[key]
    raise AssertionError(f"unexpected payload: {str(payload)[:300]}")


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAP_ANDSEND_", "TARGET_SALESFORCE_ANDSEND_"))
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env
