#!/usr/bin/env bash
# One MatQuant QAT step, ours (train_qat), then the PyTorch reference eager and with per-layer
# torch.compile, same arguments, one call; prints the tables and the ratios (ours / reference). Arguments go to both programs, e.g.
#   bench/run_qat_step.sh --shape gemma2-2b-shape --layers 4 --batch 1 --seq 2048 --device cuda
# BUILD (default: build-device if present, else build) is the build directory; PYTHON the interpreter.
source "$(dirname "$0")/runner_setup.sh"
echo "== matquant ($BUILD/bench/matquant_bench_qat_step $*)"
"$BUILD/bench/matquant_bench_qat_step" "$@" | tee "$logs/ours.log"
echo "== reference, eager (bench/reference/qat_step.py $*)"
"$PYTHON" bench/reference/qat_step.py "$@" | tee "$logs/reference.log"
echo "== reference, per-layer torch.compile (bench/reference/qat_step.py $* --compile)"
"$PYTHON" bench/reference/qat_step.py "$@" --compile | tee "$logs/compiled.log"
echo "== ratio against eager (matquant / reference; > 1 is better for tokens_per_s and mfu, < 1 for the others)"
"$PYTHON" bench/reference/ratio.py qat_step "$logs/ours.log" "$logs/reference.log" \
  tokens_per_s mfu seconds_per_step peak_gib reserved_gib
echo "== ratio against compiled"
"$PYTHON" bench/reference/ratio.py qat_step "$logs/ours.log" "$logs/compiled.log" \
  tokens_per_s mfu seconds_per_step peak_gib reserved_gib
