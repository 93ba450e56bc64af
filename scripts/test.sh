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
# Tests run on every core (pytest-xdist; each test starts its own servers on free ports) unless
# -n is given; the slowest 15 are listed at the end.
marker=(-m "not slow")
workers=(-n auto)
for arg in "$@"; do
  case "$arg" in -m | -m* | --markexpr | --markexpr=*) marker=() ;; esac
  case "$arg" in -n | -n* | --numprocesses | --numprocesses=*) workers=() ;; esac
done
exec python -m pytest ${marker[@]+"${marker[@]}"} ${workers[@]+"${workers[@]}"} --durations=15 "$@"
