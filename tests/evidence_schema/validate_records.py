#!/usr/bin/python3
"""Validates every kind of record tracemark writes against data/evidence.schema.json.

Runs the CLI (detect on token ids with --trace, --accounts and --corpus; detect on text with
--vocab; detect --save-evidence and merge; audit --suspect-outputs --json), adds the
committed golden records (tests/golden/expected), and requires that every record validates,
that every record kind occurs, that fresh records carry "params", and that damaged records
(a wrong verdict, a missing required field, ...) do NOT validate, so that the check can fail.

Needs Debian's python3-jsonschema (scripts/setup.sh installs it). A missing module, CLI,
model or golden directory is a failure, never a skip. Exit code 0: all good; 1: a failure.
"""
import argparse
import copy
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import jsonschema
    from jsonschema import Draft202012Validator
except ImportError as e:  # a failure, never a skip
    sys.exit("validate_records.py: FAIL: the Python module jsonschema is missing (%s); install Debian's "
             "python3-jsonschema (scripts/setup.sh test does) and run it with /usr/bin/python3" % e)

# Golden files that are not evidence records.
NOT_RECORDS = {"exit-codes.json", "index.json", "serve-health.json", "serve-completion.json"}
KINDS = ["detection_record", "detection_error_record", "corpus_record", "audit_record", "server_detection",
         "server_attribution", "server_error"]

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def kind_of(rec):
    """The kind a record claims to be (for messages and coverage; the schema decides validity)."""
    if not isinstance(rec, dict):
        return None
    if "corpus" in rec:
        return "corpus_record"
    if rec.get("format") == "tracemark-audit 1":
        return "audit_record"
    if "object" in rec:
        return "server_attribution" if "accounts" in rec else "server_detection"
    if "error" in rec:
        return "server_error" if isinstance(rec["error"], dict) else "detection_error_record"
    return "detection_record"


def records_of_text(text, name):
    text = text.strip()
    if not text:
        return []
    if name.endswith(".json"):
        return [json.loads(text)]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def run_cli(cli, args, cwd, expect=(0,), name=None):
    r = subprocess.run([cli] + args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    label = name or " ".join(a if isinstance(a, str) else repr(a) for a in args[:3])
    if r.returncode not in expect:
        fail("%s: exit %d (expected %s): %s" % (label, r.returncode, expect, r.stderr.decode(errors="replace")))
    return r.stdout.decode("utf-8")


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def verified_model(path):
    if not os.path.isfile(path):
        sys.exit("validate_records.py: FAIL: missing shared model %s (needed by this test)" % path)
    sums = os.path.join(os.path.dirname(path), "SHA256SUMS")
    expected = None
    with open(sums) as f:
        for line in f:
            fields = line.split()
            if len(fields) == 2 and fields[1].lstrip("*") == os.path.basename(path):
                expected = fields[0]
    if expected is None or sha256_of(path) != expected:
        sys.exit("validate_records.py: FAIL: checksum of %s does not match %s" % (path, sums))
    return path


def fresh_records(cli, golden, model, work):
    """(name, record) pairs written by the CLI now."""
    inputs = os.path.join(golden, "inputs")
    key = os.path.join(work, "golden.key")
    shutil.copyfile(os.path.join(inputs, "golden.key"), key)
    os.chmod(key, 0o600)
    accounts = os.path.join(work, "accounts.txt")
    with open(accounts, "w") as f:
        f.write("# test accounts\nalice\nbob\n")
    inp = lambda n: os.path.join(inputs, n)
    K = ["--key", key]
    ids = ["--vocab-size", "512", "-H", "2"]
    out = []

    def add(name, text):
        for i, rec in enumerate(records_of_text(text, name)):
            out.append(("%s #%d" % (name, i + 1), rec))

    # detect on token ids: records, error records, traces, attribution, the corpus with attribution.
    add("detect-tokens.jsonl", run_cli(cli, ["detect"] + K + ids + ["--trace", "--accounts", accounts, "--corpus",
                                                                   inp("tokens.jsonl")], work, (1,)))
    add("detect-alice.jsonl", run_cli(cli, ["detect"] + K + ids + ["--account", "alice", "--corpus",
                                                                  inp("tokens-alice.jsonl")], work))
    add("detect-unigram.jsonl", run_cli(cli, ["detect"] + K + ["--vocab-size", "512", "--scheme", "unigram",
                                                              "--min-window", "0", inp("tokens-unigram.jsonl")], work))
    # An account that is not UTF-8: "account" with U+FFFD and "account_hex".
    add("detect-account-bytes.jsonl", run_cli(cli, ["detect"] + K + ids + [b"--account", b"\xffbad",
                                                                          inp("tokens-alice.jsonl")], work))
    # Evidence files and merge.
    s1, s2, s12 = (os.path.join(work, n) for n in ("s1.tmev", "s2.tmev", "s12.tmev"))
    add("detect-shard1.jsonl", run_cli(cli, ["detect"] + K + ids + ["--corpus-only", "--save-evidence", s1,
                                                                   inp("tokens.jsonl")], work, (1,)))
    run_cli(cli, ["detect"] + K + ids + ["--corpus-only", "--save-evidence", s2, inp("marked.jsonl")], work)
    add("merge.jsonl", run_cli(cli, ["merge", "-q", "--save-evidence", s12, s1, s2], work))
    add("merge-again.jsonl", run_cli(cli, ["merge", "-q", "--alpha", "0.01", "--top", "2", s12], work))
    # Audit of a dump of token ids.
    add("audit-tokens.json", run_cli(cli, ["audit"] + K + ids + ["--suspect-outputs", inp("dump-tokens.jsonl"),
                                                                "--keep-samples", "2", "--quiet", "--json", "-"],
                                     work))
    # The green-mass statistic on the same dump, each record given made-up returned
    # log-probabilities in tracemark serve's shape (token ids included).
    mass_dump = os.path.join(work, "dump-logprobs.jsonl")
    with open(inp("dump-tokens.jsonl"), encoding="utf-8") as f, open(mass_dump, "w", encoding="utf-8") as g:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            if "tokens" not in rec:  # the error record
                continue
            toks = rec["tokens"]
            rec["logprobs"] = {
                "tokens": [str(t) for t in toks], "token_logprobs": [-0.5] * len(toks),
                "top_logprobs": [{str(t): -0.5} for t in toks], "text_offset": list(range(len(toks))),
                "token_ids": toks,
                "top_logprobs_ids": [[{"id": t, "logprob": -0.5}, {"id": (t * 7 + 3) % 512, "logprob": -1.5}]
                                     for t in toks]}
            g.write(json.dumps(rec) + "\n")
    add("audit-green-mass.json", run_cli(cli, ["audit"] + K + ids + ["--suspect-outputs", mass_dump,
                                                                    "--statistic", "green-mass", "--keep-samples",
                                                                    "1", "--quiet", "--json", "-"], work))
    if model:
        V = ["--vocab", model, "-H", "2"]
        add("detect-text-jsonl.jsonl", run_cli(cli, ["detect"] + K + V + ["--field", "text", "--prompt-field", "prompt",
                                                                         "--accounts", accounts, "--corpus",
                                                                         inp("texts.jsonl")], work, (1,)))
        add("detect-text-pieces.jsonl", run_cli(cli, ["detect"] + K + V + ["--split", "document", "--chunk-size", "64",
                                                                          "--trace", "--corpus", inp("story.txt")],
                                                work))
        add("detect-text-utf8.jsonl", run_cli(cli, ["detect"] + K + V + ["--split", "line", "--invalid-utf8", "replace",
                                                                        inp("bad-utf8.txt")], work, (0, 1)))
        t1, t2 = os.path.join(work, "t1.tmev"), os.path.join(work, "t2.tmev")
        run_cli(cli, ["detect"] + K + V + ["--corpus-only", "--save-evidence", t1, inp("story.txt")], work)
        run_cli(cli, ["detect"] + K + V + ["--corpus-only", "--save-evidence", t2, inp("story2.txt")], work)
        add("merge-text.jsonl", run_cli(cli, ["merge", "-q", t1, t2], work))
        add("audit-text.json", run_cli(cli, ["audit"] + K + V + ["--suspect-outputs", inp("dump-text.jsonl"),
                                                                "--quiet", "--json", "-"], work))
    return out


def golden_records(golden):
    out = []
    files = sorted(glob.glob(os.path.join(golden, "expected", "*.jsonl")) +
                   glob.glob(os.path.join(golden, "expected", "*.json")))
    if not files:
        fail("no golden records in %s" % os.path.join(golden, "expected"))
    for path in files:
        name = os.path.basename(path)
        if name in NOT_RECORDS:
            continue
        with open(path, encoding="utf-8") as f:
            for i, rec in enumerate(records_of_text(f.read(), name)):
                out.append(("golden/%s #%d" % (name, i + 1), rec))
    return out


def errors_of(validator, rec):
    return sorted(validator.iter_errors(rec), key=lambda e: list(e.absolute_path))


def explain(schema, rec):
    """Readable errors against the kind the record claims to be (oneOf errors are terse)."""
    kind = kind_of(rec)
    if kind is None:
        return "not a JSON object"
    sub = dict(schema)
    sub.pop("oneOf")
    sub["$ref"] = "#/$defs/" + kind
    msgs = ["%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(record)", e.message)
            for e in Draft202012Validator(sub).iter_errors(rec)]
    return "as %s: %s" % (kind, "; ".join(msgs[:5]) or "matches several kinds")


def negative_cases(by_kind):
    """Damaged copies of real records that the schema must refuse: (what, record)."""
    cases = []

    def damaged(kind, what, change):
        if not by_kind.get(kind):
            fail("no %s to damage for the negative check '%s'" % (kind, what))
            return
        rec = copy.deepcopy(by_kind[kind][0])
        change(rec)
        cases.append(("%s: %s" % (kind, what), rec))

    def with_params(kind):
        return [r for r in by_kind.get(kind, []) if "params" in (r.get("corpus", r))]

    def set_(path, value):
        def change(rec):
            obj = rec
            for p in path[:-1]:
                obj = obj[p]
            obj[path[-1]] = value
        return change

    def del_(path):
        def change(rec):
            obj = rec
            for p in path[:-1]:
                obj = obj[p]
            del obj[path[-1]]
        return change

    damaged("detection_record", "verdict 'maybe'", set_(["verdict"], "maybe"))
    damaged("detection_record", "verdict 'radioactive' (the audit's word)", set_(["verdict"], "radioactive"))
    damaged("detection_record", "no log10_p", del_(["log10_p"]))
    damaged("detection_record", "no verdict", del_(["verdict"]))
    damaged("detection_record", "no scored", del_(["scored"]))
    damaged("detection_record", "log10_p > 0", set_(["log10_p"], 0.5))
    damaged("detection_record", "scored as a string", set_(["scored"], "113"))
    damaged("detection_record", "green and score both missing", lambda r: (r.pop("green", None), r.pop("score", None)))
    damaged("detection_record", "window without n_windows",
            lambda r: r.__setitem__("window", {"begin": 0, "end": 5, "scored": 5, "green": 1, "log10_p": -1,
                                               "log10_p_corrected": -0.5}))
    damaged("detection_record", "trace with an unknown letter", set_(["trace"], "GrX"))
    damaged("detection_error_record", "no error message", set_(["error"], ""))
    damaged("detection_error_record", "no line", del_(["line"]))
    damaged("corpus_record", "verdict 'detected'", set_(["corpus", "verdict"], "detected"))
    damaged("corpus_record", "no documents", del_(["corpus", "documents"]))
    damaged("corpus_record", "no top_documents", del_(["corpus", "top_documents"]))
    damaged("corpus_record", "marked_fraction 1.5", set_(["corpus", "marked_fraction"], 1.5))
    damaged("audit_record", "verdict 'watermarked' (detect's word)", set_(["verdict"], "watermarked"))
    damaged("audit_record", "detected true but verdict not_detected",
            lambda r: (r.__setitem__("detected", True), r.__setitem__("verdict", "not_detected")))
    damaged("audit_record", "no filters", del_(["filters"]))
    damaged("audit_record", "mode 'grey-box'", set_(["mode"], "grey-box"))
    mass = [r for r in by_kind.get("audit_record", []) if r.get("statistic") == "green-mass"]
    if not mass:
        fail("no green-mass audit record to damage")
    else:
        by_kind["audit_record+green-mass"] = mass
        damaged("audit_record+green-mass", "statistic 'logits'", set_(["statistic"], "logits"))
        damaged("audit_record+green-mass", "green mass without its details", set_(["green_mass"], None))
        damaged("audit_record+green-mass", "green mass written as a count", lambda r: r.__setitem__("green", 3) or
                r.pop("score"))
        damaged("audit_record+green-mass", "green_mass without bound", del_(["green_mass", "bound"]))
    sampled = [r for r in by_kind.get("audit_record", []) if r.get("statistic") == "sampled"]
    if sampled:
        by_kind["audit_record+sampled"] = sampled
        damaged("audit_record+sampled", "sampled with green_mass details", set_(["green_mass"], {"contexts": 1}))
    damaged("server_detection", "verdict null", set_(["verdict"], None))
    damaged("server_detection", "no key_fingerprint", del_(["key_fingerprint"]))
    damaged("server_attribution", "no best", del_(["best"]))
    damaged("server_attribution", "best verdict 'yes'", set_(["best", "verdict"], "yes"))
    damaged("server_error", "error without message", del_(["error", "message"]))
    # params and attribution, inside real records that have them.
    det_params = with_params("detection_record")
    if det_params:
        by_kind["detection_record+params"] = det_params
        damaged("detection_record+params", "params without key_fingerprint", del_(["params", "key_fingerprint"]))
        damaged("detection_record+params", "params with a bad fingerprint", set_(["params", "key_fingerprint"], "abc"))
        damaged("detection_record+params", "params with gamma 1", set_(["params", "gamma"], 1))
        damaged("detection_record+params", "params with null 'poisson'", set_(["params", "null"], "poisson"))
        damaged("detection_record+params", "binomial params without null_p", del_(["params", "null_p"]))
        damaged("detection_record+params", "params with an 8-digit green_threshold",
                set_(["params", "green_threshold"], "40000000"))
        damaged("detection_record+params", "params without tokenizer", del_(["params", "tokenizer"]))
        damaged("detection_record+params", "tokenizer sha256 in capitals",
                set_(["params", "tokenizer"], {"name": "m.gguf", "kind": "SPM", "n_vocab": 512, "sha256": "A" * 64}))
    else:
        fail("no fresh detection record with params")
    att = [r for r in by_kind.get("detection_record", []) if "attribution" in r]
    if att:
        by_kind["detection_record+attribution"] = att
        damaged("detection_record+attribution", "attribution verdict 'alice'", set_(["attribution", "verdict"], "alice"))
        damaged("detection_record+attribution", "attribution without matches", del_(["attribution", "matches"]))
        damaged("detection_record+attribution", "a match without its account",
                set_(["attribution", "matches"], [{"scored": 3, "log10_p": -9, "log10_p_corrected": -8}]))
    else:
        fail("no detection record with attribution")
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", required=True, help="the tracemark executable")
    ap.add_argument("--schema", required=True, help="data/evidence.schema.json")
    ap.add_argument("--golden", required=True, help="tests/golden (inputs/ and expected/)")
    ap.add_argument("--model", help="the shared stories260K.gguf (checksum verified); text cases need it")
    ap.add_argument("--no-text", action="store_true", help="a CLI built without llama.cpp: no text cases")
    a = ap.parse_args()
    if not a.model and not a.no_text:
        sys.exit("validate_records.py: give --model (text cases) or --no-text")
    if not os.access(a.cli, os.X_OK):
        sys.exit("validate_records.py: FAIL: %s is not an executable" % a.cli)
    model = None if a.no_text else verified_model(a.model)

    with open(a.schema, encoding="utf-8") as f:
        schema = json.load(f)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    try:
        from importlib.metadata import version
        jsonschema_version = version("jsonschema")
    except Exception:  # the version is only informative
        jsonschema_version = "?"
    print("jsonschema %s, %s" % (jsonschema_version, os.path.basename(a.schema)))

    work = tempfile.mkdtemp(prefix="tracemark-schema-")
    try:
        fresh = fresh_records(a.cli, a.golden, model, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    golden = golden_records(a.golden)

    by_kind = {}
    for source, records in (("fresh", fresh), ("golden", golden)):
        n_ok = 0
        for name, rec in records:
            kind = kind_of(rec)
            if not validator.is_valid(rec):
                fail("%s does not validate %s" % (name, explain(schema, rec)))
                continue
            n_ok += 1
            if source == "fresh":
                by_kind.setdefault(kind, []).append(rec)
            if source == "fresh" and kind not in ("detection_error_record", "server_error"):
                body = rec.get("corpus", rec)
                if "params" not in body:
                    fail("%s (%s) has no params" % (name, kind))
        print("%s records: %d of %d valid" % (source, n_ok, len(records)))
    # The goldens hold the server's answers; the fresh runs hold everything else.
    for name, rec in golden:
        kind = kind_of(rec)
        if kind.startswith("server_"):
            by_kind.setdefault(kind, []).append(rec)
    for kind in KINDS:
        if not by_kind.get(kind):
            fail("no valid %s among the records: the check would not see it break" % kind)
    fresh_kinds = {kind_of(r) for _, r in fresh}
    for kind in ("detection_record", "detection_error_record", "corpus_record", "audit_record"):
        if kind not in fresh_kinds:
            fail("the CLI wrote no %s in this run" % kind)
    if not any("attribution" in r.get("corpus", {}) for _, r in fresh):
        fail("no corpus record with attribution")
    if not any("account_hex" in r.get("params", {}) for _, r in fresh):
        fail("no record with params.account_hex")

    cases = negative_cases(by_kind)
    n_refused = 0
    for what, rec in cases:
        if validator.is_valid(rec):
            fail("a damaged record validates: %s" % what)
        else:
            n_refused += 1
    print("damaged records refused: %d of %d" % (n_refused, len(cases)))

    if failures:
        print("validate_records.py: %d failure(s)" % len(failures), file=sys.stderr)
        return 1
    print("validate_records.py: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
