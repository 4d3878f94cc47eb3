#!/usr/bin/env bash
# The demo of `scripts/setup.sh demo`: tracemark's main job on a real language model.
# stories260K (data/models/, MIT) writes short stories for two API accounts, alice and bob,
# with the watermark of one fresh key, and unmarked control stories; the stories are then
# reduced to their text alone and `tracemark detect` finds which are marked, names the
# account that generated each, and writes an HTML report of the detection.
#
#   scripts/demo.sh [TRACEMARK]     the tool to run (default: build/tools/tracemark/tracemark)
#
# Needs a tool built with llama.cpp (for `generate` and text input; without it, the toy
# `tracemark demo` is the fallback) and python3. Everything is written to a fresh
# temporary directory, printed and kept so the report can be opened. Takes a few seconds.
# Exit 0 when every marked story is detected and attributed to the account that generated
# it and no control story is detected; 1 when the outcome is wrong; 2 when the demo cannot run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tm="${1:-$here/build/tools/tracemark/tracemark}"
model="$here/data/models/stories260K.gguf"
model_sha256=270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d
# On this tiny, predictable model the default h=1 / delta=2 is weak; h=2 / delta=3 gives
# p < 1e-6 for 200-token stories (docs/SERVER.md, "Which watermark settings?").
scheme=(-H 2)
delta=3
tokens=200

fail() { echo "demo: $*" >&2; exit 2; }

[ -x "$tm" ] || fail "no tracemark binary at $tm (build it first: scripts/setup.sh)"
# A tool built without llama.cpp has no 'generate' (its help is then the main help).
[[ "$("$tm" generate --help 2>/dev/null || true)" == *--model* ]] ||
  fail "$tm was built without llama.cpp, so it cannot run a real model; 'tracemark demo' runs the toy-model demo"
command -v python3 >/dev/null 2>&1 || fail "python3 is needed (scripts/setup.sh installs it)"
[ -f "$model" ] || fail "missing $model (it is part of the repository; see data/models/README.md)"
actual="$(sha256sum "$model" | cut -d' ' -f1)"
[ "$actual" = "$model_sha256" ] ||
  fail "$model has SHA-256 $actual, expected $model_sha256: the file is damaged or replaced (data/models/README.md)"

work="$(mktemp -d "${TMPDIR:-/tmp}/tracemark-demo-XXXXXX")"
cd "$work"
start=$SECONDS
echo "tracemark demo on a real model: stories260K (data/models/stories260K.gguf, checksum verified)"
echo "working directory: $work"
echo

echo "1. A fresh provider key, and the API accounts of the service:"
"$tm" keygen --out provider.key | sed 's/^/   /'
printf 'alice\nbob\ncarol\n' > accounts.txt
echo "   accounts.txt: alice, bob, carol (each account marks with its own sub-key of the key)"
echo

echo "2. The model writes stories ($tokens tokens each): 3 for alice and 3 for bob, watermarked with"
echo "   their sub-keys, and 3 without any watermark as controls (the same prompts as alice's):"
# --no-stop-at-bos: stories260K ends a story by starting the next one with BOS, sometimes
# after 80 tokens; every story runs to $tokens tokens instead, so each carries enough
# evidence to clear p <= 1e-6 by a wide margin whatever the fresh key.
gen=(generate --model "$model" --max-tokens "$tokens" --no-stop-at-bos --n 1)
"$tm" "${gen[@]}" --key provider.key "${scheme[@]}" --delta "$delta" --account alice --seed 1 \
  -p "Once upon a time" -p "The little dog" -p "Lily wanted to play" -o alice.jsonl
"$tm" "${gen[@]}" --key provider.key "${scheme[@]}" --delta "$delta" --account bob --seed 2 \
  -p "One day, a boy named Tom" -p "The sun was shining" -p "Sam had a big red ball" -o bob.jsonl
"$tm" "${gen[@]}" --no-watermark --seed 3 \
  -p "Once upon a time" -p "The little dog" -p "Lily wanted to play" -o control.jsonl

# Keep only what a suspicious reader would have: the prompt and the text (the generated
# tokens' pieces, i.e. the detokenized story). Who wrote which story goes to truth.tsv,
# which detection never sees; the stories are interleaved so the order gives nothing away.
python3 - <<'EOF'
import json
groups = [("alice", "alice.jsonl"), ("bob", "bob.jsonl"), ("none", "control.jsonl")]
stories = {who: [json.loads(line) for line in open(path)] for who, path in groups}
with open("stories.jsonl", "w") as out, open("truth.tsv", "w") as truth:
    n = 0
    for i in range(max(len(v) for v in stories.values())):
        for who, _ in groups:
            if i >= len(stories[who]):
                continue
            r = stories[who][i]
            if "error" in r:
                raise SystemExit("generation failed: " + r["error"])
            n += 1
            out.write(json.dumps({"id": "story-%d" % n, "prompt": r["prompt"], "text": r["text"]}) + "\n")
            truth.write("story-%d\t%s\n" % (n, who))
EOF
first="$(head -n 1 stories.jsonl | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["prompt"] + r["text"])')"
echo "   stories.jsonl: 9 stories as text only, e.g. story-1:"
printf '%s\n' "$first" | fold -s -w 88 | head -n 4 | sed 's/^/     | /'
echo "     | ..."
echo

echo "3. Detection from the text alone, with the model's vocabulary, under the master key and"
echo "   every account's sub-key:"
detect=(detect --key provider.key --vocab "$model" "${scheme[@]}" --input-format jsonl --field text
        --prompt-field prompt --accounts accounts.txt)
echo "   \$ tracemark ${detect[*]} --report report.html --format table stories.jsonl"
"$tm" "${detect[@]}" --report report.html --format table stories.jsonl | sed 's/^/   /'
# The same test as JSON records, for the check below.
"$tm" "${detect[@]}" --format json -o results.jsonl stories.jsonl
echo "   (with --accounts each row is the account the text points to: its counts and its p-value"
echo "   corrected for the number of accounts tried)"
echo

echo "4. What happened: who really wrote each story (truth.tsv, never shown to detection), and"
echo "   what detection concluded from the text alone:"
status=0
python3 - <<'EOF' || status=$?
import json, sys

def p_text(log10_p):
    return "%.2g" % 10 ** log10_p if log10_p > -3 else "10^%.1f" % log10_p

truth = dict(line.rstrip("\n").split("\t") for line in open("truth.tsv"))
print("   %-9s %-18s %s" % ("story", "written for", "detection says"))
wrong = 0
for line in open("results.jsonl"):
    r = json.loads(line)
    who = truth[r["id"]]
    if "error" in r:
        says, ok = "error: " + r["error"], False
    else:
        # The attribution tests the text under the master key's and every account's
        # sub-key, corrected for how many were tried: it decides, as in the HTML report.
        a = r["attribution"]
        named = a["best"] if a["verdict"] == "watermarked" else None
        p = p_text(a["log10_p_corrected"])
        if named is not None:
            says = "watermarked, account %s (p = %s)" % (named or "(master key)", p)
        else:
            says = "not watermarked (p = %s)" % p
        expected = None if who == "none" else who
        ok = named == expected and (named is not None or r["verdict"] != "watermarked")
    wrong += not ok
    print("   %-9s %-18s %-44s %s" % (r["id"], "nobody (control)" if who == "none" else who, says,
                                     "ok" if ok else "WRONG"))
marked = sum(1 for w in truth.values() if w != "none")
print()
if wrong:
    print("FAILED: %d of %d stories were judged wrongly (the key is new every run)." % (wrong, len(truth)))
    sys.exit(1)
print("OK: all %d marked stories were detected and attributed to the account that generated them," % marked)
print("    and none of the %d control stories was flagged (threshold p <= 1e-6)." % (len(truth) - marked))
EOF
echo
echo "HTML report of the detection (verdicts, p-values in words, every token coloured):"
echo "   $work/report.html"
echo "(done in $((SECONDS - start)) s; the directory is kept: rm -r $work)"
exit "$status"
