#!/usr/bin/env bash
# CPU: wall time of the quickstart sweep (sweeps/quickstart.yaml) from nothing, into a fresh temp
# database, work and cache directory, and the share of each phase:
#   built-in model creation  cache/builtin/tiny-llama.lock (made when the build starts) to its
#                            config.json (written last); it runs inside the first training job
#   training jobs            sum(jobs.seconds) of kind 'train', less the built-in model creation
#   evaluation jobs          sum(jobs.seconds) of kind 'eval'
#   other                    the rest of the wall time (planning, scheduling, worker start, report)
# Jobs run one at a time on CPU (one worker), so the phases add up to the wall time.
#   bench/quickstart_phases.sh            # MATQUANT=path/to/matquant to choose the binary
set -euo pipefail
cd "$(dirname "$0")/.."
MATQUANT=${MATQUANT:-build/apps/matquant}
dir=$(mktemp -d /tmp/matquant-quickstart.XXXXXX)
echo "== $MATQUANT sweep run sweeps/quickstart.yaml (db, work and cache under $dir)"
start=$(date +%s.%N)
"$MATQUANT" sweep run sweeps/quickstart.yaml --db "$dir/db.sqlite" --work-dir "$dir/work" --cache-dir "$dir/cache" \
  > "$dir/sweep.log" 2>&1 || { tail -20 "$dir/sweep.log"; echo "sweep failed (log: $dir/sweep.log)" >&2; exit 1; }
end=$(date +%s.%N)
grep '^\[sweep\]' "$dir/sweep.log" | grep -E 'done|FAILED|DIVERGED' || true
lock="$dir/cache/builtin/tiny-llama.lock"
config="$dir/cache/builtin/tiny-llama/config.json"
builtin=0
if [ -f "$lock" ] && [ -f "$config" ]; then
  builtin=$(python3 -c "print($(stat -c %.3Y "$config") - $(stat -c %.3Y "$lock"))")
fi
jobs=$("$MATQUANT" query "select kind, count(*), coalesce(sum(seconds), 0) from jobs group by kind" \
  --db "$dir/db.sqlite" --format json)
cores=$(nproc)
load=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$start" "$end" "$builtin" "$jobs" "$cores" "$load" <<'PY'
import json, sys
start, end, builtin = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
rows = json.loads(sys.argv[4])
rows = rows.get("rows", rows) if isinstance(rows, dict) else rows
by_kind = {}
for row in rows:
    values = list(row.values()) if isinstance(row, dict) else list(row)
    by_kind[values[0]] = (int(values[1]), float(values[2] or 0.0))
wall = end - start
train_n, train_s = by_kind.get("train", (0, 0.0))
eval_n, eval_s = by_kind.get("eval", (0, 0.0))
phases = {"builtin_model": builtin, "training_jobs": train_s - builtin, "evaluation_jobs": eval_s}
phases["other"] = wall - sum(phases.values())
print(f"quickstart wall time {wall:.1f} s on {sys.argv[5]} cores (load average at the end: {sys.argv[6]}); "
      f"{train_n} training and {eval_n} evaluation jobs")
print(f"{'phase':<20}{'seconds':>10}{'share':>9}")
for name, seconds in phases.items():
    print(f"{name:<20}{seconds:>10.1f}{100 * seconds / wall:>8.1f}%")
print(json.dumps({"bench": "quickstart_phases", "config": {"cores": int(sys.argv[5]), "load_average": sys.argv[6],
                  "train_jobs": train_n, "eval_jobs": eval_n},
                  "figures": {"wall_seconds": wall, **{f"{k}_seconds": v for k, v in phases.items()},
                              **{f"{k}_share": v / wall for k, v in phases.items()}}}))
PY
rm -rf "$dir"
