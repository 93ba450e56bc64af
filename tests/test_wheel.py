"""The built wheel carries everything the three programs read at run time.

An editable install finds the stream schemas, default catalogs, describe documents and the
OpenAPI file in the checkout, so only a non-editable install of the real wheel, run away
from the checkout, shows whether they ship. To stay fast and offline the wheel goes into a
fresh venv with ``--no-deps``; the dependencies come from the project venv's site-packages,
added as a plain path (a ``.pth`` line). A plain path does not process the ``.pth`` files
inside it, so the project's own editable hook never runs and the checkout is not importable:
the probes below assert that every module is loaded from the fresh venv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parent.parent
STREAMS = ("users", "campaigns", "prospects", "search_results", "touchpoints")
DESCRIBED = ("Account", "Contact", "Lead", "Task", "User")


@dataclass
class Installed:
    wheel: Path
    venv: Path
    workdir: Path
    env: dict[str, str]

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def python(self, code: str) -> subprocess.CompletedProcess[str]:
        # -I: isolated mode (no cwd/script dir on sys.path, no PYTHON* variables, no user site).
        return self.run(str(self.bin / "python"), "-I", "-c", textwrap.dedent(code))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = dist.glob("andsend_salesforce_connectors-*.whl")

    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    purelib = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    deps = Path(sysconfig.get_paths()["purelib"])
    (purelib / "_project_venv_deps.pth").write_text(f"{deps}\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q", "--no-deps",
         "--no-index", "--force-reinstall", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]

    workdir = base / "elsewhere"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(PYTHONNOUSERSITE="1", PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    return Installed(wheel, venv, workdir, env)


def test_wheel_lists_the_run_time_data(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    expected = {f"tap_andsend/schemas/{s}.json" for s in STREAMS}
    expected |= {"tap_andsend/schemas/badges.json", "target_salesforce_andsend/mapping-catalog.schema.json"}
    expected |= {f"target_salesforce_andsend/catalogs/{m}.yaml" for m in ("lead", "contact_account")}
    expected |= {f"emulators/salesforce/describes/{o}.json" for o in DESCRIBED}
    expected.add("emulators/andsend/andsend-api.openapi.yaml")
    expected |= {"target_salesforce_andsend/prospects.schema.json", "target_salesforce_andsend/setup/static/setup.css"}
    expected |= {f"target_salesforce_andsend/setup/templates/{t}.html"
                 for t in ("base", "connect", "objects", "mapping", "switches", "preview", "save")}
    assert not expected - names, f"missing from the wheel: {sorted(expected - names)}"
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "scripts/"))]


def test_packages_load_from_the_fresh_venv_not_the_checkout(installed: Installed) -> None:
    proc = installed.python(
        """
        import json, sys, tap_andsend, target_salesforce_andsend, emulators
        print(json.dumps([m.__file__ for m in (tap_andsend, target_salesforce_andsend, emulators)]))
        """
    )
    assert proc.returncode == 0, proc.stderr
    for path in json.loads(proc.stdout):
        assert Path(path).is_relative_to(installed.venv), f"{path} is not the installed copy"
    assert str(ROOT) not in proc.stdout


def test_tap_schemas_and_discovery_from_the_wheel(installed: Installed) -> None:
    proc = installed.python(
        """
        from tap_andsend.schemas import load_schema, schemas_dir
        print(schemas_dir())
        for name in ("users", "campaigns", "prospects", "search_results", "touchpoints"):
            assert load_schema(name)["properties"], name
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert str(installed.venv) in proc.stdout

    config = installed.workdir / "tap-config.json"
    config.write_text(json.dumps({"api_url": "http://127.0.0.1:9", "api_key": "k"}))
    about = installed.run(str(installed.bin / "tap-andsend"), "--about", "--format", "json")
    assert about.returncode == 0, about.stderr[-2000:]
    assert "api_url" in json.loads(about.stdout)["settings"]["properties"]
    discover = installed.run(str(installed.bin / "tap-andsend"), "--config", str(config), "--discover")
    assert discover.returncode == 0, discover.stderr[-2000:]
    streams = {s["tap_stream_id"] for s in json.loads(discover.stdout)["streams"]}
    assert streams == set(STREAMS)


def test_target_catalogs_and_about_from_the_wheel(installed: Installed) -> None:
    proc = installed.python(
        """
        from target_salesforce_andsend import catalog
        schema = catalog.load_schema()
        for mode in ("lead", "contact_account"):
            parsed = catalog.parse_catalog(catalog.default_catalog_document(mode), origin=mode)
            print(mode, len(parsed.mappings))
        """
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "lead" in proc.stdout and "contact_account" in proc.stdout
    about = installed.run(str(installed.bin / "target-salesforce-andsend"), "--about", "--format", "json")
    assert about.returncode == 0, f"target-salesforce-andsend --about failed: {about.stderr[-2000:]}"
    assert "login_url" in json.loads(about.stdout)["settings"]["properties"]


def test_setup_page_data_from_the_wheel(installed: Installed) -> None:
    proc = installed.python(
        """
        import target_salesforce_andsend.setup.model as model
        from target_salesforce_andsend.setup.app import HERE
        assert "site-packages" in model.__file__ and (HERE / "templates" / "mapping.html").is_file()
        print(len(model.prospect_fields()))
        """
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.strip()) > 15


def test_emulators_cli_and_data_from_the_wheel(installed: Installed) -> None:
    helped = installed.run(str(installed.bin / "andsend-emulators"), "--help")
    assert helped.returncode == 0, helped.stderr[-2000:]
    for command in ("salesforce", "andsend"):
        assert command in helped.stdout, f"andsend-emulators has no '{command}' command yet"
    proc = installed.python(
        """
        import json
        from importlib.resources import files
        import yaml
        describes = files("emulators.salesforce") / "describes"
        for name in ("Account", "Contact", "Lead", "Task", "User"):
            doc = json.loads((describes / f"{name}.json").read_text())
            assert doc["name"] == name and doc["fields"], name
        spec = yaml.safe_load((files("emulators.andsend") / "andsend-api.openapi.yaml").read_text())
        assert "/v1/prospects" in spec["paths"]
        print("ok")
        """
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_pipeline_runs_from_the_wheel(installed: Installed) -> None:
    """Both emulators, the tap and the target, all from the installed wheel, piped together."""
    from tests.test_interop_fixtures.processes import EmulatorProcess, records

    work = installed.workdir / "pipeline"
    work.mkdir()
    program = str(installed.bin / "andsend-emulators")
    common = {"program": program, "env": installed.env, "cwd": installed.workdir}
    andsend = EmulatorProcess(
        ["andsend", "--port", "0", "--db", str(work / "andsend.sqlite"), "--prospects", "40", "--seed", "2"],
        work, "andsend", **common,
    )  # fmt: skip
    try:
        salesforce = EmulatorProcess(
            ["salesforce", "--port", "0", "--db", str(work / "salesforce.sqlite")],
            work,
            "salesforce",
            **common,
        )
        try:
            (work / "tap.json").write_text(json.dumps({
                # A plain pipe of every tap stream: the target counts `campaigns` as skipped.
                "api_url": andsend.base_url, "api_key": "andsend-demo-key", "purchased_only": True,
            }))  # fmt: skip
            (work / "target.json").write_text(json.dumps({
                "login_url": salesforce.base_url, "auth_flow": "password", "client_id": "emulator-client-id",
                "client_secret": "emulator-client-secret", "username": "admin@example.com",
                "password": "emulator", "security_token": "token", "output_dir": str(work / "out"),
            }))  # fmt: skip
            tap = subprocess.Popen(
                [str(installed.bin / "tap-andsend"), "--config", str(work / "tap.json")],
                stdout=subprocess.PIPE, stderr=(work / "tap.log").open("wb"), cwd=installed.workdir, env=installed.env,
            )  # fmt: skip
            target = subprocess.run(
                [str(installed.bin / "target-salesforce-andsend"), "--config", str(work / "target.json")],
                stdin=tap.stdout, capture_output=True, text=True, timeout=300, cwd=installed.workdir,
                env=installed.env,
            )  # fmt: skip
            assert tap.stdout is not None
            tap.stdout.close()
            assert tap.wait(timeout=60) == 0, (work / "tap.log").read_text()[-3000:]
            assert target.returncode == 0, target.stderr[-3000:]
            leads = records(salesforce.get("/__emulator__/records/Lead").json())
            assert any(r.get("Andsend_Prospect_Id__c") for r in leads)
            report = json.loads((work / "out" / "report.json").read_text())
            assert report["status"] == "succeeded"
            campaigns = andsend.get("/__emulator__/config").json()["counts"]["campaigns"]
            assert campaigns > 0
            assert report["counts"]["ignore"]["-"]["skipped_stream_ignored"] == campaigns
        finally:
            salesforce.stop()
    finally:
        andsend.stop()
