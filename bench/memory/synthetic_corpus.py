#!/usr/bin/env python3
"""Writes N bytes of synthetic English-like text, for memory and throughput measurements of
corpus detection at scales the shared corpora (5.7 MB) do not reach.

A word-bigram Markov chain is fitted on ../shared/corpora/*.txt|raw (checksummed by the
caller) and sampled with a fixed seed: the text keeps real word and bigram frequencies, and
unlike copies of the corpora its distinct (context, token) tuples keep growing with its size,
as a real crawl's do. Output: one document per line of JSON Lines {"id", "text"} with
documents of 200-2,000 words.

Usage: synthetic_corpus.py OUT.jsonl BYTES [SEED]
"""
import json
import random
import re
import sys
from pathlib import Path

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    out_path, target = sys.argv[1], int(sys.argv[2])
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    words = []
    for f in sorted(CORPORA.glob("*")):
        if f.suffix in (".txt", ".raw"):
            words += re.findall(r"\S+", f.read_text(encoding="utf-8", errors="replace"))
    if not words:
        print(f"no corpora in {CORPORA}", file=sys.stderr)
        return 1
    follow = {}
    for a, b in zip(words, words[1:]):
        follow.setdefault(a, []).append(b)
    keys = list(follow)
    written, doc = 0, 0
    with open(out_path, "w", encoding="utf-8") as out:
        while written < target:
            n = rng.randint(200, 2000)
            w = rng.choice(keys)
            text = [w]
            for _ in range(n - 1):
                nxt = follow.get(w)
                w = rng.choice(nxt) if nxt else rng.choice(keys)
                text.append(w)
            line = json.dumps({"id": f"s{doc}", "text": " ".join(text)}, ensure_ascii=False) + "\n"
            out.write(line)
            written += len(line.encode("utf-8"))
            doc += 1
    print(f"wrote {written} bytes, {doc} documents to {out_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
