#!/usr/bin/env bash
# Peak memory of corpus detection and merging at the 1 GB scale (docs/EVIDENCE.md "Memory").
#
#   bench/memory/corpus_memory.sh BUILD_DIR WORK_DIR [BYTES]
#
# Makes BYTES (default 1e9) of synthetic text (synthetic_corpus.py) and of random token ids
# (the worst case: every (context, token) tuple distinct), then runs, under /usr/bin/time -v:
#   detect --corpus-only --save-evidence on the whole text (llama-bpe vocabulary, h = 1 and 4),
#   the same on the random ids, and merge of the text split into 4 shards.
# Prints one line per run: what, documents, distinct tuples, peak RSS, evidence file size,
# wall and CPU time. Inputs are kept in WORK_DIR, so a second run skips their generation.
set -euo pipefail
build=$1 work=$2 bytes=${3:-1000000000}
here=$(cd "$(dirname "$0")" && pwd)
cli=$build/tools/tracemark/tracemark
vocab=${TRACEMARK_BPE_VOCAB:-/opt/tracemark-deps/llama.cpp-v0.4.0/share/llama-vocab/ggml-vocab-llama-bpe.gguf}
mkdir -p "$work"
cd "$work"
[ -f k.key ] || "$cli" keygen --out k.key >/dev/null
[ -f text.jsonl ] || /usr/bin/python3 "$here/synthetic_corpus.py" text.jsonl "$bytes" 7
[ -f ids.jsonl ] || /usr/bin/python3 - "$bytes" <<'PY'
import random, sys
target, rng, doc, written = int(sys.argv[1]), random.Random(11), 0, 0
with open("ids.jsonl", "w") as out:
    while written < target:
        ids = ",".join(str(rng.randrange(128256)) for _ in range(rng.randint(200, 2000)))
        line = '{"id":%d,"tokens":[%s]}\n' % (doc, ids)
        out.write(line); written += len(line); doc += 1
PY

measure() {  # name, output prefix, command...
  local name=$1 out=$2; shift 2
  /usr/bin/time -v "$@" > "$out.json" 2> "$out.time"
  local rss wall cpu_u cpu_s docs tuples size
  rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2/1024}' "$out.time")
  wall=$(awk -F': ' '/Elapsed/ {print $2}' "$out.time")
  cpu_u=$(awk -F': ' '/User time/ {print $2}' "$out.time"); cpu_s=$(awk -F': ' '/System time/ {print $2}' "$out.time")
  docs=$(/usr/bin/python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["corpus"]; print(c["documents"], c["scored"], c["tokens"])' "$out.json")
  size=$( [ -f "$out.tmev" ] && stat -c %s "$out.tmev" || echo 0)
  printf '%-28s docs/distinct tuples/tokens %s  peak RSS %s MiB  evidence %s bytes  wall %s  cpu %s+%s s\n' \
    "$name" "$docs" "$rss" "$size" "$wall" "$cpu_u" "$cpu_s"
}

measure "text h=1 (one pass)" text-h1 "$cli" detect --key k.key --vocab "$vocab" --corpus-only -j 2 --no-progress \
  --save-evidence text-h1.tmev text.jsonl
measure "text h=4 (one pass)" text-h4 "$cli" detect --key k.key --vocab "$vocab" -H 4 --corpus-only -j 2 --no-progress \
  --save-evidence text-h4.tmev text.jsonl
measure "random ids h=1 (one pass)" ids-h1 "$cli" detect --key k.key --vocab-size 128256 --corpus-only -j 2 --no-progress \
  --save-evidence ids-h1.tmev ids.jsonl
# Four shards of the h=4 text, saved separately, then merged.
lines=$(wc -l < text.jsonl)
split -l $(( (lines + 3) / 4 )) -d text.jsonl shard.
for s in shard.0*; do
  "$cli" detect --key k.key --vocab "$vocab" -H 4 --corpus-only -j 2 --no-progress --save-evidence "$s.tmev" "$s" > /dev/null
done
measure "merge of 4 text h=4 shards" merge-h4 "$cli" merge shard.0*.tmev --save-evidence merge-h4.tmev
cmp text-h4.json merge-h4.json && echo "merged record == one-pass record, byte for byte (h=4)"
