#!/usr/bin/env bash
# Distillation at realistic proportions (docs/AUDIT.md, "Diluted students" and "Scaling"):
# a fixed number of harvested (marked) tokens mixed into a much larger fine-tuning set.
#
#   corpora   the teacher (stories260K + the watermark) writes a marked pool of about
#             200k tokens; the unwatermarked model writes unmarked shards of about 500k
#             tokens each (as many as the students below need) and two held-out sets;
#   students  one per line of STUDENTS (name, marked tokens, marked percent, total):
#               diluted: 100k marked tokens at 10% (1M) and 5% (2M), a 0% control of 2M;
#               scaling: 12k, 25k, 50k, 100k, 200k marked tokens at 100% and at 5%;
#             same recipe as distill.sh (lr 1e-5, 2 epochs, 512-token windows, 1 thread);
#   audits    reading, HTTP and dump modes (lib.sh: audit_model), with --index and an
#             unrelated key, as in distill.sh; CPU time of training and audits per student.
#
# Resumable: every step leaves a marker in OUT/done/; a killed run started again with the
# same arguments continues with the first unfinished step (a half-trained student is
# retrained from the start). Two runs on the same --out share the work (one student each
# at a time; corpora are made once): on two idle cores, start it twice.
#
# Usage: experiments/dilution.sh [--out DIR] [--build DIR] [--only NAME[,NAME...]] [--quick]
#   --out DIR     default experiments/results/dilution
#   --only LIST   train and audit only these students (names from the table below)
#   --quick       smoke test: tiny corpora and students, 1 epoch, into --out (default /tmp/dilution-quick)
# Environment: H (2) and DELTA (3), the teacher's context width and bias, for the provider
# choices of docs/AUDIT.md (e.g. H=3 dilution.sh --out results/choice_h3 --only p100_m100k).
# Then: python3 experiments/summarize_dilution.py OUT > OUT/table.md
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXP="$REPO/experiments"
OUT="$EXP/results/dilution"
BUILD="$REPO/build-exp"
ONLY=""
QUICK=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --only) ONLY=",$2,"; shift 2 ;;
    --quick) QUICK=1; [[ $OUT == "$EXP/results/dilution" ]] && OUT=/tmp/dilution-quick; shift ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "dilution.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

# ------------------------------------------------------------------ parameters
H=${H:-2}; GAMMA=0.25; DELTA=${DELTA:-3}  # the teacher's watermark, as in distill.sh (H, DELTA: provider choices)
EPOCHS=2; LR=1e-5; CTX=512        # the training recipe, as in distill.sh
MAX_TOKENS=256
MARKED_N=32                       # 25 prompts x 32 x 256: ~200k marked tokens
SHARD_N=80                        # 25 prompts x 80 x 256: ~500k unmarked tokens per shard
HELD_N=2
BB_N=4                            # black box: 100 completions (~25k tokens) per mode
KEY_SEED="tracemark-distill-v1"   # the same provider key as distill.sh
OTHER_KEY_SEED="tracemark-distill-v1-unrelated"
# name  marked-tokens  marked-percent  total (0: marked / percent)
STUDENTS="
d5_m100k   100000   5  0
d0         0        0  2000000
d10_m100k  100000  10  0
p100_m12k  12500  100  0
p100_m25k  25000  100  0
p100_m50k  50000  100  0
p100_m100k 100000 100  0
p100_m200k 200000 100  0
d5_m12k    12500    5  0
d5_m25k    25000    5  0
d5_m50k    50000    5  0
d5_m200k   200000   5  0
"
if [[ $QUICK == 1 ]]; then
  EPOCHS=1; MARKED_N=2; SHARD_N=4; HELD_N=1; BB_N=1
  STUDENTS="
q5   2500   5 0
q0   0      0 50000
q100 5000 100 0
"
fi

# shellcheck source=experiments/lib.sh
source "$EXP/lib.sh"
ensure_tools
check_model
trap cleanup_server EXIT
mkdir -p "$OUT"/{corpora,mixtures,students,train,audits,work}
OUT=$(cd "$OUT" && pwd)

# ------------------------------------------------------------------ keys and corpora
make_keys() {
  python3 "$EXP/make_key.py" "$KEY_SEED" "$OUT/provider.key" >/dev/null
  python3 "$EXP/make_key.py" "$OTHER_KEY_SEED" "$OUT/unrelated.key" >/dev/null
}
make_marked() {
  log "teacher: marked pool (delta $DELTA, h $H, gamma $GAMMA)"
  gen "$OUT/corpora/marked.jsonl" "$MODEL" 1000 "$MARKED_N" "$EXP/prompts_train.txt" --key "$OUT/provider.key" "${SCHEME[@]}" --delta "$DELTA"
  gen "$OUT/corpora/heldout_marked.jsonl" "$MODEL" 95000 "$HELD_N" "$EXP/prompts_train.txt" --key "$OUT/provider.key" "${SCHEME[@]}" --delta "$DELTA"
  gen "$OUT/corpora/heldout_clean.jsonl" "$MODEL" 90000 "$HELD_N" "$EXP/prompts_train.txt" --no-watermark
  if [[ $HAVE_INDEX == 1 ]]; then
    "$TM" index --key "$OUT/provider.key" "${SCHEME[@]}" --vocab-size 512 -q -o "$OUT/provider.idx.part" "$OUT/corpora/marked.jsonl"
    mv "$OUT/provider.idx.part" "$OUT/provider.idx"
  fi
  for c in marked heldout_marked heldout_clean; do log "  $c: $(count_tokens "$OUT/corpora/$c.jsonl") tokens"; done
}
make_shard() {  # make_shard K: unmarked shard K (seeds differ per shard)
  log "unmarked shard $1"
  gen "$OUT/corpora/clean_$1.jsonl" "$MODEL" $((5000 + 1000 * $1)) "$SHARD_N" "$EXP/prompts_train.txt" --no-watermark
  log "  clean_$1: $(count_tokens "$OUT/corpora/clean_$1.jsonl") tokens"
}
# shards_for TOKENS: the unmarked shards needed for that many unmarked tokens (made on demand)
shards_for() {
  local need=$1 have=0 k=1 files=()
  while (( have < need )); do
    step_wait "shard_$k" make_shard "$k"
    files+=("$OUT/corpora/clean_$k.jsonl")
    have=$((have + $(python3 -c 'import json,sys; print(sum(len(r.get("prompt_tokens") or [])+len(r["tokens"]) for r in map(json.loads, open(sys.argv[1])) if "tokens" in r))' "$OUT/corpora/clean_$k.jsonl")))
    k=$((k + 1))
  done
  SHARDS=("${files[@]}")
}

step_wait keys make_keys
step_wait marked make_marked

# ------------------------------------------------------------------ the untouched model
base_control() {
  timed "$OUT/train/base.audit_time.json" \
    audit_model "$MODEL" base "$OUT/corpora/marked.jsonl" "$OUT/provider.idx" 1
  "$FT" --model "$MODEL" --data "$OUT/corpora/heldout_clean.jsonl" --val-fraction 0 --epochs 0 --ctx "$CTX" \
    --eval-data "$OUT/corpora/heldout_clean.jsonl" --eval-data "$OUT/corpora/heldout_marked.jsonl" \
    > "$OUT/train/base.json" 2> "$OUT/train/base.log"
}
step base base_control

# ------------------------------------------------------------------ students
student() {  # student NAME MARKED PERCENT TOTAL
  local name=$1 marked=$2 pct=$3 total=$4
  local frac
  frac=$(python3 -c "print($pct/100)")
  local unmarked=$(( total > 0 ? total : (pct == 100 ? 0 : marked * (100 - pct) / pct) ))
  SHARDS=()
  if (( unmarked > 0 )); then shards_for "$unmarked"; else SHARDS=("$OUT/corpora/heldout_clean.jsonl"); fi
  local mixargs=(--marked "$OUT/corpora/marked.jsonl" --clean "${SHARDS[@]}" --fraction "$frac" --seed 1)
  if [[ $pct == 0 ]]; then mixargs+=(--total "$total"); else mixargs+=(--marked-tokens "$marked"); fi
  python3 "$EXP/mix.py" "${mixargs[@]}" --out "$OUT/mixtures/$name.jsonl" > "$OUT/mixtures/$name.manifest.json"
  log "student $name: $(jq -r '"\(.tokens) tokens, \(.marked_tokens) marked"' "$OUT/mixtures/$name.manifest.json")"
  timed "$OUT/train/$name.time.json" \
    "$FT" --model "$MODEL" --data "$OUT/mixtures/$name.jsonl" --out "$OUT/students/$name.gguf" \
      --epochs "$EPOCHS" --lr "$LR" --ctx "$CTX" --seed 1 --val-fraction 0.05 --threads 1 --skip-initial-eval \
      --eval-data "$OUT/corpora/heldout_clean.jsonl" --eval-data "$OUT/corpora/heldout_marked.jsonl" \
      > "$OUT/train/$name.json" 2> "$OUT/train/$name.log"
  local unrel=0
  [[ $name == d0 || $name == d5_m100k || $name == p100_m100k || $name == q0 ]] && unrel=1
  timed "$OUT/train/$name.audit_time.json" \
    audit_model "$OUT/students/$name.gguf" "$name" "$OUT/corpora/marked.jsonl" "$OUT/provider.idx" "$unrel"
  log "  $(python3 "$EXP/summarize.py" --brief "$OUT/audits/$name")"
}

while read -r name marked pct total; do
  [[ -z $name ]] && continue
  [[ -n $ONLY && $ONLY != *",$name,"* ]] && continue
  step "student_$name" student "$name" "$marked" "$pct" "$total"
done <<< "$STUDENTS"
log "done: $OUT (summary: python3 $EXP/summarize_dilution.py $OUT)"
