"""Where the setup page reads and writes: a Meltano project (meltano.yml) or a config JSON, and the catalog.

The page starts from what the pipeline would use today (Meltano's merged view of the plugin's
settings, or the config JSON), and Save writes only the settings the page owns, at one level:
the loader's own ``config`` in meltano.yml (or one environment's, with ``--meltano-env``), or
the config JSON's top level.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..catalog import OBJECT_MODES, default_catalog_document
from ..connect import PLUGIN, ConnectError, _meltano_command, store_in_meltano
from . import files
from .model import SETTING_DEFAULTS, SWITCHES, Draft, settings_from_config

DEFAULT_CATALOG_NAME = "mapping-catalog.yaml"


class WorkspaceError(Exception):
    pass


@dataclass
class Workspace:
    project: Path | None            # the Meltano project root (meltano.yml), or None
    config_path: Path | None        # the config JSON, when not in a Meltano project
    meltano_env: str | None         # environment whose config block Save writes (None: the loader's own)
    catalog_override: Path | None = None

    # -- locations ------------------------------------------------------------------------------

    @property
    def settings_path(self) -> Path:
        if self.project is not None:
            return self.project / "meltano.yml"
        assert self.config_path is not None
        return self.config_path

    @property
    def base_dir(self) -> Path:
        return self.project if self.project is not None else self.settings_path.parent

    def read_env(self) -> str | None:
        """The environment Meltano would run in (for reading the merged settings)."""
        if self.meltano_env:
            return self.meltano_env
        if os.environ.get("MELTANO_ENVIRONMENT"):
            return os.environ["MELTANO_ENVIRONMENT"]
        doc = yaml.safe_load(files.read_text(self.settings_path) or "") or {}
        return doc.get("default_environment")

    def catalog_path(self, config: dict[str, Any]) -> Path:
        if self.catalog_override is not None:
            return self.catalog_override
        if config.get("mapping_catalog"):
            path = Path(str(config["mapping_catalog"])).expanduser()
            return path if path.is_absolute() else self.base_dir / path
        return self.base_dir / DEFAULT_CATALOG_NAME

    def catalog_setting(self, path: Path) -> str:
        """The mapping_catalog value: relative to the project (Meltano runs plugins there), else absolute."""
        if self.project is not None:
            try:
                return str(path.resolve().relative_to(self.project.resolve()))
            except ValueError:
                pass
        return str(path.resolve())

    # -- reading --------------------------------------------------------------------------------

    def effective_config(self) -> dict[str, Any]:
        """The plugin's settings as a run would see them (Meltano's merged view, secrets included)."""
        if self.project is None:
            text = files.read_text(self.settings_path)
            try:
                return json.loads(text) if text and text.strip() else {}
            except ValueError as exc:
                raise WorkspaceError(f"{self.settings_path} is not valid JSON: {exc}") from exc
        try:
            command = _meltano_command()
        except ConnectError as exc:
            raise WorkspaceError(str(exc)) from None
        env_name = self.read_env()
        if env_name:
            command.append(f"--environment={env_name}")
        env = {**os.environ, "MELTANO_DISABLE_TRACKING": "true", "MELTANO_CLI_DISABLE_VERSION_CHECK": "true"}
        proc = subprocess.run([*command, "config", "--unsafe", "print", PLUGIN, "--format", "json"],
                              cwd=self.project, env=env, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            tail = " / ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
            raise WorkspaceError(f"meltano config print {PLUGIN} failed: {tail}")
        start = proc.stdout.find("{")
        return json.loads(proc.stdout[start:]) if start >= 0 else {}

    def initial_draft(self, config: dict[str, Any]) -> Draft:
        path = self.catalog_path(config)
        text = files.read_text(path)
        if text is not None:
            try:
                document = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
            except (ValueError, yaml.YAMLError) as exc:
                raise WorkspaceError(f"{path} is not valid YAML/JSON: {exc}") from exc
        elif isinstance(config.get("mapping_catalog_inline"), dict):
            document = config["mapping_catalog_inline"]
        else:
            document = default_catalog_document(config.get("object_mode") or "lead")
        if not isinstance(document, dict) or not isinstance(document.get("mappings"), list):
            raise WorkspaceError(f"{path}: a mapping catalog needs object_mode and a mappings list")
        document = {"object_mode": document.get("object_mode") or "lead", "mappings": document["mappings"]}
        if config.get("object_mode") in OBJECT_MODES:
            document["object_mode"] = config["object_mode"]
        return Draft(document, settings_from_config(config))

    # -- writing --------------------------------------------------------------------------------

    def setting_updates(self, draft: Draft, config: dict[str, Any], catalog_path: Path) -> dict[str, Any]:
        """The settings Save writes: each one the level already names, or whose value would change."""
        scope = self.scope_settings()
        wanted: dict[str, Any] = {"mapping_catalog": self.catalog_setting(catalog_path),
                                  "object_mode": draft.object_mode}
        for key in (*SWITCHES, "owner_fallback"):
            wanted[key] = draft.settings[key]
        if draft.settings.get("owner_fallback") == "user" or scope.get("fallback_owner_email"):
            wanted["fallback_owner_email"] = str(draft.settings.get("fallback_owner_email") or "").strip()
        current = {**SETTING_DEFAULTS, **settings_from_config(config),
                   "mapping_catalog": config.get("mapping_catalog"), "object_mode": config.get("object_mode")}
        if current["mapping_catalog"]:
            current["mapping_catalog"] = self.catalog_setting(self.catalog_path(config))
        return {k: v for k, v in wanted.items() if k in scope or current.get(k) != v}

    def scope_settings(self) -> dict[str, Any]:
        text = files.read_text(self.settings_path) or ""
        if self.project is not None:
            return files.meltano_settings(text, self.meltano_env)
        return json.loads(text) if text.strip() else {}

    def shadowing(self, keys: list[str]) -> list[str]:
        """Keys Save writes at the loader's level that the environment Meltano runs in sets again (and wins)."""
        env_name = self.read_env()
        if self.project is None or self.meltano_env or not env_name:
            return []
        in_env = files.meltano_settings(files.read_text(self.settings_path) or "", env_name)
        return [k for k in keys if k in in_env]

    def planned_changes(self, draft: Draft, config: dict[str, Any]) -> list[files.FileChange]:
        catalog_path = self.catalog_path(config)
        old_catalog = files.read_text(catalog_path)
        changes = [files.FileChange(catalog_path, old_catalog, files.render_catalog(old_catalog, draft.catalog))]
        updates = self.setting_updates(draft, config, catalog_path)
        old = files.read_text(self.settings_path)
        if self.project is not None:
            new = files.update_meltano(old or "", updates, self.meltano_env) if updates else (old or "")
        else:
            new = files.update_config_json(old, updates) if updates else (old or "")
        changes.append(files.FileChange(self.settings_path, old, new))
        return changes

    @staticmethod
    def digest(changes: list[files.FileChange]) -> str:
        h = hashlib.sha256()
        for c in changes:
            h.update(f"{c.path}\0{c.old}\0{c.new}\0".encode())
        return h.hexdigest()

    def write(self, changes: list[files.FileChange]) -> list[Path]:
        written = []
        for c in changes:
            if c.changed:
                files.write_atomic(c.path, c.new, private=c.path == self.config_path)
                written.append(c.path)
        return written

    def store_credentials(self, settings: dict[str, str]) -> str:
        """Keep what sign-in produced where `connect` keeps it; returns where, for the page."""
        if self.project is not None:
            store_in_meltano(self.project, settings, environment=self.meltano_env)
            level = f"environment {self.meltano_env}" if self.meltano_env else "the loader's own config"
            return (f"{', '.join(k for k in sorted(settings) if k not in ('refresh_token', 'client_secret'))} in "
                    f"meltano.yml ({level}); the refresh token in {self.project / '.env'} (keep it out of version "
                    "control)")
        old = files.read_text(self.settings_path)
        files.write_atomic(self.settings_path, files.update_config_json(old, settings), private=True)
        return f"{', '.join(sorted(settings))} in {self.settings_path} (file mode 600)"
