#!/usr/bin/env bash
# Load measurement of `tracemark serve` on loopback (docs/PERFORMANCE.md, "Server under load").
#
#   bench/load/run.sh TRACEMARK_BINARY [SECONDS]
#
# Starts the server (fresh key and config in a private temporary directory) once per
# worker count, runs bench/load/load_client against it at each concurrency for SECONDS
# (default 30) after a 3 s warm-up, stops it with SIGTERM, and prints a Markdown table plus
# the raw JSON lines. Environment: MODEL (default ../shared/models/stories260K.gguf),
# WORKERS ("1 2"), CONCURRENCY ("1 2 4 8"), MAX_TOKENS (64), WATERMARK (true|false),
# STREAM (0|1), LOAD_BUILD (build dir of the client, default build-load).
# Traffic goes to 127.0.0.1 only; every run is bounded in time.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tracemark="${1:?usage: bench/load/run.sh TRACEMARK_BINARY [SECONDS]}"
seconds="${2:-30}"
model="${MODEL:-$root/../shared/models/stories260K.gguf}"
workers_list="${WORKERS:-1 2}"
concurrency_list="${CONCURRENCY:-1 2 4 8}"
max_tokens="${MAX_TOKENS:-64}"
watermark="${WATERMARK:-true}"
stream="${STREAM:-0}"
load_build="${LOAD_BUILD:-$root/build-load}"

cmake -S "$here" -B "$load_build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$load_build" >/dev/null
client="$load_build/load_client"

tmp="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

umask 077
"$tracemark" keygen --out "$tmp/master.key" >/dev/null
api_key="sk-load-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
cat >"$tmp/server.json" <<EOF
{
  "key_file": "master.key",
  "watermark": $watermark,
  "scheme": "kgw-lefthash", "context_width": 2, "gamma": 0.25, "delta": 3.0,
  "api_keys": [{"account": "load", "key": "$api_key"}]
}
EOF

stream_flag=()
[ "$stream" = "1" ] && stream_flag=(--stream)
results="$tmp/results.jsonl"
: >"$results"
for w in $workers_list; do
  "$tracemark" serve --model "$model" --config "$tmp/server.json" --host 127.0.0.1 --port 0 \
    --workers "$w" --queue 64 >"$tmp/stdout" 2>"$tmp/server.log" &
  server_pid=$!
  for _ in $(seq 1 300); do grep -q '^listening on ' "$tmp/stdout" && break; sleep 0.1; done
  port="$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$tmp/stdout")"
  [ -n "$port" ] || { echo "the server did not start:" >&2; cat "$tmp/server.log" >&2; exit 1; }
  "$client" --port "$port" --key "$api_key" --concurrency 2 --duration 3 --max-tokens "$max_tokens" >/dev/null || true
  for c in $concurrency_list; do
    line="$("$client" --port "$port" --key "$api_key" --concurrency "$c" --duration "$seconds" \
      --max-tokens "$max_tokens" "${stream_flag[@]}" || true)"
    echo "{\"workers\": $w, \"watermark\": $watermark, \"result\": $line}" >>"$results"
    echo "workers $w concurrency $c: $line" >&2
  done
  kill -TERM "$server_pid"
  wait "$server_pid" || { echo "the server exited with an error" >&2; exit 1; }
  server_pid=""
done

python3 - "$results" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| workers | watermark | concurrency | requests/s | tokens/s | tokens/request | p50 ms | p90 ms | p99 ms | errors |")
print("|---:|:---:|---:|---:|---:|---:|---:|---:|---:|---|")
for r in rows:
    x = r["result"]; l = x["latency_ms"]
    errs = ", ".join(f"{k}: {v}" for k, v in x["errors"].items()) or "0"
    print(f"| {r['workers']} | {'on' if r['watermark'] else 'off'} | {x['concurrency']} | {x['requests_per_s']:.1f} | "
          f"{x['tokens_per_s']:.0f} | {x['tokens_per_request']:.1f} | {l['p50']:.1f} | {l['p90']:.1f} | {l['p99']:.1f} | {errs} |")
print()
for r in rows:
    print(json.dumps(r))
EOF
