#!/usr/bin/python3
# Derives the hand-made golden inputs (tokens.jsonl, story.txt, texts.jsonl, dumps, request
# bodies, ...) from the committed `tracemark generate` outputs in inputs/ (marked*.jsonl,
# control.jsonl, canned.jsonl). Deterministic; run from tests/golden/. The generate outputs
# themselves were made once with the baseline CLI (README.md, "How the inputs were made").
import json, os

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "inputs"))

def load(name):
    with open(name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]

def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))

def write(name, text, mode="w"):
    with open(name, mode + "b") as f:
        f.write(text if isinstance(text, bytes) else text.encode("utf-8"))

marked, control, alice, unigram = load("marked.jsonl"), load("control.jsonl"), load("marked-alice.jsonl"), load("marked-unigram.jsonl")

# Token ids: every shape of record of docs/CLI.md "Token ids", and every kind of error record.
lines = [
    dumps({"id": 1, "prompt": marked[0]["prompt_tokens"], "tokens": marked[0]["tokens"]}),
    dumps({"id": "marked-no-prompt", "tokens": marked[1]["tokens"]}),
    dumps({"tokens": marked[2]["tokens"], "prompt": None}),                        # missing id, null prompt
    dumps({"id": "control", "prompt": control[0]["prompt_tokens"], "tokens": control[0]["tokens"]}),
    dumps({"id": "partly-marked", "tokens": control[1]["tokens"] + marked[3]["tokens"] + control[2]["tokens"]}),
    dumps({"id": "repetitive", "tokens": (marked[4]["tokens"][:10]) * 12}),
    dumps({"id": 7.5, "tokens": [5, 6, 7, 8, 9]}),                                 # float id (echoed)
    dumps({"id": True, "tokens": [10, 11]}),
    dumps({"id": [1, 2], "tokens": [12, 13, 14]}),                                 # non-scalar id -> null
    dumps({"id": "short", "tokens": [42]}),
    '{"id": "bad json", "tokens": [1, 2,',
    dumps({"id": "out-of-range", "tokens": [1, 512, 3]}),
    dumps({"id": "negative", "tokens": [1, 2, -7]}),
    dumps({"id": "empty", "tokens": []}),
    dumps({"id": "float-token", "tokens": [1, 2.5, 3]}),
    dumps({"id": "string-token", "tokens": [1, "2", 3]}),
    dumps({"id": "tokens-not-array", "tokens": "1 2 3"}),
    dumps({"id": "no-tokens", "text": "hello"}),
    dumps({"id": "bad-prompt", "prompt": [1, 9999], "tokens": [1, 2, 3]}),
    dumps({"id": "huge", "tokens": [3000000000]}),
    "",                                                                            # blank line
    "[1, 2, 3]",                                                                   # not an object
    dumps({"id": "last", "prompt": marked[5]["prompt_tokens"], "tokens": marked[5]["tokens"]}),
]
write("tokens.jsonl", "\n".join(lines) + "\n")
write("tokens-alice.jsonl", "".join(dumps({"id": "alice-%d" % i, "prompt": r["prompt_tokens"], "tokens": r["tokens"]}) + "\n"
                                    for i, r in enumerate(alice)))
write("tokens-unigram.jsonl", "".join(dumps({"id": i, "tokens": r["tokens"]}) + "\n" for i, r in enumerate(unigram)))

# Plain text: marked and unmarked paragraphs, a whitespace-only separator, a CRLF line,
# a leading byte-order mark and a last line without a newline.
paras = [marked[0]["text"], control[0]["text"], marked[1]["text"], alice[0]["text"], marked[2]["text"]]
story = "\ufeff" + paras[0].strip() + "\n\n" + paras[1].strip() + "\n \t\n" + paras[2].strip().replace("\n", "\r\n") + \
        "\r\n\n\n" + paras[3].strip() + "\n\n" + paras[4].strip()
write("story.txt", story)
write("story2.txt", marked[3]["text"].strip() + "\n\n" + control[3]["text"].strip() + "\n")
write("bad-utf8.txt", b"Once upon a time there was a cat.\nThe caf\xe9 was closed \xff\xfe today.\n\xc3\xa9t\xc3\xa9 is summer.\n")

# JSON Lines of text, with and without a prompt, ids of every kind, and error records.
tl = [
    dumps({"id": "m0", "prompt": marked[0]["prompt"], "text": marked[0]["text"]}),
    dumps({"id": 2, "text": marked[1]["text"]}),
    dumps({"prompt": control[0]["prompt"], "text": control[0]["text"]}),              # id "<file>:<line>"
    dumps({"id": None, "text": marked[2]["text"], "prompt": None}),
    dumps({"id": "m4", "prompt": marked[4]["prompt"], "text": marked[4]["text"], "extra": [1, 2]}),
    dumps({"id": "empty", "text": ""}),
    dumps({"id": "number", "text": 42}),
    dumps({"id": "no-text", "body": "hello"}),
    '{"id": "bad json", "text": "abc',
    dumps({"id": "unicode", "text": "Lily saw a café — and smiled. 😊"}),
    dumps({"id": "a1", "prompt": alice[1]["prompt"], "text": alice[1]["text"]}),
]
write("texts.jsonl", "\n".join(tl) + "\n")

# Suspect-outputs dumps: token ids (generate format, one failed record), text + prompt, text only.
dump = [dumps({"id": "c%d" % i, "prompt_tokens": r["prompt_tokens"], "tokens": r["tokens"]}) for i, r in enumerate(control)]
dump += [dumps({"id": "m%d" % i, "prompt_tokens": r["prompt_tokens"], "tokens": r["tokens"]}) for i, r in enumerate(marked)]
dump.insert(3, dumps({"prompt": "Once upon a time", "error": "generation failed"}))
dump.append(dumps({"tokens": marked[0]["tokens"][:40]}))                              # no id, no prompt
write("dump-tokens.jsonl", "\n".join(dump) + "\n")
write("dump-text.jsonl", "".join(dumps({"prompt": r["prompt"], "text": r["text"]}) + "\n" for r in marked + control))
write("dump-text-noprompt.jsonl", "".join(dumps({"id": "t%d" % i, "text": r["text"]}) + "\n" for i, r in enumerate(marked + control)))

# Bodies for POST /v1/detect of `tracemark serve` (config: inputs/server.json, accounts alice and bob).
a0, a1 = alice
bodies = [
    {"tokens": a0["tokens"], "account": "alice"},
    {"tokens": a0["tokens"], "prompt": a0["prompt_tokens"], "account": "alice"},
    {"tokens": a0["tokens"], "prompt": a0["prompt_tokens"], "account": "bob"},
    {"tokens": a0["tokens"], "prompt": a0["prompt_tokens"]},                          # best over accounts
    {"tokens": marked[0]["tokens"], "prompt": marked[0]["prompt_tokens"]},            # master sub-key
    {"tokens": a1["tokens"], "account": "carol", "alpha": 0.001, "min_window": 0},   # unconfigured account
    {"tokens": a1["tokens"], "account": "", "min_window": 20},
    {"text": a0["text"], "account": "alice"},
    {"text": a1["text"]},
    {"tokens": [1, 600, 3], "account": "alice"},                                      # error: out of range
    {"text": "abc", "tokens": [1, 2]},                                                # error: both
]
write("serve-detect.jsonl", "".join(json.dumps(b) + "\n" for b in bodies))
pbodies = [
    {"text": a0["text"], "prompt": a0["prompt"], "account": "alice"},
    {"text": a1["text"], "prompt": a1["prompt"]},
]
write("prompt-serve-detect.jsonl", "".join(json.dumps(b) + "\n" for b in pbodies))
