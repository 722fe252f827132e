#!/usr/bin/env bash
# Post-training bases end to end: plain GPTQ int4, MatQuant-on-GPTQ [8, 4, 2], the sliced int8 GPTQ
# baseline, AWQ + GPTQ, SmoothQuant + RTN and plain RTN plan six calibration jobs, run, and every
# slice is evaluated from the nested checkpoints; GPTQ's loss and the smoothing alphas are recorded,
# base rtn equals the rtn:int4 precision, and distillation with GPTQ is refused at plan time.
# Usage: check_gptq.sh MATQUANT SOURCE_DIR WORK_DIR
set -euo pipefail
matquant="$1"; source_dir="$2"; work="$3"
rm -rf "$work"; mkdir -p "$work"; cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }
cat > gptq.yaml <<YAML
sweep: gptq
config: {model: "$source_dir/tests/fixtures/lm_eval/models/llama", base: gptq, scope: "ffn+attn",
         train: {seq_len: 64, samples: 16}, eval: {perplexity_samples: 16}}
grid:
  method:
    - {label: gptq-int4, variant: baseline, bits: [4], eval.precisions: ["fp32", "4", "rtn:int4"]}
    - {label: matquant-gptq, variant: matquant, bits: [8, 4, 2], eval.precisions: ["8", "4", "2"]}
    - {label: sliced-gptq, variant: sliced, bits: [8], eval.precisions: ["8", "4", "2"]}
    - {label: awq-gptq-int4, variant: baseline, bits: [4], smoothing: awq, eval.precisions: ["4"]}
    - {label: sq-rtn-int4, base: rtn, variant: baseline, bits: [4], smoothing: smoothquant, eval.precisions: ["4"]}
    - {label: rtn-int4, base: rtn, variant: baseline, bits: [4], eval.precisions: ["4"]}
YAML
"$matquant" sweep plan gptq.yaml >plan.out 2>plan.err || fail "plan: $(cat plan.err)"
grep -q "(6 training," plan.out || fail "expected 6 calibration jobs: $(grep jobs plan.out)"
"$matquant" sweep run gptq.yaml --db g.sqlite --work-dir w --cache-dir c --no-report >run.out 2>run.err \
  || fail "run: $(tail -3 run.err)"
count() { "$matquant" query --db g.sqlite --format csv "$1" | tail -1; }
[[ "$(count "select count(*) from metrics where metric = 'gptq_loss'")" == "4" ]] || fail "gptq_loss rows"
[[ "$(count "select count(*) from metrics where metric = 'log_pplx'")" == "12" ]] || fail "log_pplx rows: $(count "select count(*) from metrics where metric = 'log_pplx'")"
# base rtn without smoothing is the plain code store: the same perplexity as the rtn:int4 precision.
rtn_base=$(count "select value from metrics m join runs r using (run_key) where json_extract(r.spec_json, '\$.base') = 'rtn' and json_extract(r.spec_json, '\$.smoothing') = 'none' and metric = 'log_pplx'")
rtn_eval=$(count "select value from metrics where precision = 'rtn:int4' and metric = 'log_pplx'")
[[ "$rtn_base" == "$rtn_eval" ]] || fail "base rtn int4 $rtn_base differs from rtn:int4 $rtn_eval"
grep -rq "alpha attention_input=" w || fail "no AWQ/SmoothQuant alphas logged"
grep -rq "block 2/2 gptq loss" w || fail "no per-block GPTQ log"
# Plain GPTQ int4 stays at least as close to fp32 as round to nearest does (same model, same windows).
baseline() { count "select value from metrics m join runs r using (run_key) where json_extract(r.spec_json, '\$.variant') = 'baseline' and m.precision = '$1' and metric = 'log_pplx'"; }
python3 - "$(baseline fp32)" "$(baseline int4)" "$(baseline rtn:int4)" <<'PY' \
  || fail "GPTQ int4 further from fp32 than RTN int4"
import sys
fp32, gptq, rtn = map(float, sys.argv[1:])
print(f"fp32 {fp32:.5f} gptq int4 {gptq:.5f} rtn int4 {rtn:.5f}")
assert abs(gptq - fp32) <= abs(rtn - fp32), (fp32, gptq, rtn)
PY
# Distillation needs teacher outputs GPTQ does not have: refused before anything runs.
sed -i 's/variant: matquant, bits: \[8, 4, 2\],/variant: matquant, bits: [8, 4, 2], distillation: "[8, 4, 2, 8->2]",/' gptq.yaml
set +e; "$matquant" sweep plan gptq.yaml >/dev/null 2>bad.err; code=$?; set -e
[[ $code -eq 3 ]] && grep -q "distillation" bad.err || fail "distillation with gptq gave exit $code: $(cat bad.err)"
echo "ok: GPTQ/RTN/AWQ/SmoothQuant sweep planned, calibrated, evaluated every slice; GPTQ int4 no further from fp32 than RTN"
