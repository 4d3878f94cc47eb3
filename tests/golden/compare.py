#!/usr/bin/python3
"""compare.py [--skip-prompt] EXPECTED_DIR ACTUAL_DIR

Compares the golden records of EXPECTED_DIR (made by capture.sh with the baseline CLI) with
those of ACTUAL_DIR (capture.sh with the CLI under test). For every expected file:

* .jsonl: line by line. Keys the expected record does not have are removed from the actual
  record, recursively (fields a later version adds); then both are re-serialised with the
  tool's settings (compact, non-ASCII kept) and must be equal, key order included. When no
  key was removed, the raw lines must be byte-identical.
* .json (pretty-printed audit records and others): the whole value, the same way, but
  without the byte-for-byte rule (the layout may differ, the values and key order not).

Files named prompt-* are compared unless --skip-prompt is given; serve-completion.json is
not a golden (input for round-trip tests). Prints the first mismatch of each file and
exits 1 on any mismatch; exits 0 with a one-line summary otherwise.
"""
import json
import os
import sys

NOT_GOLDEN = {"serve-completion.json"}


def dumps(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def prune(actual, expected, path, removed):
    """A copy of `actual` without the keys `expected` lacks (recursively); their paths go to `removed`."""
    if isinstance(actual, dict) and isinstance(expected, dict):
        out = {}
        for k, v in actual.items():
            if k in expected:
                out[k] = prune(v, expected[k], path + "." + k, removed)
            else:
                removed.append(path + "." + k)
        return out
    if isinstance(actual, list) and isinstance(expected, list) and len(actual) == len(expected):
        return [prune(a, e, "%s[%d]" % (path, i), removed) for i, (a, e) in enumerate(zip(actual, expected))]
    return actual


def first_difference(exp, act, path="$"):
    """The path of the first difference between two parsed values, with both sides."""
    if isinstance(exp, dict) and isinstance(act, dict):
        ek, ak = list(exp), list(act)
        for k in ek:
            if k not in act:
                return "%s.%s: missing in the actual record" % (path, k)
        if ek != ak:
            return "%s: key order differs:\n    expected %s\n    actual   %s" % (path, ek, ak)
        for k in ek:
            d = first_difference(exp[k], act[k], path + "." + k)
            if d:
                return d
        return None
    if isinstance(exp, list) and isinstance(act, list):
        for i, (e, a) in enumerate(zip(exp, act)):
            d = first_difference(e, a, "%s[%d]" % (path, i))
            if d:
                return d
        if len(exp) != len(act):
            return "%s: %d elements expected, %d actual" % (path, len(exp), len(act))
        return None
    if dumps(exp) != dumps(act):
        return "%s:\n    expected %s\n    actual   %s" % (path, short(dumps(exp)), short(dumps(act)))
    return None


def short(s, n=300):
    return s if len(s) <= n else s[:n] + "... (%d characters)" % len(s)


def compare_values(exp_raw, act_raw, strict_bytes):
    """None when the records (bytes) are equal, else a description of the first difference."""
    try:
        exp = json.loads(exp_raw.decode("utf-8"))
    except ValueError as e:
        return "the expected record is not JSON (%s)" % e
    try:
        act = json.loads(act_raw.decode("utf-8"))
    except ValueError as e:
        return "the actual record is not UTF-8 JSON (%s): %s" % (e, short(repr(act_raw)))
    removed = []
    pruned = prune(act, exp, "$", removed)
    if dumps(exp) != dumps(pruned):
        return first_difference(exp, pruned) or "the re-serialised records differ"
    if strict_bytes and not removed and exp_raw != act_raw:
        i = next((k for k, (x, y) in enumerate(zip(exp_raw, act_raw)) if x != y), min(len(exp_raw), len(act_raw)))
        lo = max(0, i - 60)
        return "same values but different bytes, from byte %d:\n    expected ...%s\n    actual   ...%s" % (
            i, exp_raw[lo:i + 60].decode("utf-8", "replace"), act_raw[lo:i + 60].decode("utf-8", "replace"))
    return None


def compare_file(exp_path, act_path):
    """(records compared, None or a mismatch description)."""
    if not os.path.exists(act_path):
        return 0, "missing: %s" % act_path
    with open(exp_path, "rb") as f:
        exp_raw = f.read()
    with open(act_path, "rb") as f:
        act_raw = f.read()
    if exp_path.endswith(".json"):
        return 1, compare_values(exp_raw, act_raw, strict_bytes=False)
    exp_lines, act_lines = exp_raw.split(b"\n"), act_raw.split(b"\n")
    for i, (e, a) in enumerate(zip(exp_lines, act_lines)):
        if e == a == b"":
            continue
        if a == b"" and i == len(act_lines) - 1:
            return i, "line %d: missing (the actual file has %d lines)" % (i + 1, i)
        d = compare_values(e, a, strict_bytes=True)
        if d:
            return i + 1, "line %d: %s" % (i + 1, d)
    if len(exp_lines) != len(act_lines):
        return min(len(exp_lines), len(act_lines)), "%d lines expected, %d actual (counting a last line without newline)" % (
            len(exp_lines) - (exp_lines[-1] == b""), len(act_lines) - (act_lines[-1] == b""))
    return sum(1 for e in exp_lines if e), None


def main(argv):
    args = [a for a in argv if a != "--skip-prompt"]
    skip_prompt = len(args) != len(argv)
    if len(args) != 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    exp_dir, act_dir = args
    names = sorted(n for n in os.listdir(exp_dir) if n.endswith((".json", ".jsonl")) and n not in NOT_GOLDEN)
    if skip_prompt:
        names = [n for n in names if not n.startswith("prompt-")]
    if not names:
        print("compare.py: no golden files in %s" % exp_dir, file=sys.stderr)
        return 2
    records, failed = 0, []
    for name in names:
        n, problem = compare_file(os.path.join(exp_dir, name), os.path.join(act_dir, name))
        records += n
        if problem:
            failed.append(name)
            print("MISMATCH %s: %s" % (name, problem))
    if failed:
        print("compare.py: %d of %d golden files differ: %s" % (len(failed), len(names), " ".join(failed)))
        return 1
    print("compare.py: OK, %d golden files, %d records identical%s"
          % (len(names), records, " (prompt-* skipped)" if skip_prompt else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
