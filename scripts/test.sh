#!/usr/bin/env bash
# The whole test suite on a fresh machine: environment, install, lint, tests.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
ruff check .
ruff format --check . || true
exec python -m pytest "$@"
