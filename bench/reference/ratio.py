#!/usr/bin/env python3
"""Reads the final JSON lines of our benchmark and its reference (two log files), prints each
figure side by side with the ratio ours / reference, and one combined JSON line.

usage: ratio.py BENCH OURS.log REFERENCE.log FIGURE [FIGURE ...]
"""
import json
import sys


def last_json(path):
    with open(path) as f:
        lines = [line for line in f if line.startswith("{")]
    if not lines:
        raise SystemExit(f"no JSON line in {path}")
    return json.loads(lines[-1])


def main():
    bench, ours_path, ref_path, *names = sys.argv[1:]
    ours, ref = last_json(ours_path), last_json(ref_path)
    figures = {}
    print(f"{'figure':<20}{'matquant':>16}{'reference':>16}{'ratio':>10}")
    for name in names:
        a, b = ours["figures"].get(name), ref["figures"].get(name)
        ratio = a / b if a is not None and b else None
        figures[name] = {"matquant": a, "reference": b, "ratio": ratio}
        fmt = lambda v: "n/a" if v is None else f"{v:.4g}"
        print(f"{name:<20}{fmt(a):>16}{fmt(b):>16}{fmt(ratio):>10}")
    print(json.dumps({"bench": bench, "config": {"matquant": ours["config"], "reference": ref["config"]},
                      "figures": figures}))


if __name__ == "__main__":
    main()
