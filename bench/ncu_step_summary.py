#!/usr/bin/env python3
"""Where one replayed decode step's GPU time goes, from an ncu CSV of gpu__time_duration.

    ncu --graph-profiling node --cache-control none --clock-control none \
        --metrics gpu__time_duration.sum --print-units base --csv \
        build-device/apps/matquant generate --model builtin:gemma2-9b-shape --precision 2 \
        --prompt-ids 2,651,6037,576,9784,576 --scope ffn+attn --dtype bf16 --device cuda \
        --slice-packs --cuda-graph --max-new-tokens 3 > step.csv
    bench/ncu_step_summary.py step.csv KERNELS

KERNELS is the step's kernel count (generate prints "graph of N kernels"): the last N kernels ncu
timed are the last replay of the captured step. Prints the kernels grouped by name, largest first,
with their share of the step and time per call. ncu times each kernel alone, so the sum is the step
without overlap between kernels.
"""
import collections
import csv
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rows = list(csv.reader(open(sys.argv[1], newline="")))
    header_at = next((i for i, r in enumerate(rows) if "Kernel Name" in r and "Metric Value" in r), None)
    if header_at is None:
        sys.exit(f"{sys.argv[1]}: no ncu CSV header (Kernel Name, Metric Value)")
    header = rows[header_at]
    name_at, value_at = header.index("Kernel Name"), header.index("Metric Value")
    times = []
    for r in rows[header_at + 1:]:
        if len(r) <= value_at:
            continue
        value = r[value_at].replace(",", "")
        try:
            times.append((r[name_at], float(value)))  # nanoseconds (--print-units base)
        except ValueError:
            continue
    count = int(sys.argv[2])
    if count < 1 or count > len(times):
        sys.exit(f"{count} kernels asked for, {len(times)} timed")
    step = times[-count:]
    total = sum(t for _, t in step)
    print(f"kernels timed {len(times)}; the last {count}: {total / 1e3:.1f} us")
    by_name = collections.defaultdict(lambda: [0, 0.0])
    for name, t in step:
        by_name[name][0] += 1
        by_name[name][1] += t
    for name, (calls, t) in sorted(by_name.items(), key=lambda item: -item[1][1]):
        print(f"{t / 1e3:9.1f} us {100 * t / total:5.1f}% {calls:4d} x {t / calls / 1e3:7.2f} us  {name[:100]}")


if __name__ == "__main__":
    main()
