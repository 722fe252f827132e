#!/usr/bin/env python3
"""Parity fixtures for lib/model: tiny random-weight models of each family, saved by transformers,
with the logits transformers computes for fixed token ids.

Writes tests/fixtures/models/<family>/{config.json, model.safetensors, reference.safetensors}.
reference.safetensors (format_version 1 in its metadata):
  input_ids       int64 [2, 11]  two sequences (11 and 7 tokens), right-padded with 0
  attention_mask  int64 [2, 11]
  logits          float32 [2, 11, V]  each sequence run alone, unpadded (zeros at padding)
  batched_logits  float32 [2, 11, V]  the padded batch run with its attention mask

Each config exercises what the family needs: a sliding window (4) shorter than the sequences,
GQA, Gemma-2's softcapping, query_pre_attn_scalar != head_dim, head_dim != hidden / heads, llama3
RoPE scaling, Qwen2's q/k/v biases. Regenerate: scripts/install-reference-tools.sh, then
python3 tests/reference/make_model_fixtures.py
"""
import os

import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, Gemma2Config, LlamaConfig, MistralConfig, Qwen2Config

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "models")
COMMON = dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
              bos_token_id=1, eos_token_id=2, pad_token_id=0)

CONFIGS = {
    "llama": lambda: LlamaConfig(**COMMON, rope_theta=50000.0, tie_word_embeddings=False,
                                 rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                               "high_freq_factor": 4.0, "original_max_position_embeddings": 16}),
    "mistral": lambda: MistralConfig(**COMMON, rope_theta=50000.0, sliding_window=4),
    "qwen2": lambda: Qwen2Config(**COMMON, rope_theta=20000.0, tie_word_embeddings=False),
    "gemma2": lambda: Gemma2Config(**COMMON, head_dim=32, query_pre_attn_scalar=24, sliding_window=4,
                                   attn_logit_softcapping=2.0, final_logit_softcapping=3.0,
                                   hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True),
}
LENGTHS = (11, 7)


def randomize(model, family):
    """Every tensor random and non-trivial, so parity at 1e-4 means something."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(torch.randn_like(p) * 0.2 + (0.0 if family == "gemma2" else 1.0))
            elif name.endswith("bias"):
                p.copy_(torch.randn_like(p) * 0.1)
            else:
                p.copy_(torch.randn_like(p) * 0.08)


def main():
    torch.manual_seed(0)
    for family, make_config in CONFIGS.items():
        config = make_config()
        kwargs = {"attn_implementation": "eager"}
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, **kwargs).eval()
        randomize(model, family)
        directory = os.path.join(ROOT, family)
        os.makedirs(directory, exist_ok=True)
        model.save_pretrained(directory, safe_serialization=True)

        generator = torch.Generator().manual_seed(1)
        length = max(LENGTHS)
        ids = torch.zeros(len(LENGTHS), length, dtype=torch.long)
        mask = torch.zeros_like(ids)
        logits = torch.zeros(len(LENGTHS), length, config.vocab_size)
        with torch.no_grad():
            for i, n in enumerate(LENGTHS):
                ids[i, :n] = torch.randint(3, config.vocab_size, (n,), generator=generator)
                mask[i, :n] = 1
                logits[i, :n] = model(input_ids=ids[i:i + 1, :n]).logits[0]
            batched = model(input_ids=ids, attention_mask=mask).logits * mask.unsqueeze(-1)
            reloaded = AutoModelForCausalLM.from_pretrained(directory, **kwargs).eval()
            again = reloaded(input_ids=ids[:1, :LENGTHS[0]]).logits[0]
            assert torch.allclose(again, logits[0, :LENGTHS[0]], atol=1e-6), family
        for i, n in enumerate(LENGTHS):
            assert torch.allclose(batched[i, :n], logits[i, :n], atol=1e-4), f"{family}: padded batch differs"
        save_file({"input_ids": ids, "attention_mask": mask, "logits": logits.contiguous(),
                   "batched_logits": batched.contiguous()},
                  os.path.join(directory, "reference.safetensors"),
                  metadata={"format_version": "1", "transformers_version": transformers.__version__,
                            "torch_version": torch.__version__})
        print(f"{family}: logits std {logits[0, :LENGTHS[0]].std():.3f}, written to {directory}")


if __name__ == "__main__":
    main()
