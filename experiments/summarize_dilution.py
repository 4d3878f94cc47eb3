#!/usr/bin/env python3
"""Summarize a dilution.sh run (and neutralize.sh / logprobs audits on it): RUN/summary.json
with every number, and Markdown tables on standard output.

  summarize_dilution.py RUN_DIR > RUN_DIR/table.md

Tables: the diluted students (100k marked tokens at 100%, 10%, 5%; 0% control), the scaling
of the evidence with the number of marked tokens (with a power-law fit of the green excess
and the marked-token count at which each mode is predicted to reach p = 1e-6), null
controls, the neutralization attack, and the log-probability statistic where it was run."""
import glob
import json
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from summarize import audit_entry, ks_uniform, load  # noqa: E402

GAMMA = 0.25
Z_1E6 = 4.753424  # one-sided normal quantile of 1e-6
MODES = [("reading", "reading"), ("url", "HTTP"), ("url_index", "HTTP + index"), ("outputs", "dump"),
         ("outputs_index", "dump + index")]
CONTROLS = [("reading_unrelated", "reading"), ("url_unrelated", "HTTP"), ("outputs_unrelated", "dump")]
SERIES = re.compile(r"(p100|d5|d10)_m(\d+)k")


def student(run, name):
    d = os.path.join(run, "audits", name)
    audits = {}
    for path in sorted(glob.glob(os.path.join(d, "*.json"))):
        key = os.path.basename(path)[:-5]
        rec = load(path)
        if re.fullmatch(r"wn_d[\d.]+", key):
            audits[key] = rec  # the attack's own summary line
        elif rec is not None:
            audits[key] = audit_entry(rec)
    return {"name": name, "audits": audits,
            "train": load(os.path.join(run, "train", name + ".json")),
            "train_time": load(os.path.join(run, "train", name + ".time.json")),
            "audit_time": load(os.path.join(run, "train", name + ".audit_time.json")),
            "mixture": load(os.path.join(run, "mixtures", name + ".manifest.json"))}


def lp(e, mode):
    a = e["audits"].get(mode)
    return f"{a['log10_p']:.2f}" if a else ""


def green(e, mode):
    a = e["audits"].get(mode)
    return f"{a['green_rate']:.4f} ({a['scored']:,})" if a else ""


def heldout(e):
    t = e["train"]
    if not t or len(t.get("eval", [])) < 2:
        return "", ""
    return f"{t['eval'][0]['after']['ppl']:.3f}", f"{t['eval'][1]['after']['ppl']:.3f}"


def fit_power_law(points):
    """Weighted least squares of excess = c * N^b over (N, excess, standard error) points, every
    point included (noise makes small excesses negative; dropping them would bias the fit):
    c in closed form for each b on a grid of 0.05..5. Returns (c, b, points used) or None."""
    pts = [(n, x, se) for n, x, se in points if se > 0]
    if len(pts) < 2:
        return None
    best = None
    for i in range(1, 501):
        b = i / 100
        f = [(n / 1e5) ** b for n, _, _ in pts]  # N in units of 100k: keeps the powers finite
        sw = sum(fi * fi / se ** 2 for fi, (_, _, se) in zip(f, pts))
        c = sum(fi * x / se ** 2 for fi, (_, x, se) in zip(f, pts)) / sw
        r = sum(((x - c * fi) / se) ** 2 for fi, (_, x, se) in zip(f, pts))
        if best is None or r < best[0]:
            best = (r, c, b)
    return best[1], best[2], len(pts)


def main():
    run = sys.argv[1]
    names = sorted(os.path.basename(d) for d in glob.glob(os.path.join(run, "audits", "*")))
    S = {n: student(run, n) for n in names}
    json.dump({"students": S, "base_train": load(os.path.join(run, "train", "base.json"))},
              open(os.path.join(run, "summary.json"), "w"), indent=1)
    base_train = load(os.path.join(run, "train", "base.json"))

    print("### Diluted students: 100k marked tokens in a larger fine-tuning set\n")
    print("log10 p per audit mode (alpha 1e-6: detected below -6); green rate (tuples) in the second table.\n")
    rows = [n for n in ["base", "d0", "d10_m100k", "d5_m100k", "p100_m100k"] if n in S]
    print("| student | tokens (marked) | " + " | ".join(lbl for _, lbl in MODES) + " |")
    print("|---|---|" + "---|" * len(MODES))
    for n in rows:
        e = S[n]
        m = e["mixture"]
        size = f"{m['tokens']:,} ({m['marked_tokens']:,})" if m else ""
        print(f"| {n} | {size} | " + " | ".join(lp(e, k) for k, _ in MODES) + " |")
    print("\n| student | reading: green (tuples) | HTTP: green (tuples) | dump: green (tuples) | held-out unmarked ppl |"
          " held-out marked ppl | final val loss | CPU s: training / audits |")
    print("|---|---|---|---|---|---|---|---|")
    for n in rows:
        e = S[n]
        hc, hm = heldout(e)
        if n == "base" and base_train and len(base_train.get("eval", [])) >= 2:
            hc, hm = f"{base_train['eval'][0]['before']['ppl']:.3f}", f"{base_train['eval'][1]['before']['ppl']:.3f}"
        t = e["train"]
        vl = ""
        if t and t.get("per_epoch") and t["per_epoch"][-1].get("val"):
            vl = f"{t['per_epoch'][-1]['val']['loss']:.4f}"
        cpu = ""
        if e["train_time"] or e["audit_time"]:
            cpu = f"{(e['train_time'] or {}).get('cpu_s', '')} / {(e['audit_time'] or {}).get('cpu_s', '')}"
        print(f"| {n} | {green(e, 'reading')} | {green(e, 'url')} | {green(e, 'outputs')} | {hc} | {hm} | {vl} | {cpu} |")

    print("\n### Scaling: evidence against the number of marked tokens the student saw\n")
    series = {}
    for n, e in S.items():
        m = SERIES.fullmatch(n)
        if m and e["mixture"]:
            series.setdefault(m.group(1), []).append((e["mixture"]["marked_tokens"], e))
    modes3 = [("reading", "reading"), ("url", "HTTP"), ("outputs", "dump")]
    print("| marked tokens | share | " + " | ".join(f"{lbl} log10 p (green)" for _, lbl in modes3) + " |")
    print("|---|---|" + "---|" * len(modes3))
    for sname in ["p100", "d5", "d10"]:
        for nm, e in sorted(series.get(sname, []), key=lambda x: x[0]):
            share = {"p100": "100%", "d5": "5%", "d10": "10%"}[sname]
            cells = []
            for k, _ in modes3:
                a = e["audits"].get(k)
                cells.append(f"{a['log10_p']:.2f} ({a['green_rate']:.4f})" if a else "")
            print(f"| {nm:,} | {share} | " + " | ".join(cells) + " |")
    print("\nFit per series and mode: green excess = c * (N / 100k)^b, weighted least squares over every point "
          "(weights: the binomial variance at its tuple count); with the "
          "mode's tuple count T (median over the series), the predicted z = excess * sqrt(T / (gamma (1 - gamma))) "
          "reaches 4.75 (p = 1e-6) at N*.\n")
    print("| share | mode | points used | b | excess at 100k | T | N* (p = 1e-6) |")
    print("|---|---|---|---|---|---|---|")
    fits = {}
    for sname in ["p100", "d5"]:
        pts = sorted(series.get(sname, []), key=lambda x: x[0])
        for k, lbl in modes3:
            data = [(nm, e["audits"][k]["green_rate"] - GAMMA, math.sqrt(GAMMA * (1 - GAMMA) / e["audits"][k]["scored"]))
                    for nm, e in pts if e["audits"].get(k) and e["audits"][k]["scored"] > 0]
            tup = sorted(e["audits"][k]["scored"] for nm, e in pts if e["audits"].get(k))
            f = fit_power_law(data)
            if not f or not tup or f[0] <= 0:
                print(f"| {sname} | {lbl} | {len(data)} | | | | no positive trend |")
                continue
            c, b, used = f
            T = tup[len(tup) // 2]
            need = Z_1E6 * math.sqrt(GAMMA * (1 - GAMMA) / T)
            nstar = 1e5 * (need / c) ** (1 / b)
            fits[f"{sname}/{k}"] = {"c_at_100k": c, "b": b, "points": used, "T": T, "n_star": nstar}
            print(f"| {sname} | {lbl} | {used} | {b:.2f} | {c:.4f} | {T:,} | {nstar:.3g} |")

    ctrl = [n for n in names if any(S[n]["audits"].get(k) for k, _ in CONTROLS)]
    if ctrl:
        print("\n### Null controls: the same audits under an unrelated key (log10 p)\n")
        print("| student | " + " | ".join(lbl for _, lbl in CONTROLS) + " |")
        print("|---|" + "---|" * len(CONTROLS))
        for n in ctrl:
            print(f"| {n} | " + " | ".join(lp(S[n], k) for k, _ in CONTROLS) + " |")

    attacked = [n for n in names if any(k.startswith("wn_d") for k in S[n]["audits"])]
    if attacked:
        print("\n### Neutralization (Pan et al. 2025): audits before and after, and the attack's cost\n")
        print("Perplexities per document (tracemark-neutralize), raw student -> neutralized; the 'none' rows repeat "
              "the student's own audits.\n")
        print("| student | delta' | reading log10 p | dump log10 p | HTTP log10 p | held-out unmarked ppl | "
              "held-out marked ppl | favoured tokens per prefix (1 / 2) |")
        print("|---|---|---|---|---|---|---|---|")
        for n in attacked:
            e = S[n]
            print(f"| {n} | none | {lp(e, 'reading')} | {lp(e, 'outputs')} | {lp(e, 'url')} | | | |")
            ds = sorted({float(k[4:].split("_")[0]) for k in e["audits"] if re.fullmatch(r"wn_d[\d.]+", k)})
            for d in ds:
                tag = f"wn_d{d:g}"
                s = e["audits"].get(tag) or {}
                ho = s.get("heldout") or []
                est = s.get("estimate") or {}
                print(f"| {n} | {d:g} | {lp(e, tag + '_reading')} | {lp(e, tag + '_outputs')} | {lp(e, tag + '_url')} | "
                      f"{ho[0]['ppl_student']:.3f} -> {ho[0]['ppl_neutralized']:.3f} | "
                      f"{ho[1]['ppl_student']:.3f} -> {ho[1]['ppl_neutralized']:.3f} | "
                      f"{est.get('favoured_per_prefix_1', 0):.1f} / {est.get('favoured_per_prefix_2', 0):.1f} |"
                      if len(ho) >= 2 else f"| {n} | {d:g} | | | | | | |")

    mass = [n for n in names if S[n]["audits"].get("url_mass")]
    if mass:
        print("\n### Black box with log-probabilities (green mass) against the sampled-token statistic\n")
        print("log10 p after 25, 50 and 100 queries (1, 2, 4 completions of each of the 25 audit prompts; the same "
              "answers for both statistics); tuples or contexts scored in parentheses.\n")
        print("| student | sampled, 25 | sampled, 50 | sampled, 100 | green mass, 25 | green mass, 50 | green mass, 100 |"
              " green mass, unrelated key |")
        print("|---|---|---|---|---|---|---|---|")
        for n in mass:
            a = S[n]["audits"]
            def c(k):
                return f"{a[k]['log10_p']:.2f} ({a[k]['scored']:,})" if a.get(k) else ""
            print(f"| {n} | {c('url_n1')} | {c('url_n2')} | {c('url')} | {c('url_mass_n1')} | {c('url_mass_n2')} | "
                  f"{c('url_mass')} | {c('url_mass_unrelated')} |")
    split = [n for n in names if S[n]["audits"].get("url_mass_s2")]
    if split:
        print("\nThe 25-query budget drawn four times (seeds 1, 2, 3, 4 alone; the same answers for both "
              "statistics): log10 p of each draw, and how many of the four reach p = 1e-6.\n")
        print("| student | sampled: four draws | sampled: at 1e-6 | green mass: four draws | green mass: at 1e-6 |")
        print("|---|---|---|---|---|")
        for n in split:
            a = S[n]["audits"]
            cells = []
            for pre in ["url", "url_mass"]:
                v = [a[k]["log10_p"] for k in [pre + "_n1"] + [f"{pre}_s{i}" for i in (2, 3, 4)] if a.get(k)]
                cells += [", ".join(f"{x:.2f}" for x in v), f"{sum(x <= -6 for x in v)} of {len(v)}"]
            print(f"| {n} | " + " | ".join(cells) + " |")
    nulls = {n: [json.loads(l) for l in open(p)] for n in names
             for p in [os.path.join(run, "audits", n, "null_mass.jsonl")] if os.path.exists(p)}
    if nulls:
        print("\n### Green mass under keys that never marked the suspect's data (null check)\n")
        print("| suspect | keys | p <= 0.05 | p <= 0.01 | min p | mean p | KS p (uniform; the bound is "
              "conservative, so mass near p = 1 is expected) |")
        print("|---|---|---|---|---|---|---|")
        for n, recs in nulls.items():
            ps = [10 ** r["log10_p"] for r in recs]
            d, kp = ks_uniform(ps)
            print(f"| {n} | {len(ps)} | {sum(p <= 0.05 for p in ps)} | {sum(p <= 0.01 for p in ps)} | "
                  f"{min(ps):.3f} | {sum(ps) / len(ps):.3f} | {kp:.2g} |")
    json.dump(fits, open(os.path.join(run, "scaling_fit.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
