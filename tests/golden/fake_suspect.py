#!/usr/bin/python3
# A tiny deterministic stand-in for an OpenAI-compatible suspect API, for the golden audits:
# POST /v1/completions answers from CANNED.jsonl (`tracemark generate` records: the text
# of the record whose (prompt, seed) match; otherwise the text of record seed % count).
# Usage: fake_suspect.py CANNED.jsonl  -> listens on 127.0.0.1, a free port, and prints
# "listening on http://127.0.0.1:PORT" on standard output. Stop it with SIGTERM.
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

with open(sys.argv[1], encoding="utf-8") as f:
    CANNED = [json.loads(line) for line in f if line.strip()]
BY_KEY = {(r["prompt"], r["seed"]): r for r in CANNED}

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path != "/v1/completions":
            return self.reply(404, {"error": {"message": "no such endpoint"}})
        req = json.loads(body)
        rec = BY_KEY.get((req["prompt"], req["seed"])) or CANNED[req["seed"] % len(CANNED)]
        n = min(len(rec["tokens"]), req.get("max_tokens", len(rec["tokens"])))
        self.reply(200, {"id": "cmpl-golden", "object": "text_completion", "created": 0, "model": "fake",
                         "choices": [{"index": 0, "text": rec["text"], "logprobs": None, "finish_reason": "length"}],
                         "usage": {"prompt_tokens": len(rec["prompt_tokens"]), "completion_tokens": n,
                                   "total_tokens": len(rec["prompt_tokens"]) + n}})

    def reply(self, status, obj):
        data = json.dumps(obj).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("listening on http://127.0.0.1:%d" % server.server_port, flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass
