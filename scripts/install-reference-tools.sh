#!/usr/bin/env bash
# Installs the reference tools the parity scripts in tests/reference/ use (not needed to build or
# test matquant: the fixtures they produce are committed).
set -euo pipefail
python3 -m pip install -q "transformers==5.17.0" "safetensors" "sentencepiece" "protobuf"
# Zero-shot parity (tests/reference/make_lm_eval_fixtures.py); accelerate is needed by its HF backend.
python3 -m pip install -q "lm_eval==0.4.13" "accelerate"
# GPTQ, AWQ and SmoothQuant parity (tests/reference/make_{gptq,awq,smoothquant}_fixtures.py; the
# latter two run its oneshot on a tokenized datasets.Dataset) and the GPTQ benchmark's reference.
python3 -m pip install -q "llmcompressor==0.14.0.1" "datasets"
# MXINT parity (tests/reference/make_mx_fixtures.py) needs Microsoft's microxcaling, which is not on
# PyPI: point MICROXCALING at a checkout of github.com/microsoft/microxcaling (commit 7bc4195).
# The compressed-tensors export's round trip (also installed by install-deps.sh for CI).
python3 -m pip install -q "compressed-tensors==0.19.0"
