#!/usr/bin/env bash
# Null controls across keys for a distill.sh run (docs/AUDIT.md, "Controls").
#
# The seeds of distill.sh do not give independent null replicates: the 0% students are
# almost the base model, and every student answers the same audit prompts with the same
# sampling seeds, so their completions (and tuples) largely coincide. Independent draws
# from the null come from keys instead: a model that never saw text marked with key K_j
# gives, under K_j, a p-value that is uniform (super-uniform: the test is discrete).
#
# For the untouched model and the 0% students, this script re-scores the existing
# black-box dumps under N_KEYS fresh keys (no new generation), and runs reading mode under
# N_READ_KEYS keys on the provider's marked pool (which is independent of those keys).
# Writes RUN/null_keys.json.
#
# Usage: experiments/null_keys.sh RUN_DIR [--build DIR]
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=${1:?usage: null_keys.sh RUN_DIR [--build DIR]}
BUILD="$REPO/build-exp"
[[ ${2:-} == --build ]] && BUILD=$3
TM="$BUILD/tools/tracemark/tracemark"
N_KEYS=${N_KEYS:-40}
N_READ_KEYS=${N_READ_KEYS:-10}
H=$(jq -r .scheme.h "$RUN/manifest.json")
GAMMA=$(jq -r .scheme.gamma "$RUN/manifest.json")
MODEL=$(jq -r .model "$RUN/manifest.json")
WORK="$RUN/work/null_keys"
mkdir -p "$WORK"
SCHEME=(--scheme kgw-lefthash -H "$H" --gamma "$GAMMA" --vocab-size 512)

for j in $(seq 1 "$N_KEYS"); do
  python3 "$REPO/experiments/make_key.py" "tracemark-distill-null-$j" "$WORK/k$j.key" >/dev/null
done
out="$RUN/null_keys.jsonl"
: > "$out"
for d in "$RUN"/audits/base "$RUN"/audits/f0_s*; do
  name=$(basename "$d")
  for j in $(seq 1 "$N_KEYS"); do
    "$TM" audit --key "$WORK/k$j.key" "${SCHEME[@]}" --suspect-outputs "$d/dump.jsonl" --alpha 1e-6 -q \
      --keep-samples 0 --json - | jq -c --arg s "$name" --argjson k "$j" \
      '{suspect: $s, mode: "outputs", key: $k, scored, green, log10_p}' >> "$out"
  done
done
models=("$MODEL")
for f in "$RUN"/students/f0_s1.gguf; do [[ -f $f ]] && models+=("$f"); done
for m in "${models[@]}"; do
  name=$(basename "$m" .gguf)
  for j in $(seq 1 "$N_READ_KEYS"); do
    "$TM" audit --key "$WORK/k$j.key" "${SCHEME[@]}" --suspect-model "$m" --texts "$RUN/corpora/marked.jsonl" \
      --threads 1 --alpha 1e-6 -q --keep-samples 0 --json - | jq -c --arg s "$name" --argjson k "$j" \
      '{suspect: $s, mode: "reading", key: $k, scored, green, log10_p}' >> "$out"
  done
done
python3 - "$out" "$RUN/null_keys.json" "$REPO/experiments" <<'EOF'
import json, sys
sys.path.insert(0, sys.argv[3])
from summarize import ks_uniform
recs = [json.loads(l) for l in open(sys.argv[1])]
groups = {}
for r in recs:
    groups.setdefault((r["suspect"], r["mode"]), []).append(10 ** r["log10_p"])
out = {}
for (s, m), ps in sorted(groups.items()):
    d, pv = ks_uniform(ps)
    out[f"{s}/{m}"] = {"suspect": s, "mode": m, "keys": len(ps), "below_0.05": sum(p <= 0.05 for p in ps),
                       "below_0.01": sum(p <= 0.01 for p in ps), "min_p": min(ps), "mean_p": sum(ps) / len(ps),
                       "ks_d": d, "ks_p": pv}
allb = [10 ** r["log10_p"] for r in recs if r["mode"] == "outputs"]
d, pv = ks_uniform(allb)
out["all/outputs"] = {"keys": len(allb), "below_0.05": sum(p <= 0.05 for p in allb), "min_p": min(allb),
                      "mean_p": sum(allb) / len(allb), "ks_d": d, "ks_p": pv,
                      "note": "pooled over suspects: not independent (near-identical completions)"}
json.dump(out, open(sys.argv[2], "w"), indent=1)
for k, v in out.items():
    print(k, json.dumps({x: (round(y, 4) if isinstance(y, float) else y) for x, y in v.items() if x not in ("suspect", "mode")}))
EOF
