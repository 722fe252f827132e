#!/usr/bin/env bash
# Perplexity forward throughput, ours (eval::evaluate_perplexity) then transformers eager and with
# per-layer torch.compile, same arguments
# and same token ids, one call; checks the ids checksums agree and prints the ratios. E.g.
#   bench/run_eval_throughput.sh --shape gemma2-2b-shape --batch 4 --seq 2048 --windows 32 --device cuda
# BUILD (default: build-device if present, else build) is the build directory; PYTHON the interpreter.
source "$(dirname "$0")/runner_setup.sh"
echo "== matquant ($BUILD/bench/matquant_bench_eval_throughput $*)"
"$BUILD/bench/matquant_bench_eval_throughput" "$@" | tee "$logs/ours.log"
echo "== reference, eager (bench/reference/eval_throughput.py $*)"
"$PYTHON" bench/reference/eval_throughput.py "$@" | tee "$logs/reference.log"
echo "== reference, per-layer torch.compile (bench/reference/eval_throughput.py $* --compile)"
"$PYTHON" bench/reference/eval_throughput.py "$@" --compile | tee "$logs/compiled.log"
ours=$(grep -o 'ids checksum [0-9]*' "$logs/ours.log")
ref=$(grep -o 'ids checksum [0-9]*' "$logs/reference.log")
if [ "$ours" != "$ref" ]; then echo "token ids differ: matquant $ours, reference $ref" >&2; exit 1; fi
echo "== ratio against eager (matquant / reference; same token ids: $ours)"
"$PYTHON" bench/reference/ratio.py eval_throughput "$logs/ours.log" "$logs/reference.log" \
  tokens_per_s tflops peak_gib
echo "== ratio against compiled"
"$PYTHON" bench/reference/ratio.py eval_throughput "$logs/ours.log" "$logs/compiled.log" \
  tokens_per_s tflops peak_gib
