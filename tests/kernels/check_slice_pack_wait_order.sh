#!/usr/bin/env bash
# The batch-1 slice-pack kernels read their weights before griddepcontrol.wait, so a chained call
# loads them while the previous kernel finishes (lib/kernels/slice_pack_gemm.cu, slice_pack_imma.cu),
# and their activations after it (x is the previous kernel's output). ptxas is free to schedule the
# wait (ACQBULK in SASS) ahead of the weight loads, and did for the int8 and group-wise instances
# until the kernel was arranged against it; chained int8 took 4-14 % longer that way (H200,
# docs/performance.md). It also moved the integer-MMA kernel's activation loads (then ld.global.nc)
# ahead of the wait, and chained calls read a stale x. This reads the sm_90 SASS of every batch-1
# instance (the bf16 kernel's kOneRow ones and the integer-MMA kernel's) and fails unless the ring's
# 8 streaming loads per lane (LDG.E.NA; 128 bytes at every width) all come before its first ACQBULK
# and no activation load (a 64- or 128-bit LDG that is not .NA) does.
# Usage: check_slice_pack_wait_order.sh <libmatquant_kernels.a or an object file>
# Exit 77 (skipped) without cuobjdump (CUDA toolkit, PATH, $CUOBJDUMP or Triton's bundled copy) or
# without sm_90 SASS in the library (a build for other GPUs).
set -euo pipefail
library=$1

find_cuobjdump() {
  if [[ -n "${CUOBJDUMP:-}" && -x "$CUOBJDUMP" ]]; then echo "$CUOBJDUMP"; return; fi
  if command -v cuobjdump >/dev/null; then command -v cuobjdump; return; fi
  if [[ -x /usr/local/cuda/bin/cuobjdump ]]; then echo /usr/local/cuda/bin/cuobjdump; return; fi
  local bundled
  bundled=$(python3 -c 'import os, triton; print(os.path.join(os.path.dirname(triton.__file__), "backends/nvidia/bin/cuobjdump"))' 2>/dev/null || true)
  if [[ -n "$bundled" && -x "$bundled" ]]; then echo "$bundled"; fi
}
tool=$(find_cuobjdump)
if [[ -z "$tool" ]]; then
  echo "skipped: no cuobjdump"
  exit 77
fi

# The 13 batch-1 instances: the bf16 kernel's widths 2 and 4 with one or two row tiles and width 8
# with one, each with per-channel and group-wise scales; the integer-MMA kernel's widths 2, 4 and 8.
expected=13
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! "$tool" -sass "$library" >"$work/sass" 2>"$work/errors"; then
  echo "cuobjdump failed on $library:" >&2
  cat "$work/errors" >&2
  exit 1
fi
report=$(awk '
  function flush() { if (name != "") print name, loads_before, (waited ? "wait" : "no-wait"), x_before }
  /arch = sm_/ { arch = $3 }
  /Function : / {
    flush()
    name = ""
    if ((arch == "sm_90" || arch == "sm_90a") &&
        ($0 ~ /slice_pack_gemm_kernelILi[0-9]+ELi[0-9]+ELb1E/ || $0 ~ /slice_pack_imma_kernelILi[0-9]+E/)) {
      name = $3; sub(/.*slice_pack_/, "", name); sub(/EEEvN.*/, "", name)
      loads_before = 0; waited = 0; x_before = 0
    }
    next
  }
  name != "" && /ACQBULK/ && !waited { waited = 1 }
  name != "" && /LDG\.E\.NA/ && !waited { loads_before++ }
  name != "" && /LDG\.E\.(64|128)/ && !/LDG\.E\.NA/ && !waited { x_before++ }
  END { flush() }' "$work/sass" | sort -u)

found=$(grep -c . <<<"$report" || true)
if (( found == 0 )); then
  echo "skipped: no sm_90 SASS of the slice-pack kernels in $library (a build for other GPUs, or PTX only)"
  exit 77
fi
echo "$report"
if (( found != expected )); then
  echo "found $found sm_90 batch-1 slice-pack kernel instances in $library, expected $expected" >&2
  exit 1
fi
bad=$(awk '$3 != "wait" || $2 < 8' <<<"$report")
if [[ -n "$bad" ]]; then
  echo "instances that wait for the previous kernel before loading their ring (instance, loads before the wait):" >&2
  echo "$bad" >&2
  exit 1
fi
early=$(awk '$4 > 0' <<<"$report")
if [[ -n "$early" ]]; then
  echo "instances that read activations before griddepcontrol.wait (instance, ..., activation loads before it):" >&2
  echo "$early" >&2
  exit 1
fi
echo "every batch-1 instance loads its ring before griddepcontrol.wait and its activations after it"
