// The round trips a user will try, on the shared stories260K model (checksum-verified),
// with a fixed master key (deterministic), kgw-lefthash h = 2, gamma 0.25, delta 3:
//   a. `tracemark generate -H 2 --delta 3` (3 prompts, --n 2, 150 tokens) fed on standard
//      input into `tracemark detect -H 2 --vocab-size 512` (token mode): one record per
//      generated record, ids "1-0", "1-1", ... preserved, counts equal to the library's
//      detector on the records' ids, every one watermarked (p <= 1e-6); the unmarked
//      control (generate --no-watermark) has none.
//   b. the same file in text mode (`--vocab MODEL --input-format jsonl --prompt-field
//      prompt`): every record detected, ids preserved, and the same prompt/text/scored counts
//      as token mode for at least 80% of the records (re-tokenizing may split differently).
//   c. a `tracemark serve` completion body (n = 2) saved to a file and fed to detect: with
//      "return_tokens", one record per choice with id "<response id>/<index>" and the
//      choice's counts, detected; without, an error record per choice that says how to get
//      token ids (exit code 1), and text mode (--vocab) detects the choices; `--accounts FILE`
//      names the right account (alice for alice's completions, bob for bob's), in token and
//      text mode. Chat completion bodies and bodies of several prompts give one record per
//      choice too (token mode on standard input; text mode reads message.content).
//   d. `tracemark audit --suspect-outputs` reads generate's output as token records (-H 2
//      --vocab-size 512) and a text-only dump {"prompt", "text"} with --vocab, without error,
//      with usage counts equal to the records', and finds the marked outputs (the control not).
//   e. `tracemark serve` without the watermark, asked for log-probabilities by `tracemark audit
//      --suspect-url --statistic green-mass`: not detected under any of 40 keys, p-values no
//      smaller than uniform ones (the null of docs/AUDIT_DESIGN.md §9 on a real model); the
//      token-string mapping (--no-token-ids) and a dump of the same answers give the same record.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "roundtrip_helpers.h"
#include "tracemark/detector.h"
#include "tracemark/scheme.h"

namespace {

using namespace roundtrip;

const std::vector<std::string> scheme_flags{"--context-width", "2", "--gamma", "0.25"};
const std::vector<std::string> prompts{"Once upon a time", "Tom had a ", "The little bird"};

std::vector<std::string> generate_args(const std::string& key, bool watermark) {
  std::vector<std::string> a{"generate", "--model", stories260K_path()};
  if (watermark) a = concat(a, concat({"--key", key, "--delta", "3"}, scheme_flags));
  else a.push_back("--no-watermark");
  for (const std::string& p : prompts) a = concat(a, {"--prompt", p});
  return concat(a, {"--n", "2", "--max-tokens", "150", "--seed", "7"});
}

tracemark::scheme lefthash2(const std::string& key_path, const std::string& account = "") {
  tracemark::scheme_config c;
  c.context_width = 2;
  c.gamma = 0.25;
  c.vocab_size = 512;
  c.account = account;
  return tracemark::scheme(tracemark::key::load(key_path), c);
}

// generate's output, checked and parsed.
std::vector<json> generated(const temp_dir& dir, const std::string& key, bool watermark, const std::string& path) {
  const run_result g = run(dir, generate_args(key, watermark));
  REQUIRE_MESSAGE(g.exit_code == 0, g.err);
  write_file(path, g.out);
  std::vector<json> recs = parse_lines(g.out);
  REQUIRE(recs.size() == prompts.size() * 2);
  for (size_t i = 0; i < recs.size(); ++i) {
    CHECK(recs[i]["id"] == std::to_string(i / 2 + 1) + "-" + std::to_string(i % 2));
    CHECK(recs[i]["watermarked"] == watermark);
    REQUIRE(recs[i]["tokens"].is_array());
    CHECK(recs[i]["tokens"].size() >= 60);
  }
  return recs;
}

std::vector<json> run_detect(const temp_dir& dir, const std::vector<std::string>& args, const std::string& stdin_path = "",
                             int expected_exit = 0) {
  const run_result r = run(dir, args, stdin_path);
  REQUIRE_MESSAGE(r.exit_code == expected_exit, r.err);
  return parse_lines(r.out);
}

}  // namespace

TEST_CASE("round trip: generate -> detect (token ids and text) and generate -> audit --suspect-outputs") {
  temp_dir dir("tracemark-roundtrip");
  const std::string key = write_master_key(dir);
  const std::string marked_path = dir.file("marked.jsonl"), control_path = dir.file("control.jsonl");
  const std::vector<json> marked = generated(dir, key, true, marked_path);
  const std::vector<json> control = generated(dir, key, false, control_path);
  const tracemark::detector lib(lefthash2(key));

  // a. token mode, the file on standard input.
  const std::vector<std::string> token_args =
      concat({"detect", "--key", key, "--vocab-size", "512", "--format", "json"}, scheme_flags);
  const std::vector<json> tok = run_detect(dir, token_args, marked_path);
  REQUIRE(tok.size() == marked.size());
  for (size_t i = 0; i < tok.size(); ++i) {
    CAPTURE(i);
    const json& r = tok[i];
    REQUIRE_MESSAGE(!r.contains("error"), r.dump());
    CHECK(r["id"] == marked[i]["id"]);
    CHECK(r["line"] == i + 1);
    CHECK(r["tokens"] == marked[i]["tokens"].size());
    CHECK(r["prompt_tokens"] == marked[i]["prompt_tokens"].size());
    CHECK(r["params"]["key_fingerprint"] == marked[i]["key_fingerprint"]);
    std::vector<int32_t> all = marked[i]["prompt_tokens"].get<std::vector<int32_t>>();
    const std::vector<int32_t> body = marked[i]["tokens"].get<std::vector<int32_t>>();
    all.insert(all.end(), body.begin(), body.end());
    const tracemark::detection d = lib.score(all, static_cast<int64_t>(marked[i]["prompt_tokens"].size()));
    CHECK(r["scored"] == d.n_scored());
    CHECK(r["green"] == d.n_green());
    CHECK(r["log10_p"].get<double>() == d.test.log10_p);
    CHECK(r["verdict"] == "watermarked");
    CHECK(r["log10_p"].get<double>() <= -6.0);
    MESSAGE("token mode ", r["id"], ": ", r["tokens"], " tokens, scored ", r["scored"], ", green ", r["green"],
            ", log10 p ", r["log10_p"]);
  }
  const std::vector<json> ctl = run_detect(dir, concat(token_args, {control_path}));
  REQUIRE(ctl.size() == control.size());
  for (size_t i = 0; i < ctl.size(); ++i) {
    CHECK(ctl[i]["id"] == control[i]["id"]);
    CHECK(ctl[i]["verdict"] == "not_watermarked");
    CHECK(ctl[i]["log10_p"].get<double>() > -4.0);
  }

  // b. text mode on the same file.
  const std::vector<std::string> text_args = concat({"detect", "--key", key, "--vocab", stories260K_path(),
                                                     "--input-format", "jsonl", "--prompt-field", "prompt", "--format",
                                                     "json"},
                                                    scheme_flags);
  const std::vector<json> txt = run_detect(dir, concat(text_args, {marked_path}));
  REQUIRE(txt.size() == marked.size());
  size_t same = 0;
  for (size_t i = 0; i < txt.size(); ++i) {
    CAPTURE(i);
    REQUIRE_MESSAGE(!txt[i].contains("error"), txt[i].dump());
    CHECK(txt[i]["id"] == marked[i]["id"]);
    CHECK(txt[i]["verdict"] == "watermarked");
    CHECK(txt[i]["log10_p"].get<double>() <= -6.0);
    CHECK(txt[i]["params"]["tokenizer"]["name"] == "stories260K.gguf");
    const bool equal = txt[i]["scored"] == tok[i]["scored"] && txt[i]["green"] == tok[i]["green"] &&
                       txt[i]["tokens"] == tok[i]["tokens"] && txt[i]["prompt_tokens"] == tok[i]["prompt_tokens"];
    same += equal;
    MESSAGE("text mode ", txt[i]["id"], ": prompt ", txt[i]["prompt_tokens"], "/", tok[i]["prompt_tokens"], " tokens ",
            txt[i]["tokens"], "/", tok[i]["tokens"], " scored ", txt[i]["scored"], "/", tok[i]["scored"], " green ",
            txt[i]["green"], "/", tok[i]["green"], " (text/token mode)");
  }
  MESSAGE("text mode gives token mode's counts for ", same, " of ", txt.size(), " records");
  CHECK(same * 10 >= txt.size() * 8);
  const std::vector<json> ctl_txt = run_detect(dir, concat(text_args, {control_path}));
  REQUIRE(ctl_txt.size() == control.size());
  for (const json& r : ctl_txt) CHECK(r["verdict"] == "not_watermarked");

  // d. audit --suspect-outputs on generate's output (token records) and on a text-only dump.
  int64_t all_tokens = 0, text_tokens = 0;
  std::string text_dump;
  for (const json& m : marked) {
    all_tokens += static_cast<int64_t>(m["tokens"].size() + m["prompt_tokens"].size());
    text_tokens += static_cast<int64_t>(m["tokens"].size());
    text_dump += json{{"prompt", m["prompt"]}, {"text", m["text"]}}.dump() + "\n";
  }
  write_file(dir.file("text-dump.jsonl"), text_dump);
  const std::vector<std::string> audit_args = concat({"audit", "--key", key, "--json", "-"}, scheme_flags);
  {
    const run_result a = run(dir, concat(audit_args, {"--suspect-outputs", marked_path, "--vocab-size", "512"}));
    REQUIRE_MESSAGE(a.exit_code == 0, a.err);
    const json e = json::parse(a.out);
    CHECK(e["mode"] == "suspect-outputs");
    CHECK(e["usage"]["documents"] == marked.size());
    CHECK(e["usage"]["tokens"] == all_tokens);
    CHECK(e["usage"]["completion_tokens"] == text_tokens);
    CHECK(e["params"]["tokenizer"].is_null());
    CHECK(e["verdict"] == "radioactive");
    CHECK(e["log10_p"].get<double>() <= -6.0);
    MESSAGE("audit of generate's token records: scored ", e["scored"], ", green ", e["green"], ", log10 p ", e["log10_p"]);
  }
  {
    const run_result a = run(dir, concat(audit_args, {"--suspect-outputs", control_path, "--vocab-size", "512"}));
    REQUIRE_MESSAGE(a.exit_code == 0, a.err);
    const json e = json::parse(a.out);
    CHECK(e["usage"]["documents"] == control.size());
    CHECK(e["verdict"] == "not_detected");
    // A model may stop at once: generate writes "tokens": [] and the audit takes it as an
    // empty answer (nothing to score, counted in the summary), not as bad input.
    std::string with_empty = read_file(control_path);
    with_empty += json{{"prompt_tokens", control[0]["prompt_tokens"]}, {"tokens", json::array()}}.dump() + "\n";
    write_file(dir.file("control-empty.jsonl"), with_empty);
    const run_result b = run(dir, concat(audit_args, {"--suspect-outputs", dir.file("control-empty.jsonl"), "--vocab-size", "512"}));
    REQUIRE_MESSAGE(b.exit_code == 0, b.err);
    const json f = json::parse(b.out);
    CHECK(f["scored"] == e["scored"]);
    CHECK(f["log10_p"] == e["log10_p"]);
    CHECK(contains(b.err, "1 empty answers (nothing to score)"));
  }
  {
    const run_result a = run(dir, concat(audit_args, {"--suspect-outputs", dir.file("text-dump.jsonl"), "--vocab", stories260K_path()}));
    REQUIRE_MESSAGE(a.exit_code == 0, a.err);
    const json e = json::parse(a.out);
    CHECK(e["usage"]["documents"] == marked.size());
    int64_t txt_tokens = 0;
    for (const json& r : txt) txt_tokens += r["tokens"].get<int64_t>();
    CHECK(e["usage"]["completion_tokens"] == txt_tokens);  // tokenized as detect's text mode does
    CHECK(e["params"]["tokenizer"]["name"] == "stories260K.gguf");
    CHECK(e["verdict"] == "radioactive");
    MESSAGE("audit of the text dump: scored ", e["scored"], ", green ", e["green"], ", log10 p ", e["log10_p"]);
  }
  {  // A text dump without --vocab: a clear usage error naming the fix.
    const run_result a = run(dir, concat(audit_args, {"--suspect-outputs", dir.file("text-dump.jsonl"), "--vocab-size", "512"}));
    CHECK(a.exit_code == 2);
    CHECK(contains(a.err, "--vocab"));
  }
}

TEST_CASE("round trip: a tracemark serve response body saved to a file and fed to detect") {
  temp_dir dir("tracemark-roundtrip-serve");
  server_process srv(dir, write_server_config(dir), {"--workers", "2"});
  const std::string key = write_master_key(dir);
  const int port = srv.port();

  const json request = {{"prompt", "Once upon a time"}, {"max_tokens", 150}, {"n", 2}, {"temperature", 1.0}, {"seed", 21}};
  json with_tokens = request;
  with_tokens["return_tokens"] = true;
  const reply rt = post(port, "/v1/completions", with_tokens, alice_key);
  REQUIRE_MESSAGE(rt.status == 200, rt.body);
  const reply rp = post(port, "/v1/completions", request, alice_key);
  REQUIRE_MESSAGE(rp.status == 200, rp.body);
  json bob_request = with_tokens;
  bob_request["seed"] = 22;
  const reply rb = post(port, "/v1/completions", bob_request, bob_key);
  REQUIRE_MESSAGE(rb.status == 200, rb.body);
  for (const reply* r : {&rt, &rp, &rb}) {
    CHECK(r->body.find('\n') == std::string::npos);  // one line: a JSON Lines file of one record
    REQUIRE(r->j["choices"].size() == 2);
  }
  CHECK(rp.j["choices"][0]["text"] == rt.j["choices"][0]["text"]);  // same seed, same text
  write_file(dir.file("response.json"), rt.body + "\n");
  write_file(dir.file("response-plain.json"), rp.body + "\n");
  write_file(dir.file("response-bob.json"), rb.body + "\n");
  write_file(dir.file("accounts.txt"), "# the server's accounts\nalice\nbob\nops\n");
  const std::string id = rt.j["id"], plain_id = rp.j["id"], bob_id = rb.j["id"];

  const std::vector<std::string> token_args =
      concat({"detect", "--key", key, "--vocab-size", "512", "--format", "json"}, scheme_flags);
  const std::vector<std::string> text_args =
      concat({"detect", "--key", key, "--vocab", stories260K_path(), "--format", "json"}, scheme_flags);

  SUBCASE("token ids: one record per choice, id <response id>/<index>, detected under alice") {
    const std::vector<json> recs = run_detect(dir, concat(token_args, {"--account", "alice", dir.file("response.json")}));
    REQUIRE(recs.size() == 2);
    const tracemark::detector lib(lefthash2(key, "alice"));
    for (size_t i = 0; i < 2; ++i) {
      CAPTURE(i);
      const json& ch = rt.j["choices"][i];
      REQUIRE_MESSAGE(!recs[i].contains("error"), recs[i].dump());
      CHECK(recs[i]["id"] == id + "/" + std::to_string(i));
      CHECK(recs[i]["line"] == 1);
      CHECK(recs[i]["tokens"] == ch["token_ids"].size());
      CHECK(recs[i]["prompt_tokens"] == ch["prompt_token_ids"].size());
      std::vector<int32_t> all = ch["prompt_token_ids"].get<std::vector<int32_t>>();
      const std::vector<int32_t> body = ch["token_ids"].get<std::vector<int32_t>>();
      all.insert(all.end(), body.begin(), body.end());
      const tracemark::detection d = lib.score(all, static_cast<int64_t>(ch["prompt_token_ids"].size()));
      CHECK(recs[i]["scored"] == d.n_scored());
      CHECK(recs[i]["green"] == d.n_green());
      CHECK(recs[i]["verdict"] == "watermarked");
      CHECK(recs[i]["log10_p"].get<double>() <= -6.0);
    }
    // Under the master sub-key: not alice's watermark.
    for (const json& r : run_detect(dir, concat(token_args, {dir.file("response.json")})))
      CHECK(r["verdict"] == "not_watermarked");
  }

  SUBCASE("without return_tokens: an error record per choice saying how to get token ids") {
    const std::vector<json> recs =
        run_detect(dir, concat(token_args, {"--account", "alice", dir.file("response-plain.json")}), "", 1);
    REQUIRE(recs.size() == 2);
    for (size_t i = 0; i < 2; ++i) {
      CAPTURE(i);
      CHECK(recs[i]["id"] == plain_id + "/" + std::to_string(i));
      REQUIRE(recs[i].contains("error"));
      const std::string err = recs[i]["error"];
      CHECK(contains(err, "return_tokens"));
      CHECK(contains(err, "--vocab"));
      CHECK_FALSE(recs[i].contains("log10_p"));
    }
  }

  SUBCASE("text mode (--vocab): the choices' text is detected, ids preserved") {
    for (const std::string& file : {std::string("response-plain.json"), std::string("response.json")}) {
      CAPTURE(file);
      const std::vector<json> recs = run_detect(dir, concat(text_args, {"--account", "alice", dir.file(file)}));
      REQUIRE(recs.size() == 2);
      for (size_t i = 0; i < 2; ++i) {
        CAPTURE(i);
        REQUIRE_MESSAGE(!recs[i].contains("error"), recs[i].dump());
        CHECK(recs[i]["id"] == (file == "response.json" ? id : plain_id) + "/" + std::to_string(i));
        CHECK(recs[i]["verdict"] == "watermarked");
        CHECK(recs[i]["log10_p"].get<double>() <= -6.0);
        CHECK(recs[i]["bytes"] == rt.j["choices"][i]["text"].get<std::string>().size());
      }
    }
  }

  SUBCASE("chat completions and several prompts: one record per choice, in order") {
    const reply chat = post(port, "/v1/chat/completions",
                            json{{"messages", json::array({{{"role", "user"}, {"content", "Once upon a time"}}})},
                                 {"max_tokens", 150}, {"n", 2}, {"seed", 3}, {"return_tokens", true}},
                            alice_key);
    REQUIRE_MESSAGE(chat.status == 200, chat.body);
    const reply multi = post(port, "/v1/completions",
                             json{{"prompt", json::array({"Once upon a time", "Tom had a "})},
                                  {"max_tokens", 150}, {"n", 2}, {"seed", 4}, {"return_tokens", true}},
                             alice_key);
    REQUIRE_MESSAGE(multi.status == 200, multi.body);
    write_file(dir.file("chat.json"), chat.body + "\n");
    write_file(dir.file("multi.json"), multi.body + "\n");
    // Both bodies in one file, on standard input: 2 + 4 records, in order.
    write_file(dir.file("both.json"), chat.body + "\n" + multi.body + "\n");
    const std::vector<json> recs = run_detect(dir, concat(token_args, {"--account", "alice"}), dir.file("both.json"));
    REQUIRE(recs.size() == 6);
    for (size_t i = 0; i < 6; ++i) {
      CAPTURE(i);
      const reply& from = i < 2 ? chat : multi;
      const size_t k = i < 2 ? i : i - 2;
      const json& ch = from.j["choices"][k];
      REQUIRE_MESSAGE(!recs[i].contains("error"), recs[i].dump());
      CHECK(recs[i]["id"] == from.j["id"].get<std::string>() + "/" + std::to_string(k));
      CHECK(recs[i]["line"] == (i < 2 ? 1 : 2));
      CHECK(recs[i]["tokens"] == ch["token_ids"].size());
      CHECK(recs[i]["prompt_tokens"] == ch["prompt_token_ids"].size());
      CHECK(recs[i]["verdict"] == "watermarked");
    }
    // Text mode reads the chat message's content.
    const std::vector<json> txt = run_detect(dir, concat(text_args, {"--account", "alice", dir.file("chat.json")}));
    REQUIRE(txt.size() == 2);
    for (size_t i = 0; i < 2; ++i) {
      CHECK(txt[i]["bytes"] == chat.j["choices"][i]["message"]["content"].get<std::string>().size());
      CHECK(txt[i]["verdict"] == "watermarked");
    }
  }

  SUBCASE("--accounts FILE names the account that asked for the completion") {
    struct expect {
      std::string file, response_id, account;
    };
    for (const expect& e : {expect{"response.json", id, "alice"}, expect{"response-bob.json", bob_id, "bob"}}) {
      for (const bool text : {false, true}) {
        CAPTURE(e.file);
        CAPTURE(text);
        const std::vector<json> recs =
            run_detect(dir, concat(text ? text_args : token_args, {"--accounts", dir.file("accounts.txt"), dir.file(e.file)}));
        REQUIRE(recs.size() == 2);
        for (size_t i = 0; i < 2; ++i) {
          CAPTURE(i);
          REQUIRE_MESSAGE(recs[i].contains("attribution"), recs[i].dump());
          const json& a = recs[i]["attribution"];
          CHECK(recs[i]["id"] == e.response_id + "/" + std::to_string(i));
          CHECK(a["accounts_tried"] == 4);  // "", alice, bob, ops
          CHECK(a["best"] == e.account);
          CHECK(a["verdict"] == "watermarked");
          CHECK(a["log10_p_corrected"].get<double>() <= -6.0);
          REQUIRE(a["matches"].size() == 1);
          CHECK(a["matches"][0]["account"] == e.account);
          CHECK(recs[i]["verdict"] == "not_watermarked");  // the master sub-key of the record itself
        }
      }
    }
  }
}

TEST_CASE("round trip: tracemark serve's log-probabilities -> audit --statistic green-mass, unmarked: not detected") {
  temp_dir dir("tracemark-roundtrip-logprobs");
  server_process srv(dir, write_server_config(dir, /*watermark=*/false));
  const std::string url = "http://127.0.0.1:" + std::to_string(srv.port());
  const std::vector<std::string> audit_prompts{"Once upon a time", "Tom had a ", "The little bird", "One day, Lily",
                                               "The sun was", "Mom said"};
  {
    std::string p;
    for (const std::string& q : audit_prompts) p += q + "\n";
    write_file(dir.file("prompts.txt"), p);
  }
  ::setenv("TRACEMARK_SUSPECT_API_KEY", alice_key.c_str(), 1);
  const std::vector<std::string> common{
      "audit", "-H", "2", "--vocab", stories260K_path(), "--suspect-url", url, "--prompts", dir.file("prompts.txt"),
      "--n", "3", "--max-tokens", "80", "--seed", "11", "--statistic", "green-mass", "--json", "-", "--quiet"};
  auto audit = [&](const std::string& key, std::vector<std::string> extra) {
    const run_result r = run(dir, concat(concat(common, {"--key", key}), extra));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return json::parse(r.out);
  };

  // 40 keys (fixed secrets), one set of answers: the first audit asks, the others read the cache.
  std::vector<double> p_values;
  json first;
  for (int k = 0; k < 40; ++k) {
    tracemark::key::secret_bytes secret{};
    for (size_t i = 0; i < secret.size(); ++i) secret[i] = static_cast<uint8_t>(static_cast<size_t>(k) * 131 + i * 7 + 5);
    const std::string key = dir.file("k" + std::to_string(k) + ".key");
    tracemark::key::from_secret(secret).save(key);
    const json e = audit(key, {"--cache", dir.file("cache.jsonl")});
    CAPTURE(k);
    CHECK(e["statistic"] == "green-mass");
    CHECK(e["mode"] == "suspect-url");
    CHECK(e["verdict"] == "not_detected");
    CHECK(e["green_mass"]["top_logprobs"] == 20);
    CHECK(e["usage"]["documents"] == 18);
    CHECK(e["usage"]["queries"] == (k == 0 ? 18 : 0));
    p_values.push_back(std::pow(10.0, e["log10_p"].get<double>()));
    if (k == 0) first = e;
  }
  std::sort(p_values.begin(), p_values.end());
  double mean = 0.0;
  for (double p : p_values) mean += p / 40.0;
  const auto below_05 = std::count_if(p_values.begin(), p_values.end(), [](double p) { return p <= 0.05; });
  const auto below_20 = std::count_if(p_values.begin(), p_values.end(), [](double p) { return p <= 0.2; });
  MESSAGE("green mass of the unmarked stories260K under 40 keys (", first["green_mass"]["contexts"].get<int64_t>(),
          " contexts): smallest p ", p_values.front(), ", mean p ", mean, ", ", below_05, " at or below 0.05");
  // A super-uniform p-value: at most 6 of 40 at 0.05 and 16 at 0.2 (the 99.9% quantiles of the binomial).
  CHECK(below_05 <= 6);
  CHECK(below_20 <= 16);
  CHECK(p_values.front() > 1e-4);
  CHECK(first["green_mass"]["contexts"].get<int64_t>() > 500);
  CHECK(first["green_mass"]["terms"].get<int64_t>() > 20 * 400);

  // Token strings mapped with --vocab (no ids asked for) give the same record.
  const std::string key0 = dir.file("k0.key");
  const json by_strings = audit(key0, {"--cache", dir.file("cache-strings.jsonl"), "--no-token-ids"});
  CHECK(by_strings["usage"]["queries"] == 18);
  for (const char* f : {"scored", "score", "log10_p", "green_mass", "filters"}) {
    CAPTURE(f);
    CHECK(by_strings[f] == first[f]);
  }

  // A dump of the same answers (choices of tracemark serve with return_tokens and logprobs).
  std::string dump;
  for (const std::string& q : audit_prompts)
    for (int k = 0; k < 3; ++k) {
      const reply r = post(srv.port(), "/v1/completions",
                           {{"prompt", q}, {"max_tokens", 80}, {"temperature", 1.0}, {"top_p", 1.0}, {"seed", 11 + k},
                            {"logprobs", 20}, {"return_tokens", true}},
                           alice_key);
      REQUIRE_MESSAGE(r.status == 200, r.body);
      dump += r.j["choices"][0].dump() + "\n";
    }
  write_file(dir.file("dump.jsonl"), dump);
  const run_result d = run(dir, {"audit", "--key", key0, "-H", "2", "--vocab", stories260K_path(), "--suspect-outputs",
                                 dir.file("dump.jsonl"), "--statistic", "green-mass", "--json", "-", "--quiet"});
  REQUIRE_MESSAGE(d.exit_code == 0, d.err);
  const json from_dump = json::parse(d.out);
  CHECK(from_dump["mode"] == "suspect-outputs");
  for (const char* f : {"scored", "score", "log10_p", "green_mass"}) {
    CAPTURE(f);
    CHECK(from_dump[f] == first[f]);
  }

  // The report names the mode and the statistic.
  const run_result rep = run(dir, concat(concat(common, {"--key", key0, "--cache", dir.file("cache.jsonl")}),
                                         {"--report", dir.file("audit.html")}));
  REQUIRE_MESSAGE(rep.exit_code == 0, rep.err);
  const std::string html = read_file(dir.file("audit.html"));
  CHECK(contains(html, "<code>green-mass</code>"));
  CHECK(contains(html, "<code>suspect-url</code>"));

  // Usage errors: reading mode has no returned distributions; a dump without logprobs.
  run_result bad = run(dir, {"audit", "--key", key0, "-H", "2", "--suspect-model", stories260K_path(), "--texts",
                             dir.file("dump.jsonl"), "--statistic", "green-mass"});
  CHECK(bad.exit_code == 2);
  CHECK(contains(bad.err, "--statistic green-mass"));
  write_file(dir.file("plain.jsonl"), R"({"prompt_tokens": [1, 403], "tokens": [407, 261, 378]})" "\n");
  bad = run(dir, {"audit", "--key", key0, "-H", "2", "--vocab-size", "512", "--suspect-outputs",
                  dir.file("plain.jsonl"), "--statistic", "green-mass"});
  CHECK(bad.exit_code == 2);
  CHECK(contains(bad.err, "\"logprobs\""));
  bad = run(dir, {"audit", "--key", key0, "-H", "2", "--vocab-size", "512", "--suspect-outputs",
                  dir.file("plain.jsonl"), "--top-logprobs", "5"});
  CHECK(bad.exit_code == 2);
  CHECK(contains(bad.err, "--top-logprobs"));
  ::unsetenv("TRACEMARK_SUSPECT_API_KEY");
}
