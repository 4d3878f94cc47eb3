// The reduced distillation experiment of issue 5 (item 5), in CI, on the real tiny model
// ../shared/models/stories260K.gguf (docs/AUDIT_DESIGN.md §7):
//
//   teacher   stories260K + watermark (kgw-lefthash h=2, gamma 0.25, delta 2) writes a
//             training corpus; the same model without the watermark writes the control corpus;
//   students  count-based trigram models (their context is the scheme's h = 2 tokens),
//             one trained on the marked corpus, one on the control corpus, one on a 10% mix;
//   audits    black box on the students' sampled completions (library and CLI, through a
//             dump and through HTTP against a server started here that hosts a student),
//             reading mode (the students' top-1 predictions on held-out marked texts), and
//             the green-mass statistic on the top-20 log-probabilities the server returns.
//
// The marked student must be detected (p < 1e-6), the control must not (p > 1e-3). The
// HTTP audit must resume from its cache: a second run sends zero requests. The green mass
// must detect the marked student from 8 completions, with a smaller p than the sampled
// tokens of the same completions.
#include <doctest/doctest.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "process_helpers.h"
#include "shared_files.h"
#include "test_helpers.h"
#include "tracemark/audit.h"
#include "tracemark/llama/engine.h"
#include "tracemark/watermarker.h"

using namespace tracemark;
using json = nlohmann::json;
using testing_util::splitmix64;

namespace {

constexpr int32_t V = 512;

const std::filesystem::path& model_path() {
  static const std::filesystem::path p = testing_util::verified_shared_file("models/stories260K.gguf");
  return p;
}

const llama_engine& engine() {
  static const llama_engine e(model_path());
  return e;
}

scheme_config tiny_config() {
  scheme_config c;
  c.context_width = 2;
  c.vocab_size = V;
  return c;
}

const std::vector<std::string>& training_prompts() {
  static const std::vector<std::string> p = {"Once upon a time", "One day", "Tom and Lily", "The little dog",
                                             "Sara wanted to", "There was a big", "Mom said", "The sun"};
  return p;
}

// ------------------------------------------------------------------ the n-gram student

// A count-based trigram model with backoff, trained on token sequences. Sampling: with
// probability 0.9 from the trigram counts of the context when it was seen, else from the
// bigram counts of the last token, else from the unigram counts.
class ngram_student {
 public:
  void train(const std::vector<int32_t>& x) {
    for (size_t i = 0; i < x.size(); ++i) {
      ++uni_[static_cast<size_t>(x[i])];
      ++uni_total_;
      if (i >= 1) add(bi_[static_cast<uint32_t>(x[i - 1])], x[i]);
      if (i >= 2) add(tri_[key(x[i - 2], x[i - 1])], x[i]);
    }
  }
  int32_t sample(int32_t a, int32_t b, splitmix64& rng) const {
    const auto t = tri_.find(key(a, b));
    if (t != tri_.end() && rng.uniform() < 0.9) return draw(t->second, rng);
    const auto s = bi_.find(static_cast<uint32_t>(b));
    if (s != bi_.end() && rng.uniform() < 0.9) return draw(s->second, rng);
    double u = rng.uniform() * static_cast<double>(uni_total_);
    for (int32_t v = 0; v < V; ++v)
      if ((u -= static_cast<double>(uni_[static_cast<size_t>(v)])) <= 0) return v;
    return V - 1;
  }
  // The next-token distribution that sample() draws from.
  std::array<double, V> distribution(int32_t a, int32_t b) const {
    std::array<double, V> p{};
    double rest = 1.0;
    auto spread = [&](const counts& c, double weight) {
      for (const auto& e : c.entries)
        p[static_cast<size_t>(e.first)] += weight * static_cast<double>(e.second) / static_cast<double>(c.total);
    };
    const auto t = tri_.find(key(a, b));
    if (t != tri_.end()) {
      spread(t->second, 0.9 * rest);
      rest *= 0.1;
    }
    const auto s = bi_.find(static_cast<uint32_t>(b));
    if (s != bi_.end()) {
      spread(s->second, 0.9 * rest);
      rest *= 0.1;
    }
    for (int32_t v = 0; v < V; ++v)
      p[static_cast<size_t>(v)] +=
          rest * static_cast<double>(uni_[static_cast<size_t>(v)]) / static_cast<double>(uni_total_);
    return p;
  }
  // The most likely next token (reading mode): trigram argmax if seen, else bigram, else unigram.
  int32_t top1(int32_t a, int32_t b) const {
    const auto t = tri_.find(key(a, b));
    if (t != tri_.end()) return argmax(t->second);
    const auto s = bi_.find(static_cast<uint32_t>(b));
    if (s != bi_.end()) return argmax(s->second);
    return static_cast<int32_t>(std::max_element(uni_.begin(), uni_.end()) - uni_.begin());
  }
  std::vector<int32_t> generate(std::vector<int32_t> prompt, int32_t n, uint64_t seed) const {
    splitmix64 rng(seed * 0x9E3779B97F4A7C15ULL + 17);
    while (prompt.size() < 2) prompt.insert(prompt.begin(), 1);
    std::vector<int32_t> out;
    int32_t a = prompt[prompt.size() - 2], b = prompt.back();
    for (int32_t i = 0; i < n; ++i) {
      const int32_t c = sample(a, b, rng);
      out.push_back(c);
      a = b;
      b = c;
    }
    return out;
  }

 private:
  struct counts {
    std::vector<std::pair<int32_t, int32_t>> entries;  // (token, count)
    int64_t total = 0;
  };
  static uint32_t key(int32_t a, int32_t b) { return static_cast<uint32_t>(a) * V + static_cast<uint32_t>(b); }
  static void add(counts& c, int32_t v) {
    ++c.total;
    for (auto& e : c.entries)
      if (e.first == v) {
        ++e.second;
        return;
      }
    c.entries.emplace_back(v, 1);
  }
  static int32_t draw(const counts& c, splitmix64& rng) {
    double u = rng.uniform() * static_cast<double>(c.total);
    for (const auto& e : c.entries)
      if ((u -= e.second) <= 0) return e.first;
    return c.entries.back().first;
  }
  static int32_t argmax(const counts& c) {
    std::pair<int32_t, int32_t> best{V, 0};
    for (const auto& e : c.entries)
      if (e.second > best.second || (e.second == best.second && e.first < best.first)) best = e;
    return best.first;
  }
  std::unordered_map<uint32_t, counts> tri_, bi_;
  std::array<int64_t, V> uni_{};
  int64_t uni_total_ = 0;
};

// ------------------------------------------------------------------ the corpora

struct document {
  std::string prompt, text;
  std::vector<int32_t> prompt_tokens, tokens;
};

std::vector<document> teacher_corpus(const watermarker* wm, int n_docs, uint32_t seed0) {
  llama_session session(engine(), 512, 1);
  generation_params gp;
  gp.max_tokens = 256;
  gp.stop_at_bos = false;  // a long text per document; the BOS tokens between stories stay in
  std::vector<document> docs;
  for (int i = 0; i < n_docs; ++i) {
    gp.seed = seed0 + static_cast<uint32_t>(i);
    const std::string& prompt = training_prompts()[static_cast<size_t>(i) % training_prompts().size()];
    const generation_result r = session.generate(prompt, gp, wm);
    docs.push_back({prompt, r.text, r.prompt_tokens, r.tokens});
  }
  return docs;
}

std::vector<int32_t> joined(const document& d) {
  std::vector<int32_t> x = d.prompt_tokens;
  x.insert(x.end(), d.tokens.begin(), d.tokens.end());
  return x;
}

ngram_student train_student(const std::vector<document>& marked, const std::vector<document>& clean,
                            double marked_fraction) {
  ngram_student s;
  const auto n_marked = static_cast<size_t>(std::lround(marked_fraction * static_cast<double>(marked.size())));
  for (size_t i = 0; i < marked.size(); ++i) s.train(joined(i < n_marked ? marked[i] : clean[i]));
  return s;
}

std::string pieces(const std::vector<int32_t>& tokens) {
  std::string s;
  for (int32_t t : tokens) s += engine().tokenizer().token_to_piece(t);
  return s;
}

const std::vector<std::string>& audit_prompts() {
  static const std::vector<std::string> p = {"Once upon a time", "One day", "Lily saw", "The cat",
                                             "Ben and Mia", "It was a", "The bird", "Grandma"};
  return p;
}

constexpr int32_t k_completion_tokens = 120;
constexpr int k_samples_per_prompt = 6;

// The student's completion of a prompt with a seed, as an API would serve it.
std::vector<int32_t> student_completion(const ngram_student& s, const std::string& prompt, uint64_t seed) {
  return s.generate(engine().tokenizer().tokenize(prompt, true), k_completion_tokens, seed);
}

// Black-box audit of a student in the library, tokens as generated.
audit_evidence black_box(const ngram_student& student, const scheme& s, const context_index* index = nullptr) {
  audit_options o;
  o.index = index;
  audit_accumulator acc(s, o);
  std::vector<std::vector<int32_t>> docs;
  std::vector<int64_t> n_prompt;
  for (const std::string& p : audit_prompts())
    for (int k = 0; k < k_samples_per_prompt; ++k) {
      std::vector<int32_t> x = engine().tokenizer().tokenize(p, true);
      n_prompt.push_back(static_cast<int64_t>(x.size()));
      const std::vector<int32_t> c = student_completion(student, p, static_cast<uint64_t>(k));
      x.insert(x.end(), c.begin(), c.end());
      docs.push_back(std::move(x));
    }
  for (size_t i = 0; i < docs.size(); ++i)
    acc.add_prompt(std::span<const int32_t>(docs[i]).first(static_cast<size_t>(n_prompt[i])));
  for (size_t i = 0; i < docs.size(); ++i) acc.add_completion(docs[i], n_prompt[i]);
  return acc.evidence();
}

// Reading-mode audit of a student: its top-1 predictions along held-out marked texts.
audit_evidence reading(const ngram_student& student, const scheme& s, const std::vector<document>& texts) {
  audit_accumulator acc(s);
  for (const document& d : texts) {
    const std::vector<int32_t> x = joined(d);
    std::vector<int32_t> pred(x.size(), -1);
    for (size_t i = 2; i < x.size(); ++i) pred[i] = student.top1(x[i - 2], x[i - 1]);
    acc.add_reading(x, pred, static_cast<int64_t>(d.prompt_tokens.size()));
  }
  return acc.evidence();
}

// ------------------------------------------------------------------ running the CLI

using testing_util::read_file;
using testing_util::run_result;
using testing_util::temp_dir;

run_result run_cli(const temp_dir& dir, const std::vector<std::string>& args) {
  return testing_util::run_program(TRACEMARK_CLI_PATH, dir, args);
}

void write_generation_log(const std::string& path, const std::vector<document>& docs, const key& k) {
  std::ofstream out(path);
  for (const document& d : docs) {
    json r;
    r["prompt"] = d.prompt;
    r["text"] = d.text;
    r["tokens"] = d.tokens;
    r["prompt_tokens"] = d.prompt_tokens;
    r["watermarked"] = true;
    r["key_fingerprint"] = k.fingerprint();
    out << r.dump() << "\n";
  }
}

// A dump of a student's completions as text ({"prompt", "text"}), tokenized by the CLI.
void write_text_dump(const std::string& path, const ngram_student& student) {
  std::ofstream out(path);
  for (const std::string& p : audit_prompts())
    for (int k = 0; k < k_samples_per_prompt; ++k) {
      json r;
      r["prompt"] = p;
      r["text"] = pieces(student_completion(student, p, static_cast<uint64_t>(k)));
      out << r.dump() << "\n";
    }
}

// ------------------------------------------------------------------ the suspect's API

// An OpenAI-compatible /v1/completions endpoint hosting a student on 127.0.0.1 (ephemeral
// port), with a bearer key, request counting and failure injection.
class student_server {
 public:
  student_server(const ngram_student& s, std::string bearer) : student_(s), bearer_(std::move(bearer)) {
    server_.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~student_server() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int64_t requests() const { return requests_; }
  int64_t served() const { return served_; }
  int64_t bad_requests() const { return bad_requests_; }
  // Every first request for a (prompt, seed) gets 503 with Retry-After: 0.
  void fail_first_attempts(bool on) { fail_first_ = on; }
  // Answer without "logprobs" even when asked (a server that does not return them).
  void ignore_logprobs(bool on) { ignore_logprobs_ = on; }
  // After `n` more completions served, refuse everything with HTTP 400 (a permanent error).
  void refuse_after(int64_t n) { refuse_after_ = served_ + n; }
  void accept_all() { refuse_after_ = -1; }
  std::string last_authorization() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_auth_;
  }

 private:
  void handle(const httplib::Request& req, httplib::Response& res) {
    ++requests_;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      last_auth_ = req.get_header_value("Authorization");
    }
    if (req.get_header_value("Authorization") != "Bearer " + bearer_) {
      res.status = 401;
      res.set_content(R"({"error": {"message": "invalid API key"}})", "application/json");
      return;
    }
    const json body = json::parse(req.body);
    const std::string prompt = body.at("prompt").get<std::string>();
    const uint64_t seed = body.at("seed").get<uint64_t>();
    if (fail_first_) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (failed_once_.insert({prompt, seed}).second) {
        res.status = 503;
        res.set_header("Retry-After", "0");
        res.set_content(R"({"error": {"message": "overloaded"}})", "application/json");
        return;
      }
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);  // check and count as one step
      if (refuse_after_ >= 0 && served_ >= refuse_after_) {
        res.status = 400;
        res.set_content(R"({"error": {"message": "quota exceeded"}})", "application/json");
        return;
      }
      ++served_;
    }
    if (body.at("max_tokens").get<int>() != k_completion_tokens) ++bad_requests_;
    const std::vector<int32_t> c = student_completion(student_, prompt, seed);
    json out;
    out["object"] = "text_completion";
    out["choices"] = json::array({json{{"index", 0}, {"text", pieces(c)}, {"finish_reason", "length"}}});
    if (body.contains("logprobs") && body["logprobs"].is_number_integer() && !ignore_logprobs_)
      out["choices"][0]["logprobs"] = logprobs_of(prompt, c, body["logprobs"].get<size_t>(),
                                                  body.value("return_tokens", false));
    out["usage"] = json{{"completion_tokens", c.size()}};
    res.set_content(out.dump(), "application/json");
  }

  // OpenAI's /v1/completions "logprobs" of a completion: the k most likely tokens of the
  // student's distribution at each position (and the generated one), as token strings, and
  // with ids in tracemark serve's extension when asked.
  json logprobs_of(const std::string& prompt, const std::vector<int32_t>& completion, size_t k, bool ids) const {
    std::vector<int32_t> x = engine().tokenizer().tokenize(prompt, true);
    while (x.size() < 2) x.insert(x.begin(), 1);
    json lp = {{"tokens", json::array()},    {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
               {"text_offset", json::array()}, {"token_ids", json::array()},     {"top_logprobs_ids", json::array()}};
    for (int32_t t : completion) {
      const std::array<double, V> p = student_.distribution(x[x.size() - 2], x.back());
      std::vector<int32_t> order(V);
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                        [&](int32_t u, int32_t v) { return p[static_cast<size_t>(u)] > p[static_cast<size_t>(v)]; });
      order.resize(k);
      if (std::find(order.begin(), order.end(), t) == order.end()) order.push_back(t);
      json top = json::object(), by_id = json::array();
      for (int32_t v : order) {
        const double l = std::log(p[static_cast<size_t>(v)]);
        top[engine().tokenizer().token_text(v)] = l;
        by_id.push_back({{"id", v}, {"logprob", l}});
      }
      lp["tokens"].push_back(engine().tokenizer().token_text(t));
      lp["token_logprobs"].push_back(std::log(p[static_cast<size_t>(t)]));
      lp["top_logprobs"].push_back(std::move(top));
      lp["text_offset"].push_back(0);
      lp["token_ids"].push_back(t);
      lp["top_logprobs_ids"].push_back(std::move(by_id));
      x.push_back(t);
    }
    if (!ids) {
      lp.erase("token_ids");
      lp.erase("top_logprobs_ids");
    }
    return lp;
  }

  const ngram_student& student_;
  std::string bearer_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int64_t> requests_{0}, served_{0}, refuse_after_{-1}, bad_requests_{0};
  std::atomic<bool> fail_first_{false}, ignore_logprobs_{false};
  mutable std::mutex mutex_;
  std::set<std::pair<std::string, uint64_t>> failed_once_;
  std::string last_auth_;
};

json parse_record(const run_result& r) {
  REQUIRE_MESSAGE(r.exit_code == 0, "stdout: " << r.out << "\nstderr: " << r.err);
  return json::parse(r.out);
}

}  // namespace

TEST_CASE("reduced distillation experiment: the marked student is radioactive, the control is not") {
  const auto t0 = std::chrono::steady_clock::now();
  const key provider = testing_util::key_from_seed(2024);
  const watermarker wm(provider, tiny_config(), 2.0f);
  const scheme& s = wm.get_scheme();

  // Training corpora: 160 documents of 256 tokens from the teacher, marked and unmarked;
  // 20 more marked documents held out for reading mode.
  const std::vector<document> marked = teacher_corpus(&wm, 160, 1000);
  const std::vector<document> clean = teacher_corpus(nullptr, 160, 5000);
  const std::vector<document> held_out = teacher_corpus(&wm, 20, 9000);
  const double t_corpus = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const ngram_student marked_student = train_student(marked, clean, 1.0);
  const ngram_student mixed_student = train_student(marked, clean, 0.1);
  const ngram_student clean_student = train_student(marked, clean, 0.0);

  context_index index(provider, s);
  for (const document& d : marked) index.add_marked(s, joined(d), static_cast<int64_t>(d.prompt_tokens.size()));
  index.finalize();

  const audit_evidence bm = black_box(marked_student, s), bx = black_box(mixed_student, s),
                       bc = black_box(clean_student, s);
  const audit_evidence im = black_box(marked_student, s, &index), ix = black_box(mixed_student, s, &index),
                       ic = black_box(clean_student, s, &index);
  const audit_evidence rm = reading(marked_student, s, held_out), rx = reading(mixed_student, s, held_out),
                       rc = reading(clean_student, s, held_out);
  auto line = [](const std::string& what, const audit_evidence& e) {
    MESSAGE(what, ": ", e.test.stat.scored, " tuples, green rate ", (e.test.stat.score / static_cast<double>(e.test.stat.scored)), " [", e.interval.low, ", ", e.interval.high,
            "], log10 p = ", e.test.log10_p);
  };
  MESSAGE("teacher corpora generated in ", t_corpus, " s; index of ", index.size(), " contexts");
  line("black box, 100% marked student", bm);
  line("black box,  10% marked student", bx);
  line("black box,   0% marked (control)", bc);
  line("black box + index, 100%", im);
  line("black box + index,  10%", ix);
  line("black box + index,   0%", ic);
  line("reading mode, 100%", rm);
  line("reading mode,  10%", rx);
  line("reading mode,   0%", rc);
  CHECK(bm.test.log10_p < -6);
  CHECK(im.test.log10_p < -6);
  CHECK(rm.test.log10_p < -6);
  CHECK(bc.test.log10_p > -3);
  CHECK(ic.test.log10_p > -3);
  CHECK(rc.test.log10_p > -3);
  CHECK(bm.interval.low > bm.null.p());
  CHECK(bc.interval.low < bc.null.p());
  CHECK(bc.null.p() < bc.interval.high);

  // ---------------------------------------------------------------- the CLI
  temp_dir dir;
  const std::string key_path = dir.file("provider.key");
  provider.save(key_path);  // mode 0600, for the CLI
  const std::string model = model_path().string();
  write_generation_log(dir.file("marked.jsonl"), marked, provider);
  const run_result idx = run_cli(dir, {"index", "--key", key_path, "-H", "2", "--vocab", model, "--out",
                                       dir.file("provider.idx"), dir.file("marked.jsonl")});
  REQUIRE_MESSAGE(idx.exit_code == 0, idx.err);
  CHECK(idx.out.find(std::to_string(index.size()) + " distinct contexts") != std::string::npos);

  // --suspect-outputs on text dumps (re-tokenized by the CLI), with the index.
  write_text_dump(dir.file("marked_student.jsonl"), marked_student);
  write_text_dump(dir.file("clean_student.jsonl"), clean_student);
  const std::vector<std::string> common = {"audit", "--key", key_path, "-H", "2", "--vocab", model, "--json", "-",
                                           "--quiet"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = common;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  const json dm = parse_record(run_cli(dir, with({"--suspect-outputs", dir.file("marked_student.jsonl")})));
  const json dc = parse_record(run_cli(dir, with({"--suspect-outputs", dir.file("clean_student.jsonl")})));
  const json dmi = parse_record(
      run_cli(dir, with({"--suspect-outputs", dir.file("marked_student.jsonl"), "--index", dir.file("provider.idx")})));
  MESSAGE("CLI --suspect-outputs: marked student log10 p = ", dm["log10_p"].get<double>(), " (",
          dm["scored"].get<int64_t>(), " tuples), with index ", dmi["log10_p"].get<double>(), " (",
          dmi["scored"].get<int64_t>(), " tuples); control log10 p = ",
          dc["log10_p"].get<double>());
  CHECK(dm["mode"] == "suspect-outputs");
  CHECK(dm["verdict"] == "radioactive");
  CHECK(dm["log10_p"].get<double>() < -6);
  CHECK(dmi["verdict"] == "radioactive");
  CHECK(dmi["index"]["contexts"].get<int64_t>() == static_cast<int64_t>(index.size()));
  CHECK(dmi["filters"]["not_in_index"].get<int64_t>() > 0);
  CHECK(dc["verdict"] == "not_detected");
  CHECK(dc["log10_p"].get<double>() > -3);
  // The CLI's re-tokenization of the text agrees with the library's token-level audit.
  CHECK(std::abs(dm["scored"].get<int64_t>() - bm.test.stat.scored) <= bm.test.stat.scored / 20);

  // An index built for another scheme is refused.
  const run_result wrong = run_cli(dir, {"audit", "--key", key_path, "-H", "3", "--vocab", model, "--suspect-outputs",
                                         dir.file("marked_student.jsonl"), "--index", dir.file("provider.idx")});
  CHECK(wrong.exit_code == 2);
  CHECK(wrong.err.find("was built for the scheme") != std::string::npos);

  // Reading mode through the CLI: the untouched stories260K reading the provider's logs.
  const json rd = parse_record(run_cli(dir, with({"--suspect-model", model, "--texts", dir.file("marked.jsonl")})));
  MESSAGE("CLI reading mode, untouched stories260K on ", rd["usage"]["documents"].get<int64_t>(),
          " marked texts: log10 p = ", rd["log10_p"].get<double>(), " (", rd["scored"].get<int64_t>(), " tuples, ",
          rd["filters"]["not_first_occurrence"].get<int64_t>(), " later occurrences dropped)");
  CHECK(rd["mode"] == "reading");
  CHECK(rd["verdict"] == "not_detected");
  CHECK(rd["filters"]["not_first_occurrence"].get<int64_t>() > 0);

  // ---------------------------------------------------------------- --suspect-url
  const std::string secret = "sk-test-6c1f-do-not-log";
  ::setenv("TRACEMARK_SUSPECT_API_KEY", secret.c_str(), 1);
  {
    std::ofstream p(dir.file("prompts.txt"));
    for (const std::string& q : audit_prompts()) p << q << "\n";
  }
  const std::vector<std::string> url_common = {"--prompts", dir.file("prompts.txt"), "--n",
                                               std::to_string(k_samples_per_prompt), "--max-tokens",
                                               std::to_string(k_completion_tokens), "--seed", "0", "--concurrency",
                                               "3", "--retry-delay", "0.01", "--timeout", "10", "--cache",
                                               dir.file("cache.jsonl")};
  const int64_t n_jobs = static_cast<int64_t>(audit_prompts().size()) * k_samples_per_prompt;
  {
    student_server server(marked_student, secret);
    auto url_args = [&] {
      std::vector<std::string> a = with({"--suspect-url", server.url()});
      a.insert(a.end(), url_common.begin(), url_common.end());
      return a;
    };
    // 1. Interrupted: the server refuses after 20 completions (a permanent error): the audit
    //    fails with exit 4, the 20 completions are cached.
    server.refuse_after(20);
    const run_result cut = run_cli(dir, url_args());
    CHECK_MESSAGE(cut.exit_code == 4, cut.err);
    CHECK(cut.err.find("quota exceeded") != std::string::npos);
    CHECK(cut.err.find("rerun to resume") != std::string::npos);
    const int64_t served_before = server.served();
    CHECK(served_before == 20);

    // 2. Resumed, with every first attempt failing with 503: only the missing completions
    //    are requested, each retried once.
    server.accept_all();
    server.fail_first_attempts(true);
    const int64_t before = server.requests();
    const json first = parse_record(run_cli(dir, url_args()));
    const int64_t missing = n_jobs - served_before;
    CHECK(server.served() == n_jobs);
    CHECK(server.requests() - before == 2 * missing);
    CHECK(first["usage"]["queries"].get<int64_t>() == missing);
    CHECK(first["usage"]["cache_hits"].get<int64_t>() == served_before);
    CHECK(first["usage"]["retries"].get<int64_t>() == missing);
    CHECK(first["mode"] == "suspect-url");
    CHECK(first["verdict"] == "radioactive");
    CHECK(first["log10_p"].get<double>() < -6);
    CHECK(server.last_authorization() == "Bearer " + secret);
    CHECK(server.bad_requests() == 0);

    // 3. A second full run: zero requests, the same evidence.
    const int64_t before2 = server.requests();
    const run_result again_run = run_cli(dir, url_args());
    const json again = parse_record(again_run);
    CHECK(server.requests() == before2);
    CHECK(again["usage"]["queries"] == 0);
    CHECK(again["usage"]["cache_hits"].get<int64_t>() == n_jobs);
    CHECK(again["scored"] == first["scored"]);
    CHECK(again["green"] == first["green"]);
    CHECK(again["log10_p"] == first["log10_p"]);
    // A torn last line (an audit killed while writing) is ignored; still no request.
    {
      std::ofstream torn(dir.file("cache.jsonl"), std::ios::app);
      torn << R"({"request": {"url": "http://)";
    }
    const json after_torn = parse_record(run_cli(dir, url_args()));
    CHECK(server.requests() == before2);
    CHECK(after_torn["usage"]["cache_hits"].get<int64_t>() == n_jobs);
    CHECK(after_torn["log10_p"] == first["log10_p"]);
    MESSAGE("CLI --suspect-url: ", n_jobs, " completions, log10 p = ", first["log10_p"].get<double>(), " (",
            first["scored"].get<int64_t>(), " tuples); resumed after ", served_before, " with ", missing,
            " requests (+", missing, " retries); second run sent ", server.requests() - before2, " requests");

    // The key never appears in the output, the terminal summary or the cache.
    const run_result shown = run_cli(dir, [&] {
      std::vector<std::string> a = url_args();
      a.erase(std::find(a.begin(), a.end(), "--quiet"));
      return a;
    }());
    CHECK(shown.exit_code == 0);
    CHECK(shown.err.find("API key: from $TRACEMARK_SUSPECT_API_KEY") != std::string::npos);
    for (const std::string& where : {shown.out, shown.err, cut.err, again_run.out, read_file(dir.file("cache.jsonl"))})
      CHECK(where.find(secret) == std::string::npos);

    // A wrong key is a permanent error (401), reported with the server's message.
    ::setenv("TRACEMARK_SUSPECT_API_KEY", "wrong", 1);
    const run_result denied = run_cli(dir, [&] {
      std::vector<std::string> a = url_args();
      a.push_back("--no-cache");
      return a;
    }());
    CHECK(denied.exit_code == 4);
    CHECK(denied.err.find("HTTP 401: invalid API key") != std::string::npos);
  }
  {  // The control student over HTTP: not detected.
    ::setenv("TRACEMARK_SUSPECT_API_KEY", secret.c_str(), 1);
    student_server server(clean_student, secret);
    std::vector<std::string> a = with({"--suspect-url", server.url()});
    a.insert(a.end(), url_common.begin(), url_common.end());
    a.back() = dir.file("cache_control.jsonl");
    const json control = parse_record(run_cli(dir, a));
    MESSAGE("CLI --suspect-url, control student: log10 p = ", control["log10_p"].get<double>());
    CHECK(control["verdict"] == "not_detected");
    CHECK(server.served() == n_jobs);
  }
  {  // The green mass of the returned top-20 log-probabilities: 8 completions suffice.
    ::setenv("TRACEMARK_SUSPECT_API_KEY", secret.c_str(), 1);
    std::vector<std::string> few = url_common;
    few[3] = "1";  // --n 1: one completion per prompt
    auto audit_url = [&](const student_server& server, const std::string& cache, std::vector<std::string> extra) {
      std::vector<std::string> a = with({"--suspect-url", server.url(), "--cache", dir.file(cache)});
      a.insert(a.end(), few.begin(), few.end() - 2);  // without url_common's --cache
      a.insert(a.end(), extra.begin(), extra.end());
      return run_cli(dir, a);
    };
    student_server marked_server(marked_student, secret);
    const json mass = parse_record(audit_url(marked_server, "mass.jsonl", {"--statistic", "green-mass"}));
    const json sampled = parse_record(audit_url(marked_server, "sampled.jsonl", {}));
    const json strings =
        parse_record(audit_url(marked_server, "strings.jsonl", {"--statistic", "green-mass", "--no-token-ids"}));
    MESSAGE("CLI --suspect-url, 8 completions of the marked student: green mass log10 p <= ",
            mass["log10_p"].get<double>(), " (", mass["scored"].get<int64_t>(), " contexts, green share ",
            mass["green_rate"].get<double>(), "); sampled tokens log10 p = ", sampled["log10_p"].get<double>(),
            "; green mass from token strings ", strings["log10_p"].get<double>());
    CHECK(mass["statistic"] == "green-mass");
    CHECK(mass["verdict"] == "radioactive");
    CHECK(mass["log10_p"].get<double>() < -6);
    CHECK(mass["log10_p"].get<double>() < sampled["log10_p"].get<double>());
    CHECK(mass["usage"]["queries"] == static_cast<int64_t>(audit_prompts().size()));
    CHECK(strings["verdict"] == "radioactive");
    CHECK(marked_server.bad_requests() == 0);

    student_server control_server(clean_student, secret);
    const json control = parse_record(audit_url(control_server, "mass-control.jsonl", {"--statistic", "green-mass"}));
    MESSAGE("green mass, control student: log10 p <= ", control["log10_p"].get<double>());
    CHECK(control["verdict"] == "not_detected");
    CHECK(control["log10_p"].get<double>() > -3);

    // A server that does not return log-probabilities: a clear permanent error.
    control_server.ignore_logprobs(true);
    const run_result none = audit_url(control_server, "none.jsonl", {"--statistic", "green-mass"});
    CHECK(none.exit_code == 4);
    CHECK(none.err.find("does not return log-probabilities") != std::string::npos);
  }
  // Nothing listens here: connection errors are retried, then the audit gives up (exit 4).
  const run_result down = run_cli(dir, [&] {
    std::vector<std::string> a = with({"--suspect-url", "http://127.0.0.1:1", "--retries", "2", "--no-cache"});
    a.insert(a.end(), url_common.begin(), url_common.end() - 2);
    return a;
  }());
  CHECK(down.exit_code == 4);
  CHECK(down.err.find("after 3 attempts") != std::string::npos);
  ::unsetenv("TRACEMARK_SUSPECT_API_KEY");
  MESSAGE("experiment test took ", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), " s");
}
