"""Settings: one typed object holding the config schema's defaults, enums and derived paths."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from singer_sdk.helpers import capabilities

from target_salesforce_andsend import settings as settings_module
from target_salesforce_andsend.settings import Settings, SettingsError
from target_salesforce_andsend.target import CONFIG_SCHEMA

FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
# Settings the Singer SDK adds to the schema once a target is built (batch_size_rows, stream_maps...):
# they are the SDK's, not the target's.
SDK_BUILTINS = {name for value in vars(capabilities).values() if isinstance(value, dict)
                and isinstance(value.get("properties"), dict) for name in value["properties"]}
PROPERTIES: dict[str, dict[str, Any]] = {
    name: spec for name, spec in CONFIG_SCHEMA["properties"].items() if name in FIELDS or name not in SDK_BUILTINS}


def _enum(spec: dict[str, Any]) -> list[Any]:
    return sorted(v for v in spec["enum"] if v is not None)


def test_every_schema_setting_is_a_settings_field_and_no_other():
    assert set(PROPERTIES) == set(FIELDS)


@pytest.mark.parametrize("name", sorted(PROPERTIES))
def test_schema_default_is_the_settings_default(name):
    spec, default = PROPERTIES[name], FIELDS[name].default
    if "default" in spec:
        assert default == spec["default"], f"{name}: schema {spec['default']!r}, Settings {default!r}"
        assert Settings.from_config({}) == Settings.from_config({name: spec["default"]})
    elif name in settings_module.UNSET_FALLBACKS:
        assert default == settings_module.UNSET_FALLBACKS[name]
    else:
        assert default is None, f"{name}: the schema declares no default, Settings has {default!r}"


def test_unset_and_empty_values_take_the_defaults():
    empty = {name: "" for name in PROPERTIES}
    assert Settings.from_config(empty) == Settings.from_config({}) == Settings()
    assert Settings.from_config({name: None for name in PROPERTIES}) == Settings()


@pytest.mark.parametrize(("name", "allowed"), [
    ("auth_flow", settings_module.AUTH_FLOWS),
    ("object_mode", settings_module.OBJECT_MODES),
    ("owner_fallback", settings_module.OWNER_FALLBACKS),
    ("account_index", settings_module.ACCOUNT_INDEX_MODES),
])
def test_enums_match_the_schema_and_are_validated(name, allowed):
    assert sorted(allowed) == _enum(PROPERTIES[name])
    for value in allowed:
        assert getattr(Settings.from_config({name: value}), name) == value
    with pytest.raises(SettingsError, match=name) as err:
        Settings.from_config({name: "bogus"})
    assert all(value in str(err.value) for value in allowed), "the error lists the allowed values"
    assert "'bogus'" in str(err.value)


def test_duplicate_rule_action_matches_the_schema_and_is_validated():
    objects = PROPERTIES["duplicate_rule_action"]["properties"]
    assert sorted(objects) == sorted(settings_module.DUPLICATE_OBJECTS)
    for spec in objects.values():
        assert _enum(spec) == sorted(settings_module.DUPLICATE_ACTIONS)
    chosen = Settings.from_config({"duplicate_rule_action": {"Lead": "Reject"}})
    assert (chosen.duplicate_action("Lead"), chosen.duplicate_action("Contact")) == ("reject", "link")
    assert Settings.from_config({"duplicate_rule_action": "allow_save"}).duplicate_action("Account") == "allow_save"
    with pytest.raises(SettingsError, match=r"duplicate_rule_action\.Lead must be one of link, allow_save, reject"):
        Settings.from_config({"duplicate_rule_action": {"Lead": "merge"}})
    with pytest.raises(SettingsError, match="unknown object 'Opportunity'"):
        Settings.from_config({"duplicate_rule_action": {"Opportunity": "link"}})


def test_values_are_typed():
    s = Settings.from_config({"dry_run": "false", "sync_prospects": "0", "request_timeout": "30",
                              "max_retries": "2", "api_version": "v59.0", "match_order": ["lead_email"]})
    assert (s.dry_run, s.sync_prospects, s.request_timeout, s.max_retries) == (False, False, 30.0, 2)
    assert (s.api_version, s.match_order) == ("59.0", ("lead_email",))
    with pytest.raises(SettingsError, match="dry_run must be true or false"):
        Settings.from_config({"dry_run": "maybe"})
    with pytest.raises(SettingsError, match="max_retries must be a whole number"):
        Settings.from_config({"max_retries": "many"})


def test_secrets_stay_out_of_repr():
    s = Settings.from_config({"client_secret": "s3cr3t-value", "andsend_api_key": "k3y-value",
                              "state_store_url": "postgresql://u:pw-value@h/db"})
    assert not any(v in repr(s) for v in ("s3cr3t-value", "k3y-value", "pw-value"))


def test_paths_are_derived_from_output_dir():
    paths = Settings.from_config({"output_dir": "/data/run"}).paths
    base = Path("/data/run")
    assert paths == settings_module.OutputPaths(
        output_dir=base, report=base / "report.json", rejects=base / "rejects.jsonl", badges=base / "badges.jsonl",
        crm_status=base / "crm_status.jsonl", links=base / "links.sqlite")
    assert Settings().paths.output_dir == Path("./output")


def test_every_path_gets_the_home_directory_expanded():
    home = Path("~").expanduser()
    derived = Settings.from_config({"output_dir": "~/out"}).paths
    given = Settings.from_config({"output_dir": "~/out", "report_path": "~/r.json", "rejects_path": "~/x.jsonl",
                                  "badges_path": "~/b.jsonl", "crm_status_path": "~/c.jsonl",
                                  "mapping_catalog": "~/catalog.yml", "private_key_path": "~/key.pem",
                                  "refresh_token_file": "~/token"})
    everything = [*dataclasses.astuple(derived), *dataclasses.astuple(given.paths),
                  given.mapping_catalog_file, given.private_key_file, given.refresh_token_path]
    for path in everything:
        assert isinstance(path, Path) and "~" not in str(path) and path.is_relative_to(home), path
    assert given.paths.badges == home / "b.jsonl"


def test_settings_are_frozen_and_built_once():
    s = Settings.from_config({"dry_run": True})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.dry_run = False  # type: ignore[misc]
    assert Settings.of(s) is s
    assert Settings.of({"dry_run": True}) == s
