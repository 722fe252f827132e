#!/usr/bin/env bash
# Device-tool helper for the reference experiment (docs/reference-experiment.md): builds the
# binary if the machine has none, pretrains the two reference models if absent (or unpacks them
# from results/reference-material/*.tar), runs one half of the grid into
# results/reference/matquant.sqlite, and leaves the database, models and logs in $OUT.
#   scripts/device-reference-half.sh omniquant|qat [DEADLINE_SECONDS]
set -uo pipefail
cd "$(dirname "$0")/.."
half="$1"; deadline="${2:-560}"  # seconds from start by which the sweep is stopped (it resumes on a rerun)
OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT/logs"
M=build-device/apps/matquant
MATERIAL=results/reference-material
export LD_LIBRARY_PATH="$PWD/.deps/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
start=$(date +%s)
if [[ ! -x $M ]]; then
  MATQUANT_TARGETS=matquant scripts/device-build.sh >"$OUT/logs/build.log" 2>&1 || { tail -40 "$OUT/logs/build.log"; exit 1; }
fi
echo "build: $(( $(date +%s) - start )) s"
for family in llama gemma2; do
  if [[ ! -f $MATERIAL/models/$family/config.json && -f $MATERIAL/$family.tar ]]; then
    mkdir -p $MATERIAL/models && tar -xf "$MATERIAL/$family.tar" -C $MATERIAL/models
  fi
  if [[ ! -f $MATERIAL/models/$family/config.json ]]; then
    "$M" pretrain --corpus results/cache/corpus --family "$family" --size small --device cuda --steps 2000 \
      --out "$MATERIAL/models/$family" >"$OUT/logs/pretrain-$family.log" 2>&1 &
  fi
done
wait
for family in llama gemma2; do tar -cf "$OUT/$family.tar" -C $MATERIAL/models "$family"; done
echo "models: $(( $(date +%s) - start )) s"
timeout "$(( deadline - ($(date +%s) - start) ))" "$M" sweep run "sweeps/reference/$half.yaml" --gpus 0 --max-parallel 8 \
  --db results/reference/matquant.sqlite --work-dir results/work-reference --no-report >"$OUT/logs/sweep-$half.log" 2>&1
echo "sweep $half rc=$? at $(( $(date +%s) - start )) s"
tail -5 "$OUT/logs/sweep-$half.log"
cp results/reference/matquant.sqlite* "$OUT/"  # with its -wal when the sweep was stopped
tar -czf "$OUT/logs.tgz" -C "$OUT" logs && rm -rf "$OUT/logs"
