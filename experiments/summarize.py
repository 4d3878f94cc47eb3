#!/usr/bin/env python3
"""Summarize a distill.sh run: summary.json (every number) next to the run, and a
Markdown report on standard output (median over seeds per marked fraction and mode).

  summarize.py RUN_DIR          -> writes RUN_DIR/summary.json, prints the Markdown tables
  summarize.py --brief AUDIT_DIR -> one line for the progress log"""
import glob
import json
import math
import os
import re
import statistics
import sys

MODES = [  # (file, label)
    ("reading", "white box: reading mode (`--suspect-model`)"),
    ("url", "black box: HTTP (`--suspect-url`, `tracemark serve`)"),
    ("url_index", "black box: HTTP + `--index`"),
    ("outputs", "black box: dump (`--suspect-outputs`)"),
    ("outputs_index", "black box: dump + `--index`"),
]
CONTROLS = [("reading_unrelated", "reading, unrelated key"), ("url_unrelated", "HTTP, unrelated key"),
            ("outputs_unrelated", "dump, unrelated key")]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def audit_entry(rec):
    if rec is None:
        return None
    if "corpus" in rec:  # fallback: tracemark detect --corpus-only
        c = rec["corpus"]
        return {"log10_p": c["log10_p"], "scored": c["scored"], "green": c["green"],
                "green_rate": c["green"] / c["scored"] if c["scored"] else 0.0, "queries": 0,
                "tokens": c["tokens"], "completion_tokens": c["tokens"]}
    u = rec.get("usage", {})
    gm = rec.get("green_mass") or {}  # the green-mass statistic: no green count
    return {"log10_p": rec["log10_p"], "scored": rec["scored"], "green": rec.get("green"),
            "green_rate": rec.get("green_rate", gm["green_mass"] / gm["mass"] if gm.get("mass") else None), "ci_low": rec.get("ci_low"), "ci_high": rec.get("ci_high"),
            "verdict": rec.get("verdict"), "queries": u.get("queries", 0), "cache_hits": u.get("cache_hits", 0),
            "tokens": u.get("tokens", 0), "positions": u.get("positions", 0),
            "completion_tokens": u.get("completion_tokens", 0), "filters": rec.get("filters"),
            "index_contexts": (rec.get("index") or {}).get("contexts")}


def audits_of(d):
    out = {}
    for path in sorted(glob.glob(os.path.join(d, "*.json"))):
        name = os.path.basename(path)[:-5]
        if name == "detect":
            out["outputs_detect"] = audit_entry(load(path))
        else:
            out[name] = audit_entry(load(path))
    return out


def brief(d):
    a = audits_of(d)
    parts = [f"{m}: log10 p {a[m]['log10_p']:.2f} ({a[m]['scored']} tuples, green {a[m]['green_rate']:.3f})"
             for m in ["reading", "url", "outputs", "outputs_detect"] if a.get(m)]
    return "; ".join(parts) or "no audit"


def ks_uniform(ps):
    """one-sample Kolmogorov-Smirnov test of p-values against uniform: (D, asymptotic p)"""
    ps = sorted(ps)
    n = len(ps)
    d = max(max((i + 1) / n - p, p - i / n) for i, p in enumerate(ps))
    lam = (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * d
    pv = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 100))
    return d, min(1.0, max(0.0, pv))


def fmt_p(l10):
    if l10 is None:
        return "n/a"
    if l10 > -2:
        return f"{10 ** l10:.2f}"
    return f"{10 ** l10:.1e}" if l10 > -300 else f"1e{l10:.0f}"


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def cell(values):
    """median log10 p over seeds, with p in words and the range."""
    vals = [v for v in values if v is not None]
    if not vals:
        return "missing"
    m = statistics.median(vals)
    s = f"**{m:.2f}** (p {fmt_p(m)})"
    if len(vals) > 1:
        s += f" [{min(vals):.2f}, {max(vals):.2f}]"
    return s


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--brief":
        print(brief(sys.argv[2]))
        return
    run = sys.argv[1]
    manifest = load(os.path.join(run, "manifest.json")) or {}
    students = {}
    def order(d):
        m = re.fullmatch(r"f(\d+)_s(\d+)", os.path.basename(d))
        return (int(m.group(1)), int(m.group(2))) if m else (-1, 0)
    for d in sorted(glob.glob(os.path.join(run, "audits", "*")), key=order):
        name = os.path.basename(d)
        m = re.fullmatch(r"f(\d+)_s(\d+)", name)
        entry = {"name": name, "fraction_percent": int(m.group(1)) if m else None,
                 "seed": int(m.group(2)) if m else None, "audits": audits_of(d)}
        entry["train"] = load(os.path.join(run, "train", name + ".json"))
        entry["mixture"] = load(os.path.join(run, "mixtures", name + ".manifest.json"))
        students[name] = entry
    null_keys = load(os.path.join(run, "null_keys.json"))
    summary = {"manifest": manifest, "students": students, "null_keys": null_keys}
    with open(os.path.join(run, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)

    fractions = sorted({e["fraction_percent"] for e in students.values() if e["fraction_percent"] is not None})
    rows = [("base", "untouched model (control)", [students["base"]] if "base" in students else [])]
    for fr in fractions:
        group = [e for e in students.values() if e["fraction_percent"] == fr]
        rows.append((fr, f"{fr}% marked ({len(group)} seeds)", group))
    modes = [(k, lbl) for k, lbl in MODES if any(k in e["audits"] for e in students.values())]
    if any("outputs_detect" in e["audits"] for e in students.values()):
        modes.append(("outputs_detect", "black box: generate + detect --corpus-only (fallback)"))

    print("### log10 p-value per mode and marked fraction (median over seeds [min, max])\n")
    print("| student | " + " | ".join(lbl for _, lbl in modes) + " |")
    print("|---|" + "---|" * len(modes))
    for _, label, group in rows:
        print(f"| {label} | " + " | ".join(
            cell([e["audits"].get(k, {}) and e["audits"][k]["log10_p"] for e in group]) for k, _ in modes) + " |")

    print("\n### Green rate (median over seeds; gamma = 0.25) and the work each audit needed\n")
    print("| student | " + " | ".join(f"{k}: green / tuples / tokens / queries" for k, _ in modes) + " |")
    print("|---|" + "---|" * len(modes))
    for _, label, group in rows:
        cells = []
        for k, _ in modes:
            es = [e["audits"].get(k) for e in group if e["audits"].get(k)]
            if not es:
                cells.append("missing")
                continue
            toks = med([x["completion_tokens"] if k != "reading" else x["tokens"] for x in es])
            cells.append(f"{med([x['green_rate'] for x in es]):.4f} / {med([x['scored'] for x in es]):.0f} / "
                         f"{toks:.0f} / {med([x['queries'] for x in es]):.0f}")
        print(f"| {label} | " + " | ".join(cells) + " |")

    ctrl = [(k, lbl) for k, lbl in CONTROLS if any(k in e["audits"] for e in students.values())]
    if ctrl:
        print("\n### Null controls: the same audits under an unrelated key (log10 p, per student)\n")
        print("| student | " + " | ".join(lbl for _, lbl in ctrl) + " |")
        print("|---|" + "---|" * len(ctrl))
        for name, e in students.items():
            if not any(k in e["audits"] for k, _ in ctrl):
                continue
            print(f"| {name} | " + " | ".join(
                f"{e['audits'][k]['log10_p']:.2f}" if e["audits"].get(k) else "" for k, _ in ctrl) + " |")

    if null_keys:
        print("\n### Null controls across keys (`null_keys.sh`): p-values of models that never saw text "
              "marked with the key\n")
        print("| suspect / mode | keys | p <= 0.05 | p <= 0.01 | min p | mean p | KS p (uniform) |")
        print("|---|---|---|---|---|---|---|")
        for k, v in null_keys.items():
            print(f"| {k} | {v['keys']} | {v['below_0.05']} | {v.get('below_0.01', '')} | {v['min_p']:.3f} | "
                  f"{v['mean_p']:.3f} | {v['ks_p']:.2f} |")

    print("\n### Training (median over seeds)\n")
    print("| student | train tokens | marked tokens | epochs | lr | final train loss | val loss (ppl) | "
          "held-out unmarked ppl | held-out marked ppl | training s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    base_train = load(os.path.join(run, "train", "base.json"))
    if base_train:
        ev = base_train.get("eval", [])
        print(f"| untouched model | | | | | | | {ev[0]['before']['ppl']:.3f} | {ev[1]['before']['ppl']:.3f} | |"
              if len(ev) >= 2 else "| untouched model | | | | | | | | | |")
    for fr, label, group in rows[1:]:
        ts = [e["train"] for e in group if e["train"]]
        if not ts:
            continue
        last = [t["per_epoch"][-1] for t in ts if t["per_epoch"]]
        vloss = med([x["val"]["loss"] for x in last if x["val"]])
        print(f"| {label} | {med([t['train_tokens'] for t in ts]):.0f} | "
              f"{med([e['mixture']['marked_tokens'] for e in group if e['mixture']]):.0f} | {ts[0]['epochs']} | "
              f"{ts[0]['lr']:.0e} | {med([x['train']['loss'] for x in last]):.4f} | "
              f"{vloss:.4f} ({math.exp(vloss):.3f}) | {med([t['eval'][0]['after']['ppl'] for t in ts]):.3f} | "
              f"{med([t['eval'][1]['after']['ppl'] for t in ts]):.3f} | {med([t['train_seconds'] for t in ts]):.0f} |")

    print("\n### Every student\n")
    cols = [k for k, _ in modes]
    print("| student | marked tokens | " + " | ".join(f"{k} log10 p (tuples)" for k in cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for name, e in students.items():
        mt = e["mixture"]["marked_tokens"] if e["mixture"] else ""
        print(f"| {name} | {mt} | " + " | ".join(
            f"{e['audits'][k]['log10_p']:.2f} ({e['audits'][k]['scored']})" if e["audits"].get(k) else ""
            for k in cols) + " |")
    if manifest:
        print("\n### Run\n")
        print("```\n" + json.dumps(manifest, indent=1) + "\n```")


if __name__ == "__main__":
    main()
