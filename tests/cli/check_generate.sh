#!/usr/bin/env bash
# `matquant generate` as a user runs it: a short QAT checkpoint decoded greedily at int8, int4, int2
# and a per-layer plan in one process (one JSON request each, the requested token count), the same tokens
# through --bit-planes and through --slice-packs, a seeded sampled run that repeats exactly, three prompts
# of different lengths decoded as one batch giving each prompt's tokens alone, and bad input refused with exit 2
# (or 3, 4 for invalid or missing input) and one line.
# Usage: check_generate.sh MATQUANT SOURCE_DIR WORK_DIR
set -euo pipefail
matquant="$1"; source_dir="$2"; work="$3"
model="$source_dir/tests/fixtures/lm_eval/models/llama"
rm -rf "$work"; mkdir -p "$work"; cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }
echo "{\"model\": \"$model\", \"train\": {\"steps\": 2, \"batch_size\": 2, \"seq_len\": 32}}" > spec.json
"$matquant" train spec.json --out ckpt.safetensors --cache-dir cache >train.out 2>train.err || fail "train: $(tail -2 train.err)"
json() { grep '^JSON ' "$1" | sed 's/^JSON //'; }
# Uniform precisions and a per-layer plan (the fixture has 2 layers), served by one loaded model.
"$matquant" generate --checkpoint ckpt.safetensors --prompt "The capital of France is" --precision 8 4 2 4,2 \
  --max-new-tokens 6 >greedy.out 2>err || fail "greedy: $(cat err)"
"$matquant" generate --checkpoint ckpt.safetensors --prompt "The capital of France is" --precision 8 4 2 4,2 \
  --max-new-tokens 6 --bit-planes >planes.out 2>err || fail "bit planes: $(cat err)"
"$matquant" generate --checkpoint ckpt.safetensors --prompt "The capital of France is" --precision 8 4 2 4,2 \
  --max-new-tokens 6 --slice-packs >packs.out 2>err || fail "slice packs: $(cat err)"
grep -q "slice packs: .* [GM]B on the device" packs.out || fail "slice packs: no memory line"
python3 - greedy.out planes.out packs.out <<'PY' || fail "requests, bit-plane or slice-pack tokens"
import json, sys
def requests(path):
    line = next(l for l in open(path) if l.startswith("JSON "))
    return json.loads(line[5:])["requests"]
greedy, planes, packs = requests(sys.argv[1]), requests(sys.argv[2]), requests(sys.argv[3])
assert [r["precision"] for r in greedy] == ["8", "4", "2", "4,2"], greedy
for r in greedy:
    assert 1 <= len(r["tokens"]) <= 6 and r["tokens_per_s"] >= 0, r
assert [r["tokens"] for r in greedy] == [r["tokens"] for r in planes], (greedy, planes)
assert [r["tokens"] for r in greedy] == [r["tokens"] for r in packs], (greedy, packs)
# What each precision alone reads: int8 packs twice the bytes of int4 and four times int2 (scales aside).
gb = {r["precision"]: r["slice_pack_gb"] for r in packs}
assert gb["8"] > gb["4"] > gb["2"] > 0 and gb["4,2"] < gb["4"], gb
# No full-precision request: the dense projections and codes were freed after packing.
line = next(l for l in open(sys.argv[3]) if l.startswith("JSON "))
assert json.loads(line[5:])["released_dense_gb"] > 0, line
PY
sampled() {  # the sampled tokens only (the JSON line also holds timings)
  "$matquant" generate --model "$model" --prompt-ids 1,5,9,13 --precision 4 --scope ffn+attn \
    --temperature 1.0 --top-k 20 --seed 11 --max-new-tokens 8 2>err | grep '^JSON ' | sed 's/^JSON //' |
    python3 -c "import json, sys; print(json.load(sys.stdin)['requests'][0]['tokens'])" || fail "sampled: $(cat err)"
}
[[ "$(sampled)" == "$(sampled)" ]] || fail "a seeded sampled run did not repeat"
# Several prompts as one left-padded batch: each row's greedy tokens are those of its prompt alone.
greedy_ids() {  # greedy_ids PROMPT-IDS...: the JSON tokens of the one request
  "$matquant" generate --checkpoint ckpt.safetensors --prompt-ids "$@" --precision 4 --max-new-tokens 5 \
    2>err | grep '^JSON ' | sed 's/^JSON //' |
    python3 -c "import json, sys; print(json.load(sys.stdin)['requests'][0]['tokens'])" || fail "batched: $(cat err)"
}
batched=$(greedy_ids 1,5,9,13,17,21 2,7 30)
expected="[$(greedy_ids 1,5,9,13,17,21), $(greedy_ids 2,7), $(greedy_ids 30)]"
[[ "$batched" == "$expected" ]] || fail "batched prompts: $batched, alone: $expected"
# A prompt file (one prompt per line, blank lines skipped) is the same batch as the prompts given inline.
text_tokens() {  # text_tokens ARGS...: the JSON tokens of the one request
  "$matquant" generate --checkpoint ckpt.safetensors "$@" --precision 4 --max-new-tokens 4 2>err |
    grep '^JSON ' | sed 's/^JSON //' |
    python3 -c "import json, sys; print(json.load(sys.stdin)['requests'][0]['tokens'])" || fail "prompt file: $(cat err)"
}
printf 'The capital of France is\n\nTwo plus two is\n' > prompts.txt
[[ "$(text_tokens --prompt-file prompts.txt)" == "$(text_tokens --prompt "The capital of France is" "Two plus two is")" ]] ||
  fail "a prompt file decoded differently from the same prompts inline"
refuse() {  # refuse EXPECTED_CODE ARGS...: the command must fail with that code and one line on stderr
  local expected="$1"; shift
  set +e; "$matquant" generate "$@" >/dev/null 2>err; local code=$?; set -e
  [[ $code -eq $expected ]] || fail "generate $* exited $code (want $expected): $(cat err)"
  [[ $(wc -l <err) -eq 1 ]] || fail "generate $*: more than one line on stderr: $(cat err)"
}
refuse 2 --model "$model"                                              # no prompt
refuse 2 --model "$model" --checkpoint ckpt.safetensors --prompt-ids 1  # two models
refuse 2 --model "$model" --prompt-ids 1,100000                         # outside the vocabulary
refuse 2 --model "$model" --prompt-ids 1,x                              # not an id
refuse 2 --model "$model" --prompt-ids 1,2 ""                           # an empty prompt
refuse 4 --checkpoint ckpt.safetensors --prompt-file missing.txt        # no prompt file
refuse 2 --checkpoint ckpt.safetensors --prompt-file prompts.txt --prompt-ids 1  # text and ids
: > empty.txt
refuse 3 --checkpoint ckpt.safetensors --prompt-file empty.txt          # no prompts in it
refuse 2 --model builtin:tiny-llama --prompt "text"                     # no tokenizer
refuse 2 --model "$model" --prompt-ids 1 --max-new-tokens 0
refuse 4 --checkpoint missing.safetensors --prompt-ids 1                # not found
refuse 3 --model "$model" --prompt-ids 1 --precision 9                  # wider than the codes
refuse 2 --model "$model" --prompt-ids 1 --precision 4 --bit-planes --slice-packs  # two packed stores
refuse 2 --model "$model" --prompt-ids 1 --cuda-graph --device cpu    # graphs are CUDA only
echo "ok"
