#!/usr/bin/env bash
# Collects, here, the Debian packages whose files the GPU machine lacks (compiled Boost, SQLite
# headers, TBB, GoogleTest, ICU headers) into .deps/debs. The device tool carries .deps;
# scripts/device-build.sh unpacks them there with dpkg -x into a private prefix (nothing is
# installed system-wide).
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=(
  libboost1.74-dev
  libboost-program-options1.74-dev libboost-program-options1.74.0
  libboost-filesystem1.74-dev libboost-filesystem1.74.0
  libboost-system1.74-dev libboost-system1.74.0 libboost-atomic1.74-dev libboost-atomic1.74.0
  libsqlite3-dev libsqlite3-0
  libtbb-dev libtbb12 libtbbmalloc2 libtbbbind-2-5 libhwloc15
  libgtest-dev
  libyaml-cpp-dev libyaml-cpp0.7
  libssl-dev libssl3
  libicu-dev libicu72
  libgloo-dev
)
mkdir -p .deps/debs
cd .deps/debs
apt-get download "${PACKAGES[@]}" >/dev/null
du -sh .
# The GPTQ reference (bench/run_gptq_suite.sh): llm-compressor's wheel (only its GPTQ files are
# loaded) and compressed-tensors with its pure-Python dependencies, for the GPU machine's Python.
cd ..
mkdir -p wheels
python3 -m pip download -q --no-deps --dest wheels llmcompressor==0.14.0.1 compressed-tensors==0.19.0 loguru
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 --dest wheels \
  pydantic pydantic-core annotated-types typing-inspection psutil
du -sh wheels
