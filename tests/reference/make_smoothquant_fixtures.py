#!/usr/bin/env python3
"""SmoothQuant reference fixture from llm-compressor (scripts/install-reference-tools.sh).

llm-compressor 0.14's SmoothQuantModifier (llmcompressor/modifiers/transform/smoothquant/base.py)
scales by the activation range and twice the weights' maximum:

    s_j = (max X_j - min X_j)^alpha / (2 max|W_j|)^(1 - alpha)

Seed 004 and SmoothQuant, and matquant with them, use s_j = max|X_j|^alpha / max|W_j|^(1 - alpha).
The two agree at alpha = 0.5 when every channel's range is symmetric about zero. This fixture makes
it so and then compares.

How the ranges are made symmetric:
- The fixture Llama's embedding gets negated twins: row 128 + t = -row t.
- The calibration set holds every sequence and its twin.
- Layer 0 is odd in its input up to the MLP: RMSNorm, the projections, RoPE and the attention
  output all flip sign with x, and the scores do not change. So the inputs of q/k/v
  (input_layernorm's output) and of gate/up (post_attention_layernorm's output) are symmetric,
  bit for bit.

Records the calibration ids and layer 0's two norms before and after smoothing (llm-compressor's
default Llama mappings), alpha 0.5. Writes tests/fixtures/smoothquant/reference.json, which
Smoothing.SmoothQuantMatchesLlmCompressorOnSymmetricRanges compares with train::smooth_block.
"""
import os

import torch
from transformers import AutoModelForCausalLM

import llmcompressor
from llmcompressor.modifiers.transform.smoothquant import SmoothQuantModifier

from llmcompressor_oneshot import HERE, LLAMA, run_oneshot, write_fixture

OUT = os.path.join(HERE, "..", "fixtures", "smoothquant", "reference.json")
PAIRS, LENGTH, TWIN = 4, 32, 128


def main():
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(LLAMA, dtype=torch.float32)
    with torch.no_grad():
        table = model.model.embed_tokens.weight
        table[TWIN:2 * TWIN] = -table[:TWIN]
    first = torch.randint(3, TWIN, (PAIRS, LENGTH))
    ids = torch.cat([first, first + TWIN])
    layer = model.model.layers[0]
    before = {n: getattr(layer, n).weight.detach().clone() for n in ("input_layernorm", "post_attention_layernorm")}
    run_oneshot(model, ids, [SmoothQuantModifier(smoothing_strength=0.5)])
    after = {n: getattr(layer, n).weight.detach() for n in before}
    fixture = {
        "source": f"llmcompressor {llmcompressor.__version__} SmoothQuantModifier(smoothing_strength=0.5), default "
                  f"Llama mappings, torch {torch.__version__}",
        "model": "tests/fixtures/models/llama", "twin_offset": TWIN, "alpha": 0.5,
        "input_ids": ids.tolist(),
        "before": {n: t.tolist() for n, t in before.items()},
        "after": {n: t.tolist() for n, t in after.items()},
    }
    write_fixture(OUT, fixture)
    for n in before:
        print(f"{n}: scales {(before[n] / after[n]).min().item():.4g} .. {(before[n] / after[n]).max().item():.4g}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
