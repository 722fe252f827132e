#!/usr/bin/env bash
# Builds matquant on the GPU machine (see README "GPU machine"): unpacks the carried Debian
# packages from .deps/debs into .deps/root and builds into build-device with CUDA-enabled LibTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -d .deps/debs ]]; then
  mkdir -p .deps/root
  for deb in .deps/debs/*.deb; do dpkg -x "$deb" .deps/root; done
fi
export MATQUANT_BUILD_DIR="${MATQUANT_BUILD_DIR:-build-device}"
export MATQUANT_EXTRA_PREFIX="$PWD/.deps/root/usr"
export LD_LIBRARY_PATH="$PWD/.deps/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
scripts/build.sh
