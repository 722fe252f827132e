#!/usr/bin/env python3
"""Reference for bench/omniquant_block.cpp: OmniQuant's block-wise calibration loop as its own
code runs it (OpenGVLab/OmniQuant, quantize/omniquant.py and quantize/quantizer.py), extended to
MatQuant's three precisions the same way matquant extends it, on transformers' decoder layers at
the same shape (random weights). Written for this benchmark from that code's structure, not copied:

  per block: the block goes to the GPU in fp32 (OmniQuant's qlayer.float() "required for AMP
  training"); full-precision targets for every calibration batch; then per epoch and batch, for
  each precision r in R: quantize the FFN weights with learnable weight clipping (LWC: per output
  channel or group, x_max = sigmoid(upbound) * max, x_min = sigmoid(lowbound) * min, both factors
  initialised to 4; MinMax affine grid of c = 8 bits, round with a straight-through estimator),
  slice the codes to r bits (MatQuant Eq. 6, straight-through), run the block under bf16 autocast,
  MSE against the target, backward with weight lambda_r, one AdamW step (lr 1e-2, no decay) per
  batch; finally each precision's input stream is pushed through its quantized block.
LET is off on both sides (matquant's OmniQuantConfig default). Prints the same final JSON line
shape as the C++ benchmark.

usage: omniquant_block.py --shape mistral-7b-shape --layers 2 --samples 128 --seq 2048 --device cuda
"""
import argparse
import json
import math
import os
import sys
import time
import types

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes  # noqa: E402

SOURCE_BITS = 8


def round_ste(x):
    return (x.round() - x).detach() + x


def lwc_fake_quantize(w, upbound, lowbound, group_size, bits):
    """w [out, in] fp32; upbound / lowbound [rows, 1] with rows = out * (in / group)."""
    shape = w.shape
    x = w.reshape(-1, group_size) if group_size > 0 else w
    qmax = float(2 ** SOURCE_BITS - 1)
    xmax = torch.sigmoid(upbound) * x.amax(dim=-1, keepdim=True)
    xmin = torch.sigmoid(lowbound) * x.amin(dim=-1, keepdim=True)
    scale = ((xmax - xmin) / qmax).clamp(min=1e-5, max=1e4)
    # OmniQuant rounds the zero point with a plain round (no straight-through estimator): no gradient
    # reaches the range through it (quantize/quantizer.py, per_token_dynamic_calibration).
    zero = (-xmin / scale).clamp(-1e4, 1e4).round()
    codes = (round_ste(x / scale) + zero).clamp(0.0, qmax)
    if bits < SOURCE_BITS:
        step = float(2 ** (SOURCE_BITS - bits))
        sliced = torch.floor(codes.detach() / step + 0.5).clamp(0.0, float(2 ** bits - 1)) * step
        codes = (sliced - codes).detach() + codes
    return ((codes - zero) * scale).reshape(shape)


def lwc_forward(self, x):
    w = self.weight
    if self.matquant_bits is not None:
        w = lwc_fake_quantize(w, self.upbound, self.lowbound, self.group_size, self.matquant_bits)
    return F.linear(x, w, self.bias)


def add_lwc(layer, group_size):
    linears = [getattr(layer.mlp, n) for n in ("gate_proj", "up_proj", "down_proj")]
    params = []
    for lin in linears:
        out_features, in_features = lin.weight.shape
        rows = out_features * (in_features // group_size if group_size > 0 else 1)
        lin.upbound = torch.nn.Parameter(torch.full((rows, 1), 4.0, device=lin.weight.device))
        lin.lowbound = torch.nn.Parameter(torch.full((rows, 1), 4.0, device=lin.weight.device))
        lin.group_size = group_size
        lin.matquant_bits = None
        lin.forward = types.MethodType(lwc_forward, lin)
        params += [lin.upbound, lin.lowbound]
    return linears, params


def calibrate(model, config, calibration, bits, lambdas, args, device):
    """One OmniQuant pass over model.model.layers; returns (seconds per block, peak GiB)."""
    bs = args.batch
    n = calibration.size(0)
    batches = (n + bs - 1) // bs
    dtype = torch.bfloat16
    with torch.no_grad():
        fp_stream = model.model.embed_tokens(calibration.to(device)).to(dtype)
        if config.model_type.startswith("gemma"):
            fp_stream = fp_stream * torch.tensor(config.hidden_size ** 0.5, dtype=dtype)
    quant_streams = {b: fp_stream for b in bits}
    positions = torch.arange(args.seq, device=device).unsqueeze(0)
    cos, sin = model.model.rotary_emb(fp_stream[:1], positions)
    mask = torch.full((args.seq, args.seq), torch.finfo(dtype).min, device=device, dtype=dtype).triu(1)[None, None]

    def run(layer, x):
        return layer(x, attention_mask=mask, position_embeddings=(cos, sin), position_ids=positions)

    seconds, peak = [], 0.0
    for layer in model.model.layers:
        shapes.sync(device)
        start = time.perf_counter()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        layer.float()  # OmniQuant trains the block in fp32 under autocast
        linears, params = add_lwc(layer, args.group_size)
        for p in layer.parameters():
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        with torch.no_grad(), torch.autocast(device_type=device.type, dtype=dtype):
            fp_out = [run(layer, fp_stream[b * bs:(b + 1) * bs]).to(dtype) for b in range(batches)]
        optimizer = torch.optim.AdamW([{"params": params, "lr": 1e-2}], weight_decay=0.0)
        for _ in range(args.epochs):
            for b in range(batches):
                optimizer.zero_grad(set_to_none=True)
                for r, lam in zip(bits, lambdas):
                    for lin in linears:
                        lin.matquant_bits = r
                    with torch.autocast(device_type=device.type, dtype=dtype):
                        out = run(layer, quant_streams[r][b * bs:(b + 1) * bs])
                        loss = F.mse_loss(out.float(), fp_out[b].float())
                    if not math.isfinite(loss.item()):
                        raise SystemExit("loss is not finite")
                    if lam != 0.0:
                        (loss * lam).backward()
                optimizer.step()
        with torch.no_grad(), torch.autocast(device_type=device.type, dtype=dtype):
            for r in bits:
                for lin in linears:
                    lin.matquant_bits = r
                quant_streams[r] = torch.cat([run(layer, quant_streams[r][b * bs:(b + 1) * bs]).to(dtype)
                                              for b in range(batches)])
            fp_stream = torch.cat(fp_out)
        for lin in linears:
            lin.matquant_bits = None
        shapes.sync(device)
        seconds.append(time.perf_counter() - start)
        if device.type == "cuda":
            peak = max(peak, torch.cuda.max_memory_allocated(device) / 2 ** 30)
    return sum(seconds) / len(seconds), peak


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", default="gemma2-9b-shape", choices=sorted(shapes.SHAPES))
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--seq", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--group-size", type=int, default=0, help="0: per output channel (matquant's default)")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    device = torch.device(args.device)
    config = shapes.make_config(args.shape, args.layers)
    attn = "eager" if config.model_type.startswith("gemma") else "sdpa"
    torch.manual_seed(0)
    calibration = torch.randint(3, config.vocab_size, (args.samples, args.seq))
    print(f"OmniQuant block calibration reference (OmniQuant's loop in PyTorch, transformers "
          f"{__import__('transformers').__version__}, attention {attn}), {args.shape} ({args.layers} blocks), "
          f"{args.samples} x {args.seq} tokens, batch {args.batch}, {args.epochs} epoch(s), bf16 autocast on fp32 "
          f"blocks (bf16 autocast on the CPU too), {args.device}", flush=True)
    results = {}
    for name, bits, lambdas in (("single", (4,), (1.0,)), ("matquant", (8, 4, 2), (0.1, 0.1, 1.0))):
        model = shapes.make_model(config, device, torch.bfloat16, attn)
        model.requires_grad_(False)
        per_block, peak = calibrate(model, config, calibration, bits, lambdas, args, device)
        results[name] = (per_block / args.epochs, per_block, peak)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    print(f"{'objective':<28}{'s / block-epoch':>20}{'s / block':>16}{'peak GiB':>14}")
    for label, key in (("single precision R={4}", "single"), ("MatQuant R={8,4,2}", "matquant")):
        epoch, block, peak = results[key]
        print(f"{label:<28}{epoch:>20.2f}{block:>16.2f}{peak:>14.1f}")
    single, matquant = results["single"], results["matquant"]
    print(json.dumps({
        "bench": "omniquant_block",
        "config": {"impl": "pytorch-omniquant-loop", "shape": args.shape, "layers": args.layers,
                   "samples": args.samples, "seq": args.seq, "epochs": args.epochs, "batch": args.batch,
                   "device": args.device, "dtype": "bf16"},
        "figures": {"single_seconds_per_block_epoch": single[0], "single_peak_gib": single[2],
                    "matquant_seconds_per_block_epoch": matquant[0], "matquant_peak_gib": matquant[2],
                    "time_ratio": matquant[0] / single[0]}}), flush=True)


if __name__ == "__main__":
    main()
