#!/usr/bin/env python3
"""WikiText perplexity parity fixtures: lm-evaluation-harness' stock `wikitext` task
(lm_eval/tasks/wikitext/wikitext.yaml: loglikelihood_rolling over wikitext_detokenizer(page),
word_perplexity / byte_perplexity / bits_per_byte) run on CPU with the tiny Llama and Gemma-2 models
of make_lm_eval_fixtures.py, over a made-up `wiki.test.raw` in WikiText's raw markup.

Reads
  tests/fixtures/tasks/release/wikitext/wiki.test.raw   3 short made-up articles (@-@, @,@, = = x = =, ...)
  tests/fixtures/lm_eval/models/{llama,gemma2}/         the models make_lm_eval_fixtures.py wrote
Writes
  tests/fixtures/tasks/hf/wikitext/test.jsonl           the pages as EleutherAI/wikitext_document_level
                                                        exports them (field `page`)
  tests/fixtures/lm_eval/wikitext.json                  pages; the detokenizer on hand-written strings;
                                                        per family: every document's target text, token
                                                        ids, rolling windows (ids, log-likelihood), the
                                                        harness' document log-likelihood, words, bytes,
                                                        and the aggregated metrics

max_length = 32 (model_args), so every document is several rolling windows; Gemma-2's sliding window
(8) is shorter than a window.
Regenerate: scripts/install-reference-tools.sh && python3 tests/reference/make_lm_eval_wikitext_fixtures.py
"""
import json
import os
import re
import tempfile

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import lm_eval  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from lm_eval import utils  # noqa: E402
from lm_eval.models.huggingface import HFLM  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402
from lm_eval.tasks.wikitext.preprocess_wikitext import wikitext_detokenizer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.normpath(os.path.join(HERE, "..", "fixtures"))
RAW = os.path.join(FIXTURES, "tasks", "release", "wikitext", "wiki.test.raw")
HF_EXPORT = os.path.join(FIXTURES, "tasks", "hf", "wikitext", "test.jsonl")
OUT = os.path.join(FIXTURES, "lm_eval")
STOCK = os.path.join(os.path.dirname(lm_eval.__file__), "tasks", "wikitext", "wikitext.yaml")
MAX_LENGTH = 32
FAMILIES = ["llama", "gemma2"]

# Hand-written strings for the detokenizer: every rule, its corner cases (unclosed brackets, nested
# brackets, whitespace-only brackets, Unicode whitespace inside brackets, the literal "[0-9]" that the
# second rule's replacement string writes, single-pass replacements), and word counts.
DETOKENIZER_CASES = [
    " = Valley Bridge = \n \n It was built in 1843 @-@ 1846 , cost 1 @,@ 200 pounds and is 14 @.@ 5 m long . \n",
    " = = History = = \n = = = Repairs = = = \n = = = = Deep = = = = \n",
    "the masons ' tools ; a : b ! c ? d . e , f",
    "( 1801 – 1870 ) [ now gone ] { soups , fish } \" the quiet road \" ' the cloud '",
    "( unclosed and ( nested ) ) [ ] {   } \"\" ' '",
    "(\u00a0spaced\u2003) ( \n line \n )",
    "rock /' 5/ band /' x/",
    "at 40 ° N in N spring , the band 's song 's end",
    "  \n  two spaces before and after newline  \n  ",
    "s ' s ' s '",
    "",
    "plain",
]


def split_pages(text):
    """EleutherAI/wikitext_document_level's _generate_examples (wikitext_document_level.py): a line
    that, after "= = =" -> "===" and "= =" -> "==" and strip(), starts with "= " and ends with " ="
    opens a new page; a page is its lines joined by "\\n"; blank pages are dropped except the last."""
    pages, lines = [], []
    for line in text.split("\n"):
        rline = line.replace("= = =", "===").replace("= =", "==").strip()
        if rline.startswith("= ") and rline.strip().endswith(" ="):
            page = "\n".join(lines)
            if page.strip():
                pages.append(page)
            lines = []
        lines.append(line)
    pages.append("\n".join(lines))
    return pages


def write_task_yaml(directory):
    lines = [f"include: {STOCK}", "task: matquant_wikitext", "tag: []", "dataset_path: json", "dataset_name: null",
             "dataset_kwargs:", "  data_files:", f"    test: {HF_EXPORT}", "training_split: null",
             "validation_split: null", "test_split: test"]
    with open(os.path.join(directory, "matquant_wikitext.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")


def run_family(family, manager):
    directory = os.path.join(OUT, "models", family)
    lm = HFLM(pretrained=directory, batch_size=1, device="cpu", dtype="float32", attn_implementation="eager",
              max_length=MAX_LENGTH)
    results = lm_eval.simple_evaluate(model=lm, tasks=["matquant_wikitext"], task_manager=manager, num_fewshot=0,
                                      log_samples=True, bootstrap_iters=0, random_seed=0, numpy_random_seed=0,
                                      torch_random_seed=0, fewshot_random_seed=0)
    docs = []
    for sample in sorted(results["samples"]["matquant_wikitext"], key=lambda s: s["doc_id"]):
        (text,) = sample["arguments"][0]
        tokens = lm.tok_encode(text)
        # HFLM.loglikelihood_rolling's windows (lm_eval/models/huggingface.py, lm_eval/utils.py).
        windows = list(map(utils.make_disjoint_window,
                           utils.get_rolling_token_windows(token_list=tokens, prefix_token=lm.prefix_token_id,
                                                           max_seq_len=lm.max_length, context_len=1)))
        scored = lm._loglikelihood_tokens([(None,) + w for w in windows], disable_tqdm=True)
        page = sample["doc"]["page"]
        docs.append({"doc_id": sample["doc_id"], "target": text, "token_ids": list(tokens),
                     "windows": [{"context_ids": list(c), "continuation_ids": list(x), "loglikelihood": float(s[0])}
                                 for (c, x), s in zip(windows, scored)],
                     "loglikelihood": float(sample["resps"][0][0]),
                     "words": len(re.split(r"\s+", page)), "bytes": len(page.encode("utf-8"))})
    metrics = {k.split(",")[0]: float(v) for k, v in results["results"]["matquant_wikitext"].items()
               if k.split(",")[0] in ("word_perplexity", "byte_perplexity", "bits_per_byte")}
    print(family, metrics)
    return {"model": os.path.relpath(directory, FIXTURES), "max_length": lm.max_length,
            "prefix_token_id": lm.prefix_token_id, "documents": docs, "metrics": metrics}


def main():
    with open(RAW, encoding="utf-8") as f:
        pages = split_pages(f.read())
    os.makedirs(os.path.dirname(HF_EXPORT), exist_ok=True)
    with open(HF_EXPORT, "w", encoding="utf-8") as f:
        for page in pages:
            f.write(json.dumps({"page": page}, ensure_ascii=False) + "\n")
    out = {"format_version": 1, "lm_eval_version": getattr(lm_eval, "__version__", ""),
           "transformers_version": transformers.__version__, "torch_version": torch.__version__,
           "pages": pages,
           "detokenizer": [{"input": s, "output": wikitext_detokenizer({"page": s}),
                            "words": len(re.split(r"\s+", s))} for s in DETOKENIZER_CASES],
           "families": {}}
    with tempfile.TemporaryDirectory() as yaml_dir:
        write_task_yaml(yaml_dir)
        manager = TaskManager(include_path=yaml_dir)
        for family in FAMILIES:
            out["families"][family] = run_family(family, manager)
    with open(os.path.join(OUT, "wikitext.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
