#!/usr/bin/env python3
"""AWQ reference fixture from llm-compressor (scripts/install-reference-tools.sh).

Runs llm-compressor's AWQModifier (llmcompressor/modifiers/transform/awq/base.py) followed by a
QuantizationModifier (int4, asymmetric, per output channel, MinMax: the grid matquant's MinMax
quantizer uses) on the committed tiny Llama (tests/fixtures/models/llama), restricted to the two FFN
mappings: post_attention_layernorm -> gate_proj, up_proj and up_proj -> down_proj. Those are
the pairs matquant smooths at scope ffn.

Settings chosen so both sides search the same thing:
- duo_scaling=False gives s = mean|X|^ratio, normalised by sqrt(max(s) min(s)), as llm-awq's
  auto_scale and matquant do.
- n_grid=21 gives llm-compressor's ratios k/20 for k = 0..20. matquant's grid 20 is k/20 for
  k = 0..19, so the fixture asserts the chosen ratio is below 1.
- llm-compressor scores a mapping on its parent's output (the MLP for gate/up, down_proj for down).
  For a Llama block, that error equals matquant's block-output error element for element: only the
  FFN output changes.

Records, for layer 0 (whose input is the embedding on both sides), each mapping's chosen ratio and
scales and the smoothed post-attention norm. Writes tests/fixtures/awq/reference.json, which
tests/unit/train/test_awq_reference.cpp compares with train::smooth_block.
"""
import os

import torch
from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme
from transformers import AutoModelForCausalLM

import llmcompressor
from llmcompressor.modifiers.quantization import QuantizationModifier
from llmcompressor.modifiers.transform.awq import AWQMapping, AWQModifier
from llmcompressor.modifiers.transform.awq import base as awq_base

from llmcompressor_oneshot import HERE, LLAMA, run_oneshot, write_fixture

OUT = os.path.join(HERE, "..", "fixtures", "awq", "reference.json")
SAMPLES, LENGTH, GRID = 8, 32, 20


def main():
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(LLAMA, dtype=torch.float32)
    ids = torch.randint(3, model.config.vocab_size, (SAMPLES, LENGTH))
    norm_before = model.model.layers[0].post_attention_layernorm.weight.detach().clone()

    chosen = {}
    original = awq_base.AWQModifier._compute_best_scale

    def recording(self, mapping, fp16_outputs, orig_layer_weights):
        x_sum, count = self._smooth_activation_stats[mapping.smooth_name]
        x_mean = (x_sum / count).float()
        best = original(self, mapping, fp16_outputs, orig_layer_weights)
        for k in range(GRID + 1):
            s = x_mean.pow(k / GRID).clamp(min=1e-4).view(-1)
            s = s / (s.max() * s.min()).sqrt()
            if torch.allclose(s.cpu(), best.float(), rtol=1e-6, atol=0):
                chosen[mapping.smooth_name] = {"ratio": k / GRID, "scales": best.tolist()}
                break
        return best

    awq_base.AWQModifier._compute_best_scale = recording
    ffn = ["re:.*gate_proj$", "re:.*up_proj$", "re:.*down_proj$"]
    recipe = [
        AWQModifier(duo_scaling=False, n_grid=GRID + 1,
                    mappings=[AWQMapping("re:.*post_attention_layernorm$", ["re:.*gate_proj$", "re:.*up_proj$"]),
                              AWQMapping("re:.*up_proj$", ["re:.*down_proj$"])]),
        QuantizationModifier(config_groups={"ffn": QuantizationScheme(
            targets=ffn, weights=QuantizationArgs(num_bits=4, type="int", symmetric=False, strategy="channel"))}),
    ]
    run_oneshot(model, ids, recipe)

    layer0 = {name: value for name, value in chosen.items() if ".layers.0." in name}
    if len(layer0) != 2:
        raise SystemExit(f"expected layer 0's two FFN mappings, recorded {sorted(chosen)}")
    for name, value in layer0.items():
        if value["ratio"] >= 1.0:
            raise SystemExit(f"{name}: llm-compressor chose ratio 1, outside matquant's grid; change the seed")
    norm_after = model.model.layers[0].post_attention_layernorm.weight.detach()
    fixture = {
        "source": f"llmcompressor {llmcompressor.__version__} AWQModifier(duo_scaling=False, n_grid={GRID + 1}) + "
                  f"QuantizationModifier(int4 asymmetric per channel), torch {torch.__version__}",
        "model": "tests/fixtures/models/llama", "grid": GRID, "bits": 4,
        "input_ids": ids.tolist(),
        "ffn_input": next(v for k, v in layer0.items() if k.endswith("post_attention_layernorm")),
        "up_down": next(v for k, v in layer0.items() if k.endswith("up_proj")),
        "post_attention_layernorm_before": norm_before.tolist(),
        "post_attention_layernorm_after": norm_after.tolist(),
    }
    write_fixture(OUT, fixture)
    print(f"wrote {OUT}: ffn_input ratio {fixture['ffn_input']['ratio']}, up_down ratio {fixture['up_down']['ratio']}")


if __name__ == "__main__":
    main()
