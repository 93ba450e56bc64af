#!/usr/bin/env bash
# The whole test suite on a fresh machine: environment, install, lint, tests.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
"$ROOT/scripts/system-deps.sh"  # PostgreSQL and Chromium for the store and browser tests
cd "$ROOT"
ruff check .
# Tests marked slow (the reliability soak, large-scale generation) are left out unless a marker
# expression is given: ./scripts/test.sh -m slow   (or -m "" for everything).
marker=(-m "not slow")
for arg in "$@"; do
  case "$arg" in -m | -m* | --markexpr | --markexpr=*) marker=() ;; esac
done
exec python -m pytest ${marker[@]+"${marker[@]}"} "$@"
