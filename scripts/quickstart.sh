#!/usr/bin/env bash
# The README's first command: install what is missing, build, run the quickstart sweep (it ends
# by printing a Table-2-shaped table from the results database).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
"${MATQUANT_BUILD_DIR:-build}/apps/matquant" sweep run sweeps/quickstart.yaml "$@"
