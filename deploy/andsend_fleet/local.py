"""The fleet on the emulators, on one machine: Dagster's daemon, N tenants, N Salesforce orgs, one
Andsend emulator with N workspaces.

    python -m deploy.andsend_fleet.local [--tenants 5] [--prospects 300] [--postgres]
        [--out benchmarks/results]

Starts one Andsend emulator with a workspace (and API key) per tenant and a Salesforce emulator
process per tenant (its org already holds a share of that workspace's people), writes a tenants
file whose secrets are environment-variable references, starts ``dagster-daemon`` on the fleet's
code location with ``deploy/dagster.yaml``, launches every tenant's job at once (``dagster job
launch``), waits, adds Andsend activity in every workspace, launches an incremental round, and
prints per tenant and round: records written (report and org), Salesforce API calls (report and
org), duplicates, and records that reached another tenant's org; with the wall time of each round
and the peak memory of the run workers. ``--out`` writes ``fleet-<date>.json`` and ``.md``.

The :class:`LocalFleet` harness is also what the fleet test (``tests/fleet``) drives.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import requests
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MODULE = "deploy.andsend_fleet.definitions"
EXT = "Andsend_Prospect_Id__c"
EXT_ALL = "Andsend_Prospect_Ids__c"  # ";id1;id2;": every prospect merged into the person (shared e-mail)
TASK_EXT = "Andsend_Touchpoint_Id__c"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def _start(args: list[str], log: Path) -> tuple[subprocess.Popen[str], str]:
    """``andsend-emulators <args>`` as its own process; returns it and the base URL it prints first."""
    proc = subprocess.Popen([str(BIN / "andsend-emulators"), *args], stdout=subprocess.PIPE,
                            stderr=log.open("a"), text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise RuntimeError(f"emulator did not start: {args}: {log.read_text()[-2000:]}")
    return proc, url


def _stop(proc: subprocess.Popen[Any] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _env_name(tenant: str, what: str) -> str:
    return f"FLEET_{tenant.upper()}_{what}"


@dataclass
class Org:
    """One tenant's Salesforce emulator process (its data in a SQLite file, so it can restart)."""

    tenant: str
    db: Path
    fixture: Path
    log: Path
    proc: subprocess.Popen[str] | None = None
    url: str = ""

    def start(self) -> None:
        """Start (or restart on the same port, with the data it had: the org is back)."""
        args = ["salesforce", "--db", str(self.db)]
        if self.url:
            args += ["--port", self.url.rsplit(":", 1)[1]]
        else:
            args += ["--fixture", str(self.fixture)]
        self.proc, self.url = _start(args, self.log)

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

    def control(self, method: str, path: str, body: Any = None) -> Any:
        r = requests.request(method, f"{self.url}/__emulator__/{path}", json=body, timeout=60)
        r.raise_for_status()
        return r.json()

    def records(self, sobject: str) -> list[dict[str, Any]]:
        return [r for r in self.control("GET", f"records/{sobject}") if not r.get("IsDeleted")]

    def people(self) -> list[dict[str, Any]]:
        leads = [r for r in self.records("Lead") if not r.get("IsConverted")]
        return leads + self.records("Contact")


@dataclass
class Round:
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)  # tenant -> status, metadata
    wall_seconds: float = 0.0
    peak_worker_rss_mib: float = 0.0
    peak_fleet_rss_mib: float = 0.0


def _tree_rss(pid: int, children: dict[int, list[int]], rss: dict[int, int]) -> int:
    return rss.get(pid, 0) + sum(_tree_rss(c, children, rss) for c in children.get(pid, []))


class MemorySampler:
    """Peak resident memory of the run workers, sampled from /proc every 0.2 s. A run worker is the
    process the code server starts for a run, with everything under it: the Pipes process, Meltano,
    the tap and the target (found as the parent of each Pipes process)."""

    def __init__(self, root: int) -> None:
        self.root = root  # only this fleet's workers: under its code server
        self.peak_worker = 0
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    @staticmethod
    def _snapshot() -> tuple[dict[int, int], dict[int, int], dict[int, str]]:
        parent, rss, cmd = {}, {}, {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                fields = stat[stat.rindex(")") + 2:].split()
                parent[pid] = int(fields[1])
                rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
                cmd[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, ValueError, IndexError):
                continue
        return parent, rss, cmd

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            parent, rss, cmd = self._snapshot()
            children: dict[int, list[int]] = {}
            for pid, ppid in parent.items():
                children.setdefault(ppid, []).append(pid)

            mine: set[int] = set()
            todo = [self.root]
            while todo:
                pid = todo.pop()
                mine.add(pid)
                todo.extend(children.get(pid, []))
            runs = {parent[pid] for pid, c in cmd.items() if "deploy.andsend_fleet.pipes_meltano" in c and pid in mine}
            workers = [_tree_rss(pid, children, rss) for pid in runs]
            if workers:
                self.peak_worker = max(self.peak_worker, max(workers))
                self.peak_total = max(self.peak_total, sum(workers))


class LocalFleet:
    """Emulators, tenants file, Dagster home and daemon for ``names`` (see the module docstring)."""

    def __init__(self, work: Path, names: list[str], *, prospects: int = 300, seed: int = 7,
                 overlap: float = 0.2, store_url: str | None = None,
                 switches: dict[str, Any] | None = None, retries: dict[str, Any] | None = None,
                 max_concurrent_runs: int = 8) -> None:
        self.work = work
        self.names = names
        self.prospects = prospects
        self.seed = seed
        self.overlap = overlap
        self.store_url = store_url
        self.switches = switches or {}
        self.retries = retries or {"max_retries": 2, "delay_seconds": 5}
        self.max_concurrent_runs = max_concurrent_runs
        self.andsend_proc: subprocess.Popen[str] | None = None
        self.andsend_url = ""
        self.orgs: dict[str, Org] = {}
        self.daemon: subprocess.Popen[bytes] | None = None
        self.code_server: subprocess.Popen[bytes] | None = None
        self.workspace_file = work / "workspace.yaml"
        self.home = work / "dagster-home"
        self.tenants_file = work / "tenants.yaml"
        self.env: dict[str, str] = {}

    def tenant_dir(self, name: str) -> Path:
        return self.work / "tenants" / name

    # -- world ---------------------------------------------------------------------------------

    def sizes(self) -> dict[str, Any]:
        return {"prospects": self.prospects, "users": 6, "campaigns": 3, "searches": 3, "results_per_search": 10}

    def key(self, name: str) -> str:
        return f"andsend-key-{name}"

    def start_emulators(self) -> None:
        from emulators.andsend.generator import GeneratorConfig
        from emulators.andsend.server import workspace_seed
        from emulators.andsend.sf_fixture import FixtureOptions, build_fixture

        self.work.mkdir(parents=True, exist_ok=True)
        sizes = self.sizes()
        args = ["andsend", "--db", str(self.work / "andsend.sqlite"), "--seed", str(self.seed),
                *[a for k, v in sizes.items() for a in (f"--{k.replace('_', '-')}", str(v))]]
        for name in self.names:
            args += ["--workspace", f"{name}={self.key(name)}"]
        self.andsend_proc, self.andsend_url = _start(args, self.work / "andsend.log")
        for name in self.names:
            config = GeneratorConfig(seed=workspace_seed(self.seed, name), **sizes)
            fixture = build_fixture(config, FixtureOptions(overlap=self.overlap))
            path = self.work / f"org-{name}.json"
            path.write_text(json.dumps(fixture), encoding="utf-8")
            org = Org(name, self.work / f"org-{name}.sqlite", path, self.work / f"org-{name}.log")
            org.start()
            self.orgs[name] = org

    def write_tenants(self, login_urls: dict[str, str] | None = None) -> None:
        tenants = []
        for name in self.names:
            tenants.append({
                "name": name,
                "org": f"emulator-{name}",
                "enabled": False,  # launched by hand here; the schedules stay off
                "andsend": {"api_url": self.andsend_url, "api_key": {"env": _env_name(name, "ANDSEND_API_KEY")}},
                "salesforce": {
                    "environment": "custom",
                    "login_url": (login_urls or {}).get(name, self.orgs[name].url),
                    "credentials": {
                        "auth_flow": "password",
                        "client_id": "emulator-client-id",
                        "client_secret": {"env": _env_name(name, "SF_CLIENT_SECRET")},
                        "username": "admin@example.com",
                        "password": {"env": _env_name(name, "SF_PASSWORD")},
                        "security_token": {"env": _env_name(name, "SF_SECURITY_TOKEN")},
                    },
                },
                "tap": {"start_date": "2020-01-01T00:00:00Z", "page_size": 200},
                "switches": self.switches,
                "quota_share_percent": 50,
            })
            self.env[_env_name(name, "ANDSEND_API_KEY")] = self.key(name)
            self.env[_env_name(name, "SF_CLIENT_SECRET")] = "emulator-client-secret"
            self.env[_env_name(name, "SF_PASSWORD")] = "emulator"
            self.env[_env_name(name, "SF_SECURITY_TOKEN")] = "token"
        fleet: dict[str, Any] = {
            "meltano_project": str(REPO_ROOT),
            "output_root": str(self.work / "tenants"),
            "retries": self.retries,
        }
        if self.store_url:
            fleet["state_store"] = {"env": "FLEET_STATE_STORE_URL"}
            self.env["FLEET_STATE_STORE_URL"] = self.store_url
        self.tenants_file.write_text(yaml.safe_dump({"fleet": fleet, "tenants": tenants}, sort_keys=False),
                                     encoding="utf-8")

    # -- Dagster -------------------------------------------------------------------------------

    def dagster_env(self) -> dict[str, str]:
        env = {**os.environ, **self.env, "DAGSTER_HOME": str(self.home),
               "ANDSEND_FLEET_TENANTS": str(self.tenants_file)}
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        return env

    def start_dagster(self) -> None:
        """The code location as a gRPC server (as the Docker image runs it), and the daemon that
        drains the run queue under deploy/dagster.yaml's limits, both reading ``workspace.yaml``."""
        import socket

        self.home.mkdir(parents=True, exist_ok=True)
        config = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.yaml").read_text())
        config["concurrency"]["runs"]["max_concurrent_runs"] = self.max_concurrent_runs
        (self.home / "dagster.yaml").write_text(yaml.safe_dump(config))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.workspace_file.write_text(yaml.safe_dump({"load_from": [{"grpc_server": {
            "host": "127.0.0.1", "port": port, "location_name": "andsend_fleet"}}]}))
        log = (self.work / "dagster.log").open("ab")
        self.code_server = subprocess.Popen(
            [str(BIN / "dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(port), "-m", MODULE,
             "-d", str(REPO_ROOT)],
            env=self.dagster_env(), cwd=REPO_ROOT, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 180
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if self.code_server.poll() is not None or time.monotonic() > deadline:
                    log = (self.work / "dagster.log").read_text()[-3000:]
                    raise RuntimeError(f"code server did not start: {log}") from None
                time.sleep(0.3)
        self.daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(self.workspace_file)],
                                       env=self.dagster_env(), cwd=REPO_ROOT, stdout=log, stderr=log,
                                       start_new_session=True)

    def instance(self) -> Any:
        from dagster import DagsterInstance

        return DagsterInstance.from_config(str(self.home))

    def launch(self, names: list[str]) -> dict[str, str]:
        """``dagster job launch`` for every tenant at once; returns tenant -> run id."""
        return dict(zip(names, self.launch_runs(names), strict=True))

    def launch_runs(self, names: list[str]) -> list[str]:
        """Launch the named tenants' jobs at once (a name may repeat); returns the run ids in order."""
        with ThreadPoolExecutor(len(names)) as pool:
            return list(pool.map(self._launch, names))

    def _launch(self, name: str) -> str:
        """``dagster job launch`` of the tenant's job with a run id of ours; returns it."""
        for attempt in range(3):  # the code server may still be loading the definitions
            run_id = str(uuid.uuid4())
            out = subprocess.run(
                [str(BIN / "dagster"), "job", "launch", "-w", str(self.workspace_file), "-j", f"sync_{name}",
                 "--run-id", run_id],
                env=self.dagster_env(), cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
            if out.returncode == 0:
                return run_id
            time.sleep(2 * (attempt + 1))
        raise RuntimeError(f"dagster job launch sync_{name}: {out.stderr[-3000:]}")

    def wait(self, run_ids: dict[str, str], timeout: float = 900) -> dict[str, dict[str, Any]]:
        """Until every run ends; tenant -> status, tags and the materialization's metadata."""
        instance = self.instance()
        deadline = time.monotonic() + timeout
        while True:
            runs = {name: instance.get_run_by_id(rid) for name, rid in run_ids.items()}
            if all(r is not None and r.status.value in TERMINAL for r in runs.values()):
                break
            if self.daemon is not None and self.daemon.poll() is not None:
                raise RuntimeError(f"dagster-daemon exited: {(self.work / 'dagster.log').read_text()[-3000:]}")
            if time.monotonic() > deadline:
                states = {n: (r.status.value if r else None) for n, r in runs.items()}
                raise TimeoutError(f"fleet runs still going after {timeout:g} s: {states}")
            time.sleep(0.5)
        return {name: self.describe_run(instance, name, run) for name, run in runs.items()}

    def describe_run(self, instance: Any, name: str, run: Any) -> dict[str, Any]:
        from dagster import AssetKey, DagsterEventType

        meta: dict[str, Any] = {}
        for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
            mat = entry.asset_materialization
            if mat is not None and mat.asset_key == AssetKey(["andsend_fleet", name]):
                meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
        failures = []
        for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_FAILURE):
            data = entry.dagster_event.event_specific_data
            user = getattr(data, "user_failure_data", None)
            failures.append(user.description if user and user.description else data.error.message)
        retries = len(instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY))
        return {"run_id": run.run_id, "status": run.status.value, "tags": dict(run.tags), "metadata": meta,
                "failure": failures[-1] if failures else None, "step_retries": retries}

    def round(self, names: list[str], timeout: float = 900) -> Round:
        for org in self.orgs.values():
            if org.proc is not None:
                org.control("POST", "stats/reset")
        started = time.monotonic()
        assert self.code_server is not None
        with MemorySampler(self.code_server.pid) as memory:
            runs = self.wait(self.launch(names), timeout)
        result = Round(runs=runs, wall_seconds=round(time.monotonic() - started, 1),
                       peak_worker_rss_mib=round(memory.peak_worker / 2**20, 1),
                       peak_fleet_rss_mib=round(memory.peak_total / 2**20, 1))
        for name, run in runs.items():
            org = self.orgs[name]
            if org.proc is not None:
                stats = org.control("GET", "stats")
                run["org_api_requests"] = stats["api_requests"]
                run["org_records_written"] = stats["records_written"]
        return result

    # -- Andsend -------------------------------------------------------------------------------

    def andsend_list(self, name: str, resource: str, **params: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = {"limit": 1000, **params, **({"cursor": cursor} if cursor else {})}
            r = requests.get(f"{self.andsend_url}/v1/{resource}", params=page, timeout=60,
                             headers={"Authorization": f"Bearer {self.key(name)}"})
            r.raise_for_status()
            rows += r.json()["data"]
            cursor = r.json()["next_cursor"]
            if not cursor:
                return rows

    def activity(self, name: str, **counts: int) -> dict[str, list[str]]:
        r = requests.post(f"{self.andsend_url}/__emulator__/activity", params={"workspace": name},
                          json=counts, timeout=120)
        r.raise_for_status()
        return r.json()

    def workspace_keys(self) -> dict[str, dict[str, set[str]]]:
        """Per workspace: purchased prospect ids, their e-mails, touchpoint ids (through the API)."""
        out: dict[str, dict[str, set[str]]] = {}
        for name in self.names:
            purchased = self.andsend_list(name, "prospects", purchased="true")
            out[name] = {
                "prospects": {p["id"] for p in purchased},
                "emails": {p["email"].strip().casefold() for p in purchased if p.get("email")},
                "touchpoints": {t["id"] for t in self.andsend_list(name, "touchpoints")},
            }
        return out

    def census(self, name: str, keys: dict[str, dict[str, set[str]]]) -> dict[str, Any]:
        """One org, read through its control plane: Andsend records it holds, duplicates, strangers."""
        org = self.orgs[name]
        people = org.people()
        tasks = org.records("Task")
        carried = Counter(r[EXT] for r in people if r.get(EXT))
        merged = {pid for r in people for pid in (r.get(EXT_ALL) or "").split(";") if pid}
        task_ids = Counter(t[TASK_EXT] for t in tasks if t.get(TASK_EXT))
        emails = Counter(r["Email"].strip().casefold() for r in people if r.get("Email"))
        others = [n for n in self.names if n != name]
        foreign_people = sum(1 for pid in set(carried) | merged if any(pid in keys[o]["prospects"] for o in others))
        foreign_emails = sum(1 for e in emails if any(e in keys[o]["emails"] for o in others)
                             and e not in keys[name]["emails"])
        foreign_tasks = sum(n for tid, n in task_ids.items() if any(tid in keys[o]["touchpoints"] for o in others))
        return {
            "people_with_andsend_id": sum(carried.values()),
            "own_prospects_in_org": len((set(carried) | merged) & keys[name]["prospects"]),
            "own_prospects_missing": sorted(keys[name]["prospects"] - set(carried) - merged),
            "tasks_with_touchpoint_id": sum(task_ids.values()),
            "own_touchpoints_in_org": len(set(task_ids) & keys[name]["touchpoints"]),
            "duplicate_people": sum(n - 1 for n in carried.values() if n > 1),
            "duplicate_tasks": sum(n - 1 for n in task_ids.values() if n > 1),
            "foreign_records": foreign_people + foreign_emails + foreign_tasks,
        }

    def stop(self) -> None:
        for proc in (self.daemon, self.code_server):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        for org in self.orgs.values():
            org.stop()
        _stop(self.andsend_proc)


# ------------------------------------------------------------------------------------ command

ACTIVITY = {"new_purchases": 20, "new_touchpoints": 40, "edited_prospects": 10, "new_search_results": 5}


def _row(name: str, run: dict[str, Any], census: dict[str, Any], activity: dict[str, list[str]] | None,
         ) -> dict[str, Any]:
    meta = run["metadata"]
    return {
        "tenant": name,
        # what happened in the workspace before the round: purchases / touchpoints / edited prospects
        "new_in_andsend": "-" if activity is None else
        f"{len(activity['new_purchases'])} / {len(activity['new_touchpoints'])} / {len(activity['edited_prospects'])}",
        "status": run["status"],
        "records_written": meta.get("records_written"),
        "org_records_written": run.get("org_records_written"),
        "api_calls": meta.get("api_calls"),
        "org_api_requests": run.get("org_api_requests"),
        "rejects": meta.get("rejects"),
        "ambiguous": meta.get("ambiguous_matches"),
        "duplicates": census["duplicate_people"] + census["duplicate_tasks"],
        "foreign_records": census["foreign_records"],
        "own_prospects_missing": len(census["own_prospects_missing"]),
    }


def _table(rows: list[dict[str, Any]]) -> list[str]:
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join("" if r[c] is None else str(r[c]) for c in cols) + " |" for r in rows]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=5)
    parser.add_argument("--prospects", type=int, default=300, help="prospects per workspace")
    parser.add_argument("--postgres", action="store_true",
                        help="one PostgreSQL store for the fleet, a schema per tenant (Debian's server binaries)")
    parser.add_argument("--work", default=None, help="working directory (default: a new temporary one)")
    parser.add_argument("--out", default=None, help="write fleet-<date>.json/.md here (e.g. benchmarks/results)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT))
    names = ["acme", "globex", "initech", "umbrella", "hooli", "soylent", "stark", "wayne"][:args.tenants]
    if args.tenants > 8:
        names += [f"tenant{i}" for i in range(9, args.tenants + 1)]
    work = Path(args.work or tempfile.mkdtemp(prefix="andsend-fleet-"))
    pg = None
    store_url = None
    if args.postgres:
        from tests.postgres_server import PostgresServer

        pg = PostgresServer().start()
        store_url = pg.create_database("fleet")
    fleet = LocalFleet(work, names, prospects=args.prospects, store_url=store_url,
                       switches={"batch_size_rows": 100})
    result: dict[str, Any] = {"tenants": len(names), "prospects_per_workspace": args.prospects,
                              "store": "postgresql" if pg else "sqlite", "work": str(work), "rounds": []}
    try:
        print(f"fleet work directory: {work}", flush=True)
        fleet.start_emulators()
        fleet.write_tenants()
        fleet.start_dagster()
        for label in ("first", "incremental"):
            activity: dict[str, dict[str, list[str]]] = {}
            if label == "incremental":
                activity = {name: fleet.activity(name, **ACTIVITY) for name in names}
            print(f"round {label}: launching {len(names)} tenants at once ...", flush=True)
            rnd = fleet.round(names)
            keys = fleet.workspace_keys()
            rows = [_row(n, rnd.runs[n], fleet.census(n, keys), activity.get(n)) for n in names]
            result["rounds"].append({"round": label, "wall_seconds": rnd.wall_seconds,
                                     "peak_worker_rss_mib": rnd.peak_worker_rss_mib,
                                     "peak_all_workers_rss_mib": rnd.peak_fleet_rss_mib, "tenants": rows})
            print(f"round {label}: wall {rnd.wall_seconds} s, peak memory of one run worker "
                  f"{rnd.peak_worker_rss_mib} MiB, of all run workers together {rnd.peak_fleet_rss_mib} MiB")
            print("\n".join(_table(rows)), flush=True)
    finally:
        fleet.stop()
        if pg is not None:
            pg.stop()
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        stem = out / f"fleet-{date.today().isoformat()}"
        stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
        md = [f"# Fleet on Dagster: {len(names)} tenants, {args.prospects} prospects per workspace "
              f"({result['store']} store)", "",
              "`python -m deploy.andsend_fleet.local --tenants "
              f"{len(names)} --prospects {args.prospects}{' --postgres' if pg else ''} --out {args.out}`", ""]
        for rnd in result["rounds"]:
            md += [f"## Round: {rnd['round']}", "",
                   f"Wall time {rnd['wall_seconds']} s (launch to last run ended); peak RSS of one run worker "
                   f"(run process, Pipes process, Meltano, tap, target) {rnd['peak_worker_rss_mib']} MiB, "
                   f"of all run workers together {rnd['peak_all_workers_rss_mib']} MiB.", "",
                   *_table(rnd["tenants"]), ""]
        stem.with_suffix(".md").write_text("\n".join(md))
        print(f"wrote {stem}.json and .md")
    if not os.environ.get("FLEET_KEEP_WORK"):
        shutil.rmtree(work, ignore_errors=True)
    bad = [r for rnd in result["rounds"] for r in rnd["tenants"]
           if r["status"] != "SUCCESS" or r["duplicates"] or r["foreign_records"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
