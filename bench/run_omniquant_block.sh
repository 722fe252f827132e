#!/usr/bin/env bash
# OmniQuant block calibration, ours (matquant_bench_omniquant) and the reference (OmniQuant's loop in
# PyTorch, bench/reference/omniquant_block.py), same arguments, one call; prints both tables and the
# ratios (ours / reference; < 1 is faster), e.g.
#   bench/run_omniquant_block.sh --shape mistral-7b-shape --layers 2 --samples 128 --seq 2048 --device cuda
# BUILD (default: build-device if present, else build) is the build directory; PYTHON the interpreter.
source "$(dirname "$0")/runner_setup.sh"
echo "== matquant ($BUILD/bench/matquant_bench_omniquant $*)"
"$BUILD/bench/matquant_bench_omniquant" "$@" | tee "$logs/ours.log"
echo "== reference (bench/reference/omniquant_block.py $*)"
"$PYTHON" bench/reference/omniquant_block.py "$@" | tee "$logs/reference.log"
echo "== ratio (matquant / reference)"
"$PYTHON" bench/reference/ratio.py omniquant_block "$logs/ours.log" "$logs/reference.log" \
  single_seconds_per_block_epoch matquant_seconds_per_block_epoch single_peak_gib matquant_peak_gib
