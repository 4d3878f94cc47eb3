#!/usr/bin/env bash
# Black box with log-probabilities (docs/AUDIT.md): the green-mass statistic against the
# sampled-token statistic on students of a dilution.sh run, and its null check across keys.
#
# Per student, `tracemark serve` hosts it on loopback and `tracemark audit --suspect-url
# --statistic green-mass --top-logprobs 20` asks the same 25 audit prompts as the run's
# HTTP audit; with 1, 2 and 4 completions per prompt (25, 50, 100 queries) for both
# statistics (the sampled one re-reads the run's cache: no new query), under the
# provider's key and an unrelated key. For the null check (NULL_STUDENTS, default the
# untouched model and the 0% control) the same answers (from the cache) are scored under
# N_KEYS fresh keys. The 25-query budget is also drawn four times (seeds 1 to 4 alone, from
# the caches). Records: RUN/audits/NAME/url_mass[_nK|_unrelated].json,
# url_nK.json; RUN/null_mass.jsonl and null_mass.json. Resumable (RUN/done/).
#
# Usage: experiments/logprobs.sh RUN_DIR NAME... [--build DIR]
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXP="$REPO/experiments"
BUILD="$REPO/build-exp"
# shellcheck source=experiments/run_args.sh
source "$EXP/run_args.sh"
parse_run_args 2,15 15 "$@"
N_KEYS=${N_KEYS:-40}
NULL_STUDENTS=${NULL_STUDENTS:-"base d0"}
H=${H:-2}; GAMMA=0.25; MAX_TOKENS=256; BB_N=4  # H: the run's context width (dilution.sh's H)

# shellcheck source=experiments/lib.sh
source "$EXP/lib.sh"
ensure_tools
check_model
trap cleanup_server EXIT

mass_audits() {  # mass_audits NAME
  local name=$1 dir="$OUT/audits/$1" model
  model=$([[ $name == base ]] && echo "$MODEL" || echo "$OUT/students/$name.gguf")
  start_server "$model" "$name"
  local K=(--key "$OUT/provider.key" "${SCHEME[@]}")
  local common=(--vocab "$MODEL" --suspect-url "$URL" --prompts "$EXP/prompts_audit.txt" --seed 1
                --max-tokens "$MAX_TOKENS" --temperature 1 --concurrency 1)
  local n
  for n in 1 2 4; do
    local tag=""; [[ $n != 4 ]] && tag="_n$n"
    TRACEMARK_SUSPECT_API_KEY=$API_KEY audit "$name" "url_mass$tag" "${K[@]}" "${common[@]}" --n "$n" \
      --statistic green-mass --top-logprobs 20 --cache "$dir/url_mass_cache.jsonl"
    [[ $n != 4 ]] && TRACEMARK_SUSPECT_API_KEY=$API_KEY audit "$name" "url$tag" "${K[@]}" "${common[@]}" --n "$n" \
      --cache "$dir/url_cache.jsonl"
  done
  TRACEMARK_SUSPECT_API_KEY=$API_KEY audit "$name" url_mass_unrelated --key "$OUT/unrelated.key" "${SCHEME[@]}" \
    "${common[@]}" --n 4 --statistic green-mass --top-logprobs 20 --cache "$dir/url_mass_cache.jsonl"
  if [[ " $NULL_STUDENTS " == *" $name "* ]]; then
    local j
    mkdir -p "$OUT/work/null_mass"
    : > "$OUT/work/null_mass/$name.jsonl"
    for j in $(seq 1 "$N_KEYS"); do
      python3 "$EXP/make_key.py" "tracemark-distill-null-$j" "$OUT/work/null_mass/k$j.key" >/dev/null 2>&1 || true
      TRACEMARK_SUSPECT_API_KEY=$API_KEY "$TM" audit --key "$OUT/work/null_mass/k$j.key" "${SCHEME[@]}" "${common[@]}" \
        --n 4 --statistic green-mass --top-logprobs 20 --cache "$dir/url_mass_cache.jsonl" --alpha 1e-6 -q \
        --keep-samples 0 --json - | jq -c --arg s "$name" --argjson k "$j" '{suspect: $s, key: $k, scored, log10_p}' \
        >> "$OUT/work/null_mass/$name.jsonl"
    done
    mv "$OUT/work/null_mass/$name.jsonl" "$dir/null_mass.jsonl"
  fi
  stop_server
  log "  $name: green mass log10 p $(jq .log10_p "$dir/url_mass.json") ($(jq .scored "$dir/url_mass.json") contexts)," \
      "sampled $(jq .log10_p "$dir/url.json")"
}

# The 25-query budget four times over: seeds 2, 3 and 4 alone (seed 1 is url[_mass]_n1), the
# answers of the 100-query audits re-read from the caches: how much one draw of 25 queries varies.
split_audits() {  # split_audits NAME
  local name=$1 dir="$OUT/audits/$1" model s
  model=$([[ $name == base ]] && echo "$MODEL" || echo "$OUT/students/$name.gguf")
  start_server "$model" "$name"
  local K=(--key "$OUT/provider.key" "${SCHEME[@]}")
  local common=(--vocab "$MODEL" --suspect-url "$URL" --prompts "$EXP/prompts_audit.txt" --n 1
                --max-tokens "$MAX_TOKENS" --temperature 1 --concurrency 1)
  for s in 2 3 4; do
    TRACEMARK_SUSPECT_API_KEY=$API_KEY audit "$name" "url_mass_s$s" "${K[@]}" "${common[@]}" --seed "$s" \
      --statistic green-mass --top-logprobs 20 --cache "$dir/url_mass_cache.jsonl"
    TRACEMARK_SUSPECT_API_KEY=$API_KEY audit "$name" "url_s$s" "${K[@]}" "${common[@]}" --seed "$s" \
      --cache "$dir/url_cache.jsonl"
  done
  stop_server
}

for name in "${NAMES[@]}"; do
  [[ $name == base || -f $OUT/students/$name.gguf ]] || die "no student $name in $OUT/students"
  step "mass_$name" mass_audits "$name"
  step "mass_split_$name" split_audits "$name"
done
