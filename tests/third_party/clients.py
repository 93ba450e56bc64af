"""Third-party Salesforce clients installed from PyPI into their own virtual environments (created once
per machine under ``<repo>/.third-party/``), and an HTTPS Salesforce emulator for them to talk to."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import venv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulators.salesforce.server import create_app
from emulators.serving import RunningServer, serve_in_thread

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".third-party"
SHIM = Path(__file__).with_name("route_to_emulator.py")
INSTANCE = "acme.my.salesforce.com"
CLIENT_ID, CLIENT_SECRET = "emulator-client-id", "emulator-client-secret"


def client_python(name: str, *requirements: str) -> Path:
    """The Python of a venv holding ``requirements`` (built once; a lock keeps parallel workers apart)."""
    home = CACHE / name
    python = home / "bin" / "python"
    stamp = home / ".installed"
    CACHE.mkdir(exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists() or stamp.read_text() != "\n".join(requirements):
            venv.EnvBuilder(with_pip=True, clear=True).create(home)
            subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                            *requirements], check=True, timeout=900)
            stamp.write_text("\n".join(requirements))
    return python


@dataclass
class Org:
    app: Any
    server: RunningServer

    @property
    def emu(self) -> Any:
        return self.app.state.emulator

    @property
    def cafile(self) -> str:
        return self.app.state.tls[0]

    def refresh_token(self) -> str:
        """A refresh token of the admin user for the default connected app (as `connect` would get)."""
        with self.emu.store.lock:
            (user_id,) = self.emu.store.conn.execute(
                "SELECT Id FROM User WHERE Username = 'admin@example.com'").fetchone()
        return self.emu.auth.issue_refresh(user_id, CLIENT_ID)

    def rows(self, sobject: str) -> list[dict[str, Any]]:
        with self.emu.store.lock:
            cur = self.emu.store.conn.execute(f'SELECT * FROM "{sobject}" WHERE IsDeleted = 0')
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def stop(self) -> None:
        self.server.server.force_exit = True
        self.server.stop()
        self.emu.store.close()


def start_org(fixture: dict[str, Any]) -> Org:
    app = create_app(":memory:", fixture, https=True, instance_url=f"https://{INSTANCE}")
    cert, key = app.state.tls
    return Org(app, serve_in_thread(app, ssl_certfile=cert, ssl_keyfile=key))


def run_client(python: Path, org: Org, entry: str, args: list[str], cwd: Path,
               timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(EMULATOR_PORT=str(org.server.port), EMULATOR_CAFILE=org.cafile)
    return subprocess.run([str(python), str(SHIM), entry, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def singer_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


__all__ = ["Org", "client_python", "run_client", "singer_lines", "start_org"]
