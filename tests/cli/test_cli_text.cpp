// End-to-end tests of `tracemark detect` on text: real llama.cpp vocabularies
// (llama-spm, qwen2, and the stories260K model), the shared human-written corpora, and
// text sampled with the watermark. Results are checked against the library (the same
// tokenizer adapter and detector). Missing vocabularies or corpora fail the tests.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "cli_helpers.h"
#include "process_helpers.h"
#include "shared_files.h"
#include "test_helpers.h"
#include "tracemark/corpus.h"
#include "tracemark/llama/tokenizer.h"
#include "tracemark/tracemark.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace tracemark;
using namespace cli_test;

std::string vocab_path(const std::string& name) {
  const fs::path p = fs::path(TRACEMARK_CLI_VOCAB_DIR) / ("ggml-vocab-" + name + ".gguf");
  REQUIRE_MESSAGE(fs::is_regular_file(p), "missing vocabulary " << p << " (scripts/install_llama.sh installs it)");
  return p.string();
}

using testing_util::concat;
using testing_util::contains;
using testing_util::read_file;
using testing_util::run_result;
using testing_util::stories260K_path;
using testing_util::write_file;

struct temp_dir : testing_util::temp_dir {
  temp_dir() : testing_util::temp_dir("tracemark-cli-text") {}
};

// Tokens that are a whole lowercase word with a leading space: sequences of them
// detokenize to plain prose-like text that tokenizes back (mostly) to the same tokens.
std::vector<int32_t> word_tokens(const llama_tokenizer& tok) {
  std::vector<int32_t> words;
  for (int32_t t = 0; t < tok.n_vocab() && words.size() < 4000; ++t) {
    const std::string piece = tok.token_to_piece(t);
    if (piece.size() < 4 || piece.size() > 10 || piece[0] != ' ') continue;
    bool ok = true;
    for (size_t i = 1; i < piece.size(); ++i) ok = ok && piece[i] >= 'a' && piece[i] <= 'z';
    if (ok) words.push_back(t);
  }
  REQUIRE(words.size() > 500);
  return words;
}

// `n` words sampled from random logits (N(0, 2^2)), biased by `wm` when given.
std::string sample_text(const llama_tokenizer& tok, const std::vector<int32_t>& words, const watermarker* wm,
                        uint64_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 2.0);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  sequence_state state(1);
  std::vector<candidate> cands(words.size());
  std::string text;
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < words.size(); ++j) cands[j] = {words[j], static_cast<float>(normal(rng)), 0.0f};
    if (wm != nullptr) wm->apply(state, cands);
    const int32_t pick = testing_util::sample_softmax(cands, uniform(rng));
    state.accept(pick);
    text += tok.token_to_piece(pick);
  }
  return text.substr(1);  // no leading space
}

// What the CLI must report for `text` (with an optional prompt), by the tokenization rule
// of docs/SPEC.md §7 written out here: the text alone without BOS; after a prompt,
// tokenize(prompt + text) with BOS, the prompt being the common prefix with tokenize(prompt).
detection expected(const detector& det, const llama_tokenizer& tok, const std::string& text,
                   const std::string& prompt = "", int64_t* n_prompt = nullptr, int64_t* n_tokens = nullptr) {
  std::vector<int32_t> all;
  int64_t np = 0;
  if (prompt.empty()) {
    all = tok.tokenize(text, false);
  } else {
    const std::vector<int32_t> p = tok.tokenize(prompt, true);
    all = tok.tokenize(prompt + text, true);
    while (static_cast<size_t>(np) < p.size() && static_cast<size_t>(np) < all.size() &&
           p[static_cast<size_t>(np)] == all[static_cast<size_t>(np)])
      ++np;
  }
  if (n_prompt != nullptr) *n_prompt = np;
  if (n_tokens != nullptr) *n_tokens = static_cast<int64_t>(all.size()) - np;
  return det.score(all, np);
}

void check_same(const json& o, const detection& d) {
  CHECK(o["scored"] == d.n_scored());
  CHECK(o["green"] == d.n_green());
  CHECK(o["repeats_skipped"] == d.n_repeat);
  CHECK(o["log10_p"].get<double>() == d.test.log10_p);
  CHECK(o["z"].get<double>() == d.test.z);
}

// A fixture: key, vocabulary, scheme, watermarker and detector for one vocabulary.
struct setup {
  temp_dir dir;
  std::string key_path, vocab;
  llama_tokenizer tok;
  key master;
  scheme_config cfg;
  watermarker wm;
  detector det;
  std::vector<int32_t> words;
  explicit setup(const std::string& vocab_file)
      : key_path(make_key(dir)),
        vocab(vocab_file),
        tok(vocab_file),
        master(key::load(key_path)),
        cfg([&] {
          scheme_config c;
          c.vocab_size = tok.n_vocab();
          return c;
        }()),
        wm(master, cfg, 4.0f),
        det(wm.get_scheme()),
        words(tok.n_vocab() > 1000 ? word_tokens(tok) : std::vector<int32_t>{}) {}
  std::vector<std::string> flags() const { return {"detect", "--key", key_path, "--vocab", vocab}; }
};

}  // namespace

TEST_CASE("text: marked text is detected, plain text is not, and the numbers are the library's") {
  for (const std::string name : {"llama-spm", "qwen2"}) {
    CAPTURE(name);
    setup s(vocab_path(name));
    std::vector<std::string> texts;
    std::string jsonl;
    for (uint64_t i = 0; i < 6; ++i) {
      texts.push_back(sample_text(s.tok, s.words, i % 2 == 0 ? &s.wm : nullptr, 100 + i, 250));
      json j;
      j["id"] = "doc-" + std::to_string(i);
      j["text"] = texts.back();
      jsonl += j.dump() + "\n";
    }
    const std::string in_path = s.dir.file("in.jsonl");
    write_file(in_path, jsonl);
    const run_result r = run(s.dir, concat(s.flags(), {in_path}));
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    const std::vector<json> out = parse_records(r.out);
    REQUIRE(out.size() == texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
      CAPTURE(i);
      int64_t n_tokens = 0;
      const detection d = expected(s.det, s.tok, texts[i], "", nullptr, &n_tokens);
      CHECK(out[i]["id"] == "doc-" + std::to_string(i));
      CHECK(out[i]["line"] == i + 1);
      CHECK(out[i]["bytes"] == texts[i].size());
      CHECK(out[i]["tokens"] == n_tokens);
      CHECK(out[i]["prompt_tokens"] == 0);
      check_same(out[i], d);
      CHECK(out[i]["verdict"] == (i % 2 == 0 ? "watermarked" : "not_watermarked"));
      if (i % 2 == 0) CHECK(out[i]["log10_p"].get<double>() < -10.0);
    }

    SUBCASE("two threads: the same bytes") {
      CHECK(run(s.dir, concat(s.flags(), {"-j", "2", in_path})).out == r.out);
    }
    SUBCASE("a plain text file, from a path and from standard input") {
      const std::string txt = s.dir.file("marked.txt");
      write_file(txt, texts[0] + "\n");
      const run_result f = run(s.dir, concat(s.flags(), {txt}));
      const std::vector<json> o = parse_records(f.out);
      REQUIRE(o.size() == 1);
      CHECK(o[0]["id"] == txt + ":1");
      CHECK(o[0]["verdict"] == "watermarked");
      check_same(o[0], expected(s.det, s.tok, texts[0] + "\n"));
      const std::vector<json> in = parse_records(run(s.dir, s.flags(), txt).out);
      REQUIRE(in.size() == 1);
      CHECK(in[0]["id"] == "stdin:1");
      CHECK(in[0]["scored"] == o[0]["scored"]);
    }
    SUBCASE("another key's account sees nothing") {
      for (const json& o : parse_records(run(s.dir, concat(s.flags(), {"--account", "bob", in_path})).out))
        CHECK(o["verdict"] == "not_watermarked");
    }
  }
}

TEST_CASE("text: JSON Lines with a prompt field; prompts are context only") {
  setup s(vocab_path("llama-spm"));
  const std::string prompt = "Write a story about a cat.";
  const std::string text = sample_text(s.tok, s.words, &s.wm, 7, 200);
  json j;
  j["id"] = 17;
  j["output"] = text;
  j["input"] = prompt;
  json k;
  k["output"] = text;  // no prompt, no id
  const std::string in_path = s.dir.file("p.jsonl");
  write_file(in_path, j.dump() + "\n" + k.dump() + "\n");
  const run_result r = run(s.dir, concat(s.flags(), {"--field", "output", "--prompt-field", "input", in_path}));
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  const std::vector<json> out = parse_records(r.out);
  REQUIRE(out.size() == 2);
  int64_t n_prompt = 0, n_tokens = 0;
  const detection d = expected(s.det, s.tok, text, prompt, &n_prompt, &n_tokens);
  CHECK(n_prompt > 3);
  CHECK(out[0]["id"] == 17);
  CHECK(out[0]["prompt_tokens"] == n_prompt);
  CHECK(out[0]["tokens"] == n_tokens);
  check_same(out[0], d);
  CHECK(out[0]["scored"].get<int64_t>() <= n_tokens);  // the prompt is never scored
  CHECK(out[1]["id"] == in_path + ":2");
  CHECK(out[1]["prompt_tokens"] == 0);
  check_same(out[1], expected(s.det, s.tok, text));
}

TEST_CASE("text: split modes, several files, and the token-id mode alongside") {
  setup s(stories260K_path());
  const std::string a = s.dir.file("a.txt"), b = s.dir.file("b.txt");
  write_file(a, "Once upon a time there was a cat.\nThe cat liked milk.\n\nOne day it rained.\n");
  write_file(b, "Tim went to the park.");
  const auto ids = [](const std::vector<json>& o) {
    std::vector<std::string> v;
    for (const json& j : o) v.push_back(j["id"].get<std::string>());
    return v;
  };
  const std::vector<json> doc = parse_records(run(s.dir, concat(s.flags(), {a, b})).out);
  CHECK(ids(doc) == std::vector<std::string>{a + ":1", b + ":1"});
  CHECK(doc[0]["file"] == a);
  CHECK(doc[1]["file"] == b);
  const run_result lines = run(s.dir, concat(s.flags(), {"--split", "line", a}));
  CHECK(lines.exit_code == 1);  // the blank line is an "empty document" error record
  const std::vector<json> l = parse_records(lines.out);
  CHECK(ids(l) == std::vector<std::string>{a + ":1", a + ":2", a + ":3", a + ":4"});
  CHECK(l[2]["error"] == "empty document");
  CHECK_FALSE(l[0].contains("file"));
  const std::vector<json> p = parse_records(run(s.dir, concat(s.flags(), {"--split", "paragraph", a})).out);
  CHECK(ids(p) == std::vector<std::string>{a + ":1", a + ":4"});
  check_same(p[0], expected(s.det, s.tok, "Once upon a time there was a cat.\nThe cat liked milk."));

  SUBCASE("token ids with --vocab: recognised, and checked against the vocabulary size") {
    const std::string t = s.dir.file("t.jsonl");
    write_file(t, "{\"id\": 1, \"tokens\": [5, 6, 7, 8]}\n{\"id\": 2, \"tokens\": [5, 512]}\n");
    const run_result r = run(s.dir, concat(s.flags(), {t}));
    CHECK(r.exit_code == 1);
    const std::vector<json> o = parse_records(r.out);
    REQUIRE(o.size() == 2);
    CHECK(o[0]["scored"] == 3);
    CHECK(contains(o[1]["error"].get<std::string>(), "[0, 512)"));
  }
  SUBCASE("--input-format forces a reading") {
    const std::string j = s.dir.file("looks.jsonl");
    write_file(j, "{\"text\": \"hello there\"}\n");
    const std::vector<json> as_text = parse_records(run(s.dir, concat(s.flags(), {"--input-format", "text", j})).out);
    REQUIRE(as_text.size() == 1);
    CHECK(as_text[0]["bytes"] == 24);  // the whole line, newline included
    const std::vector<json> as_jsonl = parse_records(run(s.dir, concat(s.flags(), {j})).out);
    CHECK(as_jsonl.at(0)["bytes"] == 11);
  }
  SUBCASE("auto never reads JSON Lines as text because a line is bad, and asks when it cannot tell") {
    // A first line that does not parse (a lone surrogate escape, an invalid UTF-8 byte): still
    // JSON Lines, the bad line one error record, the good one scored.
    for (const std::string& bad : {std::string(R"({"text": "a \ud800 b"})"), std::string("{\"text\": \"a \xFF b\"}")}) {
      const std::string j = s.dir.file("bad-first.jsonl");
      write_file(j, bad + "\n{\"text\": \"hello there\"}\n");
      const run_result r = run(s.dir, concat(s.flags(), {j}));
      CHECK(r.exit_code == 1);
      const std::vector<json> o = parse_records(r.out);
      REQUIRE(o.size() == 2);
      CHECK(contains(o[0]["error"].get<std::string>(), "malformed JSON"));
      CHECK(o[1]["bytes"] == 11);
    }
    // Starts with '{' but no line is JSON: an error naming the file and --input-format, no guess.
    const std::string t = s.dir.file("braces.txt");
    write_file(t, "{not json\n{nor this\n");
    const run_result r = run(s.dir, concat(s.flags(), {t}));
    CHECK(r.exit_code == 4);
    CHECK(r.out.empty());
    CHECK(contains(r.err, "braces.txt"));
    CHECK(contains(r.err, "--input-format text"));
    CHECK(parse_records(run(s.dir, concat(s.flags(), {"--input-format", "text", t})).out).size() == 1);
  }
}

TEST_CASE("text: --corpus aggregates short documents into one exact test") {
  setup s(vocab_path("qwen2"));
  std::vector<std::string> texts;
  std::string jsonl;
  for (uint64_t i = 0; i < 30; ++i) {
    texts.push_back(sample_text(s.tok, s.words, i % 3 == 0 ? &s.wm : nullptr, 500 + i, 25));
    json j;
    j["id"] = "d" + std::to_string(i);
    j["text"] = texts.back();
    jsonl += j.dump() + "\n";
  }
  const std::string in_path = s.dir.file("c.jsonl");
  write_file(in_path, jsonl);
  const run_result r = run(s.dir, concat(s.flags(), {"--corpus", "--top", "5", in_path}));
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  const std::vector<json> out = parse_records(r.out);
  REQUIRE(out.size() == texts.size() + 1);
  const json& c = out.back().at("corpus");

  corpus_options copt;
  copt.n_top_documents = 5;
  corpus_accumulator acc(s.wm.get_scheme(), copt);
  int64_t tokens = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<int32_t> t = s.tok.tokenize(texts[i], false);
    tokens += static_cast<int64_t>(t.size());
    acc.add(t, 0, "d" + std::to_string(i));
    CHECK(out[i]["id"] == "d" + std::to_string(i));
  }
  const corpus_verdict v = acc.verdict();
  CHECK(c["documents"] == 30);
  CHECK(c["errors"] == 0);
  CHECK(c["tokens"] == tokens);
  CHECK(c["scored"] == v.test.stat.scored);
  CHECK(c["green"] == v.test.stat.score);
  CHECK(c["log10_p"].get<double>() == v.test.log10_p);
  CHECK(c["verdict"] == "watermarked");
  CHECK(c["log10_p"].get<double>() < -6.0);
  CHECK(c["marked_fraction"].get<double>() == v.marked_fraction);
  CHECK(c["marked_fraction"].get<double>() > 0.1);  // a third of the documents are marked
  CHECK(c["marked_fraction"].get<double>() < 0.8);
  REQUIRE(c["top_documents"].size() == 5);
  for (size_t i = 0; i < 5; ++i) {
    CHECK(c["top_documents"][i]["id"] == v.top_documents[i].id);
    CHECK(c["top_documents"][i]["index"] == v.top_documents[i].index);
    CHECK(c["top_documents"][i]["log10_p"].get<double>() == v.top_documents[i].test.log10_p);
  }
  CHECK(c["top_documents"][0]["index"].get<int64_t>() % 3 == 0);  // the most evidence is in a marked one

  SUBCASE("--corpus-only, any thread count: only the corpus record, the same") {
    const run_result only = run(s.dir, concat(s.flags(), {"--corpus-only", "--top", "5", "-j", "2", in_path}));
    CHECK(only.exit_code == 0);
    const std::vector<json> o = parse_records(only.out);
    REQUIRE(o.size() == 1);
    CHECK(o[0] == out.back());
  }
  SUBCASE("the table") {
    const run_result t = run(s.dir, concat(s.flags(), {"--corpus", "--format", "table", in_path}));
    CHECK(contains(t.out, "corpus: 30 documents"));
    CHECK(contains(t.out, "WATERMARKED"));
    CHECK(contains(t.out, "estimated marked fraction"));
  }
}

TEST_CASE("text: a long document is read in pieces with the context carried across") {
  setup s(vocab_path("llama-spm"));
  std::string text;
  for (uint64_t i = 0; i < 12; ++i) text += sample_text(s.tok, s.words, &s.wm, 900 + i, 120) + "\n\n";
  const std::string in_path = s.dir.file("long.txt");
  write_file(in_path, text);
  const run_result whole = run(s.dir, concat(s.flags(), {in_path}));
  const run_result pieces = run(s.dir, concat(s.flags(), {"--chunk-size", "1K", "--corpus", in_path}));
  const run_result pieces2 = run(s.dir, concat(s.flags(), {"--chunk-size", "1K", "--corpus", "-j", "2", in_path}));
  CHECK(pieces.out == pieces2.out);
  const json w = parse_records(whole.out).at(0);
  const std::vector<json> p = parse_records(pieces.out);
  REQUIRE(p.size() == 2);
  CHECK_FALSE(w.contains("pieces"));
  check_same(w, expected(s.det, s.tok, text));
  const int64_t n_pieces = p[0]["pieces"].get<int64_t>();
  CHECK(n_pieces >= static_cast<int64_t>(text.size() / 2100));  // pieces of 1 to 2 KiB
  CHECK(n_pieces <= static_cast<int64_t>(text.size() / 1024 + 1));
  CHECK(p[0]["bytes"] == text.size());
  // Pieces start at paragraph boundaries; only their first token can differ (SentencePiece's
  // space prefix), so the counts stay within one token per piece.
  CHECK(std::abs(p[0]["tokens"].get<int64_t>() - w["tokens"].get<int64_t>()) <= n_pieces);
  CHECK(p[0]["verdict"] == "watermarked");
  // The corpus of this one document counts exactly the document's tuples.
  CHECK(p[1]["corpus"]["scored"] == p[0]["scored"]);
  CHECK(p[1]["corpus"]["green"] == p[0]["green"]);
  CHECK(p[1]["corpus"]["documents"] == 1);
  CHECK(p[1]["corpus"]["tokens"] == p[0]["tokens"]);
  // ... and its pieces are one entry of the corpus, not one per piece.
  REQUIRE(p[1]["corpus"]["top_documents"].size() == 1);
  CHECK(p[1]["corpus"]["top_documents"][0]["scored"] == p[0]["scored"]);
  CHECK(p[1]["corpus"]["top_documents"][0]["index"] == 0);
}

TEST_CASE("text: bad input gives one clear record per document, never a crash") {
  setup s(stories260K_path());
  SUBCASE("plain text lines: invalid UTF-8, NUL, empty, whitespace, BOM, CRLF") {
    const std::string in_path = s.dir.file("bad.txt");
    write_file(in_path, std::string("\xEF\xBB\xBFOnce upon a time.\r\n") + "bad \xFF byte\r\n" +
                            std::string("nul \0 byte\r\n", 12) + "\r\n" + "  \t \r\n" + "Once upon a time.\n" + "The end");
    const run_result r = run(s.dir, concat(s.flags(), {"--split", "line", "-j", "2", in_path}));
    CHECK(r.exit_code == 1);
    const std::vector<json> o = parse_records(r.out);
    REQUIRE(o.size() == 7);
    for (size_t i = 0; i < o.size(); ++i) CHECK(o[i]["line"] == i + 1);
    CHECK_FALSE(o[0].contains("error"));
    CHECK(contains(o[1]["error"].get<std::string>(), "invalid UTF-8 at byte 4"));
    CHECK(contains(o[2]["error"].get<std::string>(), "NUL byte"));
    CHECK(o[3]["error"] == "empty document");
    CHECK(o[4]["error"] == "empty document: only whitespace");
    // The BOM and the CR are gone: line 1 scores exactly like the clean line 6.
    CHECK(o[0]["bytes"] == o[5]["bytes"]);
    CHECK(o[0]["tokens"] == o[5]["tokens"]);
    CHECK(o[0]["scored"] == o[5]["scored"]);
    CHECK(o[0]["green"] == o[5]["green"]);
    check_same(o[5], expected(s.det, s.tok, "Once upon a time."));
    CHECK_FALSE(o[6].contains("error"));

    const run_result rep = run(s.dir, concat(s.flags(), {"--split", "line", "--invalid-utf8", "replace", in_path}));
    const std::vector<json> q = parse_records(rep.out);
    REQUIRE(q.size() == 7);
    CHECK(q[1]["invalid_utf8_replaced"] == 1);
    check_same(q[1], expected(s.det, s.tok, "bad \xEF\xBF\xBD byte"));
    CHECK(contains(q[2]["error"].get<std::string>(), "NUL byte"));  // NUL stays an error
  }
  SUBCASE("JSON Lines: not JSON, missing or non-string field, empty text") {
    const std::string in_path = s.dir.file("bad.jsonl");
    write_file(in_path,
               "{\"id\": 1, \"text\": \"Once upon a time.\"}\n"
               "this is not json\n"
               "{\"id\": 3}\n"
               "{\"id\": 4, \"text\": 42}\n"
               "{\"id\": 5, \"text\": \"\"}\n"
               "\n"
               "{\"id\": 7, \"text\": \"nul \\u0000 inside\"}\n"
               "{\"id\": 8, \"text\": \"The end.\"}");
    const run_result r = run(s.dir, concat(s.flags(), {"--input-format", "jsonl", in_path}));
    CHECK(r.exit_code == 1);
    const std::vector<json> o = parse_records(r.out);
    REQUIRE(o.size() == 8);
    CHECK_FALSE(o[0].contains("error"));
    CHECK(contains(o[1]["error"].get<std::string>(), "malformed JSON"));
    CHECK(o[1]["id"] == in_path + ":2");
    CHECK(contains(o[2]["error"].get<std::string>(), "missing \"text\""));
    CHECK(o[2]["id"] == 3);
    CHECK(contains(o[3]["error"].get<std::string>(), "\"text\" is a number"));
    CHECK(contains(o[4]["error"].get<std::string>(), "empty document"));
    CHECK(contains(o[5]["error"].get<std::string>(), "empty line"));
    CHECK(contains(o[6]["error"].get<std::string>(), "NUL byte"));
    CHECK_FALSE(o[7].contains("error"));
  }
  SUBCASE("a single 100 MB line is read in pieces, with bounded memory") {
    const std::string in_path = s.dir.file("huge.txt");
    {
      std::ofstream out(in_path, std::ios::binary);
      const std::string block(1 << 20, 'a');
      for (int i = 0; i < 100; ++i) out << block;
      out << "\nOnce upon a time.\n";
      REQUIRE(out.good());
    }
    const run_result r = run(s.dir, concat(s.flags(), {"--split", "line", "-j", "2", in_path}));
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    const std::vector<json> o = parse_records(r.out);
    REQUIRE(o.size() == 2);
    CHECK(o[0]["bytes"] == 100 << 20);
    CHECK(o[0]["pieces"].get<int64_t>() >= 400);  // 256 KiB pieces
    CHECK(o[0]["tokens"].get<int64_t>() > 0);
    CHECK_FALSE(o[0].contains("error"));
    CHECK(o[1]["line"] == 2);
    fs::remove(in_path);
  }
}

TEST_CASE("text: vocabulary problems are up-front errors naming the file") {
  temp_dir dir;
  const std::string key_path = make_key(dir);
  const std::string in_path = dir.file("in.txt");
  write_file(in_path, "hello\n");
  const std::string not_gguf = dir.file("vocab.gguf");
  write_file(not_gguf, "this is not a gguf file\n");
  const std::string spm = vocab_path("llama-spm");
  const std::string out_path = dir.file("out.jsonl");
  struct upfront {
    std::vector<std::string> args;
    int exit_code;
    std::vector<std::string> message;
  };
  const std::vector<upfront> cases = {
      {{"--vocab", not_gguf}, 2, {not_gguf, "not a GGUF"}},
      {{"--vocab", dir.file("missing.gguf")}, 4, {dir.file("missing.gguf")}},
      {{"--vocab", dir.path.string()}, 4, {dir.path.string(), "directory"}},
      {{"--vocab", spm, "--vocab-size", "1234"}, 2, {"--vocab-size 1234", "32000", spm}},
      {{"--input-format", "text", "--vocab-size", "32000"}, 2, {"--input-format text", "--vocab"}},
      {{"--split", "line", "--vocab-size", "32000"}, 2, {"--split", "--vocab"}},
      {{"--vocab", spm, "--chunk-size", "10"}, 2, {"--chunk-size"}},
  };
  for (const upfront& c : cases) {
    std::vector<std::string> args{"detect", "--key", key_path, "-o", out_path};
    args.insert(args.end(), c.args.begin(), c.args.end());
    args.push_back(in_path);
    std::string cmd;
    for (const std::string& a : args) cmd += a + " ";
    CAPTURE(cmd);
    const run_result r = run(dir, args);
    CHECK(r.exit_code == c.exit_code);
    CHECK(r.out.empty());
    CHECK_FALSE(fs::exists(out_path));
    for (const std::string& m : c.message) CHECK_MESSAGE(contains(r.err, m), r.err << " should mention " << m);
  }
  const run_result same = run(dir, {"detect", "--key", key_path, "--vocab", spm, "--vocab-size", "32000", in_path});
  CHECK(same.exit_code == 0);
  CHECK(parse_records(same.out).size() == 1);
}

TEST_CASE("text: a progress line on standard error only when it is a terminal") {
  temp_dir dir;
  const std::string key_path = make_key(dir);
  const std::string corpus = testing_util::verified_shared_file("corpora/tinyshakespeare.txt").string();
  const std::vector<std::string> args{"detect", "--key", key_path, "--vocab", stories260K_path(), "--split",
                                      "paragraph", corpus};
  const run_result plain = run(dir, args);
  CHECK(plain.exit_code == 0);
  CHECK(plain.err.empty());

  const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  REQUIRE(master >= 0);
  REQUIRE(::grantpt(master) == 0);
  REQUIRE(::unlockpt(master) == 0);
  const int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
  REQUIRE(slave >= 0);
  const run_result tty = run(dir, args, "", slave);
  ::close(slave);
  std::string seen;
  char buf[4096];
  for (;;) {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) break;
    const ssize_t n = ::read(master, buf, sizeof buf);
    if (n <= 0) break;
    seen.append(buf, static_cast<size_t>(n));
  }
  ::close(master);
  CHECK(tty.exit_code == 0);
  CHECK(tty.out == plain.out);  // results unchanged
  CHECK(contains(seen, "documents"));
  CHECK(contains(seen, "/s"));
  CHECK(contains(seen, "ETA"));
}

TEST_CASE("text: the shared corpora (human text) are not watermarked, per document and as a corpus") {
  temp_dir dir;
  const std::string key_path = make_key(dir);
  std::vector<std::string> files;
  for (const char* f : {"corpora/tinyshakespeare.txt", "corpora/war_and_peace_pg2600.txt", "corpora/wikitext2_wiki.test.raw"})
    files.push_back(testing_util::verified_shared_file(f).string());
  const std::vector<std::string> args =
      concat({"detect", "--key", key_path, "--vocab", vocab_path("llama-spm"), "--split", "paragraph", "--corpus"},
             files);
  const run_result one = run(dir, concat(args, {"-j", "1"}));
  const run_result two = run(dir, concat(args, {"-j", "2"}));
  CHECK_MESSAGE(one.exit_code == 0, one.err);
  CHECK(one.out == two.out);
  const std::vector<json> out = parse_records(one.out);
  REQUIRE(out.size() > 10000);
  int64_t flagged = 0;
  for (size_t i = 0; i + 1 < out.size(); ++i) {
    REQUIRE_FALSE(out[i].contains("error"));
    flagged += out[i]["verdict"] == "watermarked";
  }
  CHECK(flagged <= 2);  // expected under alpha * documents = 0.03 (alpha 1e-6)
  const json& c = out.back()["corpus"];
  CHECK(c["documents"].get<size_t>() == out.size() - 1);
  CHECK(c["verdict"] == "not_watermarked");
  CHECK(c["log10_p"].get<double>() > -6.0);
}
