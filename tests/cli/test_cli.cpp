// End-to-end tests of the `tracemark` executable: it is run with posix_spawn in a
// private temporary directory, and its output is checked against the library.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "cli_helpers.h"
#include "process_helpers.h"
#include "test_helpers.h"
#include "tracemark/tracemark.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace tracemark;
using namespace cli_test;

constexpr int32_t vocab = 1000;

using testing_util::concat;
using testing_util::contains;
using testing_util::read_file;
using testing_util::run_result;
using testing_util::write_file;

struct temp_dir : testing_util::temp_dir {
  temp_dir() : testing_util::temp_dir("tracemark-cli-test") {}
};

// The watermarker of the token-id tests under the key in `key_path`: `cfg` (by default
// kgw-lefthash h = 1) over `vocab` ids, delta 4.
watermarker toy_watermarker(const std::string& key_path, scheme_config cfg = {}) {
  cfg.vocab_size = vocab;
  return watermarker(key::load(key_path), cfg, 4.0f);
}

// A toy sampler: fresh random logits every step (N(0, 2^2) over the vocabulary),
// biased by the watermarker when `wm` is given, sampled from the softmax.
std::vector<int32_t> sample_text(const watermarker* wm, int32_t context_width, uint64_t seed, size_t n,
                                 const std::vector<int32_t>& prompt = {}) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 2.0);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  sequence_state state(context_width);
  for (int32_t t : prompt) state.accept(t);
  std::vector<candidate> cands(static_cast<size_t>(vocab));
  std::vector<int32_t> out;
  for (size_t i = 0; i < n; ++i) {
    for (int32_t v = 0; v < vocab; ++v) cands[static_cast<size_t>(v)] = {v, static_cast<float>(normal(rng)), 0.0f};
    if (wm != nullptr) wm->apply(state, cands);
    const int32_t pick = testing_util::sample_softmax(cands, uniform(rng));
    out.push_back(pick);
    state.accept(pick);
  }
  return out;
}

json record(const json& id, const std::vector<int32_t>& tokens, const std::vector<int32_t>& prompt = {}) {
  json j;
  j["id"] = id;
  j["tokens"] = tokens;
  if (!prompt.empty()) j["prompt"] = prompt;
  return j;
}

std::vector<std::string> base_flags(const std::string& key_path) {
  return {"detect", "--key", key_path, "--vocab-size", std::to_string(vocab)};
}

}  // namespace

TEST_CASE("keygen writes a 0600 key, prints its fingerprint and never the secret") {
  temp_dir dir;
  const std::string path = dir.file("k.key");
  const run_result r = run(dir, {"keygen", "--out", path});
  REQUIRE(r.exit_code == 0);

  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);

  // The secret as stored in the file, and the fingerprint the library derives.
  std::string secret_hex;
  for (const std::string& line : split_lines(read_file(path)))
    if (line.rfind("secret ", 0) == 0) secret_hex = line.substr(7);
  REQUIRE(secret_hex.size() == 64);
  const key k = key::load(path);
  CHECK(contains(r.out, k.fingerprint()));
  CHECK(contains(r.out, path));
  CHECK_FALSE(contains(r.out, secret_hex));
  CHECK_FALSE(contains(r.err, secret_hex));
  CHECK_FALSE(contains(r.out, secret_hex.substr(0, 16)));  // not even part of it

  SUBCASE("an existing key is never overwritten") {
    const std::string before = read_file(path);
    const run_result again = run(dir, {"keygen", "--out", path});
    CHECK(again.exit_code == 3);
    CHECK(contains(again.err, path));
    CHECK(contains(again.err, "overwrite"));
    CHECK(again.out.empty());
    CHECK(read_file(path) == before);
  }
  SUBCASE("--out is required") {
    const run_result missing = run(dir, {"keygen"});
    CHECK(missing.exit_code == 2);
    CHECK(contains(missing.err, "--out"));
  }
}

TEST_CASE("demo detects its watermarked text and not the plain one") {
  temp_dir dir;
  const run_result r = run(dir, {"demo"});
  CHECK_MESSAGE(r.exit_code == 0, r.out << r.err);
  CHECK(contains(r.out, "tmk1:"));
  CHECK(contains(r.out, "kgw-lefthash"));
  CHECK(contains(r.out, "with watermark"));
  CHECK(contains(r.out, "not watermarked"));
  CHECK(contains(r.out, "10^-"));
  CHECK(contains(r.out, "OK"));
}

TEST_CASE("--version and --help") {
  temp_dir dir;
  const run_result v = run(dir, {"--version"});
  CHECK(v.exit_code == 0);
  CHECK(v.out.rfind("tracemark ", 0) == 0);

  const run_result h = run(dir, {"detect", "--help"});
  CHECK(h.exit_code == 0);
  for (const char* must : {"--vocab-size", "--key", "\"tokens\"", "\"prompt_tokens\"", "Exit codes", "--threads", "--alpha"})
    CHECK_MESSAGE(contains(h.out, must), must);

  const run_result none = run(dir, {});
  CHECK(none.exit_code == 2);
  CHECK(contains(none.err, "detect"));
}

TEST_CASE("detect: verdicts and statistics match the library, in input order") {
  temp_dir dir;
  const std::string key_path = make_key(dir);
  const watermarker wm = toy_watermarker(key_path);

  struct item {
    json id;
    std::vector<int32_t> prompt, tokens;
    bool marked;
  };
  std::vector<item> items;
  for (uint64_t s = 0; s < 4; ++s) {
    items.push_back({json("marked-" + std::to_string(s)), {}, sample_text(&wm, 1, 100 + s, 200), true});
    items.push_back({json(static_cast<int>(s)), {}, sample_text(nullptr, 1, 200 + s, 200), false});
  }
  const std::vector<int32_t> prompt = sample_text(nullptr, 1, 7, 30);
  items.push_back({json(true), prompt, sample_text(&wm, 1, 300, 200, prompt), true});
  items.push_back({json(nullptr), prompt, sample_text(nullptr, 1, 301, 200, prompt), false});

  std::string input;
  for (const item& it : items) input += record(it.id, it.tokens, it.prompt).dump() + "\n";
  const std::string in_path = dir.file("in.jsonl");
  write_file(in_path, input);

  const run_result r = run(dir, concat(base_flags(key_path), {in_path}));
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  const std::vector<json> out = parse_records(r.out);
  REQUIRE(out.size() == items.size());

  const detector det(wm.get_scheme());
  for (size_t i = 0; i < items.size(); ++i) {
    const item& it = items[i];
    const json& o = out[i];
    CAPTURE(i);
    CHECK(o["line"] == i + 1);
    CHECK(o["id"] == it.id);
    CHECK_FALSE(o.contains("error"));
    CHECK(o["verdict"] == (it.marked ? "watermarked" : "not_watermarked"));

    std::vector<int32_t> all = it.prompt;
    all.insert(all.end(), it.tokens.begin(), it.tokens.end());
    const detection d = det.score(all, static_cast<int64_t>(it.prompt.size()));
    CHECK(o["tokens"] == it.tokens.size());
    CHECK(o["prompt_tokens"] == it.prompt.size());
    CHECK(o["scored"] == d.n_scored());
    CHECK(o["green"] == d.n_green());
    CHECK(o["repeats_skipped"] == d.n_repeat);
    CHECK(o["gamma"].get<double>() == wm.get_scheme().gamma_effective());
    CHECK(o["z"].get<double>() == d.test.z);
    CHECK(o["log10_p"].get<double>() == d.test.log10_p);
    CHECK(o["p"].get<double>() == doctest::Approx(std::pow(10.0, d.test.log10_p)));
    CHECK(o["alpha"].get<double>() == 1e-6);
    CHECK(o["window"].is_object());  // 200 scored tokens >= the default window of 50
    CHECK_FALSE(o.contains("trace"));
    if (it.marked) {
      CHECK(o["log10_p"].get<double>() < -10.0);
      CHECK(o["window"]["log10_p_corrected"].get<double>() < -6.0);
    } else {
      CHECK(o["log10_p"].get<double>() > -6.0);
    }
    if (!it.prompt.empty()) CHECK(o["scored"].get<int64_t>() <= static_cast<int64_t>(it.tokens.size()));
  }

  SUBCASE("stdin gives the same output as a file argument") {
    const run_result from_stdin = run(dir, base_flags(key_path), in_path);
    CHECK(from_stdin.exit_code == 0);
    CHECK(from_stdin.out == r.out);
    const run_result dash = run(dir, concat(base_flags(key_path), {"-"}), in_path);
    CHECK(dash.out == r.out);
  }
  SUBCASE("-o writes the same records to a file") {
    const std::string out_path = dir.file("out.jsonl");
    const run_result to_file = run(dir, concat(base_flags(key_path), {"-o", out_path, in_path}));
    CHECK(to_file.exit_code == 0);
    CHECK(to_file.out.empty());
    CHECK(read_file(out_path) == r.out);
  }
  SUBCASE("another account, scheme or vocabulary does not see the watermark") {
    for (const auto& extra : std::vector<std::vector<std::string>>{
             {"--account", "bob"}, {"--scheme", "kgw-selfhash"}, {"--gamma", "0.5"}, {"-H", "2"}}) {
      const run_result other = run(dir, concat(concat(base_flags(key_path), extra), {in_path}));
      CAPTURE(extra[0]);
      CHECK(other.exit_code == 0);
      for (const json& o : parse_records(other.out)) CHECK(o["verdict"] == "not_watermarked");
    }
    const run_result other_vocab =
        run(dir, {"detect", "--key", key_path, "--vocab-size", "1001", in_path});
    for (const json& o : parse_records(other_vocab.out)) CHECK(o["verdict"] == "not_watermarked");
  }
  SUBCASE("a different key does not see the watermark") {
    const std::string other_key = make_key(dir, "other.key");
    const run_result other = run(dir, concat(base_flags(other_key), {in_path}));
    for (const json& o : parse_records(other.out)) CHECK(o["verdict"] == "not_watermarked");
  }
  SUBCASE("--alpha moves the decision threshold") {
    const run_result lax = run(dir, concat(base_flags(key_path), {"--alpha", "0.999999", in_path}));
    const std::vector<json> lax_out = parse_records(lax.out);
    REQUIRE(lax_out.size() == items.size());
    for (const json& o : lax_out) {
      CHECK(o["alpha"].get<double>() == 0.999999);
      CHECK(o["verdict"] == (o["log10_p"].get<double>() <= std::log10(0.999999) ? "watermarked" : "not_watermarked"));
    }
  }
  SUBCASE("--trace gives one letter per token, consistent with the counts") {
    const run_result traced = run(dir, concat(base_flags(key_path), {"--trace", in_path}));
    const std::vector<json> t = parse_records(traced.out);
    REQUIRE(t.size() == items.size());
    for (size_t i = 0; i < t.size(); ++i) {
      const std::string trace = t[i]["trace"];
      CHECK(trace.size() == items[i].tokens.size());
      CHECK(trace.find_first_not_of("Gr=.") == std::string::npos);
      CHECK(std::count(trace.begin(), trace.end(), 'G') == t[i]["green"].get<int64_t>());
      CHECK(std::count(trace.begin(), trace.end(), 'r') == t[i]["scored"].get<int64_t>() - t[i]["green"].get<int64_t>());
      CHECK(std::count(trace.begin(), trace.end(), '=') == t[i]["repeats_skipped"].get<int64_t>());
      // Without a prompt the first token has no context; with one it does.
      CHECK((trace[0] == '.') == items[i].prompt.empty());
    }
  }
  SUBCASE("--format table is for people") {
    const run_result table = run(dir, concat(base_flags(key_path), {"--format", "table", in_path}));
    CHECK(table.exit_code == 0);
    const std::vector<std::string> lines = split_lines(table.out);
    REQUIRE(lines.size() == items.size() + 2);  // header, rows, summary
    CHECK(contains(lines[0], "verdict"));
    CHECK(contains(lines[1], "marked-0"));
    CHECK(contains(lines[1], "watermarked"));
    CHECK(contains(lines[2], "not watermarked"));
    CHECK(contains(lines.back(), "10 records: 5 watermarked, 5 not watermarked, 0 errors"));
  }
  SUBCASE("--format auto writes JSON Lines when stdout is not a terminal") {
    const run_result autof = run(dir, concat(base_flags(key_path), {"--format", "auto", in_path}));
    CHECK(autof.out == r.out);
  }
}

TEST_CASE("detect: partly marked text is found by the window search") {
  temp_dir dir;
  const std::string key_path = make_key(dir);
  const watermarker wm = toy_watermarker(key_path);
  std::vector<int32_t> text = sample_text(nullptr, 1, 11, 600);
  const std::vector<int32_t> marked = sample_text(&wm, 1, 12, 200, text);
  text.insert(text.end(), marked.begin(), marked.end());
  const std::string in_path = dir.file("partial.jsonl");
  write_file(in_path, record("partial", text).dump() + "\n");

  const run_result r = run(dir, concat(base_flags(key_path), {"--min-window", "50", in_path}));
  const std::vector<json> out = parse_records(r.out);
  REQUIRE(out.size() == 1);
  const json& w = out[0]["window"];
  REQUIRE(w.is_object());
  CHECK(w["log10_p_corrected"].get<double>() < -6.0);
  CHECK(w["log10_p_corrected"].get<double>() >= w["log10_p"].get<double>());
  CHECK(w["begin"].get<int64_t>() >= 500);  // inside (or at the edge of) the marked tail
  CHECK(w["end"].get<int64_t>() <= 800);
  CHECK(w["n_windows"].get<int64_t>() > 1);

  const run_result off = run(dir, concat(base_flags(key_path), {"--min-window", "0", in_path}));
  CHECK(parse_records(off.out).at(0)["window"].is_null());
}

TEST_CASE("detect: --threads 1 and --threads 4 give identical output, one line per input line") {
  temp_dir dir;
  const std::string key_path = make_key(dir);
  const watermarker wm = toy_watermarker(key_path);

  std::string input;
  const size_t n_lines = 600;
  for (size_t i = 0; i < n_lines; ++i) {
    if (i % 37 == 5) {
      input += "{\"id\": " + std::to_string(i) + ", \"tokens\": [1, -2]}\n";  // an error record
    } else {
      const bool mark = i % 2 == 0;
      input += record(json(i), sample_text(mark ? &wm : nullptr, 1, 1000 + i, 20 + (i * 7) % 150)).dump() + "\n";
    }
  }
  const std::string in_path = dir.file("many.jsonl");
  write_file(in_path, input);

  const run_result one = run(dir, concat(base_flags(key_path), {"--threads", "1", in_path}));
  const run_result four = run(dir, concat(base_flags(key_path), {"--threads", "4", in_path}));
  const run_result piped = run(dir, concat(base_flags(key_path), {"-j", "4"}), in_path);
  CHECK(one.exit_code == 1);  // the error records
  CHECK(four.exit_code == 1);
  CHECK(one.out == four.out);
  CHECK(piped.out == four.out);

  const std::vector<json> out = parse_records(four.out);
  REQUIRE(out.size() == n_lines);
  for (size_t i = 0; i < n_lines; ++i) {
    CHECK(out[i]["line"] == i + 1);
    CHECK(out[i]["id"] == i);
    CHECK(out[i].contains("error") == (i % 37 == 5));
  }
}

TEST_CASE("detect: every bad line gives one error record at its line, the rest are scored") {
  temp_dir dir;
  const std::string key_path = make_key(dir);
  const std::string good = R"({"id": "good", "tokens": [1, 2, 3, 4]})";
  struct bad_case {
    std::string line;
    std::vector<std::string> message;  // all must appear in the error
    json id;
  };
  const std::vector<bad_case> cases = {
      {R"({"id": 1, "tokens": [1, 2)", {"malformed JSON"}, nullptr},
      {R"(not json at all)", {"malformed JSON"}, nullptr},
      {R"([1, 2, 3])", {"not a JSON object", "array"}, nullptr},
      {R"("tokens")", {"not a JSON object", "string"}, nullptr},
      {R"({"id": 2})", {"missing", "tokens"}, 2},
      {R"({"id": 3, "tokens": "1 2 3"})", {"\"tokens\"", "string", "array"}, 3},
      {R"({"id": 4, "tokens": {"0": 1}})", {"\"tokens\"", "object", "array"}, 4},
      {R"({"id": 5, "tokens": [1, 2.5, 3]})", {"tokens[1]", "2.5", "not an integer"}, 5},
      {R"({"id": 6, "tokens": [1, 2, 3.0]})", {"tokens[2]", "not an integer"}, 6},
      {R"({"id": 7, "tokens": [1, "2"]})", {"tokens[1]", "string"}, 7},
      {R"({"id": 8, "tokens": [1, null]})", {"tokens[1]", "null"}, 8},
      {R"({"id": 9, "tokens": [3000000000]})", {"tokens[0]", "3000000000", "32-bit"}, 9},
      {R"({"id": 10, "tokens": [1, 2, -7]})", {"tokens[2]", "-7", "negative"}, 10},
      {R"({"id": 11, "tokens": [1, 1000]})", {"tokens[1]", "1000", "[0, 1000)"}, 11},
      {R"({"id": 12, "tokens": [1, 999], "prompt": [1000]})", {"prompt[0]", "1000", "[0, 1000)"}, 12},
      {R"({"id": 13, "tokens": [1], "prompt_tokens": "x"})", {"\"prompt_tokens\"", "array"}, 13},
      {R"({"id": 14, "tokens": []})", {"empty sequence"}, 14},
      {R"({"id": "s", "tokens": [1e400]})", {"malformed JSON", "overflow", "1e400"}, nullptr},
      {R"({"id": "t", "tokens": [1e5]})", {"tokens[0]", "not an integer"}, "t"},
      {"", {"empty line"}, nullptr},
      {"   \t", {"empty line"}, nullptr},
  };

  std::string input;
  std::vector<int> expect_error;  // per line
  for (const bad_case& c : cases) {
    input += good + "\n" + c.line + "\n";
    expect_error.push_back(0);
    expect_error.push_back(1);
  }
  input += good;  // a last line without its newline is still a line
  expect_error.push_back(0);
  const std::string in_path = dir.file("bad.jsonl");
  write_file(in_path, input);

  const run_result r = run(dir, concat(base_flags(key_path), {"--threads", "3", in_path}));
  CHECK(r.exit_code == 1);
  const std::vector<json> out = parse_records(r.out);
  REQUIRE(out.size() == expect_error.size());
  for (size_t i = 0; i < out.size(); ++i) {
    CAPTURE(i);
    CHECK(out[i]["line"] == i + 1);
    if (!expect_error[i]) {
      CHECK(out[i]["id"] == "good");
      CHECK(out[i].contains("verdict"));
      CHECK_FALSE(out[i].contains("error"));
      continue;
    }
    const bad_case& c = cases[i / 2];
    CAPTURE(c.line);
    REQUIRE(out[i].contains("error"));
    CHECK(out[i].size() == 3);  // id, line, error: no statistics
    CHECK(out[i]["id"] == c.id);
    const std::string msg = out[i]["error"];
    for (const std::string& m : c.message) CHECK_MESSAGE(contains(msg, m), msg << " should mention " << m);
  }

  SUBCASE("only good lines: exit 0; CRLF line ends are accepted") {
    write_file(in_path, good + "\r\n" + good + "\r\n");
    const run_result ok = run(dir, concat(base_flags(key_path), {in_path}));
    CHECK(ok.exit_code == 0);
    const std::vector<json> o = parse_records(ok.out);
    REQUIRE(o.size() == 2);
    CHECK(o[1]["line"] == 2);
    CHECK_FALSE(o[1].contains("error"));
  }
  SUBCASE("an empty input gives no records and exit 0") {
    write_file(in_path, "");
    const run_result empty = run(dir, concat(base_flags(key_path), {in_path}));
    CHECK(empty.exit_code == 0);
    CHECK(empty.out.empty());
  }
  SUBCASE("the table shows error rows and counts them") {
    const run_result table = run(dir, concat(base_flags(key_path), {"--format", "table", in_path}));
    CHECK(table.exit_code == 1);
    CHECK(contains(table.out, "error: empty sequence"));
    CHECK(contains(table.out, std::to_string(expect_error.size()) + " records"));
    CHECK(contains(table.out, std::to_string(cases.size()) + " errors"));
  }
}

TEST_CASE("detect: deduplication of repeated tuples, and --no-dedup") {
  temp_dir dir;
  const std::string key_path = make_key(dir);
  std::vector<int32_t> repetitive;
  for (int i = 0; i < 100; ++i) repetitive.push_back(i % 4);
  const std::string in_path = dir.file("rep.jsonl");
  write_file(in_path, record("rep", repetitive).dump() + "\n");

  const json dedup = parse_records(run(dir, concat(base_flags(key_path), {in_path})).out).at(0);
  CHECK(dedup["scored"] == 4);  // (1|0), (2|1), (3|2), (0|3)
  CHECK(dedup["repeats_skipped"] == 95);
  const json raw = parse_records(run(dir, concat(base_flags(key_path), {"--no-dedup", in_path})).out).at(0);
  CHECK(raw["scored"] == 99);
  CHECK(raw["repeats_skipped"] == 0);
}

TEST_CASE("detect: the unigram scheme") {
  temp_dir dir;
  const std::string key_path = make_key(dir);
  scheme_config cfg;
  cfg.name = "unigram";
  cfg.context_width = 0;
  const watermarker wm = toy_watermarker(key_path, cfg);
  const std::string in_path = dir.file("uni.jsonl");
  write_file(in_path, record("u", sample_text(&wm, 0, 5, 300)).dump() + "\n" +
                          record("plain", sample_text(nullptr, 0, 6, 300)).dump() + "\n");
  const run_result r = run(dir, concat(base_flags(key_path), {"--scheme", "unigram", in_path}));
  CHECK(r.exit_code == 0);
  const std::vector<json> out = parse_records(r.out);
  REQUIRE(out.size() == 2);
  CHECK(out[0]["verdict"] == "watermarked");
  CHECK(out[1]["verdict"] == "not_watermarked");
}

TEST_CASE("detect: up-front errors give their exit code, a message naming the problem, and no output") {
  temp_dir dir;
  const std::string key_path = make_key(dir);
  const std::string in_path = dir.file("in.jsonl");
  write_file(in_path, R"({"id": 1, "tokens": [1, 2, 3]})" "\n");
  const std::string secret_line = [&] {
    for (const std::string& l : split_lines(read_file(key_path)))
      if (l.rfind("secret ", 0) == 0) return l;
    return std::string();
  }();

  struct upfront {
    std::vector<std::string> args;
    int exit_code;
    std::vector<std::string> message;
  };
  const std::string missing_key = dir.file("missing.key");
  const std::string open_key = dir.file("open.key");
  write_file(open_key, read_file(key_path));
  ::chmod(open_key.c_str(), 0644);
  const std::string truncated_key = dir.file("truncated.key");
  {
    const std::string text = read_file(key_path);
    write_file(truncated_key, text.substr(0, text.find("fingerprint")));
    ::chmod(truncated_key.c_str(), 0600);
  }
  const std::string corrupt_key = dir.file("corrupt.key");
  {
    std::string text = read_file(key_path);
    const size_t pos = text.find("secret ") + 7;
    text[pos] = text[pos] == '0' ? '1' : '0';
    write_file(corrupt_key, text);
    ::chmod(corrupt_key.c_str(), 0600);
  }
  const std::string garbage_key = dir.file("garbage.key");
  write_file(garbage_key, "hello\n");
  ::chmod(garbage_key.c_str(), 0600);

  const std::string v = std::to_string(vocab);
  const std::vector<upfront> cases = {
      {{"detect", "--key", missing_key, "--vocab-size", v, in_path}, 3, {missing_key}},
      {{"detect", "--key", open_key, "--vocab-size", v, in_path}, 3, {open_key, "0644"}},
      {{"detect", "--key", truncated_key, "--vocab-size", v, in_path}, 3, {truncated_key, "truncated"}},
      {{"detect", "--key", corrupt_key, "--vocab-size", v, in_path}, 3, {corrupt_key, "fingerprint"}},
      {{"detect", "--key", garbage_key, "--vocab-size", v, in_path}, 3, {garbage_key}},
      {{"detect", "--vocab-size", v, in_path}, 2, {"--key"}},
      {{"detect", "--key", key_path, in_path}, 2, {"--vocab-size"}},
      {{"detect", "--key", key_path, "--vocab-size", "0", in_path}, 2, {"--vocab-size"}},
      {{"detect", "--key", key_path, "--vocab-size", "-3", in_path}, 2, {"--vocab-size"}},
      {{"detect", "--key", key_path, "--vocab-size", v, "--scheme", "kgw-foo", in_path}, 2, {"--scheme", "kgw-foo"}},
      {{"detect", "--key", key_path, "--vocab-size", v, "--gamma", "1.5", in_path}, 2, {"--gamma"}},
      {{"detect", "--key", key_path, "--vocab-size", v, "--gamma", "0", in_path}, 2, {"--gamma"}},
      {{"detect", "--key", key_path, "--vocab-size", v, "--gamma", "abc", in_path}, 2, {"--gamma"}},
      {{"detect", "--key", key_path, "--vocab-size", v, "--context-width", "0", in_path}, 2, {"--context-width"}},
      {{"detect", "--key", key_path, "--vocab-size", v, "--context-width", "17", in_path}, 2, {"--context-width"}},
      {{"detect", "--key", key_path, "--vocab-size", v, "--scheme", "unigram", "-H", "2", in_path}, 2, {"--context-width"}},
      {{"detect", "--key", key_path, "--vocab-size", v, "--alpha", "2", in_path}, 2, {"--alpha"}},
      {{"detect", "--key", key_path, "--vocab-size", v, "--threads", "-1", in_path}, 2, {"--threads"}},
      {{"detect", "--key", key_path, "--vocab-size", v, "--min-window", "-1", in_path}, 2, {"--min-window"}},
      {{"detect", "--key", key_path, "--vocab-size", v, "--format", "xml", in_path}, 2, {"--format"}},
      {{"detect", "--key", key_path, "--vocab-size", v, "--no-such-flag", in_path}, 2, {"--no-such-flag"}},
      {{"detect", "--key", key_path, "--vocab-size", v, dir.file("absent.jsonl")}, 4, {dir.file("absent.jsonl")}},
      {{"detect", "--key", key_path, "--vocab-size", v, dir.path.string()}, 4, {dir.path.string(), "directory"}},
      {{"detect", "--key", key_path, "--vocab-size", v, "-o", dir.file("no/such/dir/out.jsonl"), in_path},
       4,
       {dir.file("no/such/dir/out.jsonl")}},
  };
  for (const upfront& c : cases) {
    std::string cmd;
    for (const std::string& a : c.args) cmd += a + " ";
    CAPTURE(cmd);
    const run_result r = run(dir, c.args);
    CHECK(r.exit_code == c.exit_code);
    CHECK(r.out.empty());
    for (const std::string& m : c.message) CHECK_MESSAGE(contains(r.err, m), r.err << " should mention " << m);
    CHECK_FALSE(contains(r.err, secret_line.substr(7)));
  }

  SUBCASE("a refused key leaves no output file behind") {
    const std::string out_path = dir.file("never.jsonl");
    const run_result r = run(dir, {"detect", "--key", open_key, "--vocab-size", v, "-o", out_path, in_path});
    CHECK(r.exit_code == 3);
    CHECK_FALSE(fs::exists(out_path));
  }
  SUBCASE("unreadable input: a directory (fails for root too, unlike chmod 000)") {
    const std::string not_a_file = dir.file("a-directory.jsonl");
    fs::create_directory(not_a_file);
    const run_result r = run(dir, {"detect", "--key", key_path, "--vocab-size", v, not_a_file});
    CHECK(r.exit_code == 4);
    CHECK(contains(r.err, not_a_file));
    CHECK(r.out.empty());
  }
}

TEST_CASE("detect: --vocab needs a build with llama.cpp") {
  temp_dir dir;
  const std::string key_path = make_key(dir);
  const std::string in_path = dir.file("in.txt");
  write_file(in_path, "some text\n");
  const std::string vocab_file = dir.file("vocab.gguf");
  write_file(vocab_file, "GGUF but truncated");
  const run_result r = run(dir, {"detect", "--key", key_path, "--vocab", vocab_file, in_path});
  CHECK(r.exit_code == 2);
  CHECK(r.out.empty());
#ifdef TRACEMARK_CLI_HAS_LLAMA
  CHECK(contains(r.err, vocab_file));  // llama.cpp cannot load it: a clear error naming the file
  CHECK_FALSE(contains(r.err, "built without llama.cpp"));
#else
  CHECK(contains(r.err, "built without llama.cpp"));
  CHECK(contains(r.err, "--vocab"));
#endif
}

TEST_CASE("detect: --corpus on token ids") {
  temp_dir dir;
  const std::string key_path = make_key(dir);
  const watermarker wm = toy_watermarker(key_path);
  std::string input;
  corpus_accumulator acc(wm.get_scheme());
  for (uint64_t i = 0; i < 12; ++i) {
    const std::vector<int32_t> t = sample_text(i % 4 == 0 ? &wm : nullptr, 1, 40 + i, 30);
    input += record(json(i), t).dump() + "\n";
    acc.add(t, 0, std::to_string(i));
  }
  input += "{\"id\": \"bad\", \"tokens\": []}\n";
  const std::string in_path = dir.file("c.jsonl");
  write_file(in_path, input);
  const run_result r = run(dir, concat(base_flags(key_path), {"--corpus", in_path}));
  CHECK(r.exit_code == 1);  // the bad line
  const std::vector<json> out = parse_records(r.out);
  REQUIRE(out.size() == 14);
  CHECK(out[12].contains("error"));
  const json& c = out[13]["corpus"];
  const corpus_verdict v = acc.verdict();
  CHECK(c["documents"] == 12);
  CHECK(c["errors"] == 1);
  CHECK(c["tokens"] == 12 * 30);
  CHECK(c["scored"] == v.test.stat.scored);
  CHECK(c["green"] == v.test.stat.score);
  CHECK(c["log10_p"].get<double>() == v.test.log10_p);
  CHECK(c["top_documents"].size() == std::min<size_t>(10, v.top_documents.size()));
  CHECK(c["top_documents"][0]["id"] == v.top_documents[0].id);

  const run_result only = run(dir, concat(base_flags(key_path), {"--corpus-only", "-j", "3", in_path}));
  const std::vector<json> o = parse_records(only.out);
  REQUIRE(o.size() == 2);  // the error record, then the corpus
  CHECK(o[0].contains("error"));
  CHECK(o[1] == out[13]);
}
