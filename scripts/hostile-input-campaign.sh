#!/usr/bin/env bash
# Hostile-input and fault campaign (issue #14's closing note: "tried, rejected cleanly, survived").
#
#   scripts/hostile-input-campaign.sh [BINARY]        # default build/apps/matquant
#   taskset -c 1 scripts/hostile-input-campaign.sh    # one core, as it was measured
#
# Everything happens in a fresh `mktemp -d` directory (removed at the end unless
# KEEP_CAMPAIGN_DIR=1); the repository is only read (fixtures, experiments/tables and the built-in
# model cached under results/cache/builtin, copied so nothing is rebuilt). One process at a time.
#
# Each case prints one line:
#   rejected  bad input refused: exit 2/3/4/5, exactly one "matquant: error:" line on stderr (a
#             multi-problem list counts as one), no crash text (terminate called, Segmentation,
#             Aborted, backtrace, [json.exception ...), stderr under 64 KiB, and no partial output
#             file where the case says there must be none. A code other than the one the docs
#             give is noted after the line ("[expected 4]") but still counted as clean.
#   accepted  odd but valid input (CRLF task file, ...): exit 0 with the same results as the plain
#             file; counted in "tried" only.
#   survived  injected fault (SIGKILL of a worker or of the runner, SIGINT, SIGTERM, a corrupted
#             result.json, a file-size limit, an unwritable work dir, a killed eval, two runners):
#             the documented recovery happens (re-run finishes, status consistent, database intact).
#             Where it recovers but a message is wrong, the line carries a [note: ...].
#   FAILED    anything else, with the command, exit code and first stderr lines.
# and ends with "tried N, rejected cleanly R, survived S, failed F".
# Environment: CAMPAIGN_TIMEOUT (seconds per command, default 60), KEEP_CAMPAIGN_DIR=1,
# CAMPAIGN_FAULTS=0 (bad inputs only, no fault injection).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-build/apps/matquant}
case $BIN in /*) ;; *) BIN=$(cd "$ROOT" && cd "$(dirname "$BIN")" 2>/dev/null && pwd)/$(basename "$BIN") ;; esac
if [[ ! -x $BIN ]]; then echo "matquant binary not found: ${1:-build/apps/matquant} (build it first)" >&2; exit 2; fi
TO=${CAMPAIGN_TIMEOUT:-60}
MODEL=$ROOT/tests/fixtures/lm_eval/models/llama
TASKS=$ROOT/tests/fixtures/tasks/release
TABLES=$ROOT/experiments/tables
CACHE_SRC=$ROOT/results/cache/builtin
for p in "$MODEL" "$TASKS" "$TABLES" "$CACHE_SRC"; do
  [[ -e $p ]] || { echo "missing fixture: $p" >&2; exit 2; }
done

W=$(mktemp -d "${TMPDIR:-/tmp}/matquant-campaign.XXXXXX")
# run a private copy: a rebuild of build/apps/matquant during the campaign must not change it
mkdir -p "$W/bin" && cp "$BIN" "$W/bin/matquant" || { echo "cannot copy $BIN" >&2; exit 2; }
BIN_ORIG=$BIN; BIN=$W/bin/matquant
BG_PIDS=()
cleanup() {
  local p
  for p in "${BG_PIDS[@]}"; do kill -KILL -- "-$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
  if [[ ${KEEP_CAMPAIGN_DIR:-0} == 1 ]]; then echo "campaign directory kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
cd "$W" || exit 2
mkdir -p results/cache logs
cp -r "$CACHE_SRC" results/cache/builtin
CACHE=$W/results/cache
export MATQUANT_FUSED_KERNELS=0 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

TRIED=0 REJECTED=0 SURVIVED=0 ACCEPTED=0 FAILED=0
FAIL_LIST=()
START=$(date +%s)

# ---------------------------------------------------------------------------------------------
# helpers

CRASH_RE='terminate called|Segmentation|Aborted|[Bb]acktrace|\[json\.exception|core dumped|what\(\):|Exception raised from|frame #[0-9]|Floating point exception|internal error'

first_err() {  # the first matquant: error: line (or the first stderr line), shortened; for a
  local f=$1 line next  # "N problem(s):" list, its first problem
  line=$(grep -m1 -a '^matquant: error:' "$f" 2>/dev/null || head -c 4096 "$f" | head -n1)
  if [[ $line == *'problem(s)'* || $line == *' problems:'* ]]; then
    next=$(grep -a -A1 -m1 '^matquant: error:' "$f" | sed -n 2p | sed 's/^ *//')
    line="$next"
  fi
  line=${line#matquant: error: }
  printf '%s' "${line:0:160}"
}

stderr_head() { head -c 2000 "$1" | head -n "${2:-4}" | sed 's/^/      | /'; }

fail() {  # id, description, command text, rc, stderr file, reason
  FAILED=$((FAILED + 1))
  printf 'FAILED    %-5s %s\n' "$1" "$2"
  printf '      reason: %s\n      command: %s\n      exit: %s\n' "$6" "$3" "$4"
  [[ -n $5 && -s $5 ]] && stderr_head "$5" 6
  FAIL_LIST+=("$1 $2 (exit $4): $6")
}

# clean_reason STDERR RC: prints why a rejection is not clean (empty when clean)
clean_reason() {
  local err=$1 rc=$2 n size
  if [[ $rc == 124 || $rc == 137 ]]; then echo "timed out after ${TO}s"; return; fi
  case $rc in 2|3|4|5) ;; 0) echo "accepted (exit 0)"; return ;; *) echo "exit $rc"; return ;; esac
  size=$(stat -c %s "$err")
  if (( size > 65536 )); then echo "stderr is $size bytes"; return; fi
  if grep -aqE "$CRASH_RE" "$err"; then echo "crash text on stderr: $(grep -aoE -m1 "$CRASH_RE" "$err" | head -n1)"; return; fi
  n=$(grep -ac '^matquant: error:' "$err")
  if [[ $n != 1 ]]; then echo "$n 'matquant: error:' lines"; return; fi
}

# reject ID "description" EXPECTED_CODE NOFILE -- command...
#   EXPECTED_CODE: the code the docs give ("" = any of 2-5); NOFILE: a path that must not exist
#   afterwards ("" = none). POST (environment): extra bash check run after, must succeed.
reject() {
  local id=$1 desc=$2 exp=$3 nofile=$4; shift 5
  local out=logs/$id.out err=logs/$id.err rc why note=""
  TRIED=$((TRIED + 1))
  timeout -k 5 "$TO" "$@" >"$out" 2>"$err" </dev/null; rc=$?
  why=$(clean_reason "$err" "$rc")
  if [[ -z $why && -n $nofile && -e $nofile ]]; then why="left $nofile behind"; fi
  if [[ -z $why && -n ${POST:-} ]]; then
    if ! (eval "$POST") >/dev/null 2>&1; then why="check failed: $POST"; fi
  fi
  if [[ -n $why ]]; then fail "$id" "$desc" "$*" "$rc" "$err" "$why"; return; fi
  [[ -n $exp && $rc != "$exp" ]] && note="  [expected $exp]"
  REJECTED=$((REJECTED + 1))
  printf 'rejected  %-5s %-52s exit %s: %s%s\n' "$id" "$desc" "$rc" "$(first_err "$err")" "$note"
}

# accept ID "description" CHECK -- command...: valid-but-odd input; exit 0 and CHECK (bash) holds.
# A clean rejection is also acceptable (printed as rejected).
accept() {
  local id=$1 desc=$2 check=$3; shift 4
  local out=logs/$id.out err=logs/$id.err rc why
  TRIED=$((TRIED + 1))
  timeout -k 5 "$TO" "$@" >"$out" 2>"$err" </dev/null; rc=$?
  if [[ $rc == 0 ]]; then
    if (OUT=$out ERR=$err; eval "$check") >/dev/null 2>&1; then
      ACCEPTED=$((ACCEPTED + 1))
      printf 'accepted  %-5s %s\n' "$id" "$desc"
    else
      fail "$id" "$desc" "$*" "$rc" "$err" "exit 0 but check failed: $check"
    fi
    return
  fi
  why=$(clean_reason "$err" "$rc")
  if [[ -n $why ]]; then fail "$id" "$desc" "$*" "$rc" "$err" "$why"; return; fi
  REJECTED=$((REJECTED + 1))
  printf 'rejected  %-5s %-52s exit %s: %s\n' "$id" "$desc" "$rc" "$(first_err "$err")"
}

survived() { SURVIVED=$((SURVIVED + 1)); printf 'survived  %-5s %-52s %s\n' "$1" "$2" "$3"; }

# ---------------------------------------------------------------------------------------------
# fixtures

BASE_YAML='# campaign sweep
sweep: hostile
config:
  model: builtin:tiny-llama
  base: qat
  variant: baseline
  bits: [8]
  lambdas: [1]
  train.steps: 2
  train.warmup_steps: 1
  train.batch_size: 2
  train.seq_len: 16
  eval.perplexity_samples: 2
  eval.precisions: ["8"]
'
mkdir -p y
printf '%s' "$BASE_YAML" > y/valid.yaml
if ! "$BIN" sweep plan y/valid.yaml >logs/valid-plan.out 2>&1; then
  echo "the valid base sweep does not plan; the campaign's fixtures are wrong:" >&2
  cat logs/valid-plan.out >&2; exit 2
fi

# plan_case ID "description" EXPECTED FILE-CONTENT: a sweep file that `sweep plan` must refuse
plan_case() { printf '%s' "$4" > "y/$1.yaml"; reject "$1" "$2" "$3" "" -- "$BIN" sweep plan "y/$1.yaml"; }
# with_config ID "description" EXPECTED "YAML lines under config:" (base config + these lines)
with_config() { plan_case "$1" "$2" "$3" "$BASE_YAML$4"; }
# with_sub ID "description" EXPECTED OLD NEW: the base with one line's text replaced
with_sub() { plan_case "$1" "$2" "$3" "${BASE_YAML/"$4"/"$5"}"; }

echo "matquant hostile-input campaign: $("$BIN" --version 2>&1 | head -n1)"
echo "binary $BIN_ORIG (sha256 $(sha256sum "$BIN" | cut -c1-12), copied to $BIN); per-command timeout ${TO}s"
echo
echo "== sweep files (matquant sweep plan / run)"

plan_case Y01 "syntax: unclosed flow sequence" 3 "$BASE_YAML"'grid: {bits: [[8], [4]}
'
plan_case Y02 "syntax: tab indentation" 3 "$(printf 'sweep: t\nconfig:\n\tmodel: builtin:tiny-llama\n')"
plan_case Y03 "syntax: mapping value inside a scalar" 3 'sweep: t
config: model: builtin:tiny-llama
'
plan_case Y04 "top level is a list" 3 '- sweep: t
- config: {}
'
plan_case Y05 "top level is a scalar" 3 'hello
'
plan_case Y06 "empty file (0 bytes)" 3 ''
plan_case Y07 "only comments" 3 '# nothing here
# at all
'
plan_case Y08 "unknown top-level key (grdi)" 3 "$BASE_YAML"'grdi: {bits: [[8]]}
'
with_config Y09 "unknown field train.stpes" 3 '  train.stpes: 5
'
with_sub Y10 "wrong type: train.steps: ten" 3 "train.steps: 2" "train.steps: ten"
with_config Y11 "wrong type: group_size is a mapping" 3 '  group_size: {a: 1}
'
with_config Y12 "wrong type: learning_rate is a list" 3 '  train.learning_rate: [1]
'
with_config Y13 "negative: train.samples: -5" 3 '  train.samples: -5
'
with_config Y14 "zero: eval.batch_size: 0" 3 '  eval.batch_size: 0
'
with_config Y15 "integer beyond 64 bits (99999999999999999999)" 3 '  train.samples: 99999999999999999999
'
with_sub Y16 "seq_len 9223372036854775807 (int64 max)" 3 "train.seq_len: 16" "train.seq_len: 9223372036854775807"
with_config Y17 "fraction where an int goes (samples 1.5)" 3 '  train.samples: 1.5
'
with_config Y18 "learning rate .nan" 3 '  train.learning_rate: .nan
'
with_config Y19 "learning rate .inf" 3 '  train.learning_rate: .inf
'
with_config Y20 "negative learning rate" 3 '  train.learning_rate: -1e-4
'
plan_case Y21 "lambdas: 2 values for 3 bits" 3 "${BASE_YAML/variant: baseline/variant: matquant}"'grid:
  bits: [[8, 4, 2]]
  lambdas: [[1, 1]]
'
plan_case Y22 "lambdas: sqrt(-2)" 3 "$(printf '%s' "$BASE_YAML" | sed 's/lambdas: \[1\]/lambdas: ["sqrt(-2)"]/')
"
plan_case Y23 "lambdas: sqrt(x) / text" 3 "$(printf '%s' "$BASE_YAML" | sed 's/lambdas: \[1\]/lambdas: ["sqrt(x)"]/')
"
plan_case Y24 "lambdas: nested list" 3 "$(printf '%s' "$BASE_YAML" | sed 's/lambdas: \[1\]/lambdas: [[1]]/')
"
with_sub Y25 "precision \"9\"" 3 'precisions: ["8"]' 'precisions: ["9"]'
with_sub Y26 "precision bf17" 3 'precisions: ["8"]' 'precisions: [bf17]'
with_sub Y27 "precision pyramid@99" 3 'precisions: ["8"]' 'precisions: ["pyramid@99"]'
with_sub Y28 "precision per-layer list with a letter 2,4,x,8" 3 'precisions: ["8"]' 'precisions: ["2,4,x,8"]'
with_sub Y29 "bits: [9]" 3 'bits: [8]' 'bits: [9]'
plan_case Y30 "bits [8,4,2] stored in 4 bits" 3 "${BASE_YAML/variant: baseline/variant: matquant}"'grid:
  bits: [[8, 4, 2]]
  lambdas: [[0.1, 0.1, 1]]
  source_bits: [4]
'
plan_case Y31 "variant: foo" 3 "${BASE_YAML/variant: baseline/variant: foo}"
plan_case Y32 "scope: attn" 3 "$BASE_YAML"'  scope: attn
'
plan_case Y33 "distillation [8, 4, 2, 8->9]" 3 "${BASE_YAML/variant: baseline/variant: matquant}"'grid:
  bits: [[8, 4, 2]]
  lambdas: [[0.1, 0.1, 1]]
  distillation: ["[8, 4, 2, 8->9]"]
'
plan_case Y34 "duplicate key (grid twice)" 3 "$BASE_YAML"'grid: {seed: [1]}
grid: {seed: [2]}
'
with_config Y35 "field both nested and dotted" 3 '  train: {steps: 3}
'
plan_case Y36 "second YAML document" 3 "$BASE_YAML"'---
sweep: other
'
plan_case Y37 "recursive alias (a cycle)" 3 "$BASE_YAML"'grid: &a {seed: [*a]}
'
plan_case Y38 "alias bomb, 9 levels" 3 "$BASE_YAML"'x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]
x1: &a1 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]
x2: &a2 [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]
x3: &a3 [*a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2]
x4: &a4 [*a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3]
x5: &a5 [*a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4]
x6: &a6 [*a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5]
x7: &a7 [*a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6]
x8: &a8 [*a7, *a7, *a7, *a7, *a7, *a7, *a7, *a7, *a7, *a7]
'
plan_case Y39 "nesting 200 levels deep" 3 "$BASE_YAML""deep: $(printf '[%.0s' $(seq 200))1$(printf ']%.0s' $(seq 200))
"
printf '%s' "$BASE_YAML" | sed 's/sweep: hostile/sweep: caf\xe9/' > y/Y40.yaml
reject Y40 "non-UTF-8 byte (0xE9) in a value: plan" 3 "" -- "$BIN" sweep plan y/Y40.yaml
reject Y41 "non-UTF-8 byte (0xE9) in a value: run" 3 "results/Y41.sqlite" -- \
  "$BIN" sweep run y/Y40.yaml --db results/Y41.sqlite --work-dir results/Y41-work --cache-dir "$CACHE"
printf '\xff\xfe' > y/Y42.yaml; printf '%s' "$BASE_YAML" | iconv -f UTF-8 -t UTF-16LE >> y/Y42.yaml
reject Y42 "UTF-16 file with BOM" 3 "" -- "$BIN" sweep plan y/Y42.yaml
mkdir -p y/Y43.yaml
reject Y43 "a directory given as the sweep file" 3 "" -- "$BIN" sweep plan y/Y43.yaml
reject Y44 "missing sweep file" 4 "" -- "$BIN" sweep plan y/no-such-file.yaml
{ printf '%s' "$BASE_YAML"; head -c 4300000 /dev/zero | tr '\0' '#'; echo; } > y/Y45.yaml
reject Y45 "file over 4 MiB" 3 "" -- "$BIN" sweep plan y/Y45.yaml
plan_case Y46 "run name with .. (name: ../evil)" 3 "$BASE_YAML"'name: "../evil"
'
plan_case Y47 "sweep name ../x" 3 "${BASE_YAML/sweep: hostile/sweep: ../x}"
plan_case Y48 "sweep name with space and \$" 3 "${BASE_YAML/sweep: hostile/sweep: \"a b\$c\"}"
plan_case Y49 "run name over 200 bytes" 3 "$BASE_YAML""name: \"$(printf 'n%.0s' $(seq 250))\"
"
plan_case Y50 "10^6-run grid (default --max-runs)" 3 "$BASE_YAML"'grid:
  seed: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
  train.samples: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
  train.warmup_steps: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
  eval.batch_size: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
  eval.task_limit: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
  eval.perplexity_samples: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
'
reject Y51 "--max-runs -1" 2 "" -- "$BIN" sweep plan y/valid.yaml --max-runs -1
reject Y52 "--max-runs abc" 2 "" -- "$BIN" sweep plan y/valid.yaml --max-runs abc
plan_case Y53 "empty grid axis (seed: [])" 3 "$BASE_YAML"'grid: {seed: []}
'
plan_case Y54 "unknown built-in model builtin:huge-llama" 3 "${BASE_YAML/builtin:tiny-llama/builtin:huge-llama}"
plan_case Y55 "model directory that does not exist" "" "${BASE_YAML/builtin:tiny-llama/models/no-such-model}"
: > y/not-a-dir
plan_case Y56 "model path is a file" "" "${BASE_YAML/builtin:tiny-llama/y/not-a-dir}"
with_config Y57 "data.train file missing" "" '  data.train: no/such/train.txt
'
with_config Y58 "eval.task_dir missing" "" '  eval.tasks: [boolq]
  eval.task_dir: no/such/dir
'
with_config Y59 "unknown task (eval.tasks: [mmlu])" 3 "  eval.tasks: [mmlu]
  eval.task_dir: $TASKS
"
with_config Y60 "task_files entry for a task not in eval.tasks" 3 "  eval.tasks: [boolq]
  eval.task_dir: $TASKS
  eval.task_files: [\"piqa=$TASKS/piqa/valid.jsonl\"]
"
with_config Y61 "task_files entry naming a missing file" "" "  eval.tasks: [boolq]
  eval.task_files: [\"boolq=no/such/dev.jsonl\"]
"
plan_case Y62 "exclude with an unknown field" 3 "$BASE_YAML"'grid: {seed: [0, 1]}
exclude:
  - {sede: 1}
'
plan_case Y63 "include with a bad value" 3 "$BASE_YAML"'include:
  - {variant: nonsense}
'
plan_case Y64 "seeds: [a]" 3 "$BASE_YAML"'seeds: [a]
'
plan_case Y65 "zip lists of unequal length" 3 "$BASE_YAML"'zip:
  - seed: [0, 1, 2]
    train.samples: [1, 2]
'
plan_case Y66 "complex (non-plain) key" 3 "$BASE_YAML"'? [a, b]
: 1
'
plan_case Y67 "YAML tag !!binary for the model" 3 "${BASE_YAML/model: builtin:tiny-llama/model: !!binary aGVsbG8=}"
with_config Y68 "train.let: true with qat" 3 '  train.let: true
'
plan_case Y69 "activation checkpointing with omniquant" 3 "${BASE_YAML/base: qat/base: omniquant}"'  train.activation_checkpointing: true
'
with_config Y70 "group_size: -1" 3 '  group_size: -1
'
plan_case Y71 "model: null (~)" 3 "${BASE_YAML/model: builtin:tiny-llama/model: ~}"
printf '%s' "$BASE_YAML" > y/Y72.yaml; printf '  train.stpes: 5\n' >> y/Y72.yaml
reject Y72 "sweep run on a bad file: nothing runs, no database" 3 "results/Y72.sqlite" -- \
  "$BIN" sweep run y/Y72.yaml --db results/Y72.sqlite --work-dir results/Y72-work --cache-dir "$CACHE"
plan_case Y73 "unknown built-in model in run (same check as plan)" 3 "${BASE_YAML/builtin:tiny-llama/builtin:nope}"
reject Y74 "sweep run: unknown built-in model, no database" 3 "results/Y74.sqlite" -- \
  "$BIN" sweep run y/Y73.yaml --db results/Y74.sqlite --work-dir results/Y74-work --cache-dir "$CACHE"
reject Y75 "sweep with no subcommand file" 2 "" -- "$BIN" sweep plan
reject Y76 "sweep bogus subcommand" 2 "" -- "$BIN" sweep explode y/valid.yaml

echo
echo "== run specs (matquant train / eval SPEC.json)"
mkdir -p s
SPEC='{"model": "builtin:tiny-llama", "variant": "baseline", "bits": [8], "lambdas": [1], "train": {"steps": 2, "warmup_steps": 1, "batch_size": 2, "seq_len": 16}, "eval": {"perplexity_samples": 2}}'
spec_case() {  # ID "description" EXPECTED JSON-CONTENT
  printf '%s' "$4" > "s/$1.json"
  reject "$1" "$2" "$3" "s/$1.ckpt.safetensors" -- "$BIN" train "s/$1.json" --out "s/$1.ckpt.safetensors" --cache-dir "$CACHE"
}
reject S01 "train without --out" 2 "" -- "$BIN" train s/none.json
reject S02 "train with a missing spec file" 4 "s/S02.ckpt.safetensors" -- "$BIN" train s/none.json --out s/S02.ckpt.safetensors
spec_case S03 "spec: truncated JSON" 3 '{"model": "builtin:tiny-llama", '
spec_case S04 "spec: a JSON array" 3 '[1, 2, 3]'
spec_case S05 "spec: unknown field" 3 "${SPEC/\"variant\"/\"varaint\"}"
spec_case S06 "spec: bits is the string eight" 3 "${SPEC/'"bits": [8]'/'"bits": "eight"'}"
printf '%s' "${SPEC/tiny-llama/tiny-ll}" | sed 's/tiny-ll/tiny-ll\xff/' > s/S07.json
reject S07 "spec: non-UTF-8 byte in a string" 3 "s/S07.ckpt.safetensors" -- "$BIN" train s/S07.json --out s/S07.ckpt.safetensors --cache-dir "$CACHE"
spec_case S08 "spec: number 1e999" 3 "${SPEC/\"steps\": 2/\"steps\": 1e999}"
spec_case S09 "spec: 100000 nested arrays" 3 "{\"model\": $(head -c 100000 /dev/zero | tr '\0' '[')$(head -c 100000 /dev/zero | tr '\0' ']')}"
spec_case S10 "spec: empty file" 3 ''
spec_case S11 "spec: unknown built-in model" 3 "${SPEC/tiny-llama/nope-llama}"
spec_case S12 "spec: train.steps 0" 3 "${SPEC/\"steps\": 2/\"steps\": 0}"
printf '%s' "$SPEC" > s/valid.json
: > s/blockfile
reject S13 "train --out under a regular file (ENOTDIR)" 5 "" -- \
  "$BIN" train s/valid.json --out s/blockfile/ck.safetensors --cache-dir "$CACHE"
mkdir -p s/S14.safetensors
reject S14 "train --out is a directory" "" "s/S14.safetensors.tmp" -- "$BIN" train s/valid.json --out s/S14.safetensors --cache-dir "$CACHE"
reject S15 "eval SPEC.json --precision bf17" "" "" -- "$BIN" eval s/valid.json --precision bf17 --cache-dir "$CACHE"
accept S16 "train --out NAME in the current directory (valid)" '[[ -s s16.safetensors ]]' -- \
  "$BIN" train s/valid.json --out s16.safetensors --cache-dir "$CACHE"

echo
echo "== eval command lines"
mkdir -p e
reject E01 "eval with nothing (no model, spec or checkpoint)" 2 "" -- "$BIN" eval --tasks boolq --task-dir "$TASKS"
reject E02 "quantized precision without --checkpoint" 2 "" -- "$BIN" eval --model "$MODEL" --precision 4 --tasks boolq --task-dir "$TASKS"
reject E03 "--task-file without '='" "" "" -- "$BIN" eval --model "$MODEL" --tasks boolq --task-file boolq
reject E04 "--task-file '=PATH' (no task)" "" "" -- "$BIN" eval --model "$MODEL" --tasks boolq --task-file "=$TASKS/boolq/dev.jsonl"
reject E05 "--task-file to a missing file" 4 "" -- "$BIN" eval --model "$MODEL" --tasks boolq --task-file boolq=e/none.jsonl
reject E06 "--task-file for an unknown task" 3 "" -- "$BIN" eval --model "$MODEL" --tasks boolq --task-dir "$TASKS" --task-file "mmlu=$TASKS/boolq/dev.jsonl"
reject E07 "--tasks unknown (mmlu)" 3 "" -- "$BIN" eval --model "$MODEL" --tasks mmlu --task-dir "$TASKS"
reject E08 "--task-dir missing" 4 "" -- "$BIN" eval --model "$MODEL" --tasks boolq --task-dir e/no-such-dir
reject E09 "--tasks with no --task-dir or --task-file" "" "" -- "$BIN" eval --model "$MODEL" --tasks boolq
reject E10 "--perplexity bogus" 2 "" -- "$BIN" eval --model "$MODEL" --tasks boolq --task-dir "$TASKS" --perplexity bogus
reject E11 "--limit -1" "" "" -- "$BIN" eval --model "$MODEL" --tasks boolq --task-dir "$TASKS" --limit -1
reject E12 "--batch-size 0" "" "" -- "$BIN" eval --model "$MODEL" --tasks boolq --task-dir "$TASKS" --batch-size 0
POST='grep -qP "^bf16\tboolq\tacc\t" logs/E13.out && grep -q "\"boolq\"" e/E13.json && grep -q "arc_easy" e/E13.json' \
reject E13 "--max-length 4: arc_easy fails alone, boolq scored" 3 "" -- \
  "$BIN" eval --model "$MODEL" --tasks arc_easy boolq --task-dir "$TASKS" --max-length 4 --output-path e/E13.json
reject E14 "--precision bf17" "" "" -- "$BIN" eval --model "$MODEL" --precision bf17 --tasks boolq --task-dir "$TASKS"
reject E15 "--device tpu" "" "" -- "$BIN" eval --model "$MODEL" --device tpu --tasks boolq --task-dir "$TASKS"
reject E16 "--model directory missing" 4 "" -- "$BIN" eval --model e/no-model --tasks boolq --task-dir "$TASKS"
reject E17 "--model builtin:nope" 3 "" -- "$BIN" eval --model builtin:nope --tasks boolq --task-dir "$TASKS" --cache-dir "$CACHE"
head -c 5000 /dev/urandom > e/garbage.safetensors
reject E18 "--checkpoint of random bytes" 3 "" -- "$BIN" eval --checkpoint e/garbage.safetensors --precision 4 --tasks boolq --task-dir "$TASKS"
reject E19 "--checkpoint missing" 4 "" -- "$BIN" eval --checkpoint e/none.safetensors --precision 4 --tasks boolq --task-dir "$TASKS"
accept E20 "--output-path in a missing directory (created)" 'python3 -c "import json; json.load(open(\"e/no/dir/r.json\"))"' -- \
  "$BIN" eval --model "$MODEL" --tasks boolq --task-dir "$TASKS" --output-path e/no/dir/r.json
# disk-full-like: a 1 KiB file-size limit (SIGXFSZ ignored, so writes fail with EFBIG); the request
# log is bigger than that, stdout and stderr are not
reject E21 "--save-requests past a 1 KiB file-size limit (EFBIG)" 5 "" -- \
  bash -c 'trap "" XFSZ; ulimit -f 1; exec "$@"' _ "$BIN" eval --model "$MODEL" --tasks boolq --task-dir "$TASKS" --save-requests e/E21.jsonl
reject E22 "unknown option --frobnicate" 2 "" -- "$BIN" eval --model "$MODEL" --frobnicate
reject E23 "--max-length -5" "" "" -- "$BIN" eval --model "$MODEL" --tasks boolq --task-dir "$TASKS" --max-length -5
reject E24 "--validation missing file, perplexity on" 4 "" -- "$BIN" eval --model "$MODEL" --perplexity on --validation e/none.txt
reject E25 "HF model, perplexity on, no --validation" "" "" -- "$BIN" eval --model "$MODEL" --perplexity on
reject E26 "--precision pyramid@3.5 without --checkpoint" 2 "" -- "$BIN" eval --model "$MODEL" --precision pyramid@3.5 --tasks boolq --task-dir "$TASKS"

echo
echo "== task files (matquant data check --task-file / eval)"
mkdir -p t
bq() { printf '{"question": "is seven a prime number", "passage": "Seven is prime.", "answer": true}\n'; }
task_case() {  # ID "description" TASK FILE-NAME CONTENT
  printf '%s' "$5" > "t/$4"
  reject "$1" "$2" 3 "" -- "$BIN" data check --tasks "$3" --task-file "$3=t/$4"
}
task_case T01 "malformed JSON line (boolq)" boolq T01.jsonl "$(bq)
{\"question\": \"broken\", \"passage\": 
$(bq)
"
task_case T02 "missing field passage (boolq)" boolq T02.jsonl '{"question": "q", "answer": true}
'
task_case T03 "answer is the string yes (boolq)" boolq T03.jsonl '{"question": "q", "passage": "p", "answer": "yes"}
'
task_case T04 "answerKey not among labels (arc)" arc_easy T04.jsonl '{"id": "x", "question": {"stem": "Which?", "choices": [{"text": "a", "label": "A"}, {"text": "b", "label": "B"}]}, "answerKey": "E"}
'
task_case T05 "hellaswag: 3 endings, label 3" hellaswag T05.jsonl '{"activity_label": "Cooking", "ctx_a": "A man cooks.", "ctx_b": "he", "endings": ["eats.", "sleeps.", "runs."], "label": 3}
'
printf '{"goal": "g", "sol1": "a", "sol2": "b"}\n{"goal": "h", "sol1": "a", "sol2": "b"}\n' > t/valid.jsonl; printf '0\n' > t/valid-labels.lst
reject T06 "piqa: labels file shorter than the documents" 3 "" -- "$BIN" data check --tasks piqa --task-file piqa=t/valid.jsonl
mkdir -p t/siqa; printf '{"context": "c", "question": "q", "answerA": "a", "answerB": "b", "answerC": "c"}\n' > t/siqa/dev.jsonl; printf '4\n' > t/siqa/dev-labels.lst
reject T07 "siqa: label 4 of 3 answers" 3 "" -- "$BIN" data check --tasks siqa --task-file siqa=t/siqa/dev.jsonl
task_case T08 "winogrande: sentence without _" winogrande T08.jsonl '{"sentence": "No blank here.", "option1": "a", "option2": "b", "answer": "1"}
'
task_case T09 "empty task file (0 bytes)" boolq T09.jsonl ''
task_case T10 "only blank lines" boolq T10.jsonl '


'
mkdir -p t/T11.jsonl
reject T11 "a directory as the task file" "" "" -- "$BIN" data check --tasks boolq --task-file boolq=t/T11.jsonl
task_case T12 "openbookqa without answerKey" openbookqa T12.jsonl '{"id": "1", "question": {"stem": "s", "choices": [{"text": "a", "label": "A"}, {"text": "b", "label": "B"}]}}
'
task_case T13 "JSON line that is an array" boolq T13.jsonl '[1, 2, 3]
'
printf '{"question": "caf\xe9", "passage": "p", "answer": true}\n' > t/T14.jsonl
reject T14 "non-UTF-8 byte inside a JSON string" 3 "" -- "$BIN" data check --tasks boolq --task-file boolq=t/T14.jsonl
reject T15 "eval on the empty task file (agrees with data check)" 3 "" -- \
  "$BIN" eval --model "$MODEL" --tasks boolq --task-file boolq=t/T09.jsonl
mkdir -p t/only-boolq/boolq && cp "$TASKS/boolq/dev.jsonl" t/only-boolq/boolq/
reject T16 "data check --tasks piqa where only boolq exists" 4 "" -- "$BIN" data check t/only-boolq --tasks boolq piqa
reject T17 "data check on a missing directory" 4 "" -- "$BIN" data check t/no-such-dir
# CRLF and BOM: valid-looking files; accepted with the same numbers as the plain file, or refused cleanly
sed 's/$/\r/' "$TASKS/boolq/dev.jsonl" > t/crlf.jsonl
{ printf '\xef\xbb\xbf'; cat "$TASKS/boolq/dev.jsonl"; } > t/bom.jsonl
"$BIN" eval --model "$MODEL" --tasks boolq --task-file "boolq=$TASKS/boolq/dev.jsonl" > logs/boolq-plain.out 2>/dev/null
accept T18 "CRLF line endings (boolq): same results" 'diff -q $OUT logs/boolq-plain.out' -- \
  "$BIN" eval --model "$MODEL" --tasks boolq --task-file boolq=t/crlf.jsonl
accept T19 "UTF-8 BOM at the start (boolq): same results" 'diff -q $OUT logs/boolq-plain.out' -- \
  "$BIN" eval --model "$MODEL" --tasks boolq --task-file boolq=t/bom.jsonl

echo
echo "== model directories (eval / forward / train)"
mkdir -p m
model_dir() {  # NAME: a copy of the tiny Llama fixture to damage
  rm -rf "m/$1"; cp -r "$MODEL" "m/$1"
}
jedit() {  # DIR python-expression-on-c: edit config.json
  python3 - "$1/config.json" "$2" <<'PY'
import json, sys
p, expr = sys.argv[1], sys.argv[2]
c = json.load(open(p))
exec(expr)
json.dump(c, open(p, "w"), indent=1)
PY
}
model_case() {  # ID "description" DIR
  reject "$1" "$2" 3 "" -- "$BIN" eval --model "m/$3" --tasks boolq --task-dir "$TASKS"
}
model_dir heads0; jedit m/heads0 'c["num_attention_heads"] = 0'
model_case M01 "config num_attention_heads 0 (eval)" heads0
python3 - <<'PY'
import struct, json
ids = [[1, 5, 9, 12, 7, 3]]
data = struct.pack("<%dq" % len(ids[0]), *ids[0])
header = json.dumps({"input_ids": {"dtype": "I64", "shape": [1, len(ids[0])], "data_offsets": [0, len(data)]}}).encode()
open("m/ids.safetensors", "wb").write(struct.pack("<Q", len(header)) + header + data)
PY
reject M02 "config num_attention_heads 0 (forward)" 3 "" -- "$BIN" forward --model m/heads0 --input m/ids.safetensors
printf '%s' "${SPEC/builtin:tiny-llama/m/heads0}" > s/heads0.json
reject M03 "config num_attention_heads 0 (train)" 3 "s/heads0.ckpt.safetensors" -- "$BIN" train s/heads0.json --out s/heads0.ckpt.safetensors
model_dir nohidden; jedit m/nohidden 'del c["hidden_size"]'
model_case M04 "config without hidden_size" nohidden
model_dir notjson; printf '{"model_type": "llama", ' > m/notjson/config.json
model_case M05 "config.json truncated" notjson
model_dir indivisible; jedit m/indivisible 'c["num_attention_heads"] = 3; c.pop("head_dim", None)'
model_case M06 "hidden 64 not divisible by 3 heads" indivisible
model_dir negvocab; jedit m/negvocab 'c["vocab_size"] = -400'
model_case M07 "vocab_size -400" negvocab
model_dir garbage; head -c 100000 /dev/urandom > m/garbage/model.safetensors
model_case M08 "model.safetensors of random bytes" garbage
model_dir truncated; head -c 50000 "$MODEL/model.safetensors" > m/truncated/model.safetensors
model_case M09 "model.safetensors truncated" truncated
model_dir hugeheader; python3 -c 'import struct,sys; open(sys.argv[1],"wb").write(struct.pack("<Q", 2**62) + b"{}")' m/hugeheader/model.safetensors
model_case M10 "safetensors header length 2^62" hugeheader
model_dir notok; rm m/notok/tokenizer.model
reject M11 "missing tokenizer.model" 4 "" -- "$BIN" eval --model m/notok --tasks boolq --task-dir "$TASKS"
model_dir noweights; rm m/noweights/model.safetensors
reject M12 "missing model.safetensors" "" "" -- "$BIN" eval --model m/noweights --tasks boolq --task-dir "$TASKS"
model_dir gptneo; jedit m/gptneo 'c["model_type"] = "gpt_neo"; c["architectures"] = ["GPTNeoForCausalLM"]'
model_case M13 "model_type gpt_neo (unsupported)" gptneo
model_dir manylayers; jedit m/manylayers 'c["num_hidden_layers"] = 1000000000'
model_case M14 "num_hidden_layers 10^9" manylayers
model_dir badtok; head -c 3000 /dev/urandom > m/badtok/tokenizer.model
model_case M15 "tokenizer.model of random bytes" badtok
model_dir kvheads; jedit m/kvheads 'c["num_key_value_heads"] = 3'
model_case M16 "4 heads, 3 key-value heads" kvheads

echo
echo "== result files (matquant ingest) and worker job dirs"
mkdir -p r r/job-garbage r/job-empty
printf '{"format_version": 1, "status": "done"' > r/truncated.json
reject R01 "ingest a truncated result.json" 3 "" -- "$BIN" ingest r/truncated.json --db r/ingest.sqlite
printf '{"format_version": 99, "run_key": "x", "job_key": "y", "job": "train", "status": "done"}' > r/future.json
reject R02 "ingest format_version 99" 3 "" -- "$BIN" ingest r/future.json --db r/ingest.sqlite
printf '{"format_version": 1, "run_key": "x", "job_key": "y", "job": "train", "status": "weird", "spec": {}}' > r/status.json
reject R03 "ingest status 'weird'" 3 "" -- "$BIN" ingest r/status.json --db r/ingest.sqlite
reject R04 "ingest a missing file" 4 "" -- "$BIN" ingest r/none.json --db r/ingest.sqlite
head -c 2000 /dev/urandom > r/job-garbage/job.json
reject R05 "worker on a garbage job.json" 3 "" -- "$BIN" worker r/job-garbage
reject R06 "worker on a directory without job.json" 4 "" -- "$BIN" worker r/job-empty

echo
echo "== databases and queries"
mkdir -p d
# a real database: a two-job sweep (seconds)
printf '%s' "$BASE_YAML" > d/tiny.yaml
if ! "$BIN" sweep run d/tiny.yaml --db d/good.sqlite --work-dir d/work --cache-dir "$CACHE" --no-report >logs/db-setup.out 2>&1; then
  echo "could not make the query database:"; tail -n 5 logs/db-setup.out
fi
: > d/empty.sqlite
head -c 8192 /dev/urandom > d/garbage.sqlite
sqlite3 d/other.sqlite 'create table notes(id integer primary key, text); insert into notes(text) values ("mine");'
cp d/garbage.sqlite d/garbage.orig; cp d/other.sqlite d/other.orig
reject D01 "query on a 0-byte database" 3 "" -- "$BIN" query "select count(*) from runs" --db d/empty.sqlite
POST='cmp -s d/garbage.sqlite d/garbage.orig' \
reject D02 "query on a garbage file (left untouched)" 3 "" -- "$BIN" query "select 1" --db d/garbage.sqlite
POST='cmp -s d/other.sqlite d/other.orig' \
reject D03 "query on another app's SQLite (untouched)" 3 "" -- "$BIN" query "select * from notes" --db d/other.sqlite
POST='cmp -s d/garbage.sqlite d/garbage.orig && [[ ! -e d/garbage-work/jobs ]]' \
reject D04 "sweep run on a garbage database (untouched)" 3 "" -- \
  "$BIN" sweep run d/tiny.yaml --db d/garbage.sqlite --work-dir d/garbage-work --cache-dir "$CACHE"
POST='cmp -s d/other.sqlite d/other.orig' \
reject D05 "sweep run on another app's SQLite (untouched)" 3 "" -- \
  "$BIN" sweep run d/tiny.yaml --db d/other.sqlite --work-dir d/other-work --cache-dir "$CACHE"
reject D06 "results list on a missing database" 4 "" -- "$BIN" results list --db d/none.sqlite
reject D07 "report on a garbage database" 3 "" -- "$BIN" report --table 2 --db d/garbage.sqlite --tables "$TABLES"
mkdir -p d/dir.sqlite
reject D08 "database path is a directory" "" "" -- "$BIN" query "select 1" --db d/dir.sqlite
reject D09 "sweep status on a 0-byte database" 3 "" -- "$BIN" sweep status d/tiny.yaml --db d/empty.sqlite
rows() { sqlite3 d/good.sqlite "select (select count(*) from runs)||'/'||(select count(*) from jobs)||'/'||(select count(*) from metrics)"; }
GOOD_ROWS=$(rows)
q() { local id=$1 desc=$2 exp=$3; shift 3; POST='[[ $(rows) == "$GOOD_ROWS" ]]' reject "$id" "$desc" "$exp" "" -- "$BIN" query "$@" --db d/good.sqlite; }
q Q01 "query: INSERT" 3 "insert into runs(run_key) values ('x')"
q Q02 "query: DELETE" 3 "delete from metrics"
q Q03 "query: DROP TABLE" 3 "drop table metrics"
q Q04 "query: PRAGMA writable_schema=1" 3 "pragma writable_schema=1"
q Q05 "query: ATTACH DATABASE" 3 "attach database 'd/x.sqlite' as x"
q Q06 "query: two statements (select; delete)" 3 "select 1; delete from metrics"
q Q07 "query: bad SQL (selec)" 3 "selec * from runs"
q Q08 "query: unknown table" 3 "select * from no_such_table"
SECONDS_BEFORE=$(date +%s)
POST='(( $(date +%s) - SECONDS_BEFORE < 30 ))' \
q Q09 "query: endless recursive CTE, --timeout 2" 3 "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c" --timeout 2
q Q10 "query: --timeout -1" 2 "select 1" --timeout -1
q Q11 "query: --format xml" 2 "select 1" --format xml
q Q12 "query: empty SQL" "" ""
q Q13 "query: load_extension" 3 "select load_extension('/tmp/evil.so')"
q Q14 "query: PRAGMA journal_mode=delete" 3 "pragma journal_mode=delete"
q Q15 "query: VACUUM INTO" 3 "vacuum into 'd/copy.sqlite'"

echo
echo "== report options"
rep() { local id=$1 desc=$2 exp=$3 nofile=$4; shift 4; reject "$id" "$desc" "$exp" "$nofile" -- "$BIN" report --db d/good.sqlite --tables "$TABLES" "$@"; }
rep P01 "report --table 99" 4 "" --table 99
rep P02 "report --table ../../etc/passwd" "" "" --table ../../etc/passwd
rep P03 "report --where without '='" 2 "" --table 2 --where lambdas
rep P04 "report --where =5 (empty key)" 2 "" --table 2 --where =5
rep P05 "report --format pdf" 2 "d/P05.pdf" --table 2 --format pdf --out d/P05.pdf
rep P06 "report --metric boolq=f1" "" "" --table 2 --metric boolq=f1
rep P07 "report --model without '='" 2 "" --table 2 --model gemma-2-2b
reject P08 "report --tables missing directory" 4 "" -- "$BIN" report --db d/good.sqlite --table 2 --tables d/no-tables
accept P09 "report --out into a missing directory (created)" '[[ -s d/no/dir/t.md ]]' -- \
  "$BIN" report --db d/good.sqlite --tables "$TABLES" --table 2 --out d/no/dir/t.md
rep P10 "report --metric unknown task" "" "" --table 2 --metric mmlu=acc
rep P11 "report with no --table" 2 "" --format md

echo
echo "== faults on a small sweep (quickstart-shaped: builtin:tiny-llama, QAT)"
# Two runs (int8 and int4 baselines, 300 QAT steps each, ~10 s on one core) and their evaluations.
FAULT_YAML='# fault-injection sweep (hostile-input-campaign.sh)
sweep: faults
name: "{variant}-int{bits}"
config:
  model: builtin:tiny-llama
  base: qat
  scope: ffn
  train: {steps: 300, warmup_steps: 6, learning_rate: 1e-4, batch_size: 4, seq_len: 32}
  eval: {perplexity_samples: 64}
zip:
  - variant:   [baseline, baseline]
    bits:      [[8], [4]]
    lambdas:   [[1], [1]]
    eval.precisions: [["8"], ["4"]]
'
mkdir -p f
BG=""   # the runner in the background (own process group, SIGINT not ignored)
start_runner() {  # DIR LOG args...: sweep run in DIR, in the background
  local dir=$1 log=$2; shift 2
  set -m
  (cd "$dir" && exec "$BIN" sweep run sweep.yaml --cache-dir "$CACHE" --no-report "$@") >"$log" 2>&1 &
  BG=$!
  set +m
  BG_PIDS+=("$BG")
}
wait_runner() {  # wait for $BG (at most 2 x $TO s); its exit code in RC (124: killed, too slow)
  local t=0
  while kill -0 "$BG" 2>/dev/null && (( t < TO * 20 )); do sleep 0.1; t=$((t + 1)); done
  if kill -0 "$BG" 2>/dev/null; then kill -KILL -- "-$BG" 2>/dev/null; wait "$BG" 2>/dev/null; RC=124; return; fi
  wait "$BG"; RC=$?
}
wait_for() {  # CONDITION (bash) [seconds]: poll until true; 1 on timeout
  local t=0 limit=$(( ${2:-$TO} * 10 ))
  until eval "$1" 2>/dev/null; do sleep 0.1; t=$((t + 1)); (( t > limit )) && return 1; done
  return 0
}
worker_pid() { pgrep -P "$BG" 2>/dev/null | head -n1; }   # the runner's child (a worker)
training_at() {  # DIR STEP: some training worker's log reached STEP
  grep -qs "step $2/" "$1"/results/work/jobs/*/worker.log
}
# the end state every fault case must reach: a run that exits 0, every job done, status says so,
# the database passes integrity_check, and metrics rows match the undisturbed reference
consistent() {  # DIR: prints a reason when not consistent
  local dir=$1 s bad ic m
  s=$(cd "$dir" && "$BIN" sweep status sweep.yaml 2>&1); 
  if grep -qiE 'running|interrupted|failed' <<<"$s"; then echo "status after recovery: $(tr '\n' ' ' <<<"$s" | head -c 300)"; return; fi
  bad=$(sqlite3 "$dir/results/matquant.sqlite" "select count(*) from jobs where status != 'done'")
  [[ $bad == 0 ]] || { echo "$bad job(s) not done"; return; }
  ic=$(sqlite3 -readonly "$dir/results/matquant.sqlite" "pragma integrity_check" 2>&1 | tail -n1)
  [[ $ic == ok ]] || { echo "integrity_check: $ic"; return; }
  m=$(sqlite3 "$dir/results/matquant.sqlite" "select count(*) from metrics")
  [[ $m == "$REF_METRICS" ]] || { echo "metrics rows $m, reference $REF_METRICS"; return; }
}
fault_dir() { rm -rf "f/$1"; mkdir -p "f/$1"; printf '%s' "${2:-$FAULT_YAML}" > "f/$1/sweep.yaml"; echo "$W/f/$1"; }

# the undisturbed reference
if [[ ${CAMPAIGN_FAULTS:-1} == 0 ]]; then
  echo "fault cases skipped (CAMPAIGN_FAULTS=0)"; rc=skip
else
REF=$(fault_dir ref)
t0=$(date +%s)
(cd "$REF" && timeout -k 5 $((TO * 2)) "$BIN" sweep run sweep.yaml --cache-dir "$CACHE" --no-report) >logs/ref.log 2>&1
rc=$?
REF_METRICS=$(sqlite3 "$REF/results/matquant.sqlite" "select count(*) from metrics" 2>/dev/null)
echo "reference run: exit $rc, $(( $(date +%s) - t0 )) s, $REF_METRICS metric rows"
if [[ $rc != 0 ]]; then echo "the reference fault sweep failed; fault cases skipped"; tail -n 5 logs/ref.log; fi
fi

fault_begin() { TRIED=$((TRIED + 1)); FID=$1; FDESC=$2; }
fault_fail() { fail "$FID" "$FDESC" "$2" "$3" "$4" "$1"; }

if [[ $rc == 0 ]]; then
# F01: SIGKILL a training worker mid-run: retried, the sweep finishes
fault_begin F01 "SIGKILL a training worker mid-run"
D=$(fault_dir F01); start_runner "$D" logs/F01.log
if wait_for 'training_at "$D" 100'; then
  p=$(worker_pid); kill -KILL "$p"
  wait_runner; rc=$RC; why=$(consistent "$D")
  att=$(sqlite3 "$D/results/matquant.sqlite" "select max(attempts) from jobs")
  if [[ $rc == 0 && -z $why && $att == 2 ]]; then survived F01 "$FDESC" "worker $p killed at step >=100; retried (attempt 2), exit 0, all jobs done"
  else fault_fail "exit $rc; ${why:-max attempts $att}" "sweep run (worker SIGKILLed)" "$rc" logs/F01.log; fi
else fault_fail "training never reached step 100" "sweep run" "-" logs/F01.log; kill -KILL -- "-$BG"; fi

# F02: SIGKILL the runner mid-training, restart at once: the worker is adopted, nothing redone
fault_begin F02 "SIGKILL the runner mid-training, restart"
D=$(fault_dir F02); start_runner "$D" logs/F02.log
if wait_for 'training_at "$D" 100'; then
  p=$(worker_pid); kill -KILL "$BG"; wait "$BG" 2>/dev/null
  start_runner "$D" logs/F02b.log; wait_runner; rc=$RC; why=$(consistent "$D")
  att=$(sqlite3 "$D/results/matquant.sqlite" "select max(attempts) from jobs")
  if [[ $rc == 0 && -z $why ]]; then survived F02 "$FDESC" "restart exit 0, all jobs done, max attempts $att, metrics rows = reference"
  else fault_fail "restart exit $rc; $why" "sweep run (runner SIGKILLed, restarted)" "$rc" logs/F02b.log; fi
else fault_fail "training never reached step 100" "sweep run" "-" logs/F02.log; kill -KILL -- "-$BG"; fi

# F03: Ctrl-C (SIGINT to the runner's process group): exit 130, jobs interrupted, re-run resumes
fault_begin F03 "SIGINT to the runner's process group (Ctrl-C)"
D=$(fault_dir F03); start_runner "$D" logs/F03.log
if wait_for 'training_at "$D" 100'; then
  kill -INT -- "-$BG"; wait_runner; rc=$RC
  st=$(cd "$D" && "$BIN" sweep status sweep.yaml 2>&1)
  running=$(sqlite3 "$D/results/matquant.sqlite" "select count(*) from jobs where status = 'running'")
  orphans=$(pgrep -g "$BG" 2>/dev/null | wc -l)
  start_runner "$D" logs/F03b.log; wait_runner; rc2=$RC; why=$(consistent "$D")
  if [[ $rc == 130 && $running == 0 && $orphans == 0 && $(grep -ci interrupted <<<"$st") -gt 0 && $rc2 == 0 && -z $why ]]; then
    survived F03 "$FDESC" "exit 130, status lists interrupted, no running rows or workers left; re-run exit 0"
  else fault_fail "exit $rc (want 130), running rows $running, workers left $orphans, status: $(tr '\n' ' ' <<<"$st" | head -c 200); re-run exit $rc2; $why" "kill -INT -PGID" "$rc" logs/F03.log; fi
else fault_fail "training never reached step 100" "sweep run" "-" logs/F03.log; kill -KILL -- "-$BG"; fi

# F04: SIGTERM to the runner alone
fault_begin F04 "SIGTERM to the runner alone"
D=$(fault_dir F04); start_runner "$D" logs/F04.log
if wait_for 'training_at "$D" 100'; then
  p=$(worker_pid); kill -TERM "$BG"; wait_runner; rc=$RC
  sleep 0.5; wl=0; [[ -n $p ]] && kill -0 "$p" 2>/dev/null && wl=1
  running=$(sqlite3 "$D/results/matquant.sqlite" "select count(*) from jobs where status = 'running'")
  start_runner "$D" logs/F04b.log; wait_runner; rc2=$RC; why=$(consistent "$D")
  if [[ $rc == 130 && $running == 0 && $wl == 0 && $rc2 == 0 && -z $why ]]; then
    survived F04 "$FDESC" "exit 130, worker stopped, no running rows; re-run exit 0"
  else fault_fail "exit $rc (want 130), running rows $running, worker left alive $wl; re-run exit $rc2; $why" "kill -TERM RUNNER" "$rc" logs/F04.log; fi
else fault_fail "training never reached step 100" "sweep run" "-" logs/F04.log; kill -KILL -- "-$BG"; fi

# F05: a corrupted result.json written while no runner watched: rejected at ingest, job retried
fault_begin F05 "corrupted result.json (runner down), restart"
D=$(fault_dir F05); start_runner "$D" logs/F05.log
if wait_for 'training_at "$D" 100'; then
  p=$(worker_pid); jd=$(tr '\0' ' ' < "/proc/$p/cmdline" | awk '{print $3}')
  kill -KILL "$BG"; wait "$BG" 2>/dev/null
  wait_for '! kill -0 '"$p" "$TO"   # the orphaned worker finishes and writes result.json
  if [[ -s $jd/result.json ]]; then
    printf '{"format_version": 1, "run_key": "%s", "status": "done", "metrics": [{"precision": ' "$(head -c 10 "$jd/result.json")" > "$jd/result.json"
    start_runner "$D" logs/F05b.log; wait_runner; rc=$RC; why=$(consistent "$D")
    named=$(grep -c "result.json" logs/F05b.log)
    if [[ $rc == 0 && -z $why && $named -gt 0 ]] && ! grep -aqE "$CRASH_RE" logs/F05b.log; then
      survived F05 "$FDESC" "rejected at ingest naming the file, job redone, exit 0, all jobs done"
    else fault_fail "restart exit $rc; ${why:-result.json named $named time(s)}" "sweep run after corrupting $jd/result.json" "$rc" logs/F05b.log; fi
  else fault_fail "the orphaned worker left no result.json in $jd" "sweep run" "-" "$jd/worker.log"; fi
else fault_fail "training never reached step 100" "sweep run" "-" logs/F05.log; kill -KILL -- "-$BG"; fi

# F06: disk-full-like: a 2 MiB file-size limit (checkpoints are 3.6 MB): jobs fail cleanly and are
# recorded; `sweep retry` without the limit finishes
fault_begin F06 "file-size limit (EFBIG, like a full disk), then retry"
D=$(fault_dir F06)
( cd "$D" && trap '' XFSZ && ulimit -f 2048 && timeout -k 5 $((TO * 2)) "$BIN" sweep run sweep.yaml --cache-dir "$CACHE" --no-report --retries 1 ) >logs/F06.log 2>&1
rc=$?
failed=$(sqlite3 "$D/results/matquant.sqlite" "select count(*) from jobs where status = 'failed' and error != ''" 2>/dev/null)
running=$(sqlite3 "$D/results/matquant.sqlite" "select count(*) from jobs where status = 'running'" 2>/dev/null)
werr=$(sqlite3 "$D/results/matquant.sqlite" "select error from jobs where status = 'failed' and kind = 'train' limit 1" 2>/dev/null | tr '\n' ' ')
wnote=""
if grep -qE "$CRASH_RE|exit code 70" <<<"$werr"; then wnote=" [note: the job's recorded error is not an I/O error: ${werr:0:200}]"; fi
(cd "$D" && timeout -k 5 $((TO * 2)) "$BIN" sweep retry sweep.yaml --cache-dir "$CACHE" --no-report) >logs/F06b.log 2>&1
rc2=$?; why=$(consistent "$D")
if [[ $rc == 1 && ${failed:-0} -gt 0 && $running == 0 && $rc2 == 0 && -z $why ]] && ! grep -aqE "$CRASH_RE" logs/F06.log; then
  survived F06 "$FDESC" "exit 1 with $failed failed job(s) recorded with errors; retry exit 0$wnote"
else fault_fail "limited run exit $rc (want 1), failed-with-error $failed, running $running; retry exit $rc2; $why" "ulimit -f 2048; sweep run" "$rc" logs/F06.log; fi

# F07: an unwritable work directory (its parent is a regular file)
fault_begin F07 "work dir that cannot be created (parent is a file)"
D=$(fault_dir F07); : > "$D/blocker"
(cd "$D" && timeout -k 5 "$TO" "$BIN" sweep run sweep.yaml --cache-dir "$CACHE" --no-report --work-dir blocker/work) >logs/F07.out 2>logs/F07.err
rc=$?; why=$(clean_reason logs/F07.err "$rc")
running=$(sqlite3 "$D/results/matquant.sqlite" "select count(*) from jobs where status = 'running'" 2>/dev/null || echo 0)
(cd "$D" && timeout -k 5 $((TO * 2)) "$BIN" sweep run sweep.yaml --cache-dir "$CACHE" --no-report) >logs/F07b.log 2>&1
rc2=$?; why2=$(consistent "$D")
if [[ -z $why && ${running:-0} == 0 && $rc2 == 0 && -z $why2 ]]; then
  survived F07 "$FDESC" "exit $rc: $(first_err logs/F07.err); a run with a good work dir then finishes"
else fault_fail "${why:-ok}; running rows ${running}; next run exit $rc2; $why2" "sweep run --work-dir blocker/work" "$rc" logs/F07.err; fi

# F08: SIGKILL an evaluation worker mid-evaluation (3000 BoolQ documents, ~8 s)
fault_begin F08 "SIGKILL an evaluation worker mid-run"
for i in $(seq 1 3000); do
  printf '{"question": "is number %d larger than ten", "passage": "Number %d is written in the quiet market of the river castle every day.", "answer": true}\n' "$i" "$i"
  printf '{"goal": "How do I count to %d?", "sol1": "Say every number up to %d.", "sol2": "Say nothing at all.", "label": 0}\n' "$i" "$i" >&3
done > f/big_boolq.jsonl 3> f/big_piqa.jsonl
EVAL_YAML="# eval fault sweep
sweep: evalfault
config:
  model: builtin:tiny-llama
  base: qat
  variant: baseline
  bits: [8]
  lambdas: [1]
  train: {steps: 10, warmup_steps: 2, learning_rate: 1e-4, batch_size: 4, seq_len: 32}
  eval: {perplexity: false, tasks: [boolq], task_files: [\"boolq=$W/f/big_boolq.jsonl\"], precisions: [\"8\"]}
"
D=$(fault_dir F08 "$EVAL_YAML"); start_runner "$D" logs/F08.log
if wait_for 'grep -q "start  eval" logs/F08.log' && sleep 3; then
  p=$(worker_pid); kill -KILL "$p"
  wait_runner; rc=$RC
  bad=$(sqlite3 "$D/results/matquant.sqlite" "select count(*) from jobs where status != 'done'")
  att=$(sqlite3 "$D/results/matquant.sqlite" "select attempts from jobs where kind = 'eval'")
  acc=$(sqlite3 "$D/results/matquant.sqlite" "select count(*) from metrics where task = 'boolq' and metric = 'acc'")
  if [[ $rc == 0 && $bad == 0 && $att == 2 && $acc == 1 ]]; then survived F08 "$FDESC" "eval worker $p killed; retried (attempt 2), exit 0, one boolq acc row"
  else fault_fail "exit $rc, jobs not done $bad, eval attempts $att, boolq acc rows $acc" "sweep run (eval worker SIGKILLed)" "$rc" logs/F08.log; fi
else fault_fail "evaluation never started" "sweep run" "-" logs/F08.log; kill -KILL -- "-$BG"; fi

# F09: SIGKILL a stand-alone `matquant eval --output-path` between tasks: the file is whole JSON
fault_begin F09 "SIGKILL a stand-alone eval between tasks"
set -m
timeout -k 5 "$TO" "$BIN" eval --model "$MODEL" --tasks boolq piqa --task-file "boolq=$TASKS/boolq/dev.jsonl" \
  --task-file "piqa=$W/f/big_piqa.jsonl" --output-path f/F09.json >logs/F09.out 2>logs/F09.err &
BG=$!; set +m; BG_PIDS+=("$BG")
if wait_for '[[ -s f/F09.json ]]' 30 && sleep 0.5; then
  kill -KILL -- "-$BG" 2>/dev/null; wait "$BG" 2>/dev/null
  if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert "boolq" in d["results"]' f/F09.json 2>logs/F09.py; then
    timeout -k 5 "$TO" "$BIN" eval --model "$MODEL" --tasks boolq --task-dir "$TASKS" --output-path f/F09.json >/dev/null 2>logs/F09b.err; rc2=$?
    if [[ $rc2 == 0 ]] && python3 -c 'import json,sys; json.load(open(sys.argv[1]))' f/F09.json; then
      survived F09 "$FDESC" "killed after boolq: results file is valid JSON holding boolq; a re-run rewrites it"
    else fault_fail "re-run exit $rc2" "eval --output-path f/F09.json" "$rc2" logs/F09b.err; fi
  else fault_fail "results file not valid JSON with boolq after the kill: $(head -c 200 logs/F09.py)" "eval --output-path (SIGKILLed)" "-" logs/F09.err; fi
else
  kill -KILL -- "-$BG" 2>/dev/null; wait "$BG" 2>/dev/null
  fault_fail "no results file within 30 s" "eval --output-path" "-" logs/F09.err
fi

# F10: a second runner on the same database (another work dir): refused while the first runs
fault_begin F10 "second runner on the same database"
D=$(fault_dir F10); start_runner "$D" logs/F10.log; FIRST=$BG
if wait_for 'training_at "$D" 20'; then
  (cd "$D" && timeout -k 5 "$TO" "$BIN" sweep run sweep.yaml --cache-dir "$CACHE" --no-report --work-dir results/work2) >logs/F10b.out 2>logs/F10b.err
  rc2=$?; why2=$(clean_reason logs/F10b.err "$rc2")
  BG=$FIRST; wait_runner; rc=$RC; why=$(consistent "$D")
  jobs2=$(ls "$D/results/work2/jobs" 2>/dev/null | wc -l)
  if [[ -z $why2 && $rc2 == 3 && $jobs2 == 0 && $rc == 0 && -z $why ]]; then
    survived F10 "$FDESC" "second refused (exit 3: $(first_err logs/F10b.err | head -c 90)); first exit 0"
  else fault_fail "second runner exit $rc2 ${why2}, its jobs $jobs2; first exit $rc; $why" "second sweep run --work-dir results/work2" "$rc2" logs/F10b.err; fi
else fault_fail "training never started" "sweep run" "-" logs/F10.log; kill -KILL -- "-$BG"; fi

# F11: a diverging training (learning rate 1e6): recorded diverged, not retried, status consistent
fault_begin F11 "diverging training (learning rate 1e6)"
D=$(fault_dir F11 "${FAULT_YAML/learning_rate: 1e-4/learning_rate: 1e6}")
(cd "$D" && timeout -k 5 $((TO * 2)) "$BIN" sweep run sweep.yaml --cache-dir "$CACHE" --no-report) >logs/F11.log 2>&1
rc=$?
div=$(sqlite3 "$D/results/matquant.sqlite" "select count(*) from jobs where status = 'diverged'" 2>/dev/null)
other=$(sqlite3 "$D/results/matquant.sqlite" "select count(*) from jobs where status not in ('diverged', 'done')" 2>/dev/null)
st=$(cd "$D" && "$BIN" sweep status sweep.yaml 2>&1); strc=$?
(cd "$D" && timeout -k 5 "$TO" "$BIN" sweep run sweep.yaml --cache-dir "$CACHE" --no-report) >logs/F11b.log 2>&1; rc2=$?
if [[ ${div:-0} -gt 0 && $other == 0 && $strc == 0 ]] && ! grep -qi running <<<"$st" && [[ $rc2 == "$rc" ]] && ! grep -aqE "$CRASH_RE" logs/F11.log; then
  survived F11 "$FDESC" "exit $rc, $div job(s) diverged, none failed or running; a re-run redoes nothing (exit $rc2)"
else fault_fail "exit $rc, diverged $div, other $other, status rc $strc; re-run exit $rc2" "sweep run (lr 1e6)" "$rc" logs/F11.log; fi
fi  # reference ok

echo
ELAPSED=$(( $(date +%s) - START ))
echo "accepted as valid (odd but valid input, same results as the plain file): $ACCEPTED"
echo "elapsed ${ELAPSED} s"
echo "tried $TRIED, rejected cleanly $REJECTED, survived $SURVIVED, failed $FAILED"
if (( FAILED > 0 )); then
  echo "failures:"
  for f in "${FAIL_LIST[@]}"; do echo "  $f"; done
  exit 1
fi
exit 0
