#!/usr/bin/env python3
"""GPTQ's WikiText-2 perplexity windows (IST-DASLab/gptq datautils.py get_wikitext2) through transformers.

Rows: the first 80 lines of tests/fixtures/tasks/release/wikitext/wiki.test.raw, each keeping its
newline, written as JSONL (tests/fixtures/text/wikitext2_rows.jsonl, empty rows kept). For the tiny
Llama and Gemma-2 tokenizers of tests/fixtures/lm_eval/models/, as GPTQ does:
tokenizer("\\n\\n".join(rows)).input_ids, cut into consecutive 32-token windows (the remainder
dropped). Writes tests/fixtures/text/concatenated_windows.json; checked by
PerplexityWindows.ConcatenatedWindowsMatchGptqThroughTransformers.
"""
import json
import os

from transformers import AutoTokenizer

HERE = os.path.dirname(__file__)
FIXTURES = os.path.join(HERE, "..", "fixtures")
SEQ_LEN = 32


def main():
    with open(os.path.join(FIXTURES, "tasks", "release", "wikitext", "wiki.test.raw"), encoding="utf-8") as f:
        rows = f.readlines()[:80]
    with open(os.path.join(FIXTURES, "text", "wikitext2_rows.jsonl"), "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({"text": row}) + "\n")
    out = {"seq_len": SEQ_LEN, "rows": len(rows), "models": {}}
    for family in ("llama", "gemma2"):
        tokenizer = AutoTokenizer.from_pretrained(os.path.join(FIXTURES, "lm_eval", "models", family))
        ids = tokenizer("\n\n".join(rows)).input_ids
        n = len(ids) // SEQ_LEN
        out["models"][family] = {"tokens": len(ids), "windows": [ids[i * SEQ_LEN:(i + 1) * SEQ_LEN] for i in range(n)]}
    with open(os.path.join(FIXTURES, "text", "concatenated_windows.json"), "w") as f:
        json.dump(out, f)
        f.write("\n")


if __name__ == "__main__":
    main()
