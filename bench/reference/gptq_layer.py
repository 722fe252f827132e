#!/usr/bin/env python3
"""GPTQ of one decoder layer's projections at a real shape with llm-compressor's quantize_weight (the
reference for bench/gptq_layer.cpp; bench/run_gptq_layer.sh runs both and prints the ratios).

llm-compressor quantizes each projection as a module, batching modules of one shape when
batched_quantization is on; both ways are timed and the faster is the reference figure. On CUDA its
fused Triton block update runs where the scheme has one (as in a real run). Only the algorithm is
loaded from the wheel (llmcompressor/modifiers/gptq/{helpers,gptq_quantize}.py), so the package's
other dependencies (datasets, accelerate, ...) need not be installed: LLMCOMPRESSOR_WHEEL names it.

Prints a table and one JSON line {"bench": "gptq_layer", "config": ..., "figures": ...}.
"""
import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
import types
import zipfile

import torch

sys.path.insert(0, os.path.dirname(__file__))
from shapes import make_config  # noqa: E402


def load_gptq(wheel):
    if wheel:
        root = tempfile.mkdtemp()
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                if name.startswith("llmcompressor/modifiers/gptq/") and name.endswith(".py"):
                    z.extract(name, root)
        base = os.path.join(root, "llmcompressor")
    else:
        import llmcompressor  # an installed llm-compressor
        base = os.path.dirname(llmcompressor.__file__)
    for pkg, path in [("llmcompressor", base), ("llmcompressor.modifiers", os.path.join(base, "modifiers")),
                      ("llmcompressor.modifiers.gptq", os.path.join(base, "modifiers", "gptq"))]:
        if pkg not in sys.modules or wheel:
            module = types.ModuleType(pkg)
            module.__path__ = [path]
            sys.modules[pkg] = module
    for name in ["helpers", "gptq_quantize"]:
        spec = importlib.util.spec_from_file_location(f"llmcompressor.modifiers.gptq.{name}",
                                                      os.path.join(base, "modifiers", "gptq", f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules["llmcompressor.modifiers.gptq.gptq_quantize"].quantize_weight


def projections(config):
    h, i = config.hidden_size, config.intermediate_size
    d = getattr(config, "head_dim", None) or h // config.num_attention_heads
    q, kv = config.num_attention_heads * d, config.num_key_value_heads * d
    return {"q": (q, h), "k": (kv, h), "v": (kv, h), "o": (h, q), "gate": (i, h), "up": (i, h), "down": (h, i)}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shape", default="mistral-7b-shape")
    p.add_argument("--bits", type=int, default=4)
    p.add_argument("--group", type=int, default=0)
    p.add_argument("--block", type=int, default=128)
    p.add_argument("--tokens", type=int, default=4096, help="calibration rows behind each Hessian")
    p.add_argument("--device", default="cuda")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--wheel", default=os.environ.get("LLMCOMPRESSOR_WHEEL", ""))
    a = p.parse_args()
    from compressed_tensors.quantization import QuantizationArgs
    quantize_weight = load_gptq(a.wheel)
    device = torch.device(a.device)
    torch.manual_seed(0)
    shapes = projections(make_config(a.shape))
    args = QuantizationArgs(num_bits=a.bits, type="int", symmetric=False,
                            strategy="group" if a.group else "channel", group_size=a.group or None)
    hessians = {}
    for cols in sorted({c for _, c in shapes.values()}):
        x = torch.randn(a.tokens, cols, device=device)
        hessians[cols] = 2.0 * x.t() @ x / a.tokens
    weights = {n: torch.randn(r, c, device=device) for n, (r, c) in shapes.items()}

    def qparams(w):
        g = w.reshape(w.shape[0], -1, a.group or w.shape[1])
        lo, hi = g.amin(-1), g.amax(-1)
        scale = ((hi - lo) / (2 ** a.bits - 1)).clamp(1e-5, 1e4)
        return scale, torch.round(-lo / scale) - 2 ** (a.bits - 1)

    def run(batches):
        start = time.perf_counter()
        for names in batches:
            w = torch.stack([weights[n] for n in names])
            h = torch.stack([hessians[shapes[n][1]] for n in names])
            s, z = zip(*[qparams(weights[n]) for n in names])
            quantize_weight(w, h, torch.stack(s), torch.stack(z), None, args, blocksize=a.block, percdamp=0.01)
        sync(device)
        return time.perf_counter() - start

    per_module = [[n] for n in shapes]
    by_shape = {}
    for n, s in shapes.items():
        by_shape.setdefault(s, []).append(n)
    figures = {}
    for label, batches in [("per_module", per_module), ("batched", list(by_shape.values()))]:
        run(batches)  # warm-up: Triton compiles, cuBLAS/cuSOLVER handles
        figures[f"layer_seconds_{label}"] = min(run(batches) for _ in range(a.repeats))
    figures["layer_seconds"] = min(figures["layer_seconds_per_module"], figures["layer_seconds_batched"])
    for n in shapes:
        figures[f"{n}_seconds"] = min(run([[n]]) for _ in range(a.repeats))
    for k, v in figures.items():
        print(f"{k:<28}{v:10.4f}")
    print(json.dumps({"bench": "gptq_layer", "config": vars(a) | {"reference": "llm-compressor quantize_weight",
                                                                    "torch": torch.__version__},
                      "figures": figures}))


if __name__ == "__main__":
    main()
