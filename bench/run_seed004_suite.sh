#!/usr/bin/env bash
# Seed 004's pieces on a GPU machine at a 7B shape (random weights; docs/performance.md "Seed 004"):
# the new CUDA paths' tests, MXINT GPTQ of one layer and of the whole model (plain MXINT4-128 and
# Matryoshka MXINT8 -> 4, 2), and perplexity-scoring throughput with A8 activations against none.
#   bench/run_seed004_suite.sh OUT_DIR [SHAPE]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: run_seed004_suite.sh OUT_DIR [SHAPE]}; shape=${2:-mistral-7b-shape}
mkdir -p "$out"
BUILD=${BUILD:-$( [ -d build-device ] && echo build-device || echo build )}
"$BUILD/tests/matquant_unit_tests" --gtest_filter='ActivationQuant*:MxFormat*' 2>&1 | tail -3 | tee "$out/unit-tests.log"
"$BUILD/tests/matquant_train_tests" --gtest_filter='GptqCalibration.*' 2>&1 | tail -3 | tee "$out/train-tests.log"
"$BUILD/bench/matquant_bench_gptq" --shape "$shape" --bits 4 --mx-block 128 --device cuda --model --samples 128 \
  --seq 2048 2>&1 | tee "$out/gptq-mxint4-128.log"
"$BUILD/bench/matquant_bench_gptq" --shape "$shape" --bits 8 --nested 8 4 2 --mx-block 128 --device cuda --model \
  --samples 128 --seq 2048 2>&1 | tee "$out/gptq-matryoshka-mxint8-128.log"
"$BUILD/bench/matquant_bench_eval_throughput" --shape "$shape" --batch 4 --seq 2048 --windows 16 --device cuda \
  --activations none,int8,mxint8-128,mxint8-16 2>&1 | tee "$out/eval-activations.log"
