#!/usr/bin/env bash
# `matquant train --nproc 2` as a user runs it (two ranks over Gloo on the CPU):
#   1. the same losses as one process with the same global batch after 3 steps (to 1e-4; over
#      tens of Adam steps rounding differences grow chaotically, so longer runs are not compared);
#   2. a rank killed by SIGKILL stops the other, the launcher exits 9 naming the rank;
#   3. the same command again resumes from the last sharded state and ends with the losses of an
#      uninterrupted two-rank run, exactly;
#   4. a sweep worker told to train on two processes (what the runner does for resources.gpus: 2)
#      starts the second rank itself and gives the losses of `matquant train --nproc 2`;
#   5. `sweep plan --gpu-memory` refuses a 9B-shape run that cannot fit one GPU and admits it on two.
# Usage: check_train_nproc.sh MATQUANT SOURCE_DIR WORK_DIR
set -euo pipefail
matquant="$1"; source_dir="$2"; work="$3"
model="$source_dir/tests/fixtures/lm_eval/models/llama"
rm -rf "$work"; mkdir -p "$work"; cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }
spec() { echo "{\"model\": \"$model\", \"train\": {\"steps\": $1, \"batch_size\": 4, \"seq_len\": 32, \"learning_rate\": 1e-3, \"warmup_steps\": 0}}"; }
spec 3 > short.json
spec 100 > run.json  # states at steps 50 and 100: the kill after 50 has 50 steps of margin
common=(--cache-dir "$work/cache")
losses() { grep -E '^int[0-9]+	train	train_loss' "$1" | sort; }

"$matquant" train short.json --out one.safetensors "${common[@]}" >one.out 2>one.err || fail "one process: $(tail -2 one.err)"
"$matquant" train short.json --out two.safetensors "${common[@]}" --nproc 2 >two.out 2>two.err || fail "two ranks: $(tail -2 two.err)"
[[ -s two.safetensors ]] || fail "two ranks wrote no checkpoint"
paste <(losses one.out) <(losses two.out) | awk -F'\t' '
  { a = $4; b = $8; d = a - b; if (d < 0) d = -d; if (d > 1e-4 * (a < 0 ? -a : a)) { print "differ: " $0; bad = 1 } }
  END { if (NR != 3) { print NR " loss rows"; bad = 1 } exit bad }' || fail "one process and two ranks disagree"

"$matquant" train run.json --out full.safetensors "${common[@]}" --nproc 2 >full.out 2>full.err || fail "100 steps: $(tail -2 full.err)"
# Kill rank 1 once the step-50 state is published.
"$matquant" train run.json --out killed.safetensors "${common[@]}" --nproc 2 --state-dir state >killed.out 2>killed.err &
launcher=$!
for _ in $(seq 600); do [[ -f state/latest ]] && break; sleep 0.1; done
[[ -f state/latest ]] || fail "no state was published"
rank1=$(pgrep -f -P "$launcher" . | sed -n 2p)
[[ -n "$rank1" ]] || fail "no second rank under the launcher"
kill -9 "$rank1"
set +e; wait "$launcher"; code=$?; set -e
[[ $code -eq 9 ]] || fail "launcher exit $code after a rank was killed (want 9): $(tail -2 killed.err)"
grep -q "was killed by signal 9" killed.err || fail "no line naming the killed rank: $(tail -2 killed.err)"
[[ ! -e killed.safetensors ]] || fail "a killed run wrote a checkpoint"
sleep 0.5
if pgrep -P "$launcher" >/dev/null 2>&1; then fail "ranks left running"; fi
[[ -f state/step-50/rank-0-of-2.pt && -f state/step-50/rank-1-of-2.pt ]] || fail "step-50 state incomplete"

"$matquant" train run.json --out resumed.safetensors "${common[@]}" --nproc 2 --state-dir state >resumed.out 2>resumed.err \
  || fail "resume: $(tail -2 resumed.err)"
# The checkpoint's metadata records that training resumed (a fresh start would give the same losses).
# (Not `head | grep -q`: grep's early exit would SIGPIPE head and fail the pipeline under pipefail.)
head -c 65536 resumed.safetensors >resumed.header
grep -aq 'resumed\\":true' resumed.header || fail "the second run did not resume"
diff <(losses full.out) <(losses resumed.out) >/dev/null || fail "resumed losses differ: $(losses resumed.out | tr '\n' ' ')"
# 4. The runner's job file of a one-process sweep, asked for two processes, run by the worker alone.
cat > sweep.yaml <<YAML
sweep: nproc
config: {model: "$model", train: {steps: 3, batch_size: 4, seq_len: 32, learning_rate: 1e-3, warmup_steps: 0},
         eval: {precisions: ["4"], perplexity_samples: 4}}
YAML
"$matquant" sweep run sweep.yaml --db sweep.sqlite --work-dir sweep "${common[@]}" >sweep.out 2>sweep.err \
  || fail "sweep: $(tail -2 sweep.err)"
job_dir=$(dirname "$(grep -l '"job": "train"' sweep/jobs/*/job.json | head -1)")
[[ -d "$job_dir" ]] || fail "no training job directory in the sweep"
python3 - "$job_dir/job.json" <<'PY'
import json, sys
path = sys.argv[1]
job = json.load(open(path))
job["processes"] = 2
json.dump(job, open(path, "w"))
PY
rm -rf "$job_dir/state" "$job_dir/result.json"
"$matquant" worker "$job_dir" >worker.out 2>worker.err || fail "two-process worker: $(tail -2 worker.err)"
python3 - "$job_dir/result.json" two.out <<'PY' || fail "the two-process worker's losses differ from --nproc 2"
import json, sys
result = json.load(open(sys.argv[1]))
assert result["status"] == "done", result
assert result["timings"]["processes"] == 2, result["timings"]
ours = {m["precision"]: m["value"] for m in result["metrics"] if m["metric"] == "train_loss"}
theirs = {}
for line in open(sys.argv[2]):
    p = line.rstrip("\n").split("\t")
    if len(p) == 4 and p[2] == "train_loss":
        theirs[p[0]] = float(p[3])
assert ours.keys() == theirs.keys(), (ours, theirs)
for k in ours:
    assert abs(ours[k] - theirs[k]) <= 1e-5 * abs(theirs[k]), (k, ours[k], theirs[k])
PY
# Bad counts are refused with their documented codes.
set +e
"$matquant" train short.json --out bad.safetensors "${common[@]}" --nproc 0 >/dev/null 2>bad.err; code=$?
set -e
[[ $code -eq 2 ]] || fail "--nproc 0 gave exit $code (want 2)"
set +e
WORLD_SIZE=two "$matquant" train short.json --out bad.safetensors "${common[@]}" >/dev/null 2>bad.err; code=$?
set -e
[[ $code -eq 3 ]] && grep -q "WORLD_SIZE" bad.err || fail "WORLD_SIZE=two gave exit $code: $(cat bad.err)"

# 5. Memory estimates at plan time.
cat > big.yaml <<'YAML'
sweep: big
config: {model: "builtin:gemma2-9b-shape", train: {batch_size: 2, seq_len: 2048, steps: 10, activation_checkpointing: true},
         eval: {precisions: ["4"]}}
YAML
set +e; "$matquant" sweep plan big.yaml --gpu-memory 139.8 >big.out 2>big.err; code=$?; set -e
[[ $code -eq 3 ]] || fail "a 9B run on one 139.8 GiB GPU was not refused (exit $code)"
grep -q "needs about .* GiB per GPU" big.err || fail "no estimate in the refusal: $(cat big.err)"
sed -i 's/steps: 10,/steps: 10, /; s/^config: {/config: {resources: {gpus: 2}, /' big.yaml
"$matquant" sweep plan big.yaml --gpu-memory 139.8 >big2.out 2>big2.err || fail "9B on two GPUs refused: $(cat big2.err)"
grep -q "2 GPU(s)" big2.out || fail "the plan does not show the two GPUs: $(tail -2 big2.out)"
echo "ok: --nproc 2 matches one process; killed rank -> exit 9; resumed run matches the uninterrupted one; a two-process worker matches --nproc 2; plan-time memory estimates refuse and admit"
