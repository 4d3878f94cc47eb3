#!/usr/bin/env python3
"""Prints a Markdown table of the median aggregates in Google Benchmark JSON files."""
import json
import sys

SCALE = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def fmt_ns(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.3f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.2f} ns"


def main(paths):
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        ctx = data["context"]
        print(f"\n### {path.rsplit('/', 1)[-1]}  (load avg {ctx.get('load_avg')}, "
              f"{ctx.get('num_cpus')} x {ctx.get('mhz_per_cpu')} MHz)\n")
        print("| benchmark | cpu time | real time | counters | cv(cpu) |")
        print("|---|---:|---:|---|---:|")
        cv = {b["run_name"]: b["cpu_time"] for b in data["benchmarks"] if b.get("aggregate_name") == "cv"}
        for b in data["benchmarks"]:
            if b.get("aggregate_name") != "median":
                continue
            unit = SCALE[b.get("time_unit", "ns")]
            counters = []
            for k, v in b.items():
                if k == "items_per_second":
                    counters.append(f"{v / 1e6:.1f} M items/s")
                elif k in ("per_test", "ns_per_token", "ns_per_insert"):
                    counters.append(f"{k}={v * 1e9:.2f} ns")
                elif k in ("tested", "n", "scored", "repeat", "oracle_skippable"):
                    counters.append(f"{k}={v:.0f}")
                elif k in ("spread", "margin"):
                    counters.append(f"{k}={v:.2f}")
            c = cv.get(b["run_name"])
            print(f"| {b['run_name']} | {fmt_ns(b['cpu_time'] * unit)} | {fmt_ns(b['real_time'] * unit)} | "
                  f"{', '.join(counters)} | {'' if c is None else f'{c * 100:.1f}%'} |")


if __name__ == "__main__":
    main(sys.argv[1:])
