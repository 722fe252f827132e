#!/usr/bin/env bash
# Round-to-nearest weight formats as evaluation precisions (rtn:intD, rtn:mxintD-B; seed 004's RTN
# rows): a sweep evaluating only them has no training job, every format is evaluated, the weights
# rows count what is stored (D bits; D + 8/B for MXINT), and MXINT8 stays next to fp32.
# Usage: check_rtn_formats.sh MATQUANT SOURCE_DIR WORK_DIR
set -euo pipefail
matquant="$1"; source_dir="$2"; work="$3"
rm -rf "$work"; mkdir -p "$work"; cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }
cat > rtn.yaml <<YAML
sweep: rtn
config: {model: "$source_dir/tests/fixtures/lm_eval/models/llama", scope: "ffn+attn", train: {seq_len: 64},
         eval: {precisions: ["fp32", "rtn:int8", "rtn:int4", "rtn:mxint8-16", "rtn:MXINT4-16", "rtn:mxint2-16"],
                perplexity_samples: 32}}
YAML
"$matquant" sweep plan rtn.yaml >plan.out 2>plan.err || fail "plan: $(cat plan.err)"
grep -q "(0 training, 6 evaluation)" plan.out || fail "rtn precisions planned a training job: $(grep jobs plan.out)"
"$matquant" sweep run rtn.yaml --db r.sqlite --work-dir w --cache-dir c --no-report >run.out 2>run.err \
  || fail "run: $(tail -3 run.err)"
value() { "$matquant" query --db r.sqlite --format csv \
  "select value from metrics where precision = '$1' and metric = '$2'" | tail -1; }
[[ "$(value rtn:mxint4-16 effective_bits)" == "4.5" ]] || fail "mxint4-16 bits: $(value rtn:mxint4-16 effective_bits)"
[[ "$(value rtn:int4 effective_bits)" == "4" ]] || fail "int4 bits: $(value rtn:int4 effective_bits)"
[[ "$(value rtn:int4 quantized_parameters)" == "73728" ]] || fail "int4 did not round every projection"
python3 - "$(value fp32 log_pplx)" "$(value rtn:mxint8-16 log_pplx)" "$(value rtn:mxint2-16 log_pplx)" <<'PY' \
  || fail "MXINT8 strays from fp32 or MXINT2 does not"
import sys
fp32, mx8, mx2 = map(float, sys.argv[1:])
assert abs(mx8 - fp32) < 0.005, (fp32, mx8)
assert abs(mx2 - fp32) > 0.005, (fp32, mx2)
PY
# A format that does not exist is refused at plan time, naming it.
sed -i 's/"rtn:int8"/"rtn:int9"/' rtn.yaml
set +e; "$matquant" sweep plan rtn.yaml >/dev/null 2>bad.err; code=$?; set -e
[[ $code -eq 3 ]] && grep -q "int9" bad.err || fail "rtn:int9 gave exit $code: $(cat bad.err)"
echo "ok: rtn formats evaluated without training; bits and perplexities as expected; bad format refused"
