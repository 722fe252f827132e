#!/usr/bin/env python3
"""Tokenizer parity fixtures: a small SentencePiece model in the Llama-2 / Mistral / Gemma style
(BPE, byte fallback, split digits, identity normalisation, dummy prefix, no whitespace folding),
and the token ids transformers' LlamaTokenizer and GemmaTokenizer give for a set of strings, with
and without special tokens.

Writes tests/fixtures/tokenizer/{tokenizer.model, expected_ids.json}. Regenerate:
scripts/install-reference-tools.sh && python3 tests/reference/make_tokenizer_fixtures.py
"""
import io
import json
import os
import random

import sentencepiece as spm
import transformers
from transformers import GemmaTokenizer, LlamaTokenizer

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "tokenizer")
STRINGS = ["", " ", "Hello world", " Hello world", "  two leading spaces", "123456 and 3.14",
           "café naïve 東京 🙂", "line\nbreak", "trailing space ", "a", "The sailor finds the bridge.",
           "tab\tseparated", "x" * 40, "ünïcödé ÀÉÎ", "<s> is not special inside text"]


def corpus():
    rng = random.Random(0)
    words = ["the", "sailor", "finds", "bridge", "hello", "world", "river", "castle", "number", "seven",
             "café", "naïve", "東京", "quiet", "market", "and", "is", "a", "of", "line", "break", "space"]
    lines = []
    for _ in range(3000):
        n = rng.randint(3, 12)
        line = " ".join(rng.choice(words) for _ in range(n))
        if rng.random() < 0.3:
            line += f" {rng.randint(0, 99999)}"
        lines.append(line.capitalize() + ".")
    return "\n".join(lines)


def main():
    os.makedirs(ROOT, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus().split("\n")), model_writer=model,
                                   vocab_size=400, model_type="bpe", byte_fallback=True, split_digits=True,
                                   normalization_rule_name="identity", remove_extra_whitespaces=False,
                                   add_dummy_prefix=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
                                   character_coverage=1.0, minloglevel=2)
    path = os.path.join(ROOT, "tokenizer.model")
    with open(path, "wb") as f:
        f.write(model.getvalue())
    # transformers 5 builds its tokenizer from a directory holding tokenizer.model (constructing it
    # from vocab_file alone yields an empty vocabulary). No tokenizer_config.json is written, so these
    # are the classes' defaults, not a particular checkpoint's settings.
    styles = {"llama": LlamaTokenizer.from_pretrained(ROOT), "gemma": GemmaTokenizer.from_pretrained(ROOT)}
    entries = []
    for style, tokenizer in styles.items():
        for text in STRINGS:
            for special in (True, False):
                ids = tokenizer(text, add_special_tokens=special)["input_ids"]
                entries.append({"style": style, "text": text, "add_special_tokens": special, "ids": ids})
    with open(os.path.join(ROOT, "expected_ids.json"), "w") as f:
        json.dump({"format_version": 1, "transformers_version": transformers.__version__,
                   "classes": {k: type(v).__name__ for k, v in styles.items()}, "entries": entries},
                  f, ensure_ascii=False, indent=1)
    sp = spm.SentencePieceProcessor(model_file=path)
    for e in entries:
        raw = sp.encode(e["text"])
        if e["ids"][1 if e["add_special_tokens"] and e["ids"][:1] == [1] else 0:] != raw:
            print("differs from plain SentencePiece:", e["style"], repr(e["text"]), e["ids"], raw)


if __name__ == "__main__":
    main()
