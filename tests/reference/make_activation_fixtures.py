#!/usr/bin/env python3
"""Static activation quantization fixtures from torch.ao.quantization (plain PyTorch, CPU).

Calibration batches pass through PerChannelMinMaxObserver (channel = last dimension, quint8,
per_channel_affine; quant_max 255 for INT8 and 15 for INT4); its calculate_qparams() gives the
scales and zero points, and torch.fake_quantize_per_channel_affine quantizes a test input with them.
The inputs include an all-positive channel (the range is widened to 0), an all-zero channel (the
scale floors at float32 eps), outliers, and test values beyond the observed range (clamped).
Writes tests/fixtures/activation_quant/reference.json; tests/unit/test_activation_quant.cpp
compares lib/quant/activation_quant.
"""
import json
import os

import torch
from torch.ao.quantization.observer import PerChannelMinMaxObserver

CHANNELS = 12
OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "activation_quant", "reference.json")


def values(t):
    return [float(v) for v in t.reshape(-1).tolist()]


def main():
    torch.manual_seed(0)
    batches = [torch.randn(2, 5, CHANNELS) for _ in range(3)]
    for b in batches:
        b[..., 3] = b[..., 3].abs() + 0.25  # never negative: the range is widened to include 0
        b[..., 7] = 0.0                      # dead channel: scale = eps
        b[..., 9] *= 40.0                    # an outlier channel
    batches[1][0, 2, 5] = -17.0
    test = torch.randn(4, 6, CHANNELS) * 1.5
    test[0, 0, :] = 100.0   # beyond every maximum
    test[0, 1, :] = -100.0  # below every minimum
    cases = []
    for bits in (8, 4):
        observer = PerChannelMinMaxObserver(ch_axis=1, dtype=torch.quint8, qscheme=torch.per_channel_affine,
                                            quant_min=0, quant_max=2**bits - 1)
        for b in batches:
            observer(b.reshape(-1, CHANNELS))
        scale, zero = observer.calculate_qparams()
        out = torch.fake_quantize_per_channel_affine(test.reshape(-1, CHANNELS), scale, zero.to(torch.int32), 1, 0,
                                                     2**bits - 1)
        cases.append({"bits": bits, "min": values(observer.min_val), "max": values(observer.max_val),
                      "scale": values(scale), "zero_point": [int(z) for z in zero.tolist()],
                      "output": values(out)})
    fixture = {"torch": torch.__version__, "channels": CHANNELS,
               "calibration": [{"shape": list(b.shape), "values": values(b)} for b in batches],
               "test_shape": list(test.shape), "test": values(test), "cases": cases}
    with open(OUT, "w") as f:
        json.dump(fixture, f)
        f.write("\n")


if __name__ == "__main__":
    main()
