#!/usr/bin/env bash
# The GPTQ figures of docs/performance.md on a GPU machine: one layer of a real shape, ours against
# llm-compressor (bench/run_gptq_layer.sh), then GPTQ of the whole model at full depth (ours).
#   bench/run_gptq_suite.sh OUT_DIR [SHAPE]
# llm-compressor comes from an installed package, or from the wheels in .deps/wheels
# (scripts/gather-device-deps.sh puts them there); missing pure-Python dependencies of
# compressed-tensors are installed from the same directory into OUT_DIR/pylib.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: run_gptq_suite.sh OUT_DIR [SHAPE]}; shape=${2:-mistral-7b-shape}
mkdir -p "$out"
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c "import llmcompressor" 2>/dev/null && [ -d .deps/wheels ]; then
  export LLMCOMPRESSOR_WHEEL=$(ls .deps/wheels/llmcompressor-*.whl | head -1)
  for pkg in compressed_tensors:compressed_tensors loguru:loguru pydantic:pydantic pydantic_core:pydantic_core \
             annotated_types:annotated_types typing_inspection:typing_inspection psutil:psutil; do
    module=${pkg%%:*}; wheel=${pkg##*:}
    if ! PYTHONPATH="$out/pylib${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -c "import $module" 2>/dev/null; then
      "$PYTHON" -m pip install -q --no-deps --no-index --target "$out/pylib" .deps/wheels/${wheel}-*.whl
    fi
  done
  export PYTHONPATH="$out/pylib${PYTHONPATH:+:$PYTHONPATH}"
fi
for bits in 4 3; do
  bench/run_gptq_layer.sh --shape "$shape" --bits "$bits" --device cuda 2>&1 | tee "$out/layer-int$bits.log"
done
BUILD=${BUILD:-$( [ -d build-device ] && echo build-device || echo build )}
"$BUILD/bench/matquant_bench_gptq" --shape "$shape" --bits 8 --nested 8 4 2 --device cuda 2>&1 | tee "$out/layer-nested.log"
"$BUILD/bench/matquant_bench_gptq" --shape "$shape" --bits 4 --device cuda --model --samples 128 --seq 2048 \
  2>&1 | tee "$out/model-int4.log"
