#!/usr/bin/env bash
# Sharded QAT on the GPU machine (docs/performance.md "Several GPUs"): full-depth steps of the
# Gemma-2 2B and 9B shapes on 1 GPU (plain trainer, checkpointing), on every GPU of the machine
# (train/sharded_qat_trainer.h, NCCL) and on 1 GPU with the AdamW moments on the host.
# Usage: bench/run_sharded_qat.sh BUILD_DIR OUT_DIR
set -uo pipefail
B="$1"; OUT="$2"; mkdir -p "$OUT"
GPUS=$(nvidia-smi -L | wc -l)
bench() { local name="$1"; shift
  echo "== $name: $*"; timeout 420 "$B/bench/matquant_bench_qat_step" "$@" > "$OUT/$name.log" 2>&1
  echo "rc=$?"; grep -E "^matquant |error" "$OUT/$name.log" | tail -2; }
bench 2b_1gpu_ckpt --shape gemma2-2b-shape --layers 0 --checkpointing --device cuda
for n in 2 4 8; do
  (( n <= GPUS )) || break
  bench "2b_${n}gpu_sharded" --shape gemma2-2b-shape --layers 0 --nproc "$n" --device cuda
  bench "9b_${n}gpu_sharded" --shape gemma2-9b-shape --layers 0 --nproc "$n" --steps 2 --warmup 1 --device cuda
done
bench 2b_1gpu_offload --shape gemma2-2b-shape --layers 0 --offload --device cuda
bench 9b_1gpu_offload --shape gemma2-9b-shape --layers 0 --offload --steps 2 --warmup 1 --device cuda
