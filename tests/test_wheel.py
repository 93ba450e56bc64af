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

pytestmark = [pytest.mark.wheel, pytest.mark.e2e]

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
    expected.add("emulators/salesforce/soql/grammar.lark")  # read at run time by the SOQL parser
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


def test_meltano_installs_the_hub_definitions_from_a_built_wheel_and_runs(installed: Installed) -> None:
    """What the README offers until the package is on PyPI: the Hub definitions (meltano-hub/),
    their pip_url pointed at a built wheel, added with `meltano add --from-ref`, installed by
    `meltano install` (pip, in the plugins' own venvs: the machine's pip configuration supplies
    the dependencies) and run with `meltano run` against both emulators."""
    import shutil

    import yaml

    from tests.test_interop_fixtures.processes import EmulatorProcess, clean_env, executable, records

    project = installed.workdir / "meltano-project"
    project.mkdir()
    (project / "meltano.yml").write_text(
        "project_id: 7f0e6a1c-0b1d-4c55-9a53-1f8a3c2b9e10\ndefault_environment: dev\n"
        "environments:\n- name: dev\nplugins: {}\n"
    )
    meltano = executable("meltano")
    # The project's venv must not be where the plugins come from: PATH without it.
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env = {**clean_env(), "PATH": path, "MELTANO_DISABLE_TRACKING": "true",
           "MELTANO_CLI_DISABLE_VERSION_CHECK": "true", "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.pop("VIRTUAL_ENV", None)

    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([meltano, *args], cwd=project, env=env, capture_output=True, text=True,
                              timeout=timeout)
        assert proc.returncode == 0, f"meltano {' '.join(args)}:\n{proc.stderr[-4000:]}"
        return proc

    for kind, name in (("extractor", "tap-andsend"), ("loader", "target-salesforce-andsend")):
        definition = yaml.safe_load((ROOT / "meltano-hub" / f"{kind}s" / name / "andsend.yml").read_text())
        definition["pip_url"] = str(installed.wheel)
        ref = installed.workdir / f"{name}.yml"
        ref.write_text(yaml.safe_dump(definition, sort_keys=False))
        run("add", "--plugin-type", kind, name, "--from-ref", str(ref), "--no-install")
    run("install", timeout=900)
    for name in ("tap-andsend", "target-salesforce-andsend"):
        exe = project / ".meltano" / f"{'extractors' if name == 'tap-andsend' else 'loaders'}" / name / "venv"
        assert (exe / "bin" / name).exists(), f"meltano install put no {name} in its venv"

    work = installed.workdir / "meltano-run"
    work.mkdir()
    andsend = EmulatorProcess(["andsend", "--port", "0", "--db", str(work / "andsend.sqlite"), "--prospects", "30",
                               "--seed", "3"], work, "andsend")
    try:
        salesforce = EmulatorProcess(["salesforce", "--port", "0", "--db", str(work / "salesforce.sqlite")],
                                     work, "salesforce")
        try:
            env.update({
                "TAP_ANDSEND_API_URL": andsend.base_url, "TAP_ANDSEND_API_KEY": "andsend-demo-key",
                "TAP_ANDSEND_PURCHASED_ONLY": "true",
                "TARGET_SALESFORCE_ANDSEND_LOGIN_URL": salesforce.base_url,
                "TARGET_SALESFORCE_ANDSEND_USERNAME": "admin@example.com",
                "TARGET_SALESFORCE_ANDSEND_PASSWORD": "emulator",
                "TARGET_SALESFORCE_ANDSEND_SECURITY_TOKEN": "token",
                "TARGET_SALESFORCE_ANDSEND_OUTPUT_DIR": str(work / "out"),
                "TARGET_SALESFORCE_ANDSEND_BATCH_SIZE_ROWS": "1000",  # a typed SDK built-in, from its variable
            })
            run("run", "tap-andsend", "target-salesforce-andsend", timeout=600)
            leads = records(salesforce.get("/__emulator__/records/Lead").json())
            assert any(r.get("Andsend_Prospect_Id__c") for r in leads)
            report = json.loads((work / "out" / "report.json").read_text())
            assert report["status"] == "succeeded"
        finally:
            salesforce.stop()
    finally:
        andsend.stop()
        shutil.rmtree(project / ".meltano", ignore_errors=True)
