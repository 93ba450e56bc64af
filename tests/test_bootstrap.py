"""`source scripts/bootstrap.sh` leaves the caller's shell as it was: options, and open."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP = ROOT / "scripts" / "bootstrap.sh"

pytestmark = [pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed"), pytest.mark.e2e]


def _bash(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env}, cwd=ROOT)


def test_sourcing_leaves_the_shell_options_alone() -> None:
    proc = _bash(f'source "{BOOTSTRAP}"; echo "flags=$-"; shopt -o errexit nounset pipefail; '
                 'false; echo "$UNSET_VARIABLE_XYZ"; echo still-open; command -v python')
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    flags = lines[0].removeprefix("flags=")
    assert not set(flags) & {"e", "u"}, flags
    assert all(line.split()[-1] == "off" for line in lines[1:4]), lines[1:4]
    assert "still-open" in lines
    assert lines[-1] == str(ROOT / ".venv" / "bin" / "python")  # and the venv is on PATH


def test_a_failure_returns_to_the_caller_instead_of_closing_its_shell() -> None:
    proc = _bash(f'source "{BOOTSTRAP}"; echo "status=$?"; echo still-open', PYTHON="false")
    assert "status=1" in proc.stdout and "still-open" in proc.stdout
    assert "Python >= 3.10 is required" in proc.stderr
