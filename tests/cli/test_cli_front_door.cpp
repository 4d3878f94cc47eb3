// The one front door for text (tokenizer.h, docs/SPEC.md §7): the same (prompt, text) pairs
// go in by every door and must be scored on the same tokens:
//   (1) `tracemark detect --vocab MODEL --input-format jsonl --field text --prompt-field prompt --trace`
//   (2) the server's `POST /v1/detect {"text", "prompt", "account"}` (and without "account":
//       the account's entry of the attribution answer)
//   (3) `tracemark audit --suspect-outputs DUMP --vocab MODEL --no-prompt-filter --keep-samples 1
//       --json -`, once per pair (a one-document dump: audit pools documents), and once over
//       a dump of all pairs, compared with `detect --corpus` (one deduplication set for all).
// Pairs: a prompt ending in a space, a text starting with a space, a prompt whose last
// token merges with the text's first ("Once upon a ti" + "me"), Unicode (accents, CJK,
// emoji), an empty prompt, special-token text ("<s>", "</s>") that must stay plain text,
// newlines, CR LF and tabs inside the strings, a BOM and control characters inside the
// prompt/text, and two completions of the server (marked for alice) with their prompts.
// Checked: detect vs server: every statistic of the record equal (tokens, prompt_tokens,
// scored, green, z, log10_p, verdict, repeats, window) and the same params; detect vs
// audit: usage.documents/tokens/completion_tokens, scored, green, the filters' counts, the
// prompt length and the per-token marks (detect's trace letters = audit's marks); and all
// of them against the library's tokenize_text() with llama_tokenizer. Vocabularies: the
// shared stories260K model (checksum-verified) for all three doors, and llama.cpp's
// SentencePiece vocabulary ggml-vocab-llama-spm.gguf for detect vs audit (the server needs
// a full model).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "roundtrip_helpers.h"
#include "tracemark/detector.h"
#include "tracemark/llama/tokenizer.h"
#include "tracemark/scheme.h"
#include "tracemark/tokenizer.h"

namespace {

using namespace roundtrip;

struct pair_case {
  std::string name, prompt, text;
};

std::vector<pair_case> fixed_pairs() {
  return {
      {"plain", "Once upon a time", ", there was a little girl named Lily. She loved to play in the park with her dog."},
      {"prompt ends in a space", "Once upon a time ", "there was a big dog. The dog was happy and ran to the tree."},
      {"text starts with a space", "Once upon a time", " there was a big dog. The dog was happy and ran to the tree."},
      {"boundary merge", "Once upon a ti", "me, there was a cat who liked to sleep in the sun all day long."},
      {"boundary merge 2", "She was very hap", "py and she smiled. Tom went outside to play with the ball."},
      {"unicode", "Lily said: \xC2\xAB", "Bonjour, caf\xC3\xA9 na\xC3\xAFve \xE2\x80\x94 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E "
                                      "\xF0\x9F\x98\x80 \xE2\x98\x83!\xC2\xBB and she smiled at her mom."},
      {"empty prompt", "", "Tom and Sam went to the park. They played on the swings and had fun together."},
      {"special-token text", "<s>Once upon", " a time </s> <unk> there was a <|endoftext|> boy who had a red ball."},
      {"newlines", "Once upon a time\n", "there was a girl.\n\nShe said, \"Hi!\"\nThe end.\n"},
      {"CR LF and tabs", "Once upon a time\r\n", "there was a dog.\r\n\tThe dog ran.\r\nThe end.\r\n"},
      {"BOM and control text", "\xEF\xBB\xBFOnce upon a time", " there was a \x01 bell \x7F and a\x1B[0m cat."},
  };
}

struct doors_setup {
  std::string key;
  std::vector<std::string> scheme_flags;  // -H 2 --gamma 0.25 --account alice
};

// `tracemark detect` on a JSON Lines file of {"id", "prompt", "text"}: one record per pair.
std::vector<json> detect_pairs(const temp_dir& dir, const doors_setup& s, const std::string& vocab,
                               const std::vector<pair_case>& pairs, const std::string& name) {
  std::string jsonl;
  for (size_t i = 0; i < pairs.size(); ++i)
    jsonl += json{{"id", i}, {"prompt", pairs[i].prompt}, {"text", pairs[i].text}}.dump() + "\n";
  const std::string path = dir.file(name);
  write_file(path, jsonl);
  const run_result r = run(dir, concat({"detect", "--key", s.key, "--vocab", vocab, "--input-format", "jsonl",
                                        "--field", "text", "--prompt-field", "prompt", "--trace", "--format",
                                        "json"},
                                       concat(s.scheme_flags, {path})));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  std::vector<json> recs = parse_lines(r.out);
  REQUIRE(recs.size() == pairs.size());
  for (size_t i = 0; i < recs.size(); ++i) {
    REQUIRE_MESSAGE(!recs[i].contains("error"), pairs[i].name << ": " << recs[i].dump());
    CHECK(recs[i]["id"] == i);
  }
  return recs;
}

// `tracemark audit --suspect-outputs` on a dump of text records; returns the evidence record.
json audit_dump(const temp_dir& dir, const doors_setup& s, const std::string& vocab, const std::vector<pair_case>& pairs,
                const std::string& name) {
  std::string jsonl;
  for (const pair_case& p : pairs) jsonl += json{{"prompt", p.prompt}, {"text", p.text}}.dump() + "\n";
  const std::string path = dir.file(name);
  write_file(path, jsonl);
  const run_result r = run(dir, concat({"audit", "--key", s.key, "--suspect-outputs", path, "--vocab", vocab,
                                        "--no-prompt-filter", "--keep-samples", std::to_string(pairs.size()),
                                        "--json", "-"},
                                       s.scheme_flags));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  return json::parse(r.out);
}

int64_t count_letter(const std::string& s, char c) {
  int64_t n = 0;
  for (char x : s) n += x == c;
  return n;
}

// Library reference: the rule of docs/SPEC.md §7 with llama.cpp's tokenizer, and the detector.
struct reference {
  tracemark::tokenized_text t;
  tracemark::detection d;
  int64_t prompt_alone = 0;  // tokens of tokenize(prompt) with BOS
};

reference library_reference(const tracemark::llama_tokenizer& tok, const tracemark::scheme& s, const pair_case& p) {
  reference r;
  r.t = tracemark::tokenize_text(tok, p.text, p.prompt);
  r.d = tracemark::detector(s).score(r.t.tokens, r.t.n_prompt);
  if (!p.prompt.empty()) r.prompt_alone = static_cast<int64_t>(tok.tokenize(p.prompt, true).size());
  return r;
}

void check_detect_vs_library(const json& rec, const reference& ref, const std::string& trace_expected) {
  CHECK(rec["prompt_tokens"] == ref.t.n_prompt);
  CHECK(rec["tokens"].get<int64_t>() == static_cast<int64_t>(ref.t.tokens.size()) - ref.t.n_prompt);
  CHECK(rec["scored"] == ref.d.n_scored());
  CHECK(rec["green"] == ref.d.n_green());
  CHECK(rec["log10_p"].get<double>() == ref.d.test.log10_p);
  CHECK(rec["trace"].get<std::string>() == trace_expected);
}

// The library's trace letters of the text tokens (detect's "trace" leaves the prompt out).
std::string trace_string(const tracemark::detection& d) {
  std::string s;
  for (size_t i = static_cast<size_t>(d.n_prompt); i < d.trace.size(); ++i) s += tracemark::token_mark_letter(d.trace[i]);
  return s;
}

// detect (one record) vs audit over the single pair.
void check_detect_vs_audit_one(const json& rec, const json& a) {
  CHECK(a["mode"] == "suspect-outputs");
  CHECK(a["usage"]["documents"] == 1);
  CHECK(a["usage"]["tokens"].get<int64_t>() == rec["tokens"].get<int64_t>() + rec["prompt_tokens"].get<int64_t>());
  CHECK(a["usage"]["completion_tokens"] == rec["tokens"]);
  CHECK(a["scored"] == rec["scored"]);
  CHECK(a["green"] == rec["green"]);
  CHECK(a["log10_p"].get<double>() == doctest::Approx(rec["log10_p"].get<double>()).epsilon(1e-9));
  CHECK(a["filters"]["dedup_repeats"] == rec["repeats_skipped"]);
  CHECK(a["filters"]["prompt_context"] == 0);
  REQUIRE(a["samples"].size() == 1);
  const json& sample = a["samples"][0];
  CHECK(sample["n_prompt"] == rec["prompt_tokens"]);
  CHECK(sample["tokens"].size() == a["usage"]["tokens"].get<size_t>());
  // Detect's trace covers the text tokens; the audit's marks every position, prompt first.
  const std::string trace = rec["trace"].get<std::string>();
  const std::string marks = sample["marks"].get<std::string>();
  const size_t n_prompt = rec["prompt_tokens"].get<size_t>();
  REQUIRE(marks.size() == n_prompt + trace.size());
  CHECK(marks.substr(0, n_prompt) == std::string(n_prompt, 'p'));
  CHECK(marks.substr(n_prompt) == trace);
  CHECK(a["filters"]["no_context"] == count_letter(trace, '.'));
}

doors_setup make_setup(const temp_dir& dir) {
  doors_setup s;
  s.key = write_master_key(dir);
  s.scheme_flags = {"--context-width", "2", "--gamma", "0.25", "--account", "alice"};
  return s;
}

tracemark::scheme alice_scheme(const std::string& key_path, int32_t vocab) {
  tracemark::scheme_config c;
  c.context_width = 2;
  c.gamma = 0.25;
  c.vocab_size = vocab;
  c.account = "alice";
  return tracemark::scheme(tracemark::key::load(key_path), c);
}

}  // namespace

TEST_CASE("front door: detect, /v1/detect and audit score the same tuples of the same (prompt, text) pairs") {
  temp_dir dir("tracemark-front-door");
  const doors_setup s = make_setup(dir);
  server_process srv(dir, write_server_config(dir), {"--workers", "2"});
  const int port = srv.port();

  std::vector<pair_case> pairs = fixed_pairs();
  // Two marked completions of alice, with their prompts (one ending in a space).
  for (const auto& [prompt, seed] : std::vector<std::pair<std::string, int>>{{"Once upon a time", 11}, {"Tom had a ", 12}}) {
    const reply r = post(port, "/v1/completions",
                         json{{"prompt", prompt}, {"max_tokens", 200}, {"temperature", 1.0}, {"seed", seed}}, alice_key);
    REQUIRE_MESSAGE(r.status == 200, r.body);
    pairs.push_back({"completion seed " + std::to_string(seed), prompt, r.j["choices"][0]["text"].get<std::string>()});
  }

  const std::string model = stories260K_path();
  const tracemark::llama_tokenizer tok(model);
  const tracemark::scheme sch = alice_scheme(s.key, tok.n_vocab());
  const std::vector<json> det = detect_pairs(dir, s, model, pairs, "pairs.jsonl");

  int merged = 0;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const pair_case& p = pairs[i];
    CAPTURE(p.name);
    const json& rec = det[i];

    // The library's rule.
    const reference ref = library_reference(tok, sch, p);
    check_detect_vs_library(rec, ref, trace_string(ref.d));
    if (!p.prompt.empty()) {
      CHECK(ref.t.n_prompt >= 1);  // at least the BOS
      CHECK(ref.t.n_prompt <= ref.prompt_alone);
      merged += ref.t.n_prompt < ref.prompt_alone;
    } else {
      CHECK(ref.t.n_prompt == 0);
    }
    // On this vocabulary these prompts' last token merges with the text's first ("ti" + "me",
    // "hap" + "py", " " + "there"): the merged token counts as text.
    if (p.name.rfind("boundary merge", 0) == 0 || p.name == "prompt ends in a space")
      CHECK_MESSAGE(ref.t.n_prompt < ref.prompt_alone, "the prompt's last token should merge with the text's first");

    // (2) the server, with the account named: every statistic equal.
    const reply r = post(port, "/v1/detect", json{{"text", p.text}, {"prompt", p.prompt}, {"account", "alice"}}, admin_key);
    REQUIRE_MESSAGE(r.status == 200, r.body);
    for (const char* field : {"tokens", "prompt_tokens", "scored", "green", "gamma", "z", "log10_p", "p", "verdict",
                              "alpha", "repeats_skipped", "window"}) {
      CAPTURE(field);
      CHECK(r.j[field] == rec[field]);
    }
    CHECK(r.j["account"] == "alice");
    CHECK(r.j["params"] == rec["params"]);

    // Without "account": alice's entry of the attribution answer, and the same token counts.
    const reply all = post(port, "/v1/detect", json{{"text", p.text}, {"prompt", p.prompt}}, admin_key);
    REQUIRE_MESSAGE(all.status == 200, all.body);
    CHECK(all.j["tokens"] == rec["tokens"]);
    CHECK(all.j["prompt_tokens"] == rec["prompt_tokens"]);
    bool found = false;
    for (const json& a : all.j["accounts"]) {
      if (a["account"] != "alice") continue;
      found = true;
      CHECK(a["scored"] == rec["scored"]);
      CHECK(a["green"] == rec["green"]);
      CHECK(a["log10_p"] == rec["log10_p"]);
    }
    CHECK(found);

    // (3) audit over this pair alone.
    check_detect_vs_audit_one(rec, audit_dump(dir, s, model, {p}, "dump-" + std::to_string(i) + ".jsonl"));
  }
  CHECK(merged >= 3);  // the boundary cases really cross the boundary
  // The marked completions are detected through every door.
  for (size_t i = pairs.size() - 2; i < pairs.size(); ++i) {
    CAPTURE(pairs[i].name);
    CHECK(det[i]["verdict"] == "watermarked");
    CHECK(det[i]["log10_p"].get<double>() <= -6.0);
  }

  // All pairs in one dump: the audit pools documents with one deduplication set, as
  // `detect --corpus` does; both count the same tokens and distinct tuples.
  const json pooled = audit_dump(dir, s, model, pairs, "dump-all.jsonl");
  int64_t text_tokens = 0, all_tokens = 0, no_context = 0;
  for (const json& rec : det) {
    text_tokens += rec["tokens"].get<int64_t>();
    all_tokens += rec["tokens"].get<int64_t>() + rec["prompt_tokens"].get<int64_t>();
    no_context += count_letter(rec["trace"].get<std::string>(), '.');
  }
  CHECK(pooled["usage"]["documents"] == pairs.size());
  CHECK(pooled["usage"]["tokens"] == all_tokens);
  CHECK(pooled["usage"]["completion_tokens"] == text_tokens);
  CHECK(pooled["filters"]["no_context"] == no_context);
  CHECK(pooled["scored"].get<int64_t>() + pooled["filters"]["no_context"].get<int64_t>() +
            pooled["filters"]["dedup_repeats"].get<int64_t>() ==
        text_tokens);
  REQUIRE(pooled["samples"].size() == pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) CHECK(pooled["samples"][i]["n_prompt"] == det[i]["prompt_tokens"]);
  const run_result corpus = run(
      dir, concat({"detect", "--key", s.key, "--vocab", model, "--input-format", "jsonl", "--field", "text",
                   "--prompt-field", "prompt", "--corpus-only", "--format", "json"},
                  concat(s.scheme_flags, {dir.file("pairs.jsonl")})));
  REQUIRE_MESSAGE(corpus.exit_code == 0, corpus.err);
  const std::vector<json> crec = parse_lines(corpus.out);
  REQUIRE(crec.size() == 1);
  const json& c = crec[0]["corpus"];
  CHECK(c["documents"] == pairs.size());
  CHECK(c["tokens"] == text_tokens);
  CHECK(c["scored"] == pooled["scored"]);
  CHECK(c["green"] == pooled["green"]);
  MESSAGE("stories260K: ", pairs.size(), " pairs, ", text_tokens, " text tokens; pooled: scored ", pooled["scored"],
          ", green ", pooled["green"], ", log10 p ", pooled["log10_p"]);
}

TEST_CASE("front door: detect and audit agree on llama.cpp's SentencePiece vocabulary") {
  temp_dir dir("tracemark-front-door-spm");
  const doors_setup s = make_setup(dir);
  const std::filesystem::path vocab = std::filesystem::path(TRACEMARK_CLI_VOCAB_DIR) / "ggml-vocab-llama-spm.gguf";
  REQUIRE_MESSAGE(std::filesystem::is_regular_file(vocab), "missing vocabulary " << vocab << " (scripts/install_llama.sh)");
  const tracemark::llama_tokenizer tok(vocab.string());
  REQUIRE(tok.n_vocab() == 32000);
  const tracemark::scheme sch = alice_scheme(s.key, tok.n_vocab());

  const std::vector<pair_case> pairs = fixed_pairs();
  const std::vector<json> det = detect_pairs(dir, s, vocab.string(), pairs, "pairs.jsonl");
  int64_t text_tokens = 0;
  for (size_t i = 0; i < pairs.size(); ++i) {
    CAPTURE(pairs[i].name);
    const reference ref = library_reference(tok, sch, pairs[i]);
    check_detect_vs_library(det[i], ref, trace_string(ref.d));
    if (pairs[i].name == "boundary merge") CHECK(ref.t.n_prompt < ref.prompt_alone);
    check_detect_vs_audit_one(det[i], audit_dump(dir, s, vocab.string(), {pairs[i]}, "dump-" + std::to_string(i) + ".jsonl"));
    text_tokens += det[i]["tokens"].get<int64_t>();
  }
  const json pooled = audit_dump(dir, s, vocab.string(), pairs, "dump-all.jsonl");
  CHECK(pooled["usage"]["documents"] == pairs.size());
  CHECK(pooled["usage"]["completion_tokens"] == text_tokens);
  CHECK(pooled["params"]["tokenizer"] == det[0]["params"]["tokenizer"]);
}
