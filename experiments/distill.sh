#!/usr/bin/env bash
# The distillation experiment of issue 5, item 4 (docs/AUDIT.md): does a model fine-tuned
# on a mixture of watermarked and unwatermarked text become detectably "radioactive"?
#
#   1. the teacher (stories260K + the watermark, `tracemark generate --key`) writes the
#      marked pool; the same model without the watermark writes the unmarked pool and
#      held-out sets;
#   2. mixtures with FRACTIONS percent marked tokens, one per seed (mix.py);
#   3. one student per mixture and seed, fine-tuned with llama.cpp's training API
#      (tracemark-finetune: AdamW, 1 thread);
#   4. every student, and the untouched model, audited in three modes:
#        reading   tracemark audit --suspect-model (white box) over the marked pool;
#        url       tracemark serve hosts the student on 127.0.0.1, tracemark audit
#                  --suspect-url queries it (black box over HTTP);
#        outputs   a dump of the student's completions (tracemark generate), tracemark
#                  audit --suspect-outputs;
#      black-box modes also with --index (contexts of the provider's marked outputs), and
#      under an unrelated key (a null control);
#   5. summarize.py writes summary.json and table.md.
#
# Everything is rerun from scratch into --out (default experiments/results/run); seeds and
# the (public, experiment-only) key are fixed, training and generation use one thread, so
# a rerun gives the same numbers.
#
# Usage: experiments/distill.sh [--out DIR] [--build DIR] [--quick] [--keep-going]
#   --build DIR   build tree with tools/tracemark/tracemark and experiments/tracemark-finetune
#                 (default: build-exp; configured and built with 1 job when missing)
#   --quick       a smoke test of the pipeline (2 fractions, 1 seed, small corpora, 1 epoch)
# Environment overrides: FRACTIONS ("0 1 5 10 100"), SEEDS ("1 2 3"), EPOCHS (2), LR (1e-5),
# DELTA (3), H (2), GAMMA (0.25).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXP="$REPO/experiments"
OUT="$EXP/results/run"
BUILD="$REPO/build-exp"
QUICK=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
    *) echo "distill.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

# ------------------------------------------------------------------ parameters
H=${H:-2}                 # context width of the watermark (the teacher's and the audit's)
GAMMA=${GAMMA:-0.25}
DELTA=${DELTA:-3}
FRACTIONS=${FRACTIONS:-"0 1 5 10 100"}   # percent of marked training tokens
SEEDS=${SEEDS:-"1 2 3"}
EPOCHS=${EPOCHS:-2}
LR=${LR:-1e-5}
CTX=512                   # training window (tokens)
MAX_TOKENS=256            # per completion, everywhere
POOL_N=16                 # completions per training prompt: 25 prompts x 16 x 256 ~ 100k tokens per pool
HELD_N=2                  # held-out sets: 25 x 2 x 256 ~ 12k tokens each
BB_N=4                    # black box: 25 audit prompts x 4 completions ~ 25k tokens per mode
if [[ $QUICK == 1 ]]; then
  FRACTIONS=${QUICK_FRACTIONS:-"0 100"}; SEEDS=1; EPOCHS=1; POOL_N=2; HELD_N=1; BB_N=1
fi
MODEL_DIR=${TRACEMARK_MODELS:-$REPO/../shared/models}
MODEL="$MODEL_DIR/stories260K.gguf"
KEY_SEED="tracemark-distill-v1"
OTHER_KEY_SEED="tracemark-distill-v1-unrelated"
API_KEY="sk-distill-audit-0123456789"

log() { printf '[distill %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ------------------------------------------------------------------ tools
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

# ------------------------------------------------------------------ the model
( cd "$MODEL_DIR" && grep ' stories260K.gguf$' SHA256SUMS | sha256sum -c --quiet - ) \
  || die "$MODEL does not match $MODEL_DIR/SHA256SUMS"
MODEL_SHA=$(sha256sum "$MODEL" | cut -d' ' -f1)

rm -rf "$OUT"
mkdir -p "$OUT"/{corpora,mixtures,students,train,audits,work}
OUT=$(cd "$OUT" && pwd)
SCHEME=(--scheme kgw-lefthash -H "$H" --gamma "$GAMMA")
SERVER_PID=""
cleanup() { if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi; }
trap cleanup EXIT

# ------------------------------------------------------------------ keys
python3 "$EXP/make_key.py" "$KEY_SEED" "$OUT/provider.key" >/dev/null
python3 "$EXP/make_key.py" "$OTHER_KEY_SEED" "$OUT/unrelated.key" >/dev/null

# ------------------------------------------------------------------ corpora
gen() {  # gen OUT MODEL SEED N PROMPTS [--key K | --no-watermark]
  local out=$1 model=$2 seed=$3 n=$4 prompts=$5; shift 5
  "$TM" generate --model "$model" "$@" --prompts-file "$prompts" --n "$n" --max-tokens "$MAX_TOKENS" \
    --seed "$seed" --threads 1 -o "$out"
}
count_tokens() { python3 -c 'import json,sys; print(sum(len(json.loads(l)["tokens"]) for l in open(sys.argv[1]) if l.strip()))' "$1"; }
t0=$SECONDS
log "teacher: marked pool (delta $DELTA, h $H, gamma $GAMMA)"
gen "$OUT/corpora/marked.jsonl" "$MODEL" 1000 "$POOL_N" "$EXP/prompts_train.txt" --key "$OUT/provider.key" "${SCHEME[@]}" --delta "$DELTA"
log "unwatermarked model: unmarked pool and held-out sets"
gen "$OUT/corpora/clean.jsonl" "$MODEL" 5000 "$POOL_N" "$EXP/prompts_train.txt" --no-watermark
gen "$OUT/corpora/heldout_clean.jsonl" "$MODEL" 90000 "$HELD_N" "$EXP/prompts_train.txt" --no-watermark
gen "$OUT/corpora/heldout_marked.jsonl" "$MODEL" 95000 "$HELD_N" "$EXP/prompts_train.txt" --key "$OUT/provider.key" "${SCHEME[@]}" --delta "$DELTA"
for c in marked clean heldout_clean heldout_marked; do log "  $c: $(count_tokens "$OUT/corpora/$c.jsonl") tokens"; done
if [[ $HAVE_INDEX == 1 ]]; then
  "$TM" index --key "$OUT/provider.key" "${SCHEME[@]}" --vocab-size 512 -q -o "$OUT/provider.idx" "$OUT/corpora/marked.jsonl"
fi
T_CORPORA=$((SECONDS - t0))

# ------------------------------------------------------------------ audits
start_server() {  # start_server MODEL NAME: sets URL
  local model=$1 name=$2 cfg="$OUT/work/serve.json"
  (umask 077; printf '{"watermark": false, "model_name": "%s", "api_keys": [{"account": "auditor", "key": "%s"}]}\n' \
    "$name" "$API_KEY" > "$cfg")
  rm -f "$OUT/work/serve.out"  # else the previous server's "listening on" line could be read
  : > "$OUT/work/serve.out"
  "$TM" serve --model "$model" --config "$cfg" --host 127.0.0.1 --port 0 --workers 1 \
    >> "$OUT/work/serve.out" 2> "$OUT/audits/$name/serve.log" &
  SERVER_PID=$!
  local i
  for i in $(seq 1 300); do
    URL=$(sed -n 's/^listening on //p' "$OUT/work/serve.out" 2>/dev/null | head -1)
    [[ -n $URL ]] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || die "tracemark serve exited: $(tail -3 "$OUT/audits/$name/serve.log")"
    sleep 0.2
  done
  die "tracemark serve did not start"
}
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""; }

audit() {  # audit NAME OUTFILE ARGS...: one evidence record
  local name=$1 out=$2; shift 2
  "$TM" audit "$@" --alpha 1e-6 --keep-samples 1 -q --json "$OUT/audits/$name/$out.json"
}

audit_model() {  # audit_model MODEL NAME [reading-with-unrelated-key]
  local model=$1 name=$2 unrelated_reading=${3:-0}
  mkdir -p "$OUT/audits/$name"
  local K=(--key "$OUT/provider.key" "${SCHEME[@]}")
  local U=(--key "$OUT/unrelated.key" "${SCHEME[@]}")
  local IDX=()
  [[ $HAVE_INDEX == 1 ]] && IDX=(--index "$OUT/provider.idx")
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
  audit "$name" reading "${K[@]}" --vocab-size 512 --suspect-model "$model" --texts "$OUT/corpora/marked.jsonl" --threads 1
  if [[ $unrelated_reading == 1 ]]; then
    audit "$name" reading_unrelated "${U[@]}" --vocab-size 512 --suspect-model "$model" --texts "$OUT/corpora/marked.jsonl" --threads 1
  fi
  # Black box over HTTP: tracemark serve hosts the suspect (no watermark) on loopback.
  if [[ $HAVE_SERVE == 1 ]]; then
    start_server "$model" "$name"
    local URLARGS=(--vocab "$MODEL" --suspect-url "$URL" --prompts "$EXP/prompts_audit.txt" --n "$BB_N"
                   --seed 1 --max-tokens "$MAX_TOKENS" --temperature 1 --concurrency 1
                   --cache "$OUT/audits/$name/url_cache.jsonl")
    TRACEMARK_SUSPECT_API_KEY=$API_KEY audit "$name" url "${K[@]}" "${URLARGS[@]}"
    # Same completions (from the cache: no new query), other filters / key.
    [[ $HAVE_INDEX == 1 ]] && TRACEMARK_SUSPECT_API_KEY=$API_KEY audit "$name" url_index "${K[@]}" "${URLARGS[@]}" "${IDX[@]}"
    TRACEMARK_SUSPECT_API_KEY=$API_KEY audit "$name" url_unrelated "${U[@]}" "${URLARGS[@]}"
    stop_server
  fi
  # Black box from a dump.
  audit "$name" outputs "${K[@]}" --vocab-size 512 --suspect-outputs "$OUT/audits/$name/dump.jsonl"
  [[ $HAVE_INDEX == 1 ]] && audit "$name" outputs_index "${K[@]}" --vocab-size 512 --suspect-outputs "$OUT/audits/$name/dump.jsonl" "${IDX[@]}"
  audit "$name" outputs_unrelated "${U[@]}" --vocab-size 512 --suspect-outputs "$OUT/audits/$name/dump.jsonl"
  return 0
}

T_AUDIT=0; T_TRAIN=0
t0=$SECONDS
log "control: the untouched model"
audit_model "$MODEL" base 1
# Held-out perplexities of the untouched model (the reference for the students').
"$FT" --model "$MODEL" --data "$OUT/corpora/heldout_clean.jsonl" --val-fraction 0 --epochs 0 --ctx "$CTX" \
  --eval-data "$OUT/corpora/heldout_clean.jsonl" --eval-data "$OUT/corpora/heldout_marked.jsonl" \
  > "$OUT/train/base.json" 2> "$OUT/train/base.log"
T_AUDIT=$((T_AUDIT + SECONDS - t0))

# ------------------------------------------------------------------ students
for f in $FRACTIONS; do
  for s in $SEEDS; do
    name="f${f}_s${s}"
    frac=$(python3 -c "print($f/100)")
    python3 "$EXP/mix.py" --marked "$OUT/corpora/marked.jsonl" --clean "$OUT/corpora/clean.jsonl" \
      --fraction "$frac" --seed "$s" --out "$OUT/mixtures/$name.jsonl" > "$OUT/mixtures/$name.manifest.json"
    log "student $name: $(jq -r '"\(.tokens) tokens, \(.marked_tokens) marked"' "$OUT/mixtures/$name.manifest.json")"
    t0=$SECONDS
    "$FT" --model "$MODEL" --data "$OUT/mixtures/$name.jsonl" --out "$OUT/students/$name.gguf" \
      --epochs "$EPOCHS" --lr "$LR" --ctx "$CTX" --seed "$s" --val-fraction 0.05 --threads 1 --skip-initial-eval \
      --eval-data "$OUT/corpora/heldout_clean.jsonl" --eval-data "$OUT/corpora/heldout_marked.jsonl" \
      > "$OUT/train/$name.json" 2> "$OUT/train/$name.log"
    T_TRAIN=$((T_TRAIN + SECONDS - t0))
    t0=$SECONDS
    unrel=0; [[ $f == 100 ]] && unrel=1
    audit_model "$OUT/students/$name.gguf" "$name" "$unrel"
    T_AUDIT=$((T_AUDIT + SECONDS - t0))
    log "  $(python3 "$EXP/summarize.py" --brief "$OUT/audits/$name")"
  done
done

# ------------------------------------------------------------------ summary
# CPU time of everything this script waited for (generation, training, audits, servers).
times > "$OUT/work/times.txt"   # a builtin with a redirection: runs in this shell
read -r CU CS < <(tr '\n' ' ' < "$OUT/work/times.txt" | sed 's/m/ /g; s/s//g' | awk '{print $5*60+$6, $7*60+$8}')
python3 - "$OUT/manifest.json" <<EOF
import json, sys
json.dump({
  "model": "$MODEL", "model_sha256": "$MODEL_SHA",
  "scheme": {"name": "kgw-lefthash", "h": $H, "gamma": $GAMMA}, "delta": $DELTA,
  "key_fingerprint": open("$OUT/provider.key").read().split("fingerprint ")[1].split()[0],
  "unrelated_key_fingerprint": open("$OUT/unrelated.key").read().split("fingerprint ")[1].split()[0],
  "fractions_percent": "$FRACTIONS".split(), "seeds": "$SEEDS".split(),
  "epochs": $EPOCHS, "lr": $LR, "ctx": $CTX, "max_tokens": $MAX_TOKENS,
  "pool_completions_per_prompt": $POOL_N, "blackbox_completions_per_prompt": $BB_N,
  "have": {"audit": $HAVE_AUDIT, "index": $HAVE_INDEX, "serve": $HAVE_SERVE},
  "wall_seconds": {"corpora": $T_CORPORA, "training": $T_TRAIN, "audits": $T_AUDIT},
  "cpu_seconds_children": {"user": $CU, "sys": $CS},
  "git_commit": "$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)",
  "git_dirty_files": $(git -C "$REPO" status --porcelain 2>/dev/null | wc -l),
}, open(sys.argv[1], "w"), indent=1)
EOF
python3 "$EXP/summarize.py" "$OUT" > "$OUT/table.md"
log "done: $OUT/table.md"
cat "$OUT/table.md"
