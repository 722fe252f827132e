#!/usr/bin/env python3
"""Checks a model directory written by `matquant pretrain` with Hugging Face transformers.

Loads MODEL_DIR with AutoModelForCausalLM and its tokenizer.model with LlamaTokenizer (Llama) or
GemmaTokenizer (Gemma-2), prints the log-perplexity (mean next-token NLL, natural log) of a few
validation documents of the corpus the model was trained on (each scored on its own: BOS + text,
truncated to --seq tokens), and the max |logit difference| between transformers and
`matquant forward` on the same token ids. Exits 1 when the logits differ by more than --tolerance.

usage: check_pretrained.py MODEL_DIR [--matquant build/apps/matquant] [--corpus DIR] [--docs 8] [--seq 128]
(scripts/install-reference-tools.sh installs transformers 5.17.)
"""
import argparse
import gzip
import json
import math
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, GemmaTokenizer, LlamaTokenizer


def validation_documents(corpus_dir, count):
    docs = []
    with gzip.open(os.path.join(corpus_dir, "validation.json.gz"), "rt", encoding="utf-8") as f:
        for line in f:
            docs.append(json.loads(line)["text"])
            if len(docs) == count:
                break
    return docs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("--matquant", default=os.path.join(os.path.dirname(__file__), "..", "..", "build", "apps", "matquant"))
    parser.add_argument("--corpus", help="corpus directory (default: the one in MODEL_DIR/pretrain.json)")
    parser.add_argument("--docs", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--tolerance", type=float, default=1e-3)
    args = parser.parse_args()

    with open(os.path.join(args.model_dir, "config.json")) as f:
        config = json.load(f)
    corpus = args.corpus
    if corpus is None:
        with open(os.path.join(args.model_dir, "pretrain.json")) as f:
            corpus = json.load(f)["corpus"]
    gemma = config["model_type"].startswith("gemma")
    tokenizer = (GemmaTokenizer if gemma else LlamaTokenizer).from_pretrained(args.model_dir)
    # Eager attention: Gemma-2's attention soft-capping is only exact there.
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    print(f"{args.model_dir}: {type(model).__name__}, {sum(p.numel() for p in model.parameters())} parameters, "
          f"tokenizer {type(tokenizer).__name__} ({len(tokenizer)} pieces)")

    docs = validation_documents(corpus, args.docs)
    rows = []
    nll, tokens = 0.0, 0
    with torch.no_grad():
        for text in docs:
            ids = tokenizer(text, add_special_tokens=True)["input_ids"][: args.seq]
            if ids[0] != tokenizer.bos_token_id:
                ids = [tokenizer.bos_token_id] + ids[: args.seq - 1]
            rows.append(ids)
            x = torch.tensor([ids])
            logits = model(input_ids=x).logits[0, :-1].float()
            nll += torch.nn.functional.cross_entropy(logits, x[0, 1:], reduction="sum").item()
            tokens += len(ids) - 1
    log_pplx = nll / tokens
    print(f"transformers: validation log-perplexity {log_pplx:.4f} (perplexity {math.exp(log_pplx):.2f}) "
          f"over {tokens} tokens of {len(docs)} documents (each BOS + text, at most {args.seq} tokens)")

    # The same ids through `matquant forward` (equal-length rows: cut to the shortest).
    length = min(len(r) for r in rows)
    ids = torch.tensor([r[:length] for r in rows], dtype=torch.int64)
    with tempfile.TemporaryDirectory() as tmp:
        save_file({"input_ids": ids}, os.path.join(tmp, "input.safetensors"))
        subprocess.run([args.matquant, "forward", "--model", args.model_dir, "--input",
                        os.path.join(tmp, "input.safetensors"), "--output", os.path.join(tmp, "logits.safetensors")],
                       check=True)
        ours = load_file(os.path.join(tmp, "logits.safetensors"))["logits"]
    with torch.no_grad():
        ref = model(input_ids=ids).logits.float()
    diff = (ours - ref).abs().max().item()
    top1 = (ours.argmax(-1) == ref.argmax(-1)).float().mean().item()
    print(f"matquant forward vs transformers on [{ids.shape[0]} x {ids.shape[1]}] ids: max |logit diff| {diff:.3e}, "
          f"top-1 agreement {top1:.4f}")
    if diff > args.tolerance:
        print(f"FAIL: logits differ by more than {args.tolerance}")
        sys.exit(1)


if __name__ == "__main__":
    main()
