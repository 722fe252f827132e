#!/usr/bin/env bash
# Installs the reference tools the parity scripts in tests/reference/ use (not needed to build or
# test matquant: the fixtures they produce are committed).
set -euo pipefail
python3 -m pip install -q "transformers==5.17.0" "safetensors" "sentencepiece" "protobuf"
