#!/usr/bin/env bash
# Create .venv (if missing) and install the project with its dev extras.
# Sourced by scripts/test.sh and scripts/demo.sh so both work on a fresh machine, and by people
# (`source scripts/bootstrap.sh`): the strict work runs in a subshell, so the caller's shell keeps
# its own options (no errexit/nounset/pipefail left behind) and is never closed by a failure here.
_andsend_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
(
  set -euo pipefail
  ROOT="$_andsend_root"
  PY="${PYTHON:-python3}"
  if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
    echo "Python >= 3.10 is required (found: $("$PY" --version 2>&1))" >&2
    exit 1
  fi
  if [ ! -x "$ROOT/.venv/bin/python" ]; then
    "$PY" -m venv "$ROOT/.venv"
  fi
  VENV="$ROOT/.venv"
  stamp="$VENV/.installed-$(cksum < "$ROOT/pyproject.toml" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT[dev]"
    touch "$stamp"
  fi
)
_andsend_status=$?
if [ "$_andsend_status" -ne 0 ]; then
  echo "bootstrap: setting up .venv failed (exit $_andsend_status)" >&2
  unset _andsend_root
  # sourced: return to the caller's shell; executed: exit
  return "$_andsend_status" 2>/dev/null || exit "$_andsend_status"
fi
export PATH="$_andsend_root/.venv/bin:$PATH"
export MELTANO_DISABLE_TRACKING=true MELTANO_CLI_DISABLE_VERSION_CHECK=true MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
unset _andsend_root _andsend_status
