#!/usr/bin/env bash
# Installs what matquant needs on a fresh Debian machine: compilers and libraries from Debian,
# LibTorch from the PyPI torch wheel (the same 2.x API as the GPU machine). Idempotent: a second run
# only checks. transformers and compressed-tensors come along for the export round-trip test; the
# other reference tools (lm-eval, llm-compressor) are in scripts/install-reference-tools.sh.
set -euo pipefail
TORCH_VERSION="${MATQUANT_TORCH_VERSION:-2.11.0}"
DEBIAN_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost-program-options-dev libboost-filesystem-dev
  libsqlite3-dev sqlite3 libyaml-cpp-dev libtbb-dev libgtest-dev
  nlohmann-json3-dev zlib1g-dev libssl-dev libsentencepiece-dev libicu-dev
  # Gloo's headers for c10d's ProcessGroupGloo (sharded training on the CPU; the library is LibTorch's).
  libgloo-dev
  # The Slurm executor's tests start a private cluster (scripts/slurm-test-cluster.sh).
  slurm-wlm munge python3
)

missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "[install-deps] installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! python3 -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('${TORCH_VERSION}') else 1)" 2>/dev/null; then
  echo "[install-deps] installing torch==${TORCH_VERSION} from PyPI (LibTorch for C++)"
  python3 -m pip install -q "torch==${TORCH_VERSION}"
fi
# The export round trip (tests/cli/check_export_compressed_tensors.sh) loads matquant's
# compressed-tensors export the way users do: transformers + compressed-tensors on the CPU.
if ! python3 -c "import transformers, compressed_tensors, sys; sys.exit(0 if transformers.__version__ == '5.17.0' else 1)" 2>/dev/null; then
  echo "[install-deps] installing transformers and compressed-tensors from PyPI (export round-trip test)"
  # Not fatal: without them that one test reports itself skipped.
  python3 -m pip install -q "transformers==5.17.0" "compressed-tensors==0.19.0" "safetensors" "sentencepiece" "protobuf" ||
    echo "[install-deps] warning: could not install transformers/compressed-tensors; cli.export_compressed_tensors will be skipped"
fi
echo "[install-deps] ok"
