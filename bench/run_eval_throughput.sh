#!/usr/bin/env bash
# Perplexity forward throughput, ours (eval::evaluate_perplexity) then transformers eager and with
# per-layer torch.compile, same arguments
# and same token ids, one call; checks the ids checksums agree and prints the ratios. E.g.
#   bench/run_eval_throughput.sh --shape gemma2-2b-shape --batch 4 --seq 2048 --windows 32 --device cuda
# BUILD (default: build-device if present, else build) is the build directory; PYTHON the interpreter.
source "$(dirname "$0")/runner_setup.sh"
three_way eval_throughput "tokens_per_s tflops peak_gib" "$@"
