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
KEY_SEED="tracemark-distill-v1"
OTHER_KEY_SEED="tracemark-distill-v1-unrelated"

# shellcheck source=experiments/lib.sh
source "$EXP/lib.sh"
ensure_tools
check_model
trap cleanup_server EXIT

rm -rf "$OUT"
mkdir -p "$OUT"/{corpora,mixtures,students,train,audits,work}
OUT=$(cd "$OUT" && pwd)

# ------------------------------------------------------------------ keys
python3 "$EXP/make_key.py" "$KEY_SEED" "$OUT/provider.key" >/dev/null
python3 "$EXP/make_key.py" "$OTHER_KEY_SEED" "$OUT/unrelated.key" >/dev/null

# ------------------------------------------------------------------ corpora
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

T_AUDIT=0; T_TRAIN=0
t0=$SECONDS
log "control: the untouched model"
audit_model "$MODEL" base "$OUT/corpora/marked.jsonl" "$OUT/provider.idx" 1
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
    audit_model "$OUT/students/$name.gguf" "$name" "$OUT/corpora/marked.jsonl" "$OUT/provider.idx" "$unrel"
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
