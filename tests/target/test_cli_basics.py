"""What a newcomer types first: --version, --help, --about name the real version and commands."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e  # runs the CLIs as subprocesses

BIN = Path(sys.executable).parent
VERSION = version("andsend-salesforce-connectors")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("plugin", ["tap-andsend", "target-salesforce-andsend"])
def test_version_and_about_name_the_package_version(plugin: str) -> None:
    proc = _run(plugin, "--version")
    assert proc.returncode == 0, proc.stderr
    assert f"{plugin} v{VERSION}" in proc.stdout and "could not be detected" not in proc.stdout
    about = json.loads(_run(plugin, "--about", "--format", "json").stdout)
    assert about["version"] == VERSION


def test_target_help_lists_its_commands_and_the_config_file() -> None:
    proc = _run("target-salesforce-andsend", "--help")
    assert proc.returncode == 0, proc.stderr
    for command in ("connect", "mapping show|validate --config config.json", "plan --config config.json"):
        assert f"target-salesforce-andsend {command}" in proc.stdout, command
    assert '"refresh_token"' in proc.stdout  # what the config file looks like
    for sub in ("connect", "mapping", "plan"):
        assert _run("target-salesforce-andsend", sub, "--help").returncode == 0, sub
