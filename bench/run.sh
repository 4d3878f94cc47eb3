#!/usr/bin/env bash
# Builds the benchmarks (Release) and runs each with 5 repetitions, writing JSON and a
# table of medians. Usage: bench/run.sh [build-dir] [out-dir]   (see docs/PERFORMANCE.md)
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$src/build-bench}"
out="${2:-$build/results}"
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DTRACEMARK_BUILD_BENCH=ON -DTRACEMARK_BUILD_TESTS=OFF -DTRACEMARK_BUILD_TOOLS=OFF >/dev/null
cmake --build "$build" --target bench_prf bench_encoder bench_detector -j "$(nproc)"
mkdir -p "$out"
uptime | tee "$out/load.txt"
for b in bench_prf bench_encoder bench_detector; do
  "$build/bench/$b" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
    --benchmark_out="$out/$b.json" --benchmark_out_format=json
done
uptime | tee -a "$out/load.txt"
python3 "$src/bench/summarize.py" "$out"/bench_*.json | tee "$out/medians.md"
