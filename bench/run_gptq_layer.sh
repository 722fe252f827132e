#!/usr/bin/env bash
# GPTQ of one decoder layer at a real shape: ours (matquant_bench_gptq), then llm-compressor's
# quantize_weight (bench/reference/gptq_layer.py), same shape and scheme; prints the ratio of layer
# seconds (ours / reference, < 1 is faster). Extra arguments go to ours only (e.g. --model).
#   bench/run_gptq_layer.sh --shape mistral-7b-shape --bits 4 --device cuda
# LLMCOMPRESSOR_WHEEL: the llm-compressor wheel when the package is not installed (its algorithm
# files are loaded from it; compressed-tensors must be importable).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-$( [ -d build-device ] && echo build-device || echo build )}
PYTHON=${PYTHON:-python3}
shape=mistral-7b-shape; bits=4; device=cuda; group=0; rest=()
while [ $# -gt 0 ]; do
  case "$1" in
    --shape) shape=$2; shift 2 ;;
    --bits) bits=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --group) group=$2; shift 2 ;;
    *) rest+=("$1"); shift ;;
  esac
done
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
common=(--shape "$shape" --bits "$bits" --device "$device" --group "$group")
echo "== matquant ($BUILD/bench/matquant_bench_gptq ${common[*]} ${rest[*]:-})"
"$BUILD/bench/matquant_bench_gptq" "${common[@]}" "${rest[@]}" | tee "$logs/ours.log"
echo "== reference (bench/reference/gptq_layer.py ${common[*]})"
"$PYTHON" bench/reference/gptq_layer.py "${common[@]}" | tee "$logs/reference.log"
echo "== ratio (matquant / llm-compressor; < 1 is faster)"
"$PYTHON" bench/reference/ratio.py gptq_layer "$logs/ours.log" "$logs/reference.log" layer_seconds
