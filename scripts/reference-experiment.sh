#!/usr/bin/env bash
# The reference experiment (issue 7, docs/reference-experiment.md): matquant's own corpus and two
# small pretrained models, then the paper's grid at small scale with both bases, then the report.
#   scripts/reference-experiment.sh [material|pretrain|sweeps|report|all]...
# material: corpus from Debian documentation (CPU, ~1 min) and the sweeps' training subset
# pretrain: one Llama-family and one Gemma-2-family model (GPU, ~3 min together on an H200)
# sweeps:   sweeps/reference/{qat,omniquant}.yaml into $DB (GPU; resumable: rerun to continue)
# report:   tables and plots from $DB into results/reference/
# Environment: MATQUANT (binary), GPUS (default 0), PARALLEL (workers, default 8), DB, WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
M="${MATQUANT:-build/apps/matquant}"
MATERIAL=results/reference-material
DB="${DB:-results/reference/matquant.sqlite}"
WORK="${WORK:-results/work-reference}"
OUT_DIR=results/reference
SUBSET_DOCUMENTS=3000  # QAT reads steps x batch x seq = 300 x 16 x 257 tokens (~1.2M); 3000 documents hold ~1.6M

material() {
  scripts/install-corpus-sources.sh
  "$M" corpus build --out results/cache/corpus
  mkdir -p "$MATERIAL/corpus"
  # The sweeps carry a subset to the GPU machine (its transfer limit is 64 MiB with everything else).
  zcat results/cache/corpus/train.json.gz | head -n "$SUBSET_DOCUMENTS" | gzip -n >"$MATERIAL/corpus/train.json.gz"
  cp results/cache/corpus/validation.json.gz results/cache/corpus/corpus.json "$MATERIAL/corpus/"
}

pretrain() {
  for family in llama gemma2; do
    "$M" pretrain --corpus results/cache/corpus --family "$family" --size small --device cuda --steps 2000 \
      --out "$MATERIAL/models/$family"
  done
}

sweeps() {
  for half in qat omniquant; do
    "$M" sweep run "sweeps/reference/$half.yaml" --gpus "${GPUS:-0}" --max-parallel "${PARALLEL:-8}" \
      --db "$DB" --work-dir "$WORK" --no-report
  done
}

report() {
  mkdir -p "$OUT_DIR"
  # Our Gemma-2-family model beside the paper's Gemma-2 9B, our Llama-family model beside Mistral 7B
  # (a table without that column gets copies of its first model's column groups for it).
  local columns=(--model "gemma-2-9b=$MATERIAL/models/gemma2" --model "mistral-7b=$MATERIAL/models/llama")
  for table in 1 2 3 4 5 6 7 8; do
    "$M" report --table "$table" --db "$DB" "${columns[@]}" --only-models --out "$OUT_DIR/table$table.md"
    "$M" report --table "$table" --db "$DB" "${columns[@]}" --only-models --no-paper --explain \
      --out "$OUT_DIR/explain/table$table.md"
  done
  for model in llama gemma2; do
    for base in qat omniquant; do
      "$M" plot mix-n-match --db "$DB" --model "$MATERIAL/models/$model" --base "$base" \
        --metric log_pplx --out "$OUT_DIR/mix-n-match-$model-$base.svg"
    done
  done
}

stages=("$@")
((${#stages[@]})) || stages=(all)
for stage in "${stages[@]}"; do
  case "$stage" in
    material|pretrain|sweeps|report) "$stage" ;;
    all) material; pretrain; sweeps; report ;;
    *) echo "unknown stage '$stage' (material, pretrain, sweeps, report, all)" >&2; exit 2 ;;
  esac
done
