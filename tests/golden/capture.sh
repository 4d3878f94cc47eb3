#!/bin/bash
# capture.sh CLI_PATH OUT_DIR
#
# Runs the given `tracemark` binary on the committed golden inputs (tests/golden/inputs/)
# and writes every case's output to OUT_DIR/<case>.jsonl or .json, plus exit-codes.json
# (each case's exit code). Deterministic: fixed key, seeds and inputs, --threads 1 unless a
# case tests -j 2, no caches, no timestamps; it runs in a private temporary directory with
# relative paths, so no absolute path ends up in a record. Cases whose name starts with
# `prompt-` tokenize a text prompt together with its text (see README.md).
#
# Needs: bash, curl, /usr/bin/python3, the model ../shared/models/stories260K.gguf (next to
# the repository; override with TRACEMARK_GOLDEN_MODEL) and llama.cpp's llama-spm vocabulary
# (override with TRACEMARK_GOLDEN_SPM_VOCAB).
set -u -o pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 CLI_PATH OUT_DIR" >&2
  exit 2
fi
CLI=$(realpath "$1") || exit 2
mkdir -p "$2" && OUT=$(realpath "$2") || exit 2
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
MODEL=${TRACEMARK_GOLDEN_MODEL:-$HERE/../../../shared/models/stories260K.gguf}
SPM=${TRACEMARK_GOLDEN_SPM_VOCAB:-/opt/tracemark-deps/llama.cpp-v0.4.0/share/llama-vocab/ggml-vocab-llama-spm.gguf}
MODEL_SHA256=270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d

[ -x "$CLI" ] || { echo "capture.sh: $CLI is not an executable" >&2; exit 2; }
[ -f "$SPM" ] || { echo "capture.sh: no llama-spm vocabulary at $SPM" >&2; exit 2; }
if ! echo "$MODEL_SHA256  $MODEL" | sha256sum -c --status; then
  echo "capture.sh: $MODEL is missing or not the expected stories260K.gguf" >&2
  exit 2
fi

# A private working directory: inputs (key and config mode 0600: git keeps no modes) and
# the vocabularies under fixed relative names.
WORK=$(mktemp -d)
FPID= SPID=
cleanup() {
  for p in $FPID $SPID; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
cp -r "$HERE/inputs" "$WORK/inputs"
chmod 600 "$WORK/inputs/golden.key" "$WORK/inputs/server.json"
mkdir "$WORK/models" "$WORK/logs"
ln -s "$(realpath "$MODEL")" "$WORK/models/stories260K.gguf"
ln -s "$(realpath "$SPM")" "$WORK/models/llama-spm.gguf"
cd "$WORK" || exit 2

EXIT_CODES=()
# run CASE EXT COMMAND...: the command's standard output is the case's output.
run() {
  local name=$1 ext=$2
  shift 2
  "$@" > "$OUT/$name.$ext" 2> "logs/$name.err"
  local rc=$?
  EXIT_CODES+=("\"$name\":$rc")
}

# Waits for "listening on URL" in the file $1 (a server's standard output); prints URL.
wait_listening() {
  local i
  for i in $(seq 300); do
    if grep -q '^listening on ' "$1" 2>/dev/null; then
      sed -n 's/^listening on //p' "$1" | head -n 1
      return 0
    fi
    sleep 0.1
  done
  echo "capture.sh: no 'listening on' line in $1" >&2
  return 1
}

T=$CLI
KEY=(--key inputs/golden.key)
STORIES=(--vocab models/stories260K.gguf)
LSPM=(--vocab models/llama-spm.gguf)
J=(--format json --threads 1 --no-progress)

# --- a. detect, token ids -----------------------------------------------------------
run detect-tokens-h2-trace jsonl "$T" detect "${KEY[@]}" --vocab-size 512 -H 2 --trace "${J[@]}" inputs/tokens.jsonl
run detect-tokens-h2-j2 jsonl "$T" detect "${KEY[@]}" --vocab-size 512 -H 2 --trace --format json --threads 2 --no-progress inputs/tokens.jsonl
run detect-tokens-h2-corpus jsonl "$T" detect "${KEY[@]}" --vocab-size 512 -H 2 --corpus "${J[@]}" inputs/tokens.jsonl
run detect-tokens-h2-corpus-only jsonl "$T" detect "${KEY[@]}" --vocab-size 512 -H 2 --corpus-only --top 3 "${J[@]}" inputs/tokens.jsonl
run detect-tokens-h2-no-dedup jsonl "$T" detect "${KEY[@]}" --vocab-size 512 -H 2 --no-dedup --trace "${J[@]}" inputs/tokens.jsonl
run detect-tokens-h2-min-window-0 jsonl "$T" detect "${KEY[@]}" --vocab-size 512 -H 2 --min-window 0 "${J[@]}" inputs/tokens.jsonl
run detect-tokens-h2-min-window-20-alpha jsonl "$T" detect "${KEY[@]}" --vocab-size 512 -H 2 --min-window 20 --alpha 0.001 "${J[@]}" inputs/tokens.jsonl
run detect-tokens-h1 jsonl "$T" detect "${KEY[@]}" --vocab-size 512 "${J[@]}" inputs/tokens.jsonl
run detect-tokens-selfhash jsonl "$T" detect "${KEY[@]}" --vocab-size 512 --scheme kgw-selfhash -H 3 --gamma 0.5 --trace "${J[@]}" inputs/tokens.jsonl
run detect-tokens-minhash jsonl "$T" detect "${KEY[@]}" --vocab-size 512 --scheme kgw-minhash -H 2 "${J[@]}" inputs/tokens.jsonl
run detect-tokens-unigram jsonl "$T" detect "${KEY[@]}" --vocab-size 512 --scheme unigram --trace --corpus "${J[@]}" inputs/tokens-unigram.jsonl
run detect-tokens-account-alice jsonl "$T" detect "${KEY[@]}" --vocab-size 512 -H 2 --account alice --trace "${J[@]}" inputs/tokens-alice.jsonl
run detect-tokens-account-bob jsonl "$T" detect "${KEY[@]}" --vocab-size 512 -H 2 --account bob "${J[@]}" inputs/tokens-alice.jsonl
run detect-tokens-two-files jsonl "$T" detect "${KEY[@]}" --vocab-size 512 -H 2 --corpus "${J[@]}" inputs/tokens-alice.jsonl inputs/tokens-unigram.jsonl
run detect-tokens-stdin jsonl "$T" detect "${KEY[@]}" --vocab-size 512 -H 2 "${J[@]}" - < inputs/tokens.jsonl
run detect-tokens-with-vocab jsonl "$T" detect "${KEY[@]}" "${STORIES[@]}" -H 2 "${J[@]}" inputs/tokens.jsonl

# --- b. detect, text ----------------------------------------------------------------
run detect-text-paragraph jsonl "$T" detect "${KEY[@]}" "${STORIES[@]}" -H 2 --split paragraph --trace "${J[@]}" inputs/story.txt
run detect-text-paragraph-j2 jsonl "$T" detect "${KEY[@]}" "${STORIES[@]}" -H 2 --split paragraph --trace --format json --threads 2 --no-progress inputs/story.txt
run detect-text-line jsonl "$T" detect "${KEY[@]}" "${STORIES[@]}" -H 2 --split line "${J[@]}" inputs/story.txt
run detect-text-document jsonl "$T" detect "${KEY[@]}" "${STORIES[@]}" -H 2 --split document "${J[@]}" inputs/story.txt inputs/story2.txt
run detect-text-chunked jsonl "$T" detect "${KEY[@]}" "${STORIES[@]}" -H 2 --split document --chunk-size 64 --trace --corpus "${J[@]}" inputs/story.txt
run detect-text-paragraph-corpus jsonl "$T" detect "${KEY[@]}" "${STORIES[@]}" -H 2 --split paragraph --corpus "${J[@]}" inputs/story.txt inputs/story2.txt
run detect-text-stdin jsonl "$T" detect "${KEY[@]}" "${STORIES[@]}" -H 2 --input-format text --split paragraph "${J[@]}" - < inputs/story.txt
run detect-text-invalid-utf8-error jsonl "$T" detect "${KEY[@]}" "${STORIES[@]}" -H 2 --split line "${J[@]}" inputs/bad-utf8.txt
run detect-text-invalid-utf8-replace jsonl "$T" detect "${KEY[@]}" "${STORIES[@]}" -H 2 --split line --invalid-utf8 replace "${J[@]}" inputs/bad-utf8.txt
run detect-text-jsonl jsonl "$T" detect "${KEY[@]}" "${STORIES[@]}" -H 2 --input-format jsonl --field text --trace "${J[@]}" inputs/texts.jsonl
run detect-text-jsonl-auto jsonl "$T" detect "${KEY[@]}" "${STORIES[@]}" -H 2 "${J[@]}" inputs/texts.jsonl
run detect-text-jsonl-corpus jsonl "$T" detect "${KEY[@]}" "${STORIES[@]}" -H 2 --field text --corpus "${J[@]}" inputs/texts.jsonl
run detect-text-jsonl-account-alice jsonl "$T" detect "${KEY[@]}" "${STORIES[@]}" -H 2 --field text --account alice "${J[@]}" inputs/texts.jsonl
run detect-spm-paragraph jsonl "$T" detect "${KEY[@]}" "${LSPM[@]}" --split paragraph --trace "${J[@]}" inputs/story.txt
run detect-spm-line-corpus jsonl "$T" detect "${KEY[@]}" "${LSPM[@]}" --split line --corpus "${J[@]}" inputs/story.txt inputs/bad-utf8.txt
run detect-spm-jsonl jsonl "$T" detect "${KEY[@]}" "${LSPM[@]}" --vocab-size 32000 --field text --corpus "${J[@]}" inputs/texts.jsonl
# With a text prompt: the refactor changes how prompt and text are tokenized.
run prompt-detect-text-jsonl jsonl "$T" detect "${KEY[@]}" "${STORIES[@]}" -H 2 --field text --prompt-field prompt --trace "${J[@]}" inputs/texts.jsonl
run prompt-detect-text-jsonl-corpus jsonl "$T" detect "${KEY[@]}" "${STORIES[@]}" -H 2 --field text --prompt-field prompt --corpus "${J[@]}" inputs/texts.jsonl
run prompt-detect-spm-jsonl jsonl "$T" detect "${KEY[@]}" "${LSPM[@]}" --field text --prompt-field prompt "${J[@]}" inputs/texts.jsonl

# --- c. audit, every mode (evidence record on standard output) --------------------------
A=(audit "${KEY[@]}" -H 2 --keep-samples 2 --quiet --json -)
run audit-reading json "$T" "${A[@]}" --suspect-model models/stories260K.gguf --texts inputs/marked.jsonl --threads 1
run audit-reading-global json "$T" "${A[@]}" --suspect-model models/stories260K.gguf --texts inputs/marked.jsonl \
  --texts inputs/control.jsonl --global-first-occurrence --threads 1
run audit-outputs-tokens json "$T" "${A[@]}" --vocab-size 512 --suspect-outputs inputs/dump-tokens.jsonl
run audit-outputs-tokens-no-prompt-filter json "$T" "${A[@]}" --vocab-size 512 --suspect-outputs inputs/dump-tokens.jsonl --no-prompt-filter
run audit-outputs-alice json "$T" "${A[@]}" --vocab-size 512 --account alice --suspect-outputs inputs/marked-alice.jsonl
run audit-outputs-text-noprompt json "$T" "${A[@]}" "${STORIES[@]}" --suspect-outputs inputs/dump-text-noprompt.jsonl
run prompt-audit-outputs-text json "$T" "${A[@]}" "${STORIES[@]}" --suspect-outputs inputs/dump-text.jsonl
# The provider's index of its marked outputs (control.jsonl is unmarked: skipped), then an audit with it.
"$T" index "${KEY[@]}" --vocab-size 512 -H 2 --quiet --out provider.idx inputs/marked.jsonl inputs/control.jsonl \
  2> logs/index.err
EXIT_CODES+=("\"index\":$?")
$PY -c 'import hashlib, json, sys; d = open(sys.argv[1], "rb").read()
print(json.dumps({"bytes": len(d), "sha256": hashlib.sha256(d).hexdigest()}, separators=(",", ":")))' provider.idx > "$OUT/index.json"
run audit-outputs-index json "$T" "${A[@]}" --vocab-size 512 --suspect-outputs inputs/dump-tokens.jsonl --index provider.idx
# Black box through a fake OpenAI-compatible suspect; its port is normalised to PORT.
$PY "$HERE/fake_suspect.py" inputs/canned.jsonl > fake.out 2> logs/fake.err &
FPID=$!
FURL=$(wait_listening fake.out) || exit 1
U=(--suspect-url "$FURL" --no-cache --concurrency 1 --retry-delay 0.05 --api-key-env TRACEMARK_GOLDEN_NO_KEY)
run audit-url-empty-prompts json "$T" "${A[@]}" "${STORIES[@]}" "${U[@]}" --prompts inputs/prompts-empty.txt --n 3 --seed 100 --max-tokens 80
run prompt-audit-url json "$T" "${A[@]}" "${STORIES[@]}" "${U[@]}" --prompts inputs/prompts.txt --n 2 --seed 100 --max-tokens 80
run prompt-audit-url-index json "$T" "${A[@]}" "${STORIES[@]}" "${U[@]}" --prompts inputs/prompts.txt --n 2 --seed 100 --max-tokens 80 --index provider.idx
sed -i "s#$FURL#http://127.0.0.1:PORT#g" "$OUT"/audit-url-*.json "$OUT"/prompt-audit-url*.json

# --- d. tracemark serve: POST /v1/detect ------------------------------------------------
"$T" serve --model models/stories260K.gguf --config inputs/server.json --port 0 --workers 1 > serve.out 2> logs/serve.err &
SPID=$!
SURL=$(wait_listening serve.out) || exit 1
ADMIN=(-H "Authorization: Bearer sk-golden-admin-0123456789" -H "Content-Type: application/json")
# post_each BODIES.jsonl: one response body per request body, each on one line.
post_each() {
  local body
  while IFS= read -r body; do
    printf '%s\n' "$(curl -sS -X POST "$SURL/v1/detect" "${ADMIN[@]}" --data-binary "$body")"
  done < "$1"
}
run serve-detect jsonl post_each inputs/serve-detect.jsonl
run prompt-serve-detect jsonl post_each inputs/prompt-serve-detect.jsonl
get_health() { printf '%s\n' "$(curl -sS "$SURL/health")"; }
run serve-health json get_health
# Not a golden (may differ across machines): input for later round-trip tests.
curl -sS -X POST "$SURL/v1/completions" -H "Authorization: Bearer sk-golden-alice-0123456789" \
  -H "Content-Type: application/json" \
  --data-binary '{"prompt": "Once upon a time", "max_tokens": 64, "temperature": 1, "seed": 7, "return_tokens": true}' \
  > "$OUT/serve-completion.json"
echo >> "$OUT/serve-completion.json"
kill -TERM "$SPID" && wait "$SPID"
EXIT_CODES+=("\"serve\":$?")
SPID=

# Exit codes of every case, in order.
( IFS=,; printf '{%s}\n' "${EXIT_CODES[*]}" ) > "$OUT/exit-codes.json"
echo "capture.sh: $(ls "$OUT" | wc -l) files in $OUT"
