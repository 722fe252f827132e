#!/usr/bin/env python3
"""Reference for bench/eval_throughput.cpp: the same perplexity scoring (fixed windows, batch of
windows, next-token NLL summed in fp32, one .item() per batch) with transformers' forward at the
same shape (random weights), same token ids (torch's CPU generator seeded with 0:
torch.randint(3, vocab, (N, seq + 1)); the ids checksum is printed to prove it).

usage: eval_throughput.py --shape gemma2-2b-shape --batch 4 --seq 2048 --windows 32 --device cuda
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes  # noqa: E402
from kernel_profile import kernel_profile  # noqa: E402


def score(model, ids, batch, device):
    total, tokens = 0.0, 0
    with torch.no_grad():
        for first in range(0, ids.size(0), batch):
            rows = ids[first:first + batch].to(device)
            logits = model(input_ids=rows[:, :-1]).logits
            targets = rows[:, 1:]
            total += F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1),
                                     reduction="sum").item()
            tokens += targets.numel()
    return total, tokens


def main():
    parser = argparse.ArgumentParser()
    shapes.add_shape_arguments(parser)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=2048)
    parser.add_argument("--windows", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "fp32"])
    parser.add_argument("--attn", default=None, help="default: eager for Gemma-2, sdpa otherwise (as matquant); eager applies "
                        "Gemma-2's softcapping, as matquant does; sdpa is faster but drops it")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--profile", action="store_true", help="profile one more pass and print its kernel breakdown")
    parser.add_argument("--compile", action="store_true", help="torch.compile each decoder layer (per-layer, as torchtitan)")
    args = parser.parse_args()
    device = torch.device(args.device)

    config = shapes.make_config(args.shape, args.layers, args.vocab)
    if args.attn is None:
        args.attn = "eager" if config.model_type.startswith("gemma") else "sdpa"
    torch.manual_seed(0)
    ids = torch.randint(3, config.vocab_size, (args.windows, args.seq + 1))
    checksum = int(ids.sum().item())
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    model = shapes.make_model(config, device, dtype, args.attn).eval()
    if args.compile:
        for layer in model.model.layers:
            layer.compile()
    print(f"Perplexity forward, transformers {__import__('transformers').__version__}"
          f"{' with per-layer torch.compile' if args.compile else ''} (attention {args.attn}), "
          f"{args.shape} ({config.num_hidden_layers} layers), {args.dtype} weights, {args.windows} windows x "
          f"{args.seq} tokens, batch {args.batch}, {args.repeat} pass(es), {args.device}; ids checksum {checksum}",
          flush=True)
    score(model, ids[:min(args.batch, args.windows)], args.batch, device)  # warm-up
    shapes.sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds, tokens, nll = 0.0, 0, 0.0
    for _ in range(args.repeat):
        start = time.perf_counter()
        total, n = score(model, ids, args.batch, device)
        shapes.sync(device)
        seconds += time.perf_counter() - start
        tokens += n
        nll = total / n
    if args.profile:
        with kernel_profile((args.windows + args.batch - 1) // args.batch):
            score(model, ids, args.batch, device)
            shapes.sync(device)
        print(f"(kernel profile units: one forward batch of {args.batch} windows)")
    tokens_per_s = tokens / seconds
    tflops = shapes.forward_backward_flops(config, tokens, args.seq) / 3 / seconds / 1e12
    peak_gib = torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == "cuda" else 0.0
    print(f"{'impl':<12}{'tokens/s':>14}{'TFLOP/s':>12}{'peak GiB':>12}{'log-perplexity':>16}")
    print(f"{'compiled' if args.compile else 'reference':<12}{tokens_per_s:>14.1f}{tflops:>12.2f}{peak_gib:>12.2f}{nll:>16.4f}")
    print(json.dumps({
        "bench": "eval_throughput",
        "config": {"impl": "transformers-compiled" if args.compile else "transformers", "attn": args.attn, "shape": args.shape,
                   "layers": config.num_hidden_layers, "vocab": config.vocab_size, "batch": args.batch,
                   "seq": args.seq, "windows": args.windows, "repeat": args.repeat, "dtype": args.dtype,
                   "device": args.device, "ids_checksum": checksum},
        "figures": {"tokens_per_s": tokens_per_s, "tflops": tflops, "peak_gib": peak_gib, "seconds": seconds,
                    "log_perplexity": nll}}), flush=True)
    assert math.isfinite(nll)


if __name__ == "__main__":
    main()
