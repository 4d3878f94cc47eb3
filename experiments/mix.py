#!/usr/bin/env python3
"""Build one training mixture for the distillation experiment (docs/AUDIT.md).

Takes marked documents (the teacher's watermarked outputs) and unmarked documents (the
unwatermarked model's outputs), both `tracemark generate` JSON Lines, and writes a
training set of about --total tokens (default: the smaller pool's size) whose marked
share is --fraction of the tokens. With --marked-tokens N instead, the marked part is
fixed at about N tokens and the total is N / fraction (dilution at a fixed number of
harvested tokens; --total is then only needed for fraction 0). Marked documents are drawn in a seeded random order
until their tokens reach fraction * total, then unmarked documents until the total is
reached; the result is shuffled. Tokens are counted as prompt_tokens + tokens, as
tracemark-finetune reads them. Prints a JSON manifest line (what was drawn)."""
import argparse
import json
import random
import sys


def load(path):
    docs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            if "error" in rec:
                continue
            docs.append(rec)
    return docs


def n_tokens(rec):
    return len(rec.get("prompt_tokens") or []) + len(rec["tokens"])


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--marked", required=True)
    ap.add_argument("--clean", required=True, nargs="+", help="one or more unmarked pools")
    ap.add_argument("--fraction", type=float, required=True, help="marked share of the tokens, 0..1")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--total", type=int, default=0, help="tokens in the mixture (0: the smaller pool's size)")
    ap.add_argument("--marked-tokens", type=int, default=0,
                    help="marked tokens in the mixture; the total becomes marked-tokens / fraction")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if not 0.0 <= a.fraction <= 1.0:
        sys.exit("--fraction must lie in [0, 1]")
    marked, clean = load(a.marked), [r for path in a.clean for r in load(path)]
    if a.marked_tokens and a.fraction > 0:
        if a.total:
            sys.exit("give --total or --marked-tokens, not both")
        total = round(a.marked_tokens / a.fraction)
    else:
        total = a.total or min(sum(n_tokens(r) for r in clean), sum(n_tokens(r) for r in marked))
    rng = random.Random(f"mix/{a.seed}/{a.fraction}")
    rng.shuffle(marked)
    rng.shuffle(clean)
    chosen, n_marked, n_clean, docs_marked, docs_clean = [], 0, 0, 0, 0
    target_marked = a.fraction * total
    for r in marked:
        if n_marked >= target_marked:
            break
        chosen.append(r)
        n_marked += n_tokens(r)
        docs_marked += 1
    for r in clean:
        if n_marked + n_clean >= total:
            break
        chosen.append(r)
        n_clean += n_tokens(r)
        docs_clean += 1
    if a.fraction > 0 and n_marked < target_marked:
        sys.exit(f"the marked pool holds only {n_marked} tokens; {target_marked:.0f} were asked for")
    if a.fraction < 1 and n_marked + n_clean < 0.99 * total:
        sys.exit(f"the unmarked pool ran out at {n_marked + n_clean} of {total} tokens")
    rng.shuffle(chosen)
    with open(a.out, "w", encoding="utf-8") as f:
        for r in chosen:
            f.write(json.dumps({"tokens": r["tokens"], "prompt_tokens": r.get("prompt_tokens") or [],
                                "watermarked": bool(r.get("watermarked"))}) + "\n")
    print(json.dumps({"out": a.out, "fraction": a.fraction, "seed": a.seed, "tokens": n_marked + n_clean,
                      "marked_tokens": n_marked, "marked_share": n_marked / max(1, n_marked + n_clean),
                      "marked_documents": docs_marked, "clean_documents": docs_clean}))


if __name__ == "__main__":
    main()
