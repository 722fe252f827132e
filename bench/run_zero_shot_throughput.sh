#!/usr/bin/env bash
# Zero-shot (multiple-choice log-likelihood) scoring throughput, ours (matquant_bench_zero_shot_throughput,
# eval::score_requests) then transformers eager and with per-layer torch.compile in lm-eval's HFLM loop,
# same arguments and same requests, one call; checks the ids checksums agree and prints the ratios. E.g.
#   bench/run_zero_shot_throughput.sh --shape gemma2-2b-shape --questions 512 --batch 32 --device cuda
# BUILD (default: build-device if present, else build) is the build directory; PYTHON the interpreter.
source "$(dirname "$0")/runner_setup.sh"
three_way zero_shot_throughput "requests_per_s peak_gib" "$@"
