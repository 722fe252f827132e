#!/usr/bin/env python3
"""GPTQ reference fixtures from llm-compressor (scripts/install-reference-tools.sh).

For a small weight W and calibration inputs X with a few outlier channels and one dead (all-zero)
channel, llm-compressor's quantize_weight (llmcompressor/modifiers/gptq/gptq_quantize.py, the eager
Torch path on CPU) rounds W with the scales and zero points given; those are MinMax per channel or
per group as matquant computes them (Eq. 1), so the fixture checks the GPTQ algorithm itself.
Writes tests/fixtures/gptq/reference.json; tests/unit/test_gptq.cpp compares lib/quant/gptq.
"""
import json
import os

import torch
from compressed_tensors.quantization import QuantizationArgs
from llmcompressor.modifiers.gptq.gptq_quantize import quantize_weight
import llmcompressor

ROWS, COLUMNS, SAMPLES = 16, 64, 256
OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "gptq", "reference.json")


def minmax(w, bits, group):
    g = w.reshape(w.shape[0], -1, group if group else w.shape[1])
    lo, hi = g.amin(-1), g.amax(-1)
    scale = ((hi - lo) / (2**bits - 1)).clamp(1e-5, 1e4)
    zero = torch.round(-lo / scale)
    return scale, zero


def main():
    torch.manual_seed(0)
    w = torch.randn(ROWS, COLUMNS)
    x = torch.randn(SAMPLES, COLUMNS) @ (torch.eye(COLUMNS) + 0.3 * torch.randn(COLUMNS, COLUMNS))  # correlated
    x[:, 5] *= 8.0
    x[:, 40] *= 5.0
    x[:, 17] = 0.0  # a dead input channel
    h = 2.0 * x.t() @ x / SAMPLES
    cases = []
    for name, bits, group, actorder, block in [("int4_channel", 4, 0, None, 16), ("int4_group16", 4, 16, None, 32),
                                                ("int3_channel_actorder", 3, 0, "weight", 16),
                                                ("int2_group32_actorder", 2, 32, "weight", 64),
                                                ("int8_channel", 8, 0, None, 128)]:
        scale, zero = minmax(w, bits, group)
        half = 2 ** (bits - 1)
        args = QuantizationArgs(num_bits=bits, type="int", symmetric=False,
                                strategy="group" if group else "channel", group_size=group or None,
                                actorder=actorder)
        # compressed-tensors' asymmetric ints are signed: code - 2^(b-1), zero point likewise.
        q, loss, fallback = quantize_weight(w.clone().unsqueeze(0), h.clone().unsqueeze(0), scale.unsqueeze(0),
                                            (zero - half).unsqueeze(0), None, args, blocksize=block, percdamp=0.01)
        q = q[0]
        g = group if group else COLUMNS
        s = scale.repeat_interleave(g, dim=1)
        z = zero.repeat_interleave(g, dim=1)
        codes = torch.round(q / s + z).clamp(0, 2**bits - 1)
        cases.append({"name": name, "bits": bits, "group_size": group, "act_order": actorder is not None,
                      "block_size": block, "scale": scale.tolist(), "zero_point": zero.tolist(),
                      "codes": codes.to(torch.int64).tolist(), "loss": float(loss[0]), "fallback": bool(fallback[0])})
    fixture = {"source": f"llmcompressor {llmcompressor.__version__} quantize_weight, torch {torch.__version__}",
               "dampening": 0.01, "weight": w.tolist(), "hessian": h.tolist(), "cases": cases}
    with open(OUT, "w") as f:
        json.dump(fixture, f)
    print("wrote", OUT, [c["name"] for c in cases])


if __name__ == "__main__":
    main()
