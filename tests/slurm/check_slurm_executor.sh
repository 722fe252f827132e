#!/usr/bin/env bash
# The Slurm executor against a real Slurm (a private single-node cluster, scripts/slurm-test-cluster.sh):
#   1. the quickstart sweep through Slurm gives the local executor's metrics, bit for bit, and its table;
#   2. no evaluation starts before its training ended (afterok), every job was submitted once, and
#      the evaluations of one training went as one job array;
#   3. a runner killed while jobs are queued, started again, adopts them: no second submission;
#   4. scancel of a running job is a failed attempt, retried.
# Usage: check_slurm_executor.sh MATQUANT SOURCE_DIR WORK_DIR
set -euo pipefail
matquant="$1"; source_dir="$2"; work="$3"
rm -rf "$work"; mkdir -p "$work"
eval "$("$source_dir/scripts/slurm-test-cluster.sh" start "$work/cluster")"
trap '"$source_dir/scripts/slurm-test-cluster.sh" stop "$work/cluster"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$source_dir"  # the sweep's report reads experiments/tables from here
common=(--cache-dir "$work/cache")
metrics() {
  "$matquant" query --db "$1" --format csv \
    "select m.job_key, m.precision, m.task, m.metric, printf('%.17g', m.value) from metrics m order by 1, 2, 3, 4"
}

# 1. Local, then Slurm (one job at a time with the local runner's two threads).
"$matquant" sweep run sweeps/quickstart.yaml "${common[@]}" --db "$work/local.sqlite" --work-dir "$work/local" \
  >"$work/local.table" 2>"$work/local.log" || fail "local quickstart: $(tail -3 "$work/local.log")"
start=$(date +%s)
"$matquant" sweep run sweeps/quickstart.yaml "${common[@]}" --db "$work/slurm.sqlite" --work-dir "$work/slurm" \
  --executor slurm --cpus-per-job 2 --poll-seconds 0.5 >"$work/slurm.table" 2>"$work/slurm.log" \
  || fail "Slurm quickstart: $(tail -5 "$work/slurm.log")"
echo "quickstart through Slurm: $(( $(date +%s) - start )) s"
grep -q "16 done now" "$work/slurm.log" || fail "not every job done through Slurm: $(tail -2 "$work/slurm.log")"
diff <(metrics "$work/local.sqlite") <(metrics "$work/slurm.sqlite") >"$work/metrics.diff" \
  || fail "metrics differ between the local and the Slurm executor: $(head -5 "$work/metrics.diff")"
[[ $(metrics "$work/slurm.sqlite" | wc -l) -gt 60 ]] || fail "too few metrics recorded"
diff "$work/local.table" "$work/slurm.table" || fail "the tables differ"
grep -q "MatQuant" "$work/slurm.table" || fail "no table printed: $(cat "$work/slurm.table")"

# 2. Every eval started after its training's result was written; one submission per job.
python3 - "$work/slurm" <<'PY' || fail "an evaluation started before its training ended"
import json, os, sys
root = os.path.join(sys.argv[1], "jobs")
checked = 0
for key in os.listdir(root):
    job = json.load(open(os.path.join(root, key, "job.json")))
    if job["job"] != "eval" or not job.get("checkpoint"):
        continue
    train = json.load(open(os.path.join(os.path.dirname(job["checkpoint"]), "result.json")))
    ev = json.load(open(os.path.join(root, key, "result.json")))
    assert train["finished_at"] <= ev["started_at"], (key, train["finished_at"], ev["started_at"])
    checked += 1
assert checked == 11, checked  # 12 evaluations, one of them bf16 (no checkpoint)
PY
submitted=$("$matquant" query --db "$work/slurm.sqlite" --format csv \
  "select count(*), count(distinct job_key) from events where kind = 'slurm' and message like 'submitted as%'" | tail -1)
[[ "$submitted" == "16,16" ]] || fail "expected 16 submissions of 16 jobs, got $submitted"
# The evaluations of one training went as one job array (Sliced int8 shares the int8 baseline's: 4).
arrays=$("$matquant" query --db "$work/slurm.sqlite" --format csv \
  "select count(*) from events where kind = 'slurm' and message like 'submitted as%(array % of 4)%'" | tail -1)
[[ "$arrays" == "4" ]] || fail "expected a job array of the int8 training's 4 evaluations, got $arrays tasks"

# 3. The runner killed with jobs queued; started again, it adopts them.
sed -e 's/^sweep: quickstart/sweep: adopt/' -e 's/steps: 60,/steps: 30,/' sweeps/quickstart.yaml >"$work/adopt.yaml"
"$matquant" sweep run "$work/adopt.yaml" "${common[@]}" --db "$work/adopt.sqlite" --work-dir "$work/adopt" \
  --executor slurm --cpus-per-job 2 --poll-seconds 0.5 --no-report 2>"$work/adopt1.log" &
runner=$!
for _ in $(seq 1 120); do
  [[ $(grep -c "submit " "$work/adopt1.log" || true) -ge 16 ]] && break
  sleep 0.5
done
kill -9 "$runner"; wait "$runner" 2>/dev/null || true
[[ $(squeue --noheader | wc -l) -gt 0 ]] || fail "the adoption test needs jobs still queued when the runner dies"
"$matquant" sweep status "$work/adopt.yaml" --db "$work/adopt.sqlite" --work-dir "$work/adopt" >"$work/adopt.status" \
  || fail "sweep status with jobs in Slurm failed"
grep -q "in Slurm (squeue):" "$work/adopt.status" || fail "sweep status does not show the jobs in Slurm: $(cat "$work/adopt.status")"
"$matquant" sweep run "$work/adopt.yaml" "${common[@]}" --db "$work/adopt.sqlite" --work-dir "$work/adopt" \
  --executor slurm --cpus-per-job 2 --poll-seconds 0.5 --no-report 2>"$work/adopt2.log" \
  || fail "the restarted runner failed: $(tail -3 "$work/adopt2.log")"
grep -q "adopting Slurm job" "$work/adopt2.log" || fail "nothing adopted: $(head -5 "$work/adopt2.log")"
grep -q "submit " "$work/adopt2.log" && fail "the restarted runner submitted again: $(grep submit "$work/adopt2.log" | head -3)"
submitted=$("$matquant" query --db "$work/adopt.sqlite" --format csv \
  "select count(*), count(distinct job_key) from events where kind = 'slurm' and message like 'submitted as%'" | tail -1)
[[ "$submitted" == "16,16" ]] || fail "adoption: expected 16 submissions of 16 jobs, got $submitted"
done_jobs=$("$matquant" query --db "$work/adopt.sqlite" --format csv "select count(*) from jobs where status = 'done'" | tail -1)
[[ "$done_jobs" == "16" ]] || fail "adoption: $done_jobs of 16 jobs done"

# 4. scancel of a running training: a failed attempt, retried, then done.
cat >"$work/cancel.yaml" <<YAML
sweep: cancel
config:
  model: builtin:tiny-llama
  variant: baseline
  bits: [4]
  train: {steps: 150, warmup_steps: 6, learning_rate: 1e-4, batch_size: 8, seq_len: 64}
  eval: {precisions: ["4"], perplexity_samples: 8}
YAML
"$matquant" sweep run "$work/cancel.yaml" "${common[@]}" --db "$work/cancel.sqlite" --work-dir "$work/cancel" \
  --executor slurm --cpus-per-job 2 --poll-seconds 0.5 --no-report 2>"$work/cancel.log" &
runner=$!
id=""
for _ in $(seq 1 120); do
  id=$(squeue --noheader --states=RUNNING --format="%i %j" | awk '/mq-train/ {print $1; exit}')
  [[ -n "$id" ]] && break
  sleep 0.5
done
[[ -n "$id" ]] || fail "the training job never ran"
sleep 2
scancel "$id"
wait "$runner" || fail "the runner did not finish after a cancelled attempt: $(tail -3 "$work/cancel.log")"
grep -q "retrying (1/2)" "$work/cancel.log" || fail "the cancelled job was not retried: $(cat "$work/cancel.log")"
attempts=$("$matquant" query --db "$work/cancel.sqlite" --format csv "select status, attempts from jobs where kind = 'train'" | tail -1)
[[ "$attempts" == "done,2" ]] || fail "expected the training done at attempt 2, got $attempts"
# 5. Refusals: an unknown partition (exit 3, sbatch's reason), no Slurm on PATH (exit 4).
set +e
"$matquant" sweep run "$work/cancel.yaml" "${common[@]}" --db "$work/refused.sqlite" --work-dir "$work/refused" \
  --executor slurm --partition no-such-partition --no-report 2>"$work/refused.log"
rc=$?
set -e
[[ $rc == 3 ]] && grep -q "Slurm refused the submission.*nvalid partition" "$work/refused.log" \
  || fail "an unknown partition: expected exit 3 with sbatch's reason, got $rc: $(tail -2 "$work/refused.log")"
set +e
mkdir -p "$work/no-slurm-bin"
PATH="$work/no-slurm-bin" "$matquant" sweep run "$work/cancel.yaml" "${common[@]}" --db "$work/nosbatch.sqlite" \
  --work-dir "$work/nosbatch" --executor slurm --no-report 2>"$work/nosbatch.log"
rc=$?
set -e
[[ $rc == 4 ]] && grep -q "sbatch not found" "$work/nosbatch.log" \
  || fail "no sbatch: expected exit 4, got $rc: $(tail -2 "$work/nosbatch.log")"
echo "Slurm executor: all checks passed"
