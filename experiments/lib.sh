# Shared by the distillation experiments (distill.sh, dilution.sh): tools, corpora
# generation, audits of a suspect in three modes, and resumable steps.
# Source it after setting REPO, EXP, OUT, BUILD, H, GAMMA, MAX_TOKENS, BB_N.
# shellcheck shell=bash

MODEL_DIR=${TRACEMARK_MODELS:-$REPO/../shared/models}
MODEL="$MODEL_DIR/stories260K.gguf"
API_KEY="sk-distill-audit-0123456789"
SCHEME=(--scheme kgw-lefthash -H "$H" --gamma "$GAMMA")
SERVER_PID=""

log() { printf '[%s %s] %s\n' "$(basename "$0" .sh)" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ------------------------------------------------------------------ tools and model
ensure_tools() {  # sets TM, FT, HAVE_AUDIT, HAVE_INDEX, HAVE_SERVE
  TM="$BUILD/tools/tracemark/tracemark"
  FT="$BUILD/experiments/tracemark-finetune"
  if [[ ! -x $TM || ! -x $FT ]]; then
    log "building into $BUILD (1 job)"
    cmake -S "$REPO" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTRACEMARK_WITH_LLAMA=ON \
      -DCMAKE_PREFIX_PATH=/opt/tracemark-deps/llama.cpp-v0.4.0 -DTRACEMARK_BUILD_TESTS=OFF \
      -DTRACEMARK_BUILD_BENCH=OFF >/dev/null
    ninja -C "$BUILD" -j1 tracemark_cli tracemark_finetune >/dev/null
  fi
  HAVE_AUDIT=0; HAVE_INDEX=0; HAVE_SERVE=0
  "$TM" audit --help >/dev/null 2>&1 && HAVE_AUDIT=1
  "$TM" index --help >/dev/null 2>&1 && HAVE_INDEX=1
  "$TM" serve --help >/dev/null 2>&1 && HAVE_SERVE=1
  log "tracemark audit: $HAVE_AUDIT, index: $HAVE_INDEX, serve: $HAVE_SERVE"
}

check_model() {  # sets MODEL_SHA
  ( cd "$MODEL_DIR" && grep ' stories260K.gguf$' SHA256SUMS | sha256sum -c --quiet - ) \
    || die "$MODEL does not match $MODEL_DIR/SHA256SUMS"
  MODEL_SHA=$(sha256sum "$MODEL" | cut -d' ' -f1)
}

cleanup_server() { if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi; }

# ------------------------------------------------------------------ resumable steps
# `step NAME CMD...` runs CMD once: on success it leaves $OUT/done/NAME, and a later run
# (after a kill, or with more steps added) skips it. A step's outputs must be rewritten
# whole by CMD, so a step killed half-way is simply redone. Concurrent runs on the same
# --out split the work: a step another run holds (flock) is skipped here with
# `step`, waited for with `step_wait`.
step() { run_step -n "$@"; }
step_wait() { run_step "" "$@"; }
run_step() {  # run_step FLOCK_FLAG NAME CMD...: -n skips a step another run holds, "" waits for it
  local wait_flag=$1 name=$2; shift 2
  [[ -f $OUT/done/$name ]] && return 0
  local lockfd
  mkdir -p "$OUT/done" "$OUT/locks"
  exec {lockfd}>"$OUT/locks/$name.lock"
  if ! flock ${wait_flag:+"$wait_flag"} "$lockfd"; then
    log "$name: running in another process, skipped here"
    exec {lockfd}>&-
    return 0
  fi
  if [[ ! -f $OUT/done/$name ]]; then
    "$@"
    date -u +%FT%TZ > "$OUT/done/$name"
  fi
  exec {lockfd}>&-
}
# `timed FILE CMD...`: CPU and wall time of CMD as one JSON object. CMD may be a shell
# function: the CPU is that of this shell's finished children (`times`, run in this
# shell), before and after, so nothing else may run in the background meanwhile.
children_cpu() {  # children_cpu VAR: user+sys CPU seconds of this shell's finished children
  times > "$OUT/work/times.txt"  # a builtin with a redirection: runs in this shell, not a subshell
  printf -v "$1" '%s' "$(awk 'NR == 2 { split($1, u, "m"); split($2, s, "m"); sub("s", "", u[2]); sub("s", "", s[2]);
                                         printf "%.2f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$OUT/work/times.txt")"
}
timed() {
  local file=$1; shift
  local c0 c1 t0=$SECONDS
  children_cpu c0
  "$@"
  children_cpu c1
  printf '{"cpu_s": %s, "wall_s": %d}\n' "$(python3 -c "print(round($c1 - $c0, 2))")" $((SECONDS - t0)) > "$file"
}

# ------------------------------------------------------------------ corpora
gen() {  # gen OUT MODEL SEED N PROMPTS [--key K | --no-watermark]
  local out=$1 model=$2 seed=$3 n=$4 prompts=$5; shift 5
  "$TM" generate --model "$model" "$@" --prompts-file "$prompts" --n "$n" --max-tokens "$MAX_TOKENS" \
    --seed "$seed" --threads 1 -o "$out.part"
  mv "$out.part" "$out"
}
count_tokens() { python3 -c 'import json,sys; print(sum(len(json.loads(l)["tokens"]) for l in open(sys.argv[1]) if l.strip()))' "$1"; }

# ------------------------------------------------------------------ audits
start_server() {  # start_server MODEL NAME: sets URL
  local model=$1 name=$2 cfg="$OUT/work/serve-$name.json"
  (umask 077; printf '{"watermark": false, "model_name": "%s", "api_keys": [{"account": "auditor", "key": "%s"}]}\n' \
    "$name" "$API_KEY" > "$cfg")
  local so="$OUT/work/serve-$name.out"
  : > "$so"  # else a previous server's "listening on" line could be read
  "$TM" serve --model "$model" --config "$cfg" --host 127.0.0.1 --port 0 --workers 1 \
    >> "$so" 2> "$OUT/audits/$name/serve.log" &
  SERVER_PID=$!
  local i
  for i in $(seq 1 300); do
    URL=$(sed -n 's/^listening on //p' "$so" 2>/dev/null | head -1)
    [[ -n $URL ]] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || die "tracemark serve exited: $(tail -3 "$OUT/audits/$name/serve.log")"
    sleep 0.2
  done
  die "tracemark serve did not start"
}
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""; }

audit() {  # audit NAME OUTFILE ARGS...: one evidence record
  local name=$1 out=$2; shift 2
  "$TM" audit "$@" --alpha 1e-6 --keep-samples 1 -q --json "$OUT/audits/$name/$out.json.part"
  mv "$OUT/audits/$name/$out.json.part" "$OUT/audits/$name/$out.json"
}

# audit_model MODEL NAME MARKED_POOL INDEX [reading-with-unrelated-key]: every mode, into
# $OUT/audits/NAME/ (reading, url, url_index, url_unrelated, outputs, outputs_index,
# outputs_unrelated; reading_unrelated when asked). Keys: $OUT/provider.key, $OUT/unrelated.key.
audit_model() {
  local model=$1 name=$2 pool=$3 index=$4 unrelated_reading=${5:-0}
  mkdir -p "$OUT/audits/$name" "$OUT/work"
  local K=(--key "$OUT/provider.key" "${SCHEME[@]}")
  local U=(--key "$OUT/unrelated.key" "${SCHEME[@]}")
  local IDX=()
  [[ $HAVE_INDEX == 1 && -f $index ]] && IDX=(--index "$index")
  # The dump: the student's own completions of the audit prompts (unwatermarked sampling).
  gen "$OUT/audits/$name/dump.jsonl" "$model" 2001 "$BB_N" "$EXP/prompts_audit.txt" --no-watermark
  if [[ $HAVE_AUDIT == 0 ]]; then
    # Fallback before `tracemark audit` existed: the black-box core, generate + detect with
    # cross-document deduplication (no prompt filter, no index).
    python3 -c 'import json,sys
for l in open(sys.argv[1]):
    r=json.loads(l); print(json.dumps({"tokens": r["tokens"], "prompt": r["prompt_tokens"]}))' \
      "$OUT/audits/$name/dump.jsonl" > "$OUT/work/dump.tokens"
    "$TM" detect --key "$OUT/provider.key" "${SCHEME[@]}" --vocab-size 512 --corpus-only --no-progress \
      "$OUT/work/dump.tokens" > "$OUT/audits/$name/detect.json"
    return
  fi
  # White box: reading mode over the provider's marked outputs.
  audit "$name" reading "${K[@]}" --vocab-size 512 --suspect-model "$model" --texts "$pool" --threads 1
  if [[ $unrelated_reading == 1 ]]; then
    audit "$name" reading_unrelated "${U[@]}" --vocab-size 512 --suspect-model "$model" --texts "$pool" --threads 1
  fi
  # Black box over HTTP: tracemark serve hosts the suspect (no watermark) on loopback.
  if [[ $HAVE_SERVE == 1 ]]; then
    start_server "$model" "$name"
    local URLARGS=(--vocab "$MODEL" --suspect-url "$URL" --prompts "$EXP/prompts_audit.txt" --n "$BB_N"
                   --seed 1 --max-tokens "$MAX_TOKENS" --temperature 1 --concurrency 1
                   --cache "$OUT/audits/$name/url_cache.jsonl")
    rm -f "$OUT/audits/$name/url_cache.jsonl"  # a killed run may have left half a cache
    TRACEMARK_SUSPECT_API_KEY=$API_KEY audit "$name" url "${K[@]}" "${URLARGS[@]}"
    # Same completions (from the cache: no new query), other filters / key.
    [[ ${#IDX[@]} -gt 0 ]] && TRACEMARK_SUSPECT_API_KEY=$API_KEY audit "$name" url_index "${K[@]}" "${URLARGS[@]}" "${IDX[@]}"
    TRACEMARK_SUSPECT_API_KEY=$API_KEY audit "$name" url_unrelated "${U[@]}" "${URLARGS[@]}"
    stop_server
  fi
  # Black box from a dump.
  audit "$name" outputs "${K[@]}" --vocab-size 512 --suspect-outputs "$OUT/audits/$name/dump.jsonl"
  [[ ${#IDX[@]} -gt 0 ]] && audit "$name" outputs_index "${K[@]}" --vocab-size 512 --suspect-outputs "$OUT/audits/$name/dump.jsonl" "${IDX[@]}"
  audit "$name" outputs_unrelated "${U[@]}" --vocab-size 512 --suspect-outputs "$OUT/audits/$name/dump.jsonl"
  return 0
}
