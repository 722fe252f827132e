#!/usr/bin/env bash
# The README's test command (and CI's): install what is missing, build, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd "${MATQUANT_BUILD_DIR:-build}"
ctest --output-on-failure -j "${MATQUANT_JOBS:-$(nproc)}"
