"""meltano.yml: valid for Meltano 4.4, and in agreement with the plugins it declares.

The file is the contract between Meltano and the two executables: every setting it
declares must be one the plugin reads, every secret must be marked sensitive, and the dev
environment must point at the local emulators.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
TAP = "tap-andsend"
TARGET = "target-salesforce-andsend"

# DESIGN.md "Target settings": the names shared by target.py, salesforce/auth.py and meltano.yml.
TARGET_SETTINGS = {
    "auth_flow", "client_id", "client_secret", "refresh_token", "username", "password",
    "security_token", "private_key", "private_key_path", "access_token", "instance_url", "domain",
    "login_url", "api_version", "request_timeout",
    "mapping_catalog", "mapping_catalog_inline", "object_mode", "sync_prospects", "sync_activities",
    "include_message_content", "match_order", "owner_fallback", "fallback_owner_email", "stream_roles",
    "dry_run",
    "quota_max_daily_percent", "quota_max_calls_per_run", "max_concurrency", "bulk_threshold", "max_retries",
    "output_dir", "rejects_path", "report_path", "badges_path", "reject_threshold", "andsend_api_url",
    "andsend_api_key",
    "state_store_url",  # a PostgreSQL URL may carry a password
}  # fmt: skip
TARGET_SECRETS = {
    "client_secret", "refresh_token", "password", "security_token", "private_key", "access_token",
    "andsend_api_key",
    "state_store_url",  # a PostgreSQL URL may carry a password
}  # fmt: skip
TAP_SECRETS = {"api_key"}
# Capabilities Meltano accepts per plugin type (meltano.schema.json).
MELTANO_CAPABILITIES = {
    "extractors": {"properties", "catalog", "discover", "state", "about", "stream-maps", "activate-version",
                   "batch", "test", "log-based", "schema-flattening", "structured-logging"},
    "loaders": {"about", "stream-maps", "activate-version", "batch", "soft-delete", "hard-delete",
                "datatype-failsafe", "schema-flattening", "structured-logging"},
}  # fmt: skip
# Settings the SDK adds to every plugin (declared in meltano.yml like the plugin's own).
SDK_BUILTIN_SETTINGS = {
    "stream_maps", "stream_map_config", "faker_config", "flattening_enabled", "flattening_max_depth",
    "flattening_max_key_length", "flattening_separator",
    "batch_config", "load_method", "batch_size_rows", "validate_records", "add_record_metadata",
    "hard_delete", "process_activate_version_messages", "default_target_schema",
    "fail_on_record_validation_exception",
}  # fmt: skip


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "meltano.yml").read_text())


def plugin(project: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    matches = [p for p in project["plugins"][kind] if p["name"] == name]
    assert len(matches) == 1, f"{name} must be declared once under plugins.{kind}"
    return matches[0]


def env_plugin_config(project: dict[str, Any], env: str, kind: str, name: str) -> dict[str, Any]:
    (environment,) = [e for e in project["environments"] if e["name"] == env]
    (entry,) = [p for p in environment["config"]["plugins"][kind] if p["name"] == name]
    return entry["config"]


def test_validates_against_meltanos_own_schema(project: dict[str, Any]) -> None:
    schema_text = files("meltano.schemas").joinpath("meltano.schema.json").read_text()
    jsonschema.validate(project, json.loads(schema_text))


def test_project_header(project: dict[str, Any]) -> None:
    assert project["requires_meltano"] == ">=4.4,<5"
    assert project["send_anonymous_usage_stats"] is False
    assert re.fullmatch(r"[0-9a-f-]{36}", project["project_id"])
    assert project["default_environment"] == "dev"
    assert {e["name"] for e in project["environments"]} == {"dev", "staging", "prod", "fleet"}


@pytest.mark.parametrize(("kind", "name", "namespace"), [
    ("extractors", TAP, "tap_andsend"),
    ("loaders", TARGET, "target_salesforce_andsend"),
])  # fmt: skip
def test_plugins_run_from_path_without_install(
    project: dict[str, Any], kind: str, name: str, namespace: str
) -> None:
    p = plugin(project, kind, name)
    # No pip_url: Meltano never installs the plugin and runs the console script from PATH
    # (the project's venv), so a fresh clone needs no `meltano install` and no download.
    assert "pip_url" not in p
    assert p["executable"] == name
    assert p["namespace"] == namespace
    assert name in _pyproject_scripts(), f"{name} must be a console script in pyproject.toml"


def _pyproject_scripts() -> set[str]:
    from importlib.metadata import distribution

    return {
        ep.name
        for ep in distribution("andsend-salesforce-connectors").entry_points
        if ep.group == "console_scripts"
    }


def test_every_setting_is_described_and_typed(project: dict[str, Any]) -> None:
    for kind, name in (("extractors", TAP), ("loaders", TARGET)):
        for setting in plugin(project, kind, name)["settings"]:
            assert setting.get("description"), f"{name}.{setting['name']} has no description"
            assert setting.get("kind"), f"{name}.{setting['name']} has no kind"
            assert setting["kind"] not in ("password", "hidden"), "deprecated kinds: use sensitive: true"


def test_target_settings_follow_the_design_contract(project: dict[str, Any]) -> None:
    settings = {s["name"]: s for s in plugin(project, "loaders", TARGET)["settings"]}
    # The contract's names all appear (the target may add knobs; --about agreement is below).
    assert TARGET_SETTINGS <= set(settings)
    sensitive = {n for n, s in settings.items() if s.get("sensitive")}
    assert sensitive == TARGET_SECRETS


def test_target_credential_groups_are_declared_settings(project: dict[str, Any]) -> None:
    target = plugin(project, "loaders", TARGET)
    names = {s["name"] for s in target["settings"]}
    groups = target["settings_group_validation"]
    assert all(set(group) <= names for group in groups)
    dev = env_plugin_config(project, "dev", "loaders", TARGET)
    assert any(set(group) <= set(dev) for group in groups), "dev must hold one complete credential set"


def test_tap_secrets_are_sensitive(project: dict[str, Any]) -> None:
    settings = {s["name"]: s for s in plugin(project, "extractors", TAP)["settings"]}
    assert {n for n, s in settings.items() if s.get("sensitive")} == TAP_SECRETS
    assert {"api_url", "api_key", "start_date", "page_size"} <= set(settings)


def test_tap_selects_the_streams_the_target_has_roles_for(project: dict[str, Any]) -> None:
    tap = plugin(project, "extractors", TAP)
    # DESIGN.md: roles prospects, touchpoints, search_results, users; campaigns has none.
    assert sorted(tap["select"]) == ["prospects.*", "search_results.*", "touchpoints.*", "users.*"]
    assert tap["config"]["purchased_only"] is True


def test_capabilities(project: dict[str, Any]) -> None:
    tap_caps = set(plugin(project, "extractors", TAP)["capabilities"])
    assert {"catalog", "discover", "state", "about", "stream-maps"} <= tap_caps
    target_caps = set(plugin(project, "loaders", TARGET)["capabilities"])
    assert {"about", "stream-maps"} <= target_caps
    assert not target_caps & {"catalog", "discover", "state"}, "extractor-only capabilities on the target"


def test_dev_environment_points_at_the_local_emulators(project: dict[str, Any]) -> None:
    tap = env_plugin_config(project, "dev", "extractors", TAP)
    target = env_plugin_config(project, "dev", "loaders", TARGET)
    assert tap["api_url"] == "http://127.0.0.1:8701"
    assert target["login_url"] == "http://127.0.0.1:8702"
    assert target["andsend_api_url"] == tap["api_url"]
    # The emulators' documented built-in credentials (README "Emulators").
    assert target["auth_flow"] == "password"
    assert (target["username"], target["password"], target["security_token"]) == (
        "admin@example.com", "emulator", "token",
    )  # fmt: skip
    assert (target["client_id"], target["client_secret"]) == ("emulator-client-id", "emulator-client-secret")
    assert target["output_dir"].startswith("output/")


@pytest.mark.parametrize(("env", "domain"), [("staging", "test"), ("prod", "login")])
def test_real_org_environments_hold_no_secrets(project: dict[str, Any], env: str, domain: str) -> None:
    target = env_plugin_config(project, env, "loaders", TARGET)
    assert target["domain"] == domain
    assert "login_url" not in target and "auth_flow" not in target  # auto: picks from what is set
    (environment,) = [e for e in project["environments"] if e["name"] == env]
    for kind, name, secrets in (("extractors", TAP, TAP_SECRETS), ("loaders", TARGET, TARGET_SECRETS)):
        for entry in environment["config"]["plugins"].get(kind, []):
            for setting, value in entry["config"].items():
                if setting in secrets:
                    # Only references to variables, expanded by Meltano at run time.
                    assert re.fullmatch(r"\$\{?[A-Z0-9_]+\}?", str(value)), f"{env}: {name}.{setting}"
    assert target["andsend_api_url"] == "$TAP_ANDSEND_API_URL"


@pytest.mark.e2e
def test_staging_resolves_secrets_from_plugin_variables(tmp_path: Path) -> None:
    """Meltano itself resolves the staging config from variables (no secret in the file)."""
    (tmp_path / "meltano.yml").write_text((ROOT / "meltano.yml").read_text())
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TAP_ANDSEND_", "TARGET_SALESFORCE_ANDSEND_"))
        },
        "MELTANO_DISABLE_TRACKING": "true",
        "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
        "TAP_ANDSEND_API_URL": "https://andsend.example",
        "TAP_ANDSEND_API_KEY": "k-123",
        "TARGET_SALESFORCE_ANDSEND_REFRESH_TOKEN": "rt-456",
        "TARGET_SALESFORCE_ANDSEND_CLIENT_ID": "cid",
    }
    meltano = str(Path(sys.executable).parent / "meltano")

    def config_print(*safety: str) -> tuple[dict[str, Any], str]:
        proc = subprocess.run(
            [meltano, "--environment=staging", "config", *safety, "print", TARGET],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout[proc.stdout.index("{") :]), proc.stdout + proc.stderr

    masked, output = config_print()
    assert masked["domain"] == "test"
    assert masked["andsend_api_url"] == "https://andsend.example"
    assert masked["client_id"] == "cid"
    assert "rt-456" not in output and "k-123" not in output  # sensitive: masked by default
    resolved, _ = config_print("--unsafe")
    assert (resolved["refresh_token"], resolved["andsend_api_key"]) == ("rt-456", "k-123")


def test_job_and_hourly_schedule(project: dict[str, Any]) -> None:
    (job,) = [j for j in project["jobs"] if j["name"] == "andsend-to-salesforce"]
    assert job["tasks"] == [f"{TAP} {TARGET}"]
    (schedule,) = project["schedules"]
    assert schedule["job"] == "andsend-to-salesforce"
    assert schedule["interval"] == "@hourly"


def test_secrets_never_committed_in_plain_text(project: dict[str, Any]) -> None:
    # .env (where `meltano config set` puts sensitive values) must stay out of git.
    assert ".env" in (ROOT / ".gitignore").read_text().split()


# --- agreement with the executables (needs tap_andsend / target_salesforce_andsend) ------


def expected_kind(spec: dict[str, Any]) -> str:
    """The Meltano setting kind for a JSON-schema property of the plugin's --about."""
    types = spec.get("type", "string")
    types = [t for t in (types if isinstance(types, list) else [types]) if t != "null"]
    if "enum" in spec:
        return "options"
    if types == ["string"] and spec.get("format") == "date-time":
        return "date_iso8601"
    return {"integer": "integer", "number": "decimal", "boolean": "boolean", "array": "array",
            "object": "object"}.get(types[0] if types else "string", "string")  # fmt: skip


def _about_via_script(name: str) -> dict[str, Any]:
    script = Path(sys.executable).parent / name
    if not script.exists():
        pytest.fail(f"console script {script} is missing: reinstall the project (pip install -e .)")
    proc = subprocess.run([str(script), "--about", "--format", "json"], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)  # fmt: skip
    if proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr:
        pytest.skip(f"{name} is not implemented yet: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.mark.e2e
@pytest.mark.parametrize(("kind", "name"), [("extractors", TAP), ("loaders", TARGET)])
def test_declared_settings_match_the_plugins_about(project: dict[str, Any], kind: str, name: str) -> None:
    about = _about_via_script(name)
    declared = {s["name"]: s for s in plugin(project, kind, name)["settings"]}
    # Every setting --about lists, the SDK's built-ins included: an undeclared setting's variable
    # is ignored by Meltano and `meltano config set` stores it as a string.
    own = dict(about["settings"]["properties"])
    assert SDK_BUILTIN_SETTINGS & set(own), "the SDK built-ins are part of --about"
    assert set(declared) == set(own), (
        f"meltano.yml and {name} --about disagree: only in meltano.yml {sorted(set(declared) - set(own))}, "
        f"only in the plugin {sorted(set(own) - set(declared))}"
    )
    for setting, spec in own.items():
        if spec.get("secret"):
            assert declared[setting].get("sensitive"), f"{name}.{setting} is secret in the plugin"
        setting_kind = declared[setting]["kind"]
        assert setting_kind == expected_kind(spec), (
            f"{name}.{setting}: {setting_kind}, plugin: {spec.get('type')}"
        )
        if setting_kind == "options":
            values = [o["value"] for o in declared[setting]["options"]]
            assert sorted(values) == sorted(v for v in spec["enum"] if v is not None), f"{name}.{setting}"
    required = set(about["settings"].get("required", []))
    assert required <= set(declared)
    # The capabilities Meltano knows, exactly as the plugin advertises them.
    plugin_caps = set(about["capabilities"]) & MELTANO_CAPABILITIES[kind]
    assert set(plugin(project, kind, name)["capabilities"]) == plugin_caps


def _hub(kind: str, name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "meltano-hub" / kind / name / "andsend.yml").read_text())


@pytest.mark.parametrize(("kind", "name"), [("extractors", TAP), ("loaders", TARGET)])
def test_meltano_yml_hub_and_readme_agree(project: dict[str, Any], kind: str, name: str) -> None:
    """One list of settings with one kind each: meltano.yml, the Hub definition, the README table."""
    declared = {s["name"]: s for s in plugin(project, kind, name)["settings"]}
    hub = {s["name"]: s for s in _hub(kind, name)["settings"]}
    assert set(hub) == set(declared)
    for setting, spec in declared.items():
        assert hub[setting]["kind"] == spec["kind"], f"{name}.{setting}"
        assert bool(hub[setting].get("sensitive")) == bool(spec.get("sensitive")), f"{name}.{setting}"
    readme = (ROOT / "README.md").read_text()
    table = readme.split(f"<!-- about:{name} -->", 1)[1].split(f"<!-- /about:{name} -->", 1)[0]
    for setting in declared:
        assert f"| {setting} |" in table, f"README table of {name} lacks {setting}"
    assert sorted(_hub(kind, name)["capabilities"]) == sorted(plugin(project, kind, name)["capabilities"])


def _hub_validator(kind: str) -> Any:
    """Meltano Hub's own plugin-definition schema (a copy in tests/fixtures/meltano-hub-schemas/),
    its relative $refs resolved from the same folder."""
    from referencing import Registry, Resource

    base = ROOT / "tests" / "fixtures" / "meltano-hub-schemas"
    by_name = {p.name: p for p in base.rglob("*.schema.json")}

    def retrieve(uri: str) -> Resource:
        return Resource.from_contents(json.loads(by_name[uri.rsplit("/", 1)[-1]].read_text()))

    schema = json.loads((base / "plugin_definitions" / f"{kind}.schema.json").read_text())
    return jsonschema.Draft7Validator(schema, registry=Registry(retrieve=retrieve))


@pytest.mark.parametrize(("kind", "name"), [("extractors", TAP), ("loaders", TARGET)])
def test_hub_definitions_pass_meltano_hubs_schema(kind: str, name: str) -> None:
    hub = _hub(kind, name)
    errors = sorted(_hub_validator(kind).iter_errors(hub), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:10])
    # What Hub shows a user, filled in: not only what the schema requires.
    for key in ("quality", "repo", "logo_url", "settings_group_validation", "supported_python_versions"):
        assert hub.get(key), f"{name}: {key}"
    assert all(s.get("label") for s in hub["settings"]), f"{name}: every setting has a label"
    # Not on PyPI yet: the definition installs from the repository.
    assert hub["pip_url"] == f"git+{hub['repo']}.git"
    # The schema check itself catches a missing quality (it is required by Hub).
    assert list(_hub_validator(kind).iter_errors({k: v for k, v in hub.items() if k != "quality"}))


@pytest.mark.e2e
def test_hub_definitions_and_readme_tables_are_generated_from_about() -> None:
    """meltano-hub/ and README "Configuration" match what the executables report today."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "plugin_docs.py"), "--check"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    schema = json.loads(files("meltano.schemas").joinpath("meltano.schema.json").read_text())
    for kind, name in (("extractors", TAP), ("loaders", TARGET)):
        hub = yaml.safe_load((ROOT / "meltano-hub" / kind / name / "andsend.yml").read_text())
        assert hub["pip_url"].startswith("git+https://")
        assert hub["executable"] == name
        # Less Hub's own catalogue fields, a Hub definition is a valid plugin entry of a meltano.yml.
        hub_only = {"domain_url", "keywords", "maintenance_status", "logo_url", "repo", "quality", "docs",
                    "supported_python_versions"}
        entry = {k: v for k, v in hub.items() if k not in hub_only}
        jsonschema.validate({"plugins": {kind: [entry]}}, schema)


def test_env_example_names_real_settings(project: dict[str, Any]) -> None:
    """Every variable in .env.example is one Meltano maps to a declared setting."""
    prefixes = {"TAP_ANDSEND_": ("extractors", TAP), "TARGET_SALESFORCE_ANDSEND_": ("loaders", TARGET)}
    names = re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    assert names
    for name in names:
        prefix = next(p for p in prefixes if name.startswith(p))
        kind, plugin_name = prefixes[prefix]
        declared = {s["name"] for s in plugin(project, kind, plugin_name)["settings"]}
        assert name[len(prefix) :].lower() in declared, name


@pytest.mark.e2e
def test_readme_state_file_recipe_makes_the_last_state(tmp_path: Path) -> None:
    """The README's one-liner that makes state.json from a tap's output, run as printed."""
    readme = (ROOT / "README.md").read_text()
    (line,) = [x for x in readme.splitlines() if x.startswith("python -c") and "> state.json" in x]
    (tmp_path / "out.singer").write_text("\n".join(json.dumps(m) for m in [
        {"type": "SCHEMA", "stream": "users", "schema": {}, "key_properties": ["id"]},
        {"type": "STATE", "value": {"bookmarks": {"users": {"replication_key_value": "1"}}}},
        {"type": "RECORD", "stream": "users", "record": {"id": "u1"}},
        {"type": "STATE", "value": {"bookmarks": {"users": {"replication_key_value": "2"}}}},
    ]) + "\n")
    proc = subprocess.run(["bash", "-c", line.replace("python ", f"{sys.executable} ", 1)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "state.json").read_text()) == {"bookmarks": {"users": {"replication_key_value": "2"}}}


def test_readme_runs_sf_commands_inside_the_sfdx_project() -> None:
    """`sf project ...` needs sfdx-project.json in the working directory: the README cds there."""
    readme = (ROOT / "README.md").read_text()
    for line in readme.splitlines():
        if "sf project deploy start" in line or "sf project convert source" in line:
            assert "salesforce-metadata/force-app" not in line, line
    assert "cd salesforce-metadata" in readme
    assert (ROOT / "salesforce-metadata" / "sfdx-project.json").is_file()
    assert "password `emulatortoken`" in readme  # the sign-in page wants password + token


@pytest.mark.e2e
def test_sdk_settings_set_through_meltano_keep_their_type(tmp_path: Path) -> None:
    """`meltano config set` of an SDK built-in stores a number, and its variable is read."""
    (tmp_path / "meltano.yml").write_text((ROOT / "meltano.yml").read_text())
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("TAP_ANDSEND_", "TARGET_SALESFORCE_ANDSEND_"))},
           "MELTANO_DISABLE_TRACKING": "true", "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
           "TAP_ANDSEND_FLATTENING_MAX_DEPTH": "3"}
    meltano = str(Path(sys.executable).parent / "meltano")

    def run(*args: str) -> str:
        proc = subprocess.run([meltano, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    run("config", "set", TARGET, "batch_size_rows", "1000")
    target_out = run("config", "print", TARGET)
    target = json.loads(target_out[target_out.index("{"):])
    assert target["batch_size_rows"] == 1000
    tap_out = run("config", "print", TAP)
    assert json.loads(tap_out[tap_out.index("{"):])["flattening_max_depth"] == 3
