#!/usr/bin/env bash
# Both base algorithms on a small pretrained model: the explicit baselines at 8, 4, 2, 6 and 3 bits,
# "Sliced int8" (the int8 baseline evaluated at lower precisions) and MatQuant R = {8, 4, 2}
# (lambdas 0.1, 0.1, 1), each evaluated as held-out log-perplexity at 8, 4, 2, 6 and 3 bits.
# Prints one TSV row per (base, method, precision). Meant for the GPU machine:
#   MATQUANT=build-device/apps/matquant DEVICE=cuda scripts/measure-bases.sh
set -euo pipefail
M="${MATQUANT:-build/apps/matquant}"
DEVICE="${DEVICE:-cuda}"
MODEL="${MODEL:-builtin:small-llama}"
WORK="${WORK_DIR:-results/measure-bases}"
QAT_STEPS="${QAT_STEPS:-300}"
mkdir -p "$WORK"

spec() {  # base variant bits lambdas
  local train
  if [[ $1 == qat ]]; then
    train="{\"steps\": $QAT_STEPS, \"batch_size\": 16, \"seq_len\": 256, \"learning_rate\": 5e-5, \"warmup_steps\": 30}"
  else
    train="{\"samples\": 64, \"seq_len\": 256, \"epochs\": 5, \"batch_size\": 4, \"learning_rate\": 1e-2}"
  fi
  echo "{\"model\": \"$MODEL\", \"base\": \"$1\", \"variant\": \"$2\", \"bits\": [$3], \"lambdas\": [$4], \"train\": $train}"
}

echo -e "base\tmethod\tprecision\tlog_pplx"
"$M" eval <(spec qat baseline 8 1) --precision bf16 --device "$DEVICE" --cache-dir "$WORK/cache" \
  | awk -F'\t' '$3=="log_pplx" {print "-\tbf16\tbf16\t" $4}'
for base in qat omniquant; do
  for job in "baseline 8 1" "baseline 4 1" "baseline 2 1" "baseline 6 1" "baseline 3 1" "matquant 8,4,2 0.1,0.1,1"; do
    read -r variant bits lambdas <<<"$job"
    name="$base-$variant-${bits//,/}"
    spec "$base" "$variant" "$bits" "$lambdas" >"$WORK/$name.json"
    "$M" train "$WORK/$name.json" --out "$WORK/$name.safetensors" --device "$DEVICE" --cache-dir "$WORK/cache" >/dev/null
    if [[ $variant == matquant || $bits == 8 ]]; then precisions="8 4 2 6 3"; else precisions="$bits"; fi
    method="$variant"
    [[ $variant == baseline && $bits == 8 ]] && method="baseline/sliced-int8"
    "$M" eval "$WORK/$name.json" --checkpoint "$WORK/$name.safetensors" --precision $precisions \
        --device "$DEVICE" --cache-dir "$WORK/cache" \
      | awk -F'\t' -v b="$base" -v m="$method" '$3=="log_pplx" {print b "\t" m "\t" $1 "\t" $4}'
  done
done
