"""The whole pipeline as a user runs it, for the reliability suite.

``tap-andsend`` and ``target-salesforce-andsend`` run as separate processes; like Meltano, this
module sits between them (it relays the tap's stdout to the target's stdin line by line) and
carries state between runs: the last STATE line on the target's stdout becomes the next run's
``--state``. The relay is also where a test can count what the tap emitted, and a watcher thread
polls the emulators' control planes, so a run can be SIGKILLed at a chosen point (after the Nth
record of a stream, after K Salesforce writes of some kind, after the Kth badge write-back...).

Both emulators run in this process (``serve_in_thread``) on 127.0.0.1 with ephemeral ports;
their data is checked through their control planes, never through the programs' own output.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from emulators.andsend.generator import GeneratorConfig, generate
from emulators.andsend.sf_fixture import FixtureOptions, build_fixture
from emulators.andsend.store import RESOURCES, Store
from emulators.serving import RunningServer, serve_in_thread
from tests.postgres_server import with_test_store

BIN = Path(sys.executable).parent
TAP = str(BIN / "tap-andsend")
TARGET = str(BIN / "target-salesforce-andsend")
API_KEY = "andsend-demo-key"
# Streams the target has roles for (as meltano.yml selects them).
SELECTED_STREAMS = ("users", "prospects", "search_results", "touchpoints")


# ------------------------------------------------------------------------------ emulators


def control(base_url: str, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(method, f"{base_url}/__emulator__/{path}", json=body, timeout=60)
    response.raise_for_status()
    return response.json()


@dataclass
class Andsend:
    """The Andsend emulator of one world."""

    base_url: str
    db_path: Path
    app: Any
    server: RunningServer
    api_key: str = API_KEY

    def control(self, method: str, path: str, body: Any = None) -> Any:
        return control(self.base_url, method, path, body)

    def stats(self) -> dict[str, Any]:
        return self.control("GET", "stats")

    def list(self, resource: str, **params: Any) -> list[dict[str, Any]]:
        """Every record of a list endpoint, through the public API (plain requests)."""
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.api_key}"
        rows: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = {"limit": 1000, **params, **({"cursor": cursor} if cursor else {})}
            response = session.get(f"{self.base_url}/v1/{resource}", params=page, timeout=60)
            response.raise_for_status()
            body = response.json()
            rows += body["data"]
            cursor = body.get("next_cursor")
            if not cursor:
                return rows

    def badges(self) -> list[dict[str, Any]]:
        return self.control("GET", "badges")["data"]

    def activity(self, **counts: int) -> dict[str, list[str]]:
        return self.control("POST", "activity", counts)

    def faults(self, **faults: Any) -> Any:
        return self.control("POST", "faults", faults) if faults else self.control("DELETE", "faults")

    def edit(self, resource: str, record_id: str, **fields: Any) -> None:
        """Change a stored record as the Andsend product would (with a new ``updated_at`` stamp),
        bypassing the API's own checks: how broken data gets into a test."""
        emu = self.app.state.emulator
        store: Store = emu.store
        with store.transaction() as conn:
            raw = store.raw(resource, record_id)
            assert raw is not None, record_id
            raw.update(fields)
            _, raw["updated_at"] = store.write_stamp(conn, emu.now_ms())
            table = RESOURCES[resource].table
            conn.execute(f"DELETE FROM {table} WHERE id = ?", (record_id,))
            store.insert(conn, resource, [raw])

    def stop(self) -> None:
        self.server.stop()
        self.app.state.emulator.store.close()


@dataclass
class Salesforce:
    """The Salesforce emulator of one world (its fixture's ``_andsend`` member is the answer key)."""

    base_url: str
    app: Any
    server: RunningServer
    fixture: dict[str, Any]

    def control(self, method: str, path: str, body: Any = None) -> Any:
        return control(self.base_url, method, path, body)

    def stats(self) -> dict[str, Any]:
        return self.control("GET", "stats")

    def records(self, sobject: str, *, live: bool = True) -> list[dict[str, Any]]:
        rows = self.control("GET", f"records/{sobject}")
        return [r for r in rows if not (live and r.get("IsDeleted"))]

    def faults(self, **faults: Any) -> Any:
        return self.control("POST", "faults", faults) if faults else self.control("DELETE", "faults")

    def stop(self) -> None:
        self.server.stop()
        self.app.state.emulator.store.close()


@dataclass
class World:
    andsend: Andsend
    salesforce: Salesforce
    external_ids: bool

    def stop(self) -> None:
        self.salesforce.stop()
        self.andsend.stop()


_TEMPLATES: dict[tuple, Path] = {}
_TEMPLATE_LOCK = threading.Lock()


def _template_db(config: GeneratorConfig, cache_dir: Path) -> Path:
    """Generate an Andsend data set once per config and session; worlds serve copies of it."""
    key = tuple(sorted(config.to_dict().items()))
    with _TEMPLATE_LOCK:
        path = _TEMPLATES.get(key)
        if path is None or not path.exists():
            path = cache_dir / f"andsend-{abs(hash(key))}.sqlite"
            store = Store(str(path))
            store.load(generate(config))
            store.close()
            _TEMPLATES[key] = path
        return path


def start_world(
    tmp_path: Path,
    config: GeneratorConfig,
    *,
    external_ids: bool = True,
    overlap: float = 0.3,
    template_dir: Path | None = None,
    api_key: str = API_KEY,
    fixture_extra: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> World:
    """Andsend emulator with ``config``'s data set and a Salesforce org that already holds
    ``overlap`` of its purchased people (``sf_fixture``), both on ephemeral ports."""
    from emulators.andsend.server import create_app as andsend_app
    from emulators.salesforce.server import create_app as salesforce_app

    db_path = tmp_path / "andsend.sqlite"
    shutil.copyfile(_template_db(config, template_dir or tmp_path), db_path)
    a_app = andsend_app(str(db_path), api_key=api_key)
    a_server = serve_in_thread(a_app)
    andsend = Andsend(a_server.base_url, db_path, a_app, a_server, api_key)
    try:
        fixture = build_fixture(config, FixtureOptions(overlap=overlap, omit_external_ids=not external_ids))
        if fixture_extra is not None:  # e.g. messy.with_messy_org: the org's rules on top
            fixture = fixture_extra(fixture)
        s_app = salesforce_app(":memory:", fixture)
        s_server = serve_in_thread(s_app)
    except BaseException:
        andsend.stop()
        raise
    return World(andsend, Salesforce(s_server.base_url, s_app, s_server, fixture), external_ids)


# ------------------------------------------------------------------------------- pipeline


def tap_catalog(config: dict[str, Any]) -> dict[str, Any]:
    """The tap's discovered catalog with the target's streams selected (as meltano.yml does)."""
    from tap_andsend.tap import TapAndsend

    catalog = TapAndsend(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = entry["tap_stream_id"] in SELECTED_STREAMS
    return catalog


def default_tap_config(world: World, **extra: Any) -> dict[str, Any]:
    return {
        "api_url": world.andsend.base_url,
        "api_key": world.andsend.api_key,
        "purchased_only": True,
        "page_size": 40,
        "max_retries": 8,
        **extra,
    }


def default_target_config(world: World, out_dir: Path, **extra: Any) -> dict[str, Any]:
    sf = world.salesforce
    config = {
        "login_url": sf.base_url,
        "auth_flow": "password",
        "client_id": "emulator-client-id",
        "client_secret": "emulator-client-secret",
        "username": "admin@example.com",
        "password": "emulator",
        "security_token": "token",
        "object_mode": "lead",
        "output_dir": str(out_dir),
        "andsend_api_url": world.andsend.base_url,
        "andsend_api_key": world.andsend.api_key,
        "batch_size_rows": 40,
        "max_retries": 8,
        "retry_backoff_seconds": 0.05,
        "request_timeout": 30,
        # A run killed here frees its lease after 5 s (not the default 60 s) for the rerun.
        "lease_ttl_seconds": 5,
        **extra,
    }
    return with_test_store(config)


@dataclass
class Relay:
    """What went through the pipe from the tap to the target in one run."""

    records: dict[str, int] = field(default_factory=dict)
    lines: int = 0
    states: int = 0
    torn_tail: bool = False  # the tap died in the middle of a line, which was passed on as it was

    def count(self, line: bytes) -> None:
        self.lines += 1
        if not line.endswith(b"\n"):
            self.torn_tail = True
            return
        try:
            message = json.loads(line)
        except ValueError:
            return
        if message.get("type") == "RECORD":
            stream = message.get("stream", "")
            self.records[stream] = self.records.get(stream, 0) + 1
        elif message.get("type") == "STATE":
            self.states += 1


@dataclass
class KillPoint:
    """SIGKILL ``victim`` ("tap" or "target") once ``condition(relay)`` holds.

    ``condition`` is checked after every relayed line and every ``poll_seconds`` by a watcher
    thread (for conditions on the emulators' counters)."""

    name: str
    victim: str
    condition: Callable[[Relay], bool]
    poll_seconds: float = 0.02
    fired: bool = False
    fired_at: float | None = None


@dataclass
class RunResult:
    tap_rc: int | None
    target_rc: int | None
    stdout: str
    tap_stderr: str
    target_stderr: str
    relay: Relay
    kill: KillPoint | None
    seconds: float
    out_dir: Path

    @property
    def states(self) -> list[dict[str, Any]]:
        out = []
        for line in self.stdout.splitlines():
            if line.strip():
                out.append(json.loads(line))  # stdout carries state documents only
        return out

    @property
    def ok(self) -> bool:
        return self.tap_rc == 0 and self.target_rc == 0

    def report(self) -> dict[str, Any]:
        return json.loads((self.out_dir / "report.json").read_text(encoding="utf-8"))

    def describe(self) -> str:
        return (
            f"tap rc={self.tap_rc} target rc={self.target_rc} kill={self.kill.name if self.kill else None}\n"
            f"--- tap stderr (tail) ---\n{self.tap_stderr[-3000:]}\n"
            f"--- target stderr (tail) ---\n{self.target_stderr[-5000:]}"
        )


def base_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAP_ANDSEND_", "TARGET_SALESFORCE_ANDSEND_"))
    }
    env.pop("PYTHONUNBUFFERED", None)  # block-buffered stdout, as in production: a kill may tear a line
    env.update(extra)
    return env


class Pipeline:
    """Runs ``tap-andsend | target-salesforce-andsend`` against one world, carrying state."""

    def __init__(
        self,
        workdir: Path,
        tap_config: dict[str, Any],
        target_config: dict[str, Any],
        *,
        env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.tap_config = tap_config
        self.target_config = target_config
        self.env = env or base_env()
        self.state: dict[str, Any] | None = None
        self.runs: list[RunResult] = []
        self.keep_input = False  # True: each run's relayed input is kept as workdir/input-<n>.singer
        self._catalog = tap_catalog(tap_config)

    @property
    def out_dir(self) -> Path:
        return Path(self.target_config["output_dir"])

    def _write(self, name: str, value: Any) -> str:
        path = self.workdir / name
        path.write_text(json.dumps(value), encoding="utf-8")
        return str(path)

    def run(
        self,
        kill: KillPoint | None = None,
        *,
        timeout: float = 300,
        env: dict[str, str] | None = None,
        target_env: dict[str, str] | None = None,
        input_lines: list[str] | None = None,
    ) -> RunResult:
        """One run. ``env``: both processes' environment (default ``self.env``); ``target_env``: the
        target's where it differs. ``input_lines``: feed these Singer lines to the target instead
        of the tap's."""
        n = len(self.runs)
        tap_args = [
            TAP,
            "--config",
            self._write(f"tap-config-{n}.json", self.tap_config),
            "--catalog",
            self._write(f"catalog-{n}.json", self._catalog),
        ]
        if self.state is not None:
            tap_args += ["--state", self._write(f"state-{n}.json", self.state)]
        target_args = [TARGET, "--config", self._write(f"target-config-{n}.json", self.target_config)]
        run_env = env or self.env
        tap_err_path = self.workdir / f"tap-{n}.log"
        target_err_path = self.workdir / f"target-{n}.log"
        started = time.monotonic()
        with tap_err_path.open("wb") as tap_err, target_err_path.open("wb") as target_err:
            target = subprocess.Popen(
                target_args,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=target_err,
                env=target_env or run_env,
            )
            tap = None
            if input_lines is None:
                tap = subprocess.Popen(
                    tap_args, stdout=subprocess.PIPE, stderr=tap_err, stdin=subprocess.DEVNULL, env=run_env
                )
            relay = Relay()
            procs = {"tap": tap, "target": target}
            stop = threading.Event()
            fire_lock = threading.Lock()

            def fire() -> None:
                assert kill is not None
                with fire_lock:
                    if kill.fired:
                        return
                    victim = procs[kill.victim]
                    if victim is not None and victim.poll() is None:
                        victim.send_signal(signal.SIGKILL)
                        kill.fired = True
                        kill.fired_at = time.monotonic() - started

            def check() -> None:
                if kill is not None and not kill.fired:
                    try:
                        if kill.condition(relay):
                            fire()
                    except requests.RequestException:
                        pass  # an emulator busy for a moment: look again on the next poll

            tee = (self.workdir / f"input-{n}.singer").open("wb") if self.keep_input else None

            def pump() -> None:
                assert target.stdin is not None
                source: Iterator[bytes]
                if tap is None:
                    source = iter((line + "\n").encode() for line in input_lines or [])
                else:
                    assert tap.stdout is not None
                    source = iter(tap.stdout.readline, b"")
                target_gone = False
                try:
                    for line in source:
                        if target_gone:
                            continue  # drain what the stopping tap still writes, so it can exit
                        relay.count(line)
                        if tee is not None:
                            tee.write(line)
                        check()
                        try:
                            target.stdin.write(line)
                            target.stdin.flush()
                        except (BrokenPipeError, OSError):
                            target_gone = True  # the target is gone; Meltano then stops the tap too
                            if tap is not None and tap.poll() is None:
                                tap.terminate()
                finally:
                    try:
                        target.stdin.close()
                    except OSError:
                        pass

            def watch() -> None:
                while not stop.is_set() and kill is not None and not kill.fired:
                    check()
                    stop.wait(kill.poll_seconds)

            out_chunks: list[bytes] = []

            def read_stdout() -> None:
                assert target.stdout is not None
                out_chunks.append(target.stdout.read())

            threads = [threading.Thread(target=f, daemon=True) for f in (pump, watch, read_stdout)]
            for t in threads:
                t.start()
            try:
                target.wait(timeout=timeout)
                if tap is not None:
                    tap.wait(timeout=30)
            finally:
                stop.set()
                for p in (tap, target):
                    if p is not None and p.poll() is None:
                        p.kill()
                        p.wait(timeout=30)
                for t in threads:
                    t.join(timeout=30)
                if tee is not None:
                    tee.close()
        result = RunResult(
            tap_rc=tap.returncode if tap is not None else 0,
            target_rc=target.returncode,
            stdout=b"".join(out_chunks).decode("utf-8"),
            tap_stderr=tap_err_path.read_text(encoding="utf-8", errors="replace"),
            target_stderr=target_err_path.read_text(encoding="utf-8", errors="replace"),
            relay=relay,
            kill=kill,
            seconds=time.monotonic() - started,
            out_dir=self.out_dir,
        )
        states = result.states
        if states:
            self.state = states[-1]  # what Meltano would store
        self.runs.append(result)
        return result


# ------------------------------------------------------------------------- kill conditions


def sf_kinds_at_least(world: World, kinds: tuple[str, ...], n: int) -> Callable[[Relay], bool]:
    """After ``n`` Salesforce calls of these kinds (counted since the emulator's stats were reset),
    alone or as subrequests of Composite calls (where the target bundles its queries and writes)."""

    def condition(_relay: Relay) -> bool:
        stats = world.salesforce.stats()
        by_kind, subrequests = stats["by_kind"], stats.get("composite_subrequests") or {}
        return sum(by_kind.get(k, 0) + subrequests.get(k, 0) for k in kinds) >= n

    return condition


def sf_rows_at_least(world: World, sobject: str, n: int) -> Callable[[Relay], bool]:
    """Once the org holds ``n`` rows of ``sobject``."""

    def condition(_relay: Relay) -> bool:
        return len(world.salesforce.control("GET", f"records/{sobject}")) >= n

    return condition


def andsend_path_at_least(world: World, path: str, n: int) -> Callable[[Relay], bool]:
    def condition(_relay: Relay) -> bool:
        return world.andsend.stats()["by_path"].get(path, 0) >= n

    return condition


def records_relayed_at_least(stream: str, n: int) -> Callable[[Relay], bool]:
    def condition(relay: Relay) -> bool:
        return relay.records.get(stream, 0) >= n

    return condition


def run_overlapping(pipelines: list[Pipeline], *, delay: float = 0.3, **run_kw: Any) -> list[RunResult]:
    """Start each pipeline's run ``delay`` seconds after the one before (an hourly schedule whose
    next run starts while the last still writes); the results in the same order."""
    results: list[RunResult | BaseException | None] = [None] * len(pipelines)

    def one(i: int) -> None:
        try:
            results[i] = pipelines[i].run(**run_kw)
        except BaseException as exc:  # reported by the caller
            results[i] = exc

    threads = []
    for i in range(len(pipelines)):
        if i:
            time.sleep(delay)
        t = threading.Thread(target=one, args=(i,), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return [r for r in results if isinstance(r, RunResult)]
