#!/usr/bin/env bash
# Create .venv (if missing) and install the project with its dev extras.
# Sourced by scripts/test.sh and scripts/demo.sh so both work on a fresh machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
  echo "Python >= 3.10 is required (found: $("$PY" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x "$ROOT/.venv/bin/python" ]; then
  "$PY" -m venv "$ROOT/.venv"
fi
VENV="$ROOT/.venv"
stamp="$VENV/.installed-$(cat "$ROOT/pyproject.toml" | cksum | cut -d' ' -f1)"
if [ ! -f "$stamp" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e "$ROOT[dev]"
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
export MELTANO_DISABLE_TRACKING=true MELTANO_CLI_DISABLE_VERSION_CHECK=true MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
