#!/usr/bin/env python3
"""Reference for bench/zero_shot_throughput.cpp: the same multiple-choice log-likelihood requests
scored the way lm-evaluation-harness' Hugging Face backend does (HFLM._loglikelihood_tokens): each
request is context + continuation without its last token, requests run longest first in batches,
right-padded, one forward per batch, log-softmax in fp32, the continuation's log-probabilities
summed and greedy-checked, results moved to the host per batch. transformers' forward at the same
shape (random weights), eager or with per-layer torch.compile. The requests come from torch's CPU
generator seeded with 0, drawn as the C++ side draws them; the ids checksum proves it.

usage: zero_shot_throughput.py --shape gemma2-2b-shape --questions 512 --batch 32 --device cuda [--compile]
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

MAX_CONTINUATION = 16


def make_requests(questions, choices, context, vocab):
    """(context ids, continuation ids) pairs and the ids checksum, as make_requests in the C++ bench."""
    torch.manual_seed(0)
    context_lengths = torch.randint(context // 4, context + 1, (questions,))
    continuation_lengths = torch.randint(1, MAX_CONTINUATION + 1, (questions, choices))
    ids = torch.randint(3, vocab, (questions, context + choices * MAX_CONTINUATION))
    requests, checksum = [], 0
    for q in range(questions):
        ctx = ids[q, :context_lengths[q]].tolist()
        for c in range(choices):
            start = context + c * MAX_CONTINUATION
            cont = ids[q, start:start + continuation_lengths[q, c]].tolist()
            requests.append((ctx, cont))
            checksum += sum(ctx) + sum(cont)
    return requests, checksum


def score(model, requests, batch, device, max_length):
    """Log-likelihoods in request order (HFLM's reordering undone)."""
    order = sorted(range(len(requests)), key=lambda i: -len(requests[i][0] + requests[i][1]))
    results = [(0.0, False)] * len(requests)
    with torch.no_grad():
        for first in range(0, len(order), batch):
            chunk = order[first:first + batch]
            inputs = [(requests[i][0] + requests[i][1])[-(max_length + 1):][:-1] for i in chunk]
            width = max(len(x) for x in inputs)
            padded = torch.zeros(len(chunk), width, dtype=torch.long)
            for row, x in enumerate(inputs):
                padded[row, :len(x)] = torch.tensor(x)
            logits = model(input_ids=padded.to(device)).logits
            log_probs = F.log_softmax(logits.float(), dim=-1)
            for row, i in enumerate(chunk):
                cont = requests[i][1]
                end = len(inputs[row])
                span = log_probs[row, end - len(cont):end]
                target = torch.tensor(cont, device=device).unsqueeze(-1)
                # As HFLM: the sum and the greedy check read back to the host per request.
                results[i] = (float(span.gather(-1, target).sum()), bool((span.argmax(-1) == target.squeeze(-1)).all()))
    return [loglikelihood for loglikelihood, _ in results]


def main():
    parser = argparse.ArgumentParser()
    shapes.add_shape_arguments(parser)
    parser.add_argument("--questions", type=int, default=512)
    parser.add_argument("--choices", type=int, default=4)
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--share-contexts", default="true", help="accepted for the C++ side's arguments; HFLM does not share")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "fp32"])
    parser.add_argument("--attn", default=None, help="default: eager for Gemma-2 (its softcapping), sdpa otherwise")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--profile", action="store_true", help="profile one more pass and print its kernel breakdown")
    parser.add_argument("--compile", action="store_true", help="torch.compile each decoder layer (per-layer, as torchtitan)")
    args = parser.parse_args()
    device = torch.device(args.device)

    config = shapes.make_config(args.shape, args.layers, args.vocab)
    if args.attn is None:
        args.attn = "eager" if config.model_type.startswith("gemma") else "sdpa"
    requests, checksum = make_requests(args.questions, args.choices, args.context, config.vocab_size)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    model = shapes.make_model(config, device, dtype, args.attn).eval()
    if args.compile:
        for layer in model.model.layers:
            layer.compile()
    max_length = min(config.max_position_embeddings, 2048)
    print(f"Zero-shot scoring, transformers {__import__('transformers').__version__}"
          f"{' with per-layer torch.compile' if args.compile else ''} (attention {args.attn}, HFLM's loop), "
          f"{args.shape} ({config.num_hidden_layers} layers), {args.dtype} weights, {args.questions} questions x "
          f"{args.choices} choices, contexts up to {args.context} tokens, batch {args.batch}, {args.repeat} pass(es), "
          f"{args.device}; ids checksum {checksum}", flush=True)
    # Warm-up: one whole pass, so every batch width has been compiled (--compile) before timing.
    score(model, requests, args.batch, device, max_length)
    shapes.sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds, mean = 0.0, 0.0
    for _ in range(args.repeat):
        start = time.perf_counter()
        results = score(model, requests, args.batch, device, max_length)
        shapes.sync(device)
        seconds += time.perf_counter() - start
        mean = sum(results) / len(results)
    if args.profile:
        with kernel_profile(1):
            score(model, requests, args.batch, device, max_length)
            shapes.sync(device)
        print("(kernel profile unit: one pass over all requests)")
    requests_per_s = len(requests) * args.repeat / seconds
    peak_gib = torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == "cuda" else 0.0
    print(f"{'impl':<12}{'requests/s':>14}{'peak GiB':>12}{'mean loglikelihood':>20}")
    print(f"{'compiled' if args.compile else 'reference':<12}{requests_per_s:>14.1f}{peak_gib:>12.2f}{mean:>20.4f}")
    print(json.dumps({
        "bench": "zero_shot_throughput",
        "config": {"impl": "transformers-compiled" if args.compile else "transformers", "attn": args.attn,
                   "shape": args.shape, "layers": config.num_hidden_layers, "vocab": config.vocab_size,
                   "questions": args.questions, "choices": args.choices, "context": args.context, "batch": args.batch,
                   "repeat": args.repeat, "dtype": args.dtype, "device": args.device, "ids_checksum": checksum},
        "figures": {"requests_per_s": requests_per_s, "peak_gib": peak_gib, "seconds": seconds,
                    "mean_loglikelihood": mean}}), flush=True)
    assert math.isfinite(mean)


if __name__ == "__main__":
    main()
