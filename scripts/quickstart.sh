#!/usr/bin/env bash
# The README's first command: install what is missing, build, run the main demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
"${MATQUANT_BUILD_DIR:-build}/apps/matquant" demo
