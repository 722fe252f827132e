#!/usr/bin/env python3
"""Reference for bench/qat_step.cpp: one MatQuant QAT step (R = {8, 4, 2}, lambdas (0.1, 0.1, 1))
in PyTorch eager with transformers' model at the same shape (random init), fp32 master weights,
bf16 autocast on CUDA, fake-quantize-and-slice of the FFN weights written in plain torch
(per-output-channel MinMax to c = 8 bits, slice to r with Eq. 6, dequantize, straight-through
gradients), one forward and backward per precision, gradient clipping at 1, AdamW.
Prints the same final JSON line as the C++ benchmark. --compile compiles each decoder layer with
torch.compile (layer.compile(), as torchtitan does): what a user who writes this step in PyTorch
and wants it fast would run.

usage: qat_step.py --shape gemma2-2b-shape --layers 4 --batch 1 --seq 2048 --device cuda [--compile]
"""
import argparse
import collections
import functools
import json
import os
import sys
import time
import types

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes  # noqa: E402
from kernel_profile import kernel_profile  # noqa: E402

BITS = (8, 4, 2)
LAMBDAS = (0.1, 0.1, 1.0)


def fake_quantize(w, bits, source_bits=8):
    """w: [out, in] fp32. Eq. 1 MinMax per output channel (range detached, as the trainer's QAT),
    round with a straight-through estimator, Eq. 6 slice with a straight-through estimator."""
    qmax = float(2 ** source_bits - 1)
    with torch.no_grad():
        xmin = w.amin(dim=1, keepdim=True)
        xmax = w.amax(dim=1, keepdim=True)
        scale = ((xmax - xmin) / qmax).clamp(1e-5, 1e4)
        zero = (-xmin / scale).clamp(-1e4, 1e4).round()
    x = w / scale
    codes = (x + (x.round() - x).detach() + zero).clamp(0.0, qmax)
    if bits < source_bits:
        step = float(2 ** (source_bits - bits))
        sliced = (torch.floor(codes.detach() / step + 0.5).clamp(0.0, float(2 ** bits - 1)) * step)
        codes = (sliced - codes).detach() + codes
    return (codes - zero) * scale


def quantized_forward(self, x):
    # The precision is an attribute of each patched module (set_precision), not a Python global:
    # torch.compile guards on module attributes and recompiles per value (one graph per precision);
    # a class attribute was read once and baked in.
    w = self.weight
    if self.matquant_bits is not None:
        w = fake_quantize(w.float(), self.matquant_bits).to(self.weight.dtype)
    return F.linear(x, w, self.bias)


class SelectivelyCheckpointedLayer(torch.nn.Module):
    """A decoder layer under non-reentrant torch.utils.checkpoint whose policy saves what matquant's
    selective checkpointing keeps (train.activation_checkpointing_policy: selective): the outputs of
    the projections' matmuls (torchtitan's op-level policy saves matmuls too) and the quantized
    weights cast to bf16; everything else is recomputed. `saved` counts the policy's save decisions
    by op (compiled, they are made while tracing)."""
    saved = collections.Counter()

    def __init__(self, layer, quantized_shapes):
        super().__init__()
        from torch.utils.checkpoint import CheckpointPolicy, create_selective_checkpoint_contexts
        self.layer = layer
        if hasattr(layer, "attention_type"):  # Gemma-2's model loop reads it from each layer
            self.attention_type = layer.attention_type
        projections = {tuple(m.weight.shape[::-1]) for m in layer.modules() if isinstance(m, torch.nn.Linear)}

        def policy(ctx, op, *args, **kwargs):
            if op == torch.ops.aten.mm.default and tuple(args[1].shape) in projections:
                SelectivelyCheckpointedLayer.saved[op] += 1
                return CheckpointPolicy.MUST_SAVE  # x @ W^T of a projection
            if (op == torch.ops.aten._to_copy.default and args[0].dim() == 2 and tuple(args[0].shape) in quantized_shapes
                    and kwargs.get("dtype") == torch.bfloat16):
                SelectivelyCheckpointedLayer.saved[op] += 1
                return CheckpointPolicy.MUST_SAVE  # the fake-quantized weight cast by autocast
            return CheckpointPolicy.PREFER_RECOMPUTE

        self.context_fn = functools.partial(create_selective_checkpoint_contexts, policy)

    def forward(self, *args, **kwargs):
        return torch.utils.checkpoint.checkpoint(self.layer, *args, use_reentrant=False, context_fn=self.context_fn,
                                                 **kwargs)


def main():
    parser = argparse.ArgumentParser()
    shapes.add_shape_arguments(parser, layers=4)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seq", type=int, default=2048)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--scope", default="ffn", choices=["ffn", "ffn+attn"])
    parser.add_argument("--attn", default=None, help="default: eager for Gemma-2, sdpa otherwise (as matquant); eager applies "
                        "Gemma-2's softcapping, as matquant does")
    parser.add_argument("--checkpointing", action="store_true", help="transformers' gradient checkpointing")
    parser.add_argument("--selective-checkpointing", action="store_true",
                        help="selective activation checkpointing (torch.utils.checkpoint, non-reentrant, with a "
                        "policy that saves the quantized projections' matmul outputs and bf16 weights), inside "
                        "each compiled layer with --compile, as torchtitan applies it")
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--profile", action="store_true", help="profile one more step and print its kernel breakdown")
    parser.add_argument("--compile", action="store_true", help="torch.compile each decoder layer (per-layer, as torchtitan)")
    args = parser.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"

    config = shapes.make_config(args.shape, args.layers, args.vocab)
    if args.attn is None:
        args.attn = "eager" if config.model_type.startswith("gemma") else "sdpa"
    model = shapes.make_model(config, device, torch.float32, args.attn)
    model.train()
    if args.checkpointing and not args.selective_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
    names = ["gate_proj", "up_proj", "down_proj"]
    if args.scope == "ffn+attn":
        names += ["q_proj", "k_proj", "v_proj", "o_proj"]
    patched = []

    def set_precision(bits):
        for lin in patched:
            lin.matquant_bits = bits

    for layer in model.model.layers:
        for parent in (layer.mlp, layer.self_attn):
            for n in names:
                if hasattr(parent, n):
                    lin = getattr(parent, n)
                    lin.matquant_bits = None
                    lin.forward = types.MethodType(quantized_forward, lin)
                    patched.append(lin)
    if args.selective_checkpointing:
        args.checkpointing = True
        quantized_shapes = {tuple(lin.weight.shape) for lin in patched}
        layers = model.model.layers
        for i in range(len(layers)):
            layers[i] = SelectivelyCheckpointedLayer(layers[i], quantized_shapes)
    if args.compile:
        # One graph per precision (the layers guard on their linears' matquant_bits). Selective: the
        # wrapper is compiled, so the checkpoint and its policy are traced inside the graph.
        torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
        for layer in model.model.layers:
            layer.compile()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.0)
    params = sum(p.numel() for p in model.parameters())

    total = args.warmup + args.steps
    torch.manual_seed(0)
    sequences = torch.randint(3, config.vocab_size, (args.batch * total, args.seq + 1))
    impl = "pytorch-compiled" if args.compile else "pytorch-eager"
    print(f"QAT step reference (PyTorch {'per-layer torch.compile' if args.compile else 'eager'}, transformers {__import__('transformers').__version__}, attention "
          f"{args.attn}), MatQuant R={{8,4,2}}, {args.shape} ({config.num_hidden_layers} layers, {params / 1e6:.1f}M "
          f"params), batch {args.batch} x seq {args.seq}, scope {args.scope}, {args.warmup} warm-up + {args.steps} "
          f"measured steps, {args.device}{' (bf16 autocast, fp32 master weights)' if cuda else ' (fp32)'}", flush=True)
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    ends = []
    last = {}

    def one_step(step):
        batch = sequences[step * args.batch:(step + 1) * args.batch].to(device)
        inputs, labels = batch[:, :-1], batch[:, 1:]
        optimizer.zero_grad(set_to_none=True)
        for bits, lam in zip(BITS, LAMBDAS):
            set_precision(bits)
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=cuda):
                logits = model(input_ids=inputs).logits
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1))
            last[bits] = loss.item()
            (loss * lam).backward()
        set_precision(None)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        shapes.sync(device)

    start = time.perf_counter()
    for step in range(total):
        one_step(step)
        ends.append(time.perf_counter())
        print(f"  step {step + 1}/{total}: loss int8 {last[8]:.4f} int4 {last[4]:.4f} int2 {last[2]:.4f}", flush=True)
    measured_start = ends[args.warmup - 1] if args.warmup > 0 else start
    if args.profile:
        with kernel_profile(1):
            one_step(total - 1)
    step_seconds = (ends[-1] - measured_start) / args.steps
    tokens = args.batch * args.seq
    flops = 3 * shapes.forward_backward_flops(config, tokens, args.seq)
    tflops = flops / step_seconds / 1e12
    peak_gib = torch.cuda.max_memory_allocated(device) / 2 ** 30 if cuda else 0.0
    reserved_gib = torch.cuda.max_memory_reserved(device) / 2 ** 30 if cuda else 0.0
    if args.selective_checkpointing:
        print("selective checkpointing: the policy saved " +
              ", ".join(f"{n} x {op}" for op, n in SelectivelyCheckpointedLayer.saved.items()), flush=True)
    print(f"{'impl':<12}{'s / step':>14}{'tokens/s':>14}{'TFLOP/s':>12}{'MFU':>10}{'peak GiB':>12}{'reserved GiB':>14}")
    print(f"{'compiled' if args.compile else 'reference':<12}{step_seconds:>14.4f}{tokens / step_seconds:>14.1f}{tflops:>12.2f}"
          f"{100 * tflops / args.peak_tflops:>9.1f}%{peak_gib:>12.2f}{reserved_gib:>14.2f}")
    print(json.dumps({
        "bench": "qat_step",
        "config": {"impl": impl, "attn": args.attn, "shape": args.shape,
                   "layers": config.num_hidden_layers, "vocab": config.vocab_size, "batch": args.batch,
                   "seq": args.seq, "steps": args.steps, "warmup": args.warmup, "scope": args.scope,
                   "checkpointing": args.checkpointing,
                   "selective_checkpointing": args.selective_checkpointing, "device": args.device, "peak_tflops": args.peak_tflops},
        "figures": {"seconds_per_step": step_seconds, "tokens_per_s": tokens / step_seconds, "tflops": tflops,
                    "mfu": tflops / args.peak_tflops, "peak_gib": peak_gib, "reserved_gib": reserved_gib,
                    "flops_per_step": flops,
                    "params": params, "matmul_params": shapes.matmul_parameters(config),
                    "final_loss_int2": last[2]}}), flush=True)


if __name__ == "__main__":
    main()
