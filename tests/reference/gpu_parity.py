#!/usr/bin/env python3
"""Logit parity and forward throughput of matquant against transformers at real model shapes.

Random bf16 weights with the Gemma-2 2B, Gemma-2 9B or Mistral 7B architecture are saved as a
Hugging Face directory; transformers and `matquant forward` then score the same token ids on the
GPU. Printed: our logits against transformers' (max and mean absolute difference, relative L2
error, top-1 agreement), the same figures for transformers bf16 against transformers fp32 (the
noise floor of bf16 itself), and both forwards' tokens/s measured in this one run.

usage: gpu_parity.py --shape gemma2-2b --matquant build-device/apps/matquant [--batch 4 --seq 1024]
"""
import argparse
import json
import os
import shutil
import subprocess
import time

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, Gemma2Config, MistralConfig

SHAPES = {
    # Published configurations (config.json of google/gemma-2-2b, google/gemma-2-9b,
    # mistralai/Mistral-7B-v0.1), weights random.
    "gemma2-2b": lambda: Gemma2Config(vocab_size=256000, hidden_size=2304, intermediate_size=9216,
                                      num_hidden_layers=26, num_attention_heads=8, num_key_value_heads=4,
                                      head_dim=256, query_pre_attn_scalar=256, sliding_window=4096,
                                      attn_logit_softcapping=50.0, final_logit_softcapping=30.0,
                                      hidden_activation="gelu_pytorch_tanh", max_position_embeddings=8192),
    "gemma2-9b": lambda: Gemma2Config(vocab_size=256000, hidden_size=3584, intermediate_size=14336,
                                      num_hidden_layers=42, num_attention_heads=16, num_key_value_heads=8,
                                      head_dim=256, query_pre_attn_scalar=256, sliding_window=4096,
                                      attn_logit_softcapping=50.0, final_logit_softcapping=30.0,
                                      hidden_activation="gelu_pytorch_tanh", max_position_embeddings=8192),
    "mistral-7b": lambda: MistralConfig(vocab_size=32000, hidden_size=4096, intermediate_size=14336,
                                        num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                                        rope_theta=10000.0, sliding_window=4096, max_position_embeddings=32768),
}


def compare(ours, ref):
    ours, ref = ours.float(), ref.float()
    diff = (ours - ref).abs()
    return {
        "max_abs_diff": diff.max().item(),
        "mean_abs_diff": diff.mean().item(),
        "relative_l2": ((ours - ref).norm() / ref.norm()).item(),
        "top1_agreement": (ours.argmax(-1) == ref.argmax(-1)).float().mean().item(),
    }


def timed_forward(model, ids, mask, repeat):
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask).logits
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeat):
            out = model(input_ids=ids, attention_mask=mask).logits
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / repeat
    return out, ids.numel() / seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", choices=sorted(SHAPES), required=True)
    parser.add_argument("--matquant", required=True)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", default="/tmp/matquant_gpu_parity")
    parser.add_argument("--no-fp32-floor", action="store_true", help="skip the fp32 noise-floor pass")
    args = parser.parse_args()

    torch.manual_seed(0)
    config = SHAPES[args.shape]()
    model_dir = os.path.join(args.workdir, args.shape)
    shutil.rmtree(model_dir, ignore_errors=True)
    started = time.perf_counter()

    def progress(what):
        print(f"[gpu_parity] {what} ({time.perf_counter() - started:.0f} s)", flush=True)

    with torch.device("cuda"):  # initialise on the GPU: CPU init of 9B parameters takes minutes
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.normal_(0.0 if args.shape.startswith("gemma") else 1.0, 0.05)
            else:
                p.normal_(0.0, 0.02)
    progress("initialised")
    model.save_pretrained(model_dir)
    progress("saved")

    ids = torch.randint(3, config.vocab_size, (args.batch, args.seq), device="cuda")
    mask = torch.ones_like(ids)
    inputs = os.path.join(args.workdir, "inputs.safetensors")
    save_file({"input_ids": ids.cpu(), "attention_mask": mask.cpu()}, inputs)

    ref_bf16, hf_tokens_per_s = timed_forward(model, ids, mask, args.repeat)
    ref_bf16 = ref_bf16.float().cpu()
    progress("transformers forward")
    attn = getattr(model.config, "_attn_implementation", "?")
    floor = None
    if not args.no_fp32_floor:
        model = model.float()
        with torch.no_grad():
            ref_fp32 = model(input_ids=ids, attention_mask=mask).logits.float().cpu()
        floor = compare(ref_bf16, ref_fp32)
    del model
    torch.cuda.empty_cache()

    progress("noise floor")
    out = os.path.join(args.workdir, "ours.safetensors")
    run = subprocess.run([args.matquant, "forward", "--model", model_dir, "--input", inputs, "--output", out,
                          "--dtype", "bf16", "--device", "cuda", "--repeat", str(args.repeat)],
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"matquant forward failed ({run.returncode}): {run.stderr}")
    ours_tokens_per_s = float(run.stdout.split(" tokens/s")[0].split()[-1])
    ours = load_file(out)["logits"]
    result = {
        "shape": args.shape, "batch": args.batch, "seq": args.seq, "transformers_attention": attn,
        "ours_vs_transformers_bf16": compare(ours, ref_bf16),
        "transformers_bf16_vs_fp32": floor,
        "tokens_per_s": {"matquant": ours_tokens_per_s, "transformers": hf_tokens_per_s,
                         "ratio": ours_tokens_per_s / hf_tokens_per_s},
        "matquant_stdout": run.stdout.strip(),
    }
    print(json.dumps(result, indent=1))
    shutil.rmtree(model_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
