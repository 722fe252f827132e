#!/usr/bin/env python3
"""Tokenizer parity fixtures: a small SentencePiece model in the Llama-2 / Mistral / Gemma style
(BPE, byte fallback, split digits, identity normalisation, dummy prefix, no whitespace folding),
and the token ids transformers' LlamaTokenizer and GemmaTokenizer give for a set of strings, with
and without special tokens.

Also trains a second model with SentencePiece's default normalization (nmt_nfkc: NFKC through a
precompiled charsmap, remove_extra_whitespaces) and records transformers' ids for strings that NFKC
or whitespace folding would change: for LlamaTokenizer and GemmaTokenizer, and for AutoTokenizer on
directories holding config.json (model_type llama / gemma) with no tokenizer_config.json and with one
lacking add_bos_token (what BOS transformers adds there).

Writes tests/fixtures/tokenizer/{tokenizer.model, expected_ids.json} (format_version 1, unchanged
bytes for the same sentencepiece/transformers versions) and
tests/fixtures/tokenizer/nfkc/{tokenizer.model, expected_ids.json} (format_version 2: version 1's
entry fields plus loader, directory, bos_id, eos_id). Regenerate:
scripts/install-reference-tools.sh && python3 tests/reference/make_tokenizer_fixtures.py
Only the nfkc model, without transformers (placeholder ids; the C++ test skips):
python3 tests/reference/make_tokenizer_fixtures.py --nfkc-model-only
"""
import io
import json
import os
import random
import shutil
import sys
import tempfile

import sentencepiece as spm

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "tokenizer")
NFKC_ROOT = os.path.join(ROOT, "nfkc")
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


# Texts NFKC or whitespace folding change: ligature and full width, doubled / leading / trailing
# spaces, circled digits, Å composed (U+00C5) and decomposed (A + U+030A), half-width katakana.
NFKC_STRINGS = ["\ufb01ne \uff46\uff55\uff4c\uff4c width", "two  spaces", " lead", "trail ", "\u2460\u2461",
                "\u00c5", "A\u030a", "\uff76\uff80\uff76\uff85", "Hello world"]
# AutoTokenizer directories: config.json's model_type, and tokenizer_config.json (None: no file).
AUTO_DIRECTORIES = [
    {"model_type": "llama", "tokenizer_config": None},
    {"model_type": "gemma", "tokenizer_config": None},
    {"model_type": "llama", "tokenizer_config": {"tokenizer_class": "LlamaTokenizer"}},
    {"model_type": "gemma", "tokenizer_config": {"tokenizer_class": "GemmaTokenizer"}},
]


def train(path, **normalization):
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus().split("\n")), model_writer=model,
                                   vocab_size=400, model_type="bpe", byte_fallback=True, split_digits=True,
                                   add_dummy_prefix=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
                                   character_coverage=1.0, minloglevel=2, **normalization)
    with open(path, "wb") as f:
        f.write(model.getvalue())


def train_nfkc_model():
    """SentencePiece's default normalization, as matquant's built-in models are trained."""
    os.makedirs(NFKC_ROOT, exist_ok=True)
    path = os.path.join(NFKC_ROOT, "tokenizer.model")
    train(path, normalization_rule_name="nmt_nfkc", remove_extra_whitespaces=True)
    return path


def nfkc_entry(loader, directory, tokenizer, text, special):
    return {"loader": loader, "directory": directory,
            "style": "gemma" if "Gemma" in type(tokenizer).__name__ else "llama", "text": text,
            "add_special_tokens": special, "ids": tokenizer(text, add_special_tokens=special)["input_ids"],
            "bos_id": tokenizer.bos_token_id, "eos_id": tokenizer.eos_token_id}


def make_nfkc_fixture(transformers, model_path):
    entries = []
    for cls in (transformers.LlamaTokenizer, transformers.GemmaTokenizer):
        tokenizer = cls.from_pretrained(NFKC_ROOT)
        for text in NFKC_STRINGS:
            entries.append(nfkc_entry(cls.__name__, None, tokenizer, text, False))
    for directory in AUTO_DIRECTORIES:
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(model_path, os.path.join(tmp, "tokenizer.model"))
            with open(os.path.join(tmp, "config.json"), "w") as f:
                json.dump({"model_type": directory["model_type"]}, f)
            if directory["tokenizer_config"] is not None:
                with open(os.path.join(tmp, "tokenizer_config.json"), "w") as f:
                    json.dump(directory["tokenizer_config"], f)
            tokenizer = transformers.AutoTokenizer.from_pretrained(tmp)
            for text in NFKC_STRINGS:
                for special in (True, False):
                    entries.append(nfkc_entry("AutoTokenizer", directory, tokenizer, text, special))
    sp = spm.SentencePieceProcessor(model_file=model_path)
    fixture = {"format_version": 2, "transformers_version": transformers.__version__,
               "sentencepiece_version": spm.__version__, "normalizer": "nmt_nfkc, remove_extra_whitespaces",
               # What plain SentencePiece (its own normalizer and dummy prefix) gives, for comparison.
               "plain_sentencepiece_ids": {t: sp.encode(t) for t in NFKC_STRINGS},
               "entries": entries}
    write_json(os.path.join(NFKC_ROOT, "expected_ids.json"), fixture)


def write_nfkc_placeholder():
    """Until transformers runs this script: no ids at all, so Tokenizer.NfkcModelIdsMatchTransformers skips."""
    write_json(os.path.join(NFKC_ROOT, "expected_ids.json"),
               {"format_version": 2, "placeholder": "no transformers ids yet: run "
                "scripts/install-reference-tools.sh && python3 tests/reference/make_tokenizer_fixtures.py",
                "sentencepiece_version": spm.__version__, "entries": []})


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, ensure_ascii=False, indent=1)


def main():
    if "--nfkc-model-only" in sys.argv[1:]:
        train_nfkc_model()
        write_nfkc_placeholder()
        return
    import transformers
    from transformers import GemmaTokenizer, LlamaTokenizer

    os.makedirs(ROOT, exist_ok=True)
    path = os.path.join(ROOT, "tokenizer.model")
    train(path, normalization_rule_name="identity", remove_extra_whitespaces=False)
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
    make_nfkc_fixture(transformers, train_nfkc_model())


if __name__ == "__main__":
    main()
