"""Shared by the llm-compressor fixture scripts: runs oneshot on the CPU over given token ids."""
import json
import os

import torch
from datasets import Dataset
from transformers import LlamaTokenizer

from llmcompressor import oneshot
from llmcompressor.pipelines import cache as pipeline_cache

HERE = os.path.dirname(os.path.abspath(__file__))
LLAMA = os.path.join(HERE, "..", "fixtures", "models", "llama")
# oneshot wants a processor for its data collation even for tokenized data; ids come from the dataset.
TOKENIZER = os.path.join(HERE, "..", "fixtures", "tokenizer", "tokenizer.model")


def run_oneshot(model, ids, recipe):
    """Calibrates `model` in place with `recipe` on `ids` [samples, length], one sequence per batch."""
    dataset = Dataset.from_dict({"input_ids": ids.tolist(), "attention_mask": torch.ones_like(ids).tolist()})
    # Pinning host memory needs a CUDA driver, even with a CPU-only run on a CUDA build of torch.
    pipeline_cache.IntermediatesCache.pin_memory = lambda self, *args, **kwargs: None
    oneshot(model=model, processor=LlamaTokenizer(vocab_file=TOKENIZER), dataset=dataset, recipe=recipe,
            num_calibration_samples=ids.size(0), max_seq_length=ids.size(1))


def write_fixture(path, fixture):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(fixture, f)
