#!/usr/bin/env python3
"""MXINT reference fixture from Microsoft's MX library (github.com/microsoft/microxcaling).

That library is the reference implementation the OCP Microscaling spec points to. It is not on
PyPI, so this script takes a checkout: MICROXCALING=/path/to/microxcaling
python3 tests/reference/make_mx_fixtures.py (made with commit 7bc4195).

It runs the library's pure-torch quantizer (mx/mx_ops.py `_quantize_mx`, CPU, shared exponent from
the block maximum, 8-bit scale, round half away from zero) for the integer elements it defines
(int8, int4, int2). The inputs are 16- and 32-value blocks along the last axis, including a
shorter last block. They hold:
- normal values with outliers;
- exact powers of two;
- element-grid ties (+-0.5 in element units);
- all-zero blocks;
- values down to 2^-30.

Writes tests/fixtures/mx/reference.json (inputs and the library's dequantized outputs), which
`MxFormat.MatchesMicrosoftsReferenceLibrary` compares value for value with quant::mx_fake_quantize.
The exponent of an all-zero block differs (the library takes -126, we -127), which changes no value.
"""
import json
import os
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "mx", "reference.json")


def inputs():
    torch.manual_seed(0)
    rows = []
    x = torch.randn(6, 100)
    x[0, 7] = 40.0  # an outlier owning its block
    x[1] *= 1e-3
    x[2] = torch.pow(2.0, torch.randint(-8, 8, (100,)).float()) * torch.sign(torch.randn(100))
    x[3, :32] = 0.0  # all-zero blocks
    x[4] *= 2.0 ** -30
    # Ties: in a block whose maximum is 1 (exponent 0), int4 elements step by 2^-2, so k + 0.5 steps
    # are exact ties; int8 steps by 2^-6.
    ties = torch.tensor([1.0, 0.125, -0.125, 0.375, -0.375, 0.625, 1.0 / 128, -3.0 / 128] * 12 + [1.0] * 4)
    x[5] = ties
    rows.append(x)
    return torch.cat(rows)


def main():
    root = os.environ.get("MICROXCALING")
    if not root or not os.path.isdir(os.path.join(root, "mx")):
        raise SystemExit("set MICROXCALING to a checkout of github.com/microsoft/microxcaling")
    sys.path.insert(0, root)
    from mx.mx_ops import _quantize_mx  # noqa: E402

    try:
        commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        commit = "7bc4195 (an archive of it)"
    x = inputs()
    cases = []
    for bits in (8, 4, 2):
        for block in (16, 32):
            y = _quantize_mx(x.clone(), 8, f"int{bits}", shared_exp_method="max", axes=[-1], block_size=block,
                             round="nearest", flush_fp32_subnorms=False, custom_cuda=False)
            cases.append({"element_bits": bits, "block_size": block, "values": y.tolist()})
    fixture = {"source": f"microsoft/microxcaling {commit} mx.mx_ops._quantize_mx (scale_bits 8, shared exponent "
                         f"'max', round 'nearest'), torch {torch.__version__}",
               "inputs": x.tolist(), "cases": cases}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(fixture, f)
    print(f"wrote {OUT}: {len(cases)} cases of {tuple(x.shape)}")


if __name__ == "__main__":
    main()
