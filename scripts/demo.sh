#!/usr/bin/env bash
# The demo on a fresh machine: environment and install (scripts/bootstrap.sh), then both
# emulators, two Meltano runs and their summaries (scripts/demo.py). Extra arguments go to
# demo.py (see `python scripts/demo.py --help`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
exec python scripts/demo.py "$@"
