#!/usr/bin/env bash
# `matquant slice --format compressed-tensors` round trip through the tools people load models with:
# a short MatQuant QAT run (FFN + attention) exported at int4, int2, int8 and a per-layer plan, each
# loaded by transformers + compressed-tensors and compared with the dense export of the same slice
# (tests/reference/check_compressed_tensors_export.py: identical weights and logits). Exits 77
# (skipped) when those Python packages are absent.
# Usage: check_export_compressed_tensors.sh MATQUANT SOURCE_DIR WORK_DIR
set -euo pipefail
matquant="$1"; source_dir="$2"; work="$3"
model="$source_dir/tests/fixtures/lm_eval/models/llama"
rm -rf "$work"; mkdir -p "$work"; cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }
python3 -c "import transformers, compressed_tensors" 2>/dev/null || { echo "skip: transformers or compressed-tensors missing"; exit 77; }
echo "{\"model\": \"$model\", \"scope\": \"ffn+attn\", \"train\": {\"steps\": 2, \"batch_size\": 2, \"seq_len\": 32}}" > spec.json
"$matquant" train spec.json --out ckpt.safetensors --cache-dir cache >train.out 2>train.err || fail "train: $(tail -2 train.err)"
for precision in 4 2 8 "4,2"; do
  name="${precision/,/-}"
  "$matquant" slice --checkpoint ckpt.safetensors --precision "$precision" --out "dense-$name" >/dev/null 2>err \
    || fail "dense slice $precision: $(cat err)"
  "$matquant" slice --checkpoint ckpt.safetensors --precision "$precision" --out "ct-$name" --format compressed-tensors \
    >/dev/null 2>err || fail "compressed-tensors slice $precision: $(cat err)"
  python3 "$source_dir/tests/reference/check_compressed_tensors_export.py" "ct-$name" "dense-$name" >check.out 2>&1 \
    || fail "precision $precision: $(tail -3 check.out)"
  echo "precision $precision: $(tail -1 check.out)"
done
python3 - ct-4-2/config.json <<'PY' || fail "the per-layer plan should give two config groups (4 and 2 bits)"
import json, sys
groups = json.load(open(sys.argv[1]))["quantization_config"]["config_groups"].values()
assert sorted(g["weights"]["num_bits"] for g in groups) == [2, 4], groups
PY
echo "ok"
