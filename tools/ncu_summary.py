#!/usr/bin/env python3
"""Sums an `ncu --csv --metrics gpu__time_duration.sum` log per kernel name: calls, total and mean
time, share of the total. Used by tools/gpu-check.sh --profile to see where a decode step goes."""
import csv
import sys
from collections import defaultdict


def main(path):
    with open(path, newline="") as f:
        lines = [l for l in f if l.startswith('"')]  # ncu prints its own log lines before the CSV
    rows = csv.DictReader(lines)
    total = defaultdict(float)
    calls = defaultdict(int)
    unit_scale = {"nsecond": 1e-3, "usecond": 1.0, "ns": 1e-3, "us": 1.0, "ms": 1e3, "msecond": 1e3, "second": 1e6}
    for r in rows:
        if r.get("Metric Name") != "gpu__time_duration.sum":
            continue
        name = r["Kernel Name"].split("(")[0][:90]
        us = float(r["Metric Value"].replace(",", "")) * unit_scale.get(r.get("Metric Unit", "usecond"), 1.0)
        total[name] += us
        calls[name] += 1
    grand = sum(total.values())
    n = sum(calls.values())
    print(f"{n} kernels, {grand:.1f} us of kernel time")
    print(f"{'us total':>10} {'share':>6} {'calls':>6} {'us mean':>8}  kernel")
    for name, t in sorted(total.items(), key=lambda kv: -kv[1]):
        print(f"{t:10.1f} {100 * t / grand:5.1f}% {calls[name]:6d} {t / calls[name]:8.2f}  {name}")


if __name__ == "__main__":
    main(sys.argv[1])
