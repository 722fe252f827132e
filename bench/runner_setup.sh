# Sourced by the bench/run_*.sh runners that put our benchmark beside its Python reference: strict
# mode, the repository root as working directory, BUILD (default: build-device if present, else
# build), PYTHON (default python3), and $logs, a temporary folder removed on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=${BUILD:-$( [ -d build-device ] && echo build-device || echo build )}
PYTHON=${PYTHON:-python3}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# three_way NAME "FIGURE ..." ARGS...: matquant_bench_NAME, then bench/reference/NAME.py eager and
# with --compile, all with ARGS; fails unless the printed ids checksums agree, then prints each
# FIGURE ours / eager and ours / compiled.
three_way() {
  local name=$1 figures=$2; shift 2
  echo "== matquant ($BUILD/bench/matquant_bench_$name $*)"
  "$BUILD/bench/matquant_bench_$name" "$@" | tee "$logs/ours.log"
  echo "== reference, eager (bench/reference/$name.py $*)"
  "$PYTHON" "bench/reference/$name.py" "$@" | tee "$logs/reference.log"
  echo "== reference, per-layer torch.compile (bench/reference/$name.py $* --compile)"
  "$PYTHON" "bench/reference/$name.py" "$@" --compile | tee "$logs/compiled.log"
  local ours ref
  ours=$(grep -o 'ids checksum [0-9]*' "$logs/ours.log")
  ref=$(grep -o 'ids checksum [0-9]*' "$logs/reference.log")
  if [ "$ours" != "$ref" ]; then echo "inputs differ: matquant $ours, reference $ref" >&2; exit 1; fi
  echo "== ratio against eager (matquant / reference; same inputs: $ours)"
  # shellcheck disable=SC2086  # $figures is a list of names
  "$PYTHON" bench/reference/ratio.py "$name" "$logs/ours.log" "$logs/reference.log" $figures
  echo "== ratio against compiled"
  # shellcheck disable=SC2086
  "$PYTHON" bench/reference/ratio.py "$name" "$logs/ours.log" "$logs/compiled.log" $figures
}
