#!/usr/bin/env bash
# A distiller who fights back (docs/AUDIT.md): inference-time watermark neutralization
# (Pan et al., ACL 2025; tracemark-neutralize) on students of a dilution.sh run, audited
# before (the run's own records) and after, in reading, HTTP and dump modes.
#
# Per student: the attacker samples its own texts from the student (the distiller's
# prompts, experiments/prompts_train.txt, 16 completions each: ~100k tokens), estimates the
# favoured tokens per 1- and 2-token prefix against the base model, and lowers them by
# delta' at inference. For each delta' the neutralized student is audited with the
# provider's key: reading mode (the library's accumulator, as `tracemark audit
# --suspect-model`), dump (`tracemark audit --suspect-outputs`), HTTP (`tracemark audit
# --suspect-url` against tracemark-neutralize --serve); plus held-out perplexities, the
# attack's cost. Records: RUN/audits/NAME/wn_d<delta'>_{reading,outputs,url}.json and
# wn_d<delta'>.json (estimate and perplexities). Resumable (step markers in RUN/done/).
#
# Usage: experiments/neutralize.sh RUN_DIR NAME... [--build DIR]
# Environment: DELTAS ("1 2 4"), TAU (0.05), MIN_COUNT (5); H (2) must be the run's H.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXP="$REPO/experiments"
BUILD="$REPO/build-exp"
# shellcheck source=experiments/run_args.sh
source "$EXP/run_args.sh"
parse_run_args 2,17 16,17 "$@"
DELTAS=${DELTAS:-"1 2 4"}
TAU=${TAU:-0.05}
MIN_COUNT=${MIN_COUNT:-5}
H=${H:-2}; GAMMA=0.25; MAX_TOKENS=256; BB_N=4  # H: the run's context width (dilution.sh's H)

# shellcheck source=experiments/lib.sh
source "$EXP/lib.sh"
ensure_tools
check_model
WN="$BUILD/experiments/tracemark-neutralize"
if [[ ! -x $WN ]]; then ninja -C "$BUILD" -j1 tracemark_neutralize >/dev/null; fi
trap cleanup_server EXIT

fit_texts() {  # the attacker's own samples from the student
  gen "$OUT/work/wn_fit_$1.jsonl" "$OUT/students/$1.gguf" 7000 16 "$EXP/prompts_train.txt" --no-watermark
}

attack() {  # attack NAME DELTA'
  local name=$1 d=$2 dir="$OUT/audits/$1"
  local so="$OUT/work/wn_serve_${name}_d$d.out"
  : > "$so"
  "$WN" --student "$OUT/students/$name.gguf" --base "$MODEL" --fit "$OUT/work/wn_fit_$name.jsonl" \
    --tau "$TAU" --min-count "$MIN_COUNT" --delta-prime "$d" \
    --reading "$OUT/corpora/marked.jsonl" --key "$OUT/provider.key" -H "$H" --gamma "$GAMMA" \
    --reading-json "$dir/wn_d${d}_reading.json" \
    --prompts "$EXP/prompts_audit.txt" --n "$BB_N" --seed 2001 --max-tokens "$MAX_TOKENS" \
    --dump "$dir/wn_d${d}_dump.jsonl" \
    --heldout "$OUT/corpora/heldout_clean.jsonl" --heldout "$OUT/corpora/heldout_marked.jsonl" \
    --serve 0 > "$so" 2> "$dir/wn_d${d}.log" &
  SERVER_PID=$!
  local i
  for i in $(seq 1 3000); do
    URL=$(sed -n 's/^listening on //p' "$so" 2>/dev/null | head -1)
    [[ -n $URL ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "tracemark-neutralize exited: $(tail -3 "$dir/wn_d${d}.log")"
    sleep 0.2
  done
  [[ -n $URL ]] || die "tracemark-neutralize did not start serving"
  head -1 "$so" > "$dir/wn_d$d.json"
  local K=(--key "$OUT/provider.key" "${SCHEME[@]}")
  audit "$name" "wn_d${d}_outputs" "${K[@]}" --vocab-size 512 --suspect-outputs "$dir/wn_d${d}_dump.jsonl"
  rm -f "$OUT/work/wn_cache.jsonl"
  audit "$name" "wn_d${d}_url" "${K[@]}" --vocab "$MODEL" --suspect-url "$URL" --prompts "$EXP/prompts_audit.txt" \
    --n "$BB_N" --seed 1 --max-tokens "$MAX_TOKENS" --temperature 1 --concurrency 1 --cache "$OUT/work/wn_cache.jsonl"
  stop_server
  log "  $name, delta' $d: $(jq -c '{reading: .reading.log10_p, heldout: [.heldout[].ppl_neutralized]}' "$dir/wn_d$d.json")" \
      "outputs $(jq .log10_p "$dir/wn_d${d}_outputs.json"), url $(jq .log10_p "$dir/wn_d${d}_url.json")"
}

for name in "${NAMES[@]}"; do
  [[ -f $OUT/students/$name.gguf ]] || die "no student $name in $OUT/students"
  step "wn_fit_$name" fit_texts "$name"
  for d in $DELTAS; do
    step "wn_${name}_d$d" attack "$name" "$d"
  done
done
