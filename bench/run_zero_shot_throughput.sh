#!/usr/bin/env bash
# Zero-shot (multiple-choice log-likelihood) scoring throughput, ours (matquant_bench_zero_shot_throughput,
# eval::score_requests) then transformers eager and with per-layer torch.compile in lm-eval's HFLM loop,
# same arguments and same requests, one call; checks the ids checksums agree and prints the ratios. E.g.
#   bench/run_zero_shot_throughput.sh --shape gemma2-2b-shape --questions 512 --batch 32 --device cuda
# BUILD (default: build-device if present, else build) is the build directory; PYTHON the interpreter.
source "$(dirname "$0")/runner_setup.sh"
echo "== matquant ($BUILD/bench/matquant_bench_zero_shot_throughput $*)"
"$BUILD/bench/matquant_bench_zero_shot_throughput" "$@" | tee "$logs/ours.log"
echo "== reference, eager (bench/reference/zero_shot_throughput.py $*)"
"$PYTHON" bench/reference/zero_shot_throughput.py "$@" | tee "$logs/reference.log"
echo "== reference, per-layer torch.compile (bench/reference/zero_shot_throughput.py $* --compile)"
"$PYTHON" bench/reference/zero_shot_throughput.py "$@" --compile | tee "$logs/compiled.log"
ours=$(grep -o 'ids checksum [0-9]*' "$logs/ours.log")
ref=$(grep -o 'ids checksum [0-9]*' "$logs/reference.log")
if [ "$ours" != "$ref" ]; then echo "requests differ: matquant $ours, reference $ref" >&2; exit 1; fi
echo "== ratio against eager (matquant / reference; same requests: $ours)"
"$PYTHON" bench/reference/ratio.py zero_shot_throughput "$logs/ours.log" "$logs/reference.log" requests_per_s peak_gib
echo "== ratio against compiled"
"$PYTHON" bench/reference/ratio.py zero_shot_throughput "$logs/ours.log" "$logs/compiled.log" requests_per_s peak_gib
