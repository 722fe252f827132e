#!/usr/bin/env bash
# Every GPU benchmark of docs/performance.md in one call (the device tool's machine: build with
# scripts/device-build.sh first). Writes each program's output to $LOGS (default /tmp/bench-logs).
#   bench/run_gpu_suite.sh             # PROFILE=1 bench/run_gpu_suite.sh adds the profiles
set -uo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build-device}/bench
LOGS=${LOGS:-/tmp/bench-logs}
mkdir -p "$LOGS"
run() {  # name command...
  local name=$1; shift
  echo "===== $name: $*"
  "$@" 2>&1 | tee "$LOGS/$name.log" | tail -25
}
run qat_step bench/run_qat_step.sh --shape gemma2-2b-shape --layers 4 --batch 2 --seq 2048 --device cuda
# Full depth (Gemma-2 2B: 26 layers), with and without activation checkpointing.
run qat_step_full bench/run_qat_step.sh --shape gemma2-2b-shape --layers 26 --batch 1 --seq 2048 --device cuda
run qat_step_full_checkpointing bench/run_qat_step.sh --shape gemma2-2b-shape --layers 26 --batch 1 --seq 2048 --checkpointing --device cuda
run qat_step_full_selective_checkpointing bench/run_qat_step.sh --shape gemma2-2b-shape --layers 26 --batch 1 --seq 2048 --selective-checkpointing --device cuda
# The same step with the master-gradient ops off (kernels/master_weight_ops.h): what they buy.
# The same step with every kernel launched from the host (no CUDA graph), for what the graph buys.
run qat_step_full_eager "$B/matquant_bench_qat_step" --shape gemma2-2b-shape --layers 26 --batch 1 --seq 2048 --device cuda --eager
run qat_step_full_master_off env MATQUANT_MASTER_GRADIENTS=0 "$B/matquant_bench_qat_step" --shape gemma2-2b-shape --layers 26 --batch 1 --seq 2048 --device cuda
run eval_throughput bench/run_eval_throughput.sh --shape gemma2-2b-shape --batch 4 --seq 2048 --windows 32 --device cuda
# The same with the one-kernel attention off (the matmul + fused-softmax route), and the attention
# layer alone: kernel, matmul route, eager, and PyTorch's uncapped SDPA as a speed ceiling.
run eval_attention_kernel_off env MATQUANT_ATTENTION_KERNEL=0 "$B/matquant_bench_eval_throughput" --shape gemma2-2b-shape --batch 4 --seq 2048 --windows 32 --device cuda
run attention "$B/matquant_bench_attention" --shape gemma2-2b-shape,gemma2-9b-shape --batch 4 --seq 2048
# Zero-shot (multiple-choice log-likelihood) scoring against lm-eval's HFLM loop, eager and compiled.
run zero_shot bench/run_zero_shot_throughput.sh --shape gemma2-2b-shape --questions 512 --batch 32 --device cuda
run fake_quant "$B/matquant_bench_fake_quant" --shape gemma2-9b-shape --device cuda --bandwidth-gbps 4800
# OmniQuant against its own loop in PyTorch (bench/reference/omniquant_block.py), same arguments.
run omniquant_mistral bench/run_omniquant_block.sh --shape mistral-7b-shape --layers 2 --samples 128 --seq 2048 --device cuda
run omniquant_gemma2_9b bench/run_omniquant_block.sh --shape gemma2-9b-shape --layers 2 --samples 128 --seq 2048 --device cuda
# Serving (issue 19): bit-plane and slice-pack matmuls against bf16 cuBLAS, and cached decoding at
# the 9B shape: dequantized weights, bit planes, slice packs, and slice packs from a CUDA graph.
run bit_planes "$B/matquant_bench_bit_planes" --shape mistral-7b-shape,gemma2-9b-shape --batch 1,16
for serving in "" "--bit-planes" "--slice-packs" "--slice-packs --cuda-graph"; do
  # shellcheck disable=SC2086  # $serving is zero, one or two flags
  run "generate_gemma2_9b$(echo "$serving" | tr ' -' '__')" "${BUILD:-build-device}/apps/matquant" generate \
    --model builtin:gemma2-9b-shape --prompt-ids 2,651,6037,576,9784,576 --precision none 8 4 2 --scope ffn+attn \
    --dtype bf16 --device cuda --max-new-tokens 48 $serving
done
# Without a `none` request the dense weights are freed after packing (docs/serving.md's 9B figures).
run generate_gemma2_9b_slice_packs_cuda_graph_released "${BUILD:-build-device}/apps/matquant" generate \
  --model builtin:gemma2-9b-shape --prompt-ids 2,651,6037,576,9784,576 --precision 8 4 2 --scope ffn+attn \
  --dtype bf16 --device cuda --max-new-tokens 48 --slice-packs --cuda-graph
# PROFILE=1: also the kernel-time profiles of both sides and our ATen path (MATQUANT_FUSED_KERNELS=0)
# for comparison, as in docs/performance.md "Profiles".
if [ "${PROFILE:-0}" = 1 ]; then
  run qat_profile_fused "$B/matquant_bench_qat_step" --shape gemma2-2b-shape --layers 4 --batch 2 --seq 2048 --steps 2 --warmup 2 --device cuda --profile
  run qat_profile_reference python3 bench/reference/qat_step.py --shape gemma2-2b-shape --layers 4 --batch 2 --seq 2048 --steps 2 --warmup 2 --device cuda --profile
  run eval_profile_fused "$B/matquant_bench_eval_throughput" --shape gemma2-2b-shape --batch 4 --seq 2048 --windows 16 --repeat 1 --device cuda --profile
  run eval_profile_reference python3 bench/reference/eval_throughput.py --shape gemma2-2b-shape --batch 4 --seq 2048 --windows 16 --repeat 1 --device cuda --profile
  run qat_aten_path env MATQUANT_FUSED_KERNELS=0 "$B/matquant_bench_qat_step" --shape gemma2-2b-shape --layers 4 --batch 2 --seq 2048 --device cuda
  run eval_aten_path env MATQUANT_FUSED_KERNELS=0 "$B/matquant_bench_eval_throughput" --shape gemma2-2b-shape --batch 4 --seq 2048 --windows 32 --device cuda
  run omniquant_profile "$B/matquant_bench_omniquant" --shape mistral-7b-shape --layers 2 --samples 128 --seq 2048 --device cuda --profile
fi
