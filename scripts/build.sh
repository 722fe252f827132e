#!/usr/bin/env bash
# Configures and builds matquant (Release) into ${MATQUANT_BUILD_DIR:-build}.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${MATQUANT_BUILD_DIR:-build}"
TORCH_PREFIX="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"
JOBS="${MATQUANT_JOBS:-$(nproc)}"
GENERATOR=()
command -v ninja >/dev/null && GENERATOR=(-G Ninja)
if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
  cmake -S . -B "$BUILD_DIR" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="${TORCH_PREFIX}${MATQUANT_EXTRA_PREFIX:+;$MATQUANT_EXTRA_PREFIX}" \
    ${MATQUANT_CMAKE_ARGS:-}
fi
cmake --build "$BUILD_DIR" -j "$JOBS" ${MATQUANT_TARGETS:+--target $MATQUANT_TARGETS}
