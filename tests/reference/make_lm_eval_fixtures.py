#!/usr/bin/env python3
"""Zero-shot scoring parity fixtures: lm-evaluation-harness itself (its stock task definitions, its
Hugging Face backend) run on CPU with tiny random models over the small task files in
tests/fixtures/tasks/release/ (made-up questions in each task's release format).

Writes
  tests/fixtures/lm_eval/models/{llama,gemma2}/   tiny models (config.json, model.safetensors,
                                                 tokenizer.model = tests/fixtures/tokenizer's)
  tests/fixtures/tasks/hf/<task>/<split>.jsonl    the same questions as the Hugging Face datasets
                                                 export them (their field names), which is what
                                                 lm-evaluation-harness reads
  tests/fixtures/lm_eval/<family>.json            per task: every request (context, continuation,
                                                 token ids, log-likelihood, is_greedy), per-document
                                                 acc / acc_norm and the aggregated metrics; plus a
                                                 few direct requests (empty context, trailing spaces)

The tasks are the stock ones: each generated task YAML `include`s the installed package's own YAML
(lm_eval/tasks/...) and only replaces where the documents come from (`dataset_path: json`).
Regenerate: scripts/install-reference-tools.sh && python3 tests/reference/make_lm_eval_fixtures.py
"""
import json
import os
import shutil
import tempfile

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import lm_eval  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from lm_eval.api.instance import Instance  # noqa: E402
from lm_eval.models.huggingface import HFLM  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402
from transformers import AutoModelForCausalLM, Gemma2Config, GemmaTokenizer, LlamaConfig, LlamaTokenizer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.normpath(os.path.join(HERE, "..", "fixtures"))
RELEASE = os.path.join(FIXTURES, "tasks", "release")
HF = os.path.join(FIXTURES, "tasks", "hf")
OUT = os.path.join(FIXTURES, "lm_eval")
STOCK = os.path.join(os.path.dirname(lm_eval.__file__), "tasks")

# our task name -> (lm-eval task name, stock yaml, split lm-eval scores)
TASKS = {
    "arc_challenge": ("arc_challenge", "arc/arc_challenge.yaml", "test"),
    "arc_easy": ("arc_easy", "arc/arc_easy.yaml", "test"),
    "boolq": ("boolq", "super_glue/boolq/default.yaml", "validation"),
    "hellaswag": ("hellaswag", "hellaswag/hellaswag.yaml", "validation"),
    "piqa": ("piqa", "piqa/piqa.yaml", "validation"),
    "winogrande": ("winogrande", "winogrande/default.yaml", "validation"),
    "openbookqa": ("openbookqa", "openbookqa/openbookqa.yaml", "test"),
    "siqa": ("social_iqa", "siqa/siqa.yaml", "validation"),
}

COMMON = dict(vocab_size=400, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
              bos_token_id=1, eos_token_id=2, pad_token_id=0)
FAMILIES = {
    "llama": (lambda: LlamaConfig(**COMMON, rope_theta=10000.0, tie_word_embeddings=False), LlamaTokenizer),
    # A sliding window shorter than the prompts checks the shared-prefix masks of our engine.
    "gemma2": (lambda: Gemma2Config(**COMMON, head_dim=32, query_pre_attn_scalar=24, sliding_window=8,
                                    attn_logit_softcapping=20.0, final_logit_softcapping=15.0,
                                    hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True),
               GemmaTokenizer),
}

# Direct requests for the request builder's special cases (lm_eval/api/model.py loglikelihood and
# _encode_pair): empty context, trailing spaces moved to the continuation, a context starting with BOS text.
DIRECT_REQUESTS = [("", " The sailor finds the bridge."), ("", "Hello world"),
                   ("Question: is the river quiet?  ", "yes"), ("The market", " and the castle"),
                   ("<s>The river", " is seven.")]


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_labels(path):
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def write_jsonl(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def to_hf_exports():
    """Release files -> the Hugging Face datasets' field names (allenai/ai2_arc, aps/super_glue boolq,
    Rowan/hellaswag, baber/piqa, allenai/winogrande, allenai/openbookqa, lighteval/siqa)."""
    def arc(rows):
        return [{"id": r["id"], "question": r["question"]["stem"],
                 "choices": {"text": [c["text"] for c in r["question"]["choices"]],
                             "label": [c["label"] for c in r["question"]["choices"]]},
                 "answerKey": r["answerKey"]} for r in rows]
    exports = {
        "arc_challenge/test.jsonl": arc(read_jsonl(f"{RELEASE}/arc/ARC-Challenge-Test.jsonl")),
        "arc_easy/test.jsonl": arc(read_jsonl(f"{RELEASE}/arc/ARC-Easy-Test.jsonl")),
        "boolq/validation.jsonl": [{"question": r["question"], "passage": r["passage"], "idx": i,
                                    "label": int(r["answer"])}
                                   for i, r in enumerate(read_jsonl(f"{RELEASE}/boolq/dev.jsonl"))],
        "hellaswag/validation.jsonl": [dict(r, label=str(r["label"]))
                                       for r in read_jsonl(f"{RELEASE}/hellaswag/hellaswag_val.jsonl")],
        "piqa/validation.jsonl": [dict(r, label=int(l)) for r, l in
                                  zip(read_jsonl(f"{RELEASE}/piqa/valid.jsonl"),
                                      read_labels(f"{RELEASE}/piqa/valid-labels.lst"))],
        "winogrande/validation.jsonl": read_jsonl(f"{RELEASE}/winogrande/dev.jsonl"),
        "openbookqa/test.jsonl": [{"id": r["id"], "question_stem": r["question"]["stem"],
                                   "choices": {"text": [c["text"] for c in r["question"]["choices"]],
                                               "label": [c["label"] for c in r["question"]["choices"]]},
                                   "answerKey": r["answerKey"]}
                                  for r in read_jsonl(f"{RELEASE}/openbookqa/test.jsonl")],
        "siqa/validation.jsonl": [dict(r, label=l) for r, l in
                                  zip(read_jsonl(f"{RELEASE}/siqa/dev.jsonl"),
                                      read_labels(f"{RELEASE}/siqa/dev-labels.lst"))],
    }
    for name, rows in exports.items():
        write_jsonl(os.path.join(HF, name), rows)
    return exports


def write_task_yamls(directory):
    """One YAML per task: the stock definition, documents from our HF-format file."""
    split_file = {"arc_challenge": "arc_challenge/test.jsonl", "arc_easy": "arc_easy/test.jsonl",
                  "boolq": "boolq/validation.jsonl", "hellaswag": "hellaswag/validation.jsonl",
                  "piqa": "piqa/validation.jsonl", "winogrande": "winogrande/validation.jsonl",
                  "openbookqa": "openbookqa/test.jsonl", "siqa": "siqa/validation.jsonl"}
    names = {}
    for ours, (_, stock, split) in TASKS.items():
        name = f"matquant_{ours}"
        lines = [f"include: {os.path.join(STOCK, stock)}", f"task: {name}", "tag: []", "dataset_path: json",
                 "dataset_name: null", "dataset_kwargs:", "  data_files:",
                 f"    {split}: {os.path.join(HF, split_file[ours])}", "training_split: null",
                 "validation_split: " + ("validation" if split == "validation" else "null"),
                 "test_split: " + ("test" if split == "test" else "null")]
        with open(os.path.join(directory, name + ".yaml"), "w") as f:
            f.write("\n".join(lines) + "\n")
        names[ours] = name
    return names


def randomize(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(torch.randn_like(p) * 0.2 + (0.0 if "gemma" in type(model).__name__.lower() else 1.0))
            else:
                p.copy_(torch.randn_like(p) * 0.15)


def make_model(family):
    make_config, tokenizer_class = FAMILIES[family]
    directory = os.path.join(OUT, "models", family)
    os.makedirs(directory, exist_ok=True)
    torch.manual_seed(10 + list(FAMILIES).index(family))
    model = AutoModelForCausalLM.from_config(make_config(), dtype=torch.float32, attn_implementation="eager").eval()
    randomize(model)
    model.save_pretrained(directory, safe_serialization=True)
    shutil.copy(os.path.join(FIXTURES, "tokenizer", "tokenizer.model"), os.path.join(directory, "tokenizer.model"))
    # As Llama-2's and Gemma's checkpoints say: BOS added. The special tokens are named for the shared
    # tokenizer.model's pieces (<s>, </s>), which Gemma's real one calls <bos>, <eos>.
    config = {"add_bos_token": True, "add_eos_token": False, "tokenizer_class": tokenizer_class.__name__}
    if family == "gemma2":
        config.update(bos_token="<s>", eos_token="</s>", pad_token="<unk>", unk_token="<unk>", mask_token=None)
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=1)
    return directory


def request_ids(lm, context, continuation):
    """The token ids HFLM.loglikelihood builds for one request (lm_eval/api/model.py)."""
    if context == "":
        cont = lm.tok_encode(continuation, add_special_tokens=False)
        return ([lm.prefix_token_id], cont) if lm.prefix_token_id != cont[0] else (cont[:1], cont[1:])
    return lm._encode_pair(context, continuation)


def run_family(family, task_names, manager):
    directory = make_model(family)
    # Eager attention: transformers' default (SDPA) drops Gemma-2's attention-logit softcapping.
    lm = HFLM(pretrained=directory, batch_size=1, device="cpu", dtype="float32", attn_implementation="eager")
    results = lm_eval.simple_evaluate(model=lm, tasks=list(task_names.values()), task_manager=manager,
                                      num_fewshot=0, log_samples=True, bootstrap_iters=1000, random_seed=0,
                                      numpy_random_seed=0, torch_random_seed=0, fewshot_random_seed=0)
    out = {"format_version": 1, "lm_eval_version": lm_eval.__version__ if hasattr(lm_eval, "__version__") else "",
           "transformers_version": transformers.__version__, "torch_version": torch.__version__,
           "model": os.path.relpath(directory, FIXTURES), "tasks": {}, "direct_requests": []}
    for ours, name in task_names.items():
        metrics = results["results"][name]
        docs = []
        for sample in sorted(results["samples"][name], key=lambda s: s["doc_id"]):
            requests = []
            for (context, continuation), resp in zip(sample["arguments"], sample["resps"]):
                context_ids, continuation_ids = request_ids(lm, context, continuation)
                loglikelihood, greedy = resp[0]
                requests.append({"context": context, "continuation": continuation,
                                 "context_ids": list(context_ids), "continuation_ids": list(continuation_ids),
                                 "loglikelihood": float(loglikelihood), "is_greedy": bool(greedy)})
            docs.append({"doc_id": sample["doc_id"], "target": sample["target"], "requests": requests,
                         **{k: float(sample[k]) for k in ("acc", "acc_norm") if k in sample}})
        out["tasks"][ours] = {"lm_eval_task": TASKS[ours][0], "split": TASKS[ours][2], "documents": docs,
                              "metrics": {k.split(",")[0]: float(v) for k, v in metrics.items()
                                          if k.split(",")[0] in ("acc", "acc_norm", "acc_stderr", "acc_norm_stderr")
                                          and isinstance(v, (int, float))}}
    instances = [Instance(request_type="loglikelihood", doc={}, arguments=r, idx=i)
                 for i, r in enumerate(DIRECT_REQUESTS)]
    for (context, continuation), (loglikelihood, greedy) in zip(DIRECT_REQUESTS, lm.loglikelihood(instances)):
        context_ids, continuation_ids = request_ids(lm, context, continuation)
        out["direct_requests"].append({"context": context, "continuation": continuation,
                                       "context_ids": list(context_ids), "continuation_ids": list(continuation_ids),
                                       "loglikelihood": float(loglikelihood), "is_greedy": bool(greedy)})
    with open(os.path.join(OUT, f"{family}.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
    print(family, {t: v["metrics"] for t, v in out["tasks"].items()})


def main():
    to_hf_exports()
    with tempfile.TemporaryDirectory() as yaml_dir:
        names = write_task_yamls(yaml_dir)
        manager = TaskManager(include_path=yaml_dir)
        for family in FAMILIES:
            run_family(family, names, manager)


if __name__ == "__main__":
    main()
