// tracemark-neutralize: the distiller fights back. Inference-time watermark
// neutralization (WN) after Pan et al., "Can LLM Watermarks Robustly Prevent Unauthorized
// Knowledge Distillation?" (ACL 2025), implemented from the paper's description for the
// experiment of docs/AUDIT.md ("A distiller who fights back"); not part of the product.
//
// The attacker owns the student and its base model (the model before fine-tuning, here
// stories260K). It does not know the key, the scheme or the context width. It estimates
// which tokens the inherited watermark favours, per prefix of length 1 and 2, by comparing
// the two models' next-token distributions along its own texts (--fit: for example the
// student's own samples): for every prefix p and token v,
//     S_p(v) = sum of P_student(v | x) and B_p(v) = sum of P_base(v | x)
// over the positions x of the fit texts that end with p. A token is estimated "favoured"
// at p when log(S_p(v) / B_p(v)) > --tau and p was seen at least --min-count times; the
// 2-token prefix is used where it has enough data, else the 1-token prefix (the paper
// estimates the window size; trying 1 and 2 covers h <= 2). At inference the favoured
// tokens' logits are lowered by --delta-prime (the paper's "inverse strength").
//
// Outputs, all from the neutralized student:
//   --reading POOL --key K -H h --gamma g --reading-json OUT
//       reading mode of `tracemark audit` (top-1 predictions along the provider's marked
//       texts, scored by the library's audit accumulator, one evidence record);
//   --prompts FILE --n N --seed S --max-tokens T --dump OUT
//       completions (temperature 1) in `tracemark generate`'s JSON Lines format, for
//       `tracemark audit --suspect-outputs` and for a neutralized server (--serve);
//   --serve PORT: after the above, the neutralized student behind POST /v1/completions
//       on 127.0.0.1 (the subset `tracemark audit --suspect-url` uses), until killed;
//   --heldout FILE (repeatable): per-token perplexity of the raw and the neutralized
//       student on held-out texts (the attack's cost in quality);
//   one JSON summary line on standard output.
#include <llama.h>

#include <CLI/CLI.hpp>
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <httplib.h>

#include <iostream>
#include <mutex>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "tracemark/audit.h"
#include "tracemark/evidence.h"
#include "tracemark/key.h"
#include "tracemark/scheme.h"

namespace {

using json = nlohmann::json;
using Eigen::ArrayXd;
using Eigen::ArrayXf;

void quiet_log(ggml_log_level level, const char* text, void*) {
  if (level == GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

struct model_del {
  void operator()(llama_model* m) const { llama_model_free(m); }
};
struct ctx_del {
  void operator()(llama_context* c) const { llama_free(c); }
};

// One model with a context that returns the logits of every position of a sequence.
class scorer {
 public:
  scorer(const std::string& path, int32_t n_ctx) : n_ctx_(n_ctx) {
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    model_.reset(llama_model_load_from_file(path.c_str(), mp));
    if (!model_) throw std::runtime_error("llama.cpp could not load " + path);
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = static_cast<uint32_t>(n_ctx);
    cp.n_batch = cp.n_ubatch = static_cast<uint32_t>(n_ctx);
    cp.n_threads = cp.n_threads_batch = 1;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    ctx_.reset(llama_init_from_model(model_.get(), cp));
    if (!ctx_) throw std::runtime_error("llama.cpp could not create a context for " + path);
    vocab_ = llama_model_get_vocab(model_.get());
    n_vocab_ = llama_vocab_n_tokens(vocab_);
  }
  int32_t n_vocab() const { return n_vocab_; }
  int32_t n_ctx() const { return n_ctx_; }
  const llama_vocab* vocab() const { return vocab_; }

  // Logits after tokens[0..i] for every i (row i predicts tokens[i+1]); a fresh sequence.
  Eigen::Map<const Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic>> all_logits(const std::vector<int32_t>& t) {
    if (t.empty() || static_cast<int32_t>(t.size()) > n_ctx_)
      throw std::runtime_error("a text of " + std::to_string(t.size()) + " tokens does not fit the context of " +
                               std::to_string(n_ctx_));
    llama_memory_clear(llama_get_memory(ctx_.get()), true);
    llama_batch b = llama_batch_init(static_cast<int32_t>(t.size()), 0, 1);
    for (size_t i = 0; i < t.size(); ++i) {
      b.token[i] = t[i];
      b.pos[i] = static_cast<llama_pos>(i);
      b.n_seq_id[i] = 1;
      b.seq_id[i][0] = 0;
      b.logits[i] = 1;
    }
    b.n_tokens = static_cast<int32_t>(t.size());
    const int rc = llama_decode(ctx_.get(), b);
    llama_batch_free(b);
    if (rc != 0) throw std::runtime_error("llama_decode failed");
    return {llama_get_logits(ctx_.get()), n_vocab_, static_cast<Eigen::Index>(t.size())};
  }

  // Incremental decoding for sampling: start() with the prompt, then step() per token;
  // both return the logits after the last token.
  Eigen::Map<const ArrayXf> start(const std::vector<int32_t>& prompt) {
    llama_memory_clear(llama_get_memory(ctx_.get()), true);
    pos_ = 0;
    return decode(prompt);
  }
  Eigen::Map<const ArrayXf> step(int32_t token) { return decode({token}); }
  int32_t position() const { return pos_; }

 private:
  Eigen::Map<const ArrayXf> decode(const std::vector<int32_t>& t) {
    llama_batch b = llama_batch_init(static_cast<int32_t>(t.size()), 0, 1);
    for (size_t i = 0; i < t.size(); ++i) {
      b.token[i] = t[i];
      b.pos[i] = pos_ + static_cast<llama_pos>(i);
      b.n_seq_id[i] = 1;
      b.seq_id[i][0] = 0;
      b.logits[i] = i + 1 == t.size();
    }
    b.n_tokens = static_cast<int32_t>(t.size());
    const int rc = llama_decode(ctx_.get(), b);
    llama_batch_free(b);
    if (rc != 0) throw std::runtime_error("llama_decode failed");
    pos_ += static_cast<int32_t>(t.size());
    return {llama_get_logits_ith(ctx_.get(), -1), n_vocab_};
  }

  std::unique_ptr<llama_model, model_del> model_;
  std::unique_ptr<llama_context, ctx_del> ctx_;
  const llama_vocab* vocab_ = nullptr;
  int32_t n_vocab_ = 0;
  int32_t n_ctx_;
  int32_t pos_ = 0;
};

ArrayXd softmax(const Eigen::Ref<const ArrayXf>& logits) {
  const ArrayXd z = logits.cast<double>() - static_cast<double>(logits.maxCoeff());
  const ArrayXd e = z.exp();
  return e / e.sum();
}

struct document {
  std::vector<int32_t> tokens;  // prompt_tokens + tokens
  int64_t n_prompt = 0;
  std::string id;
};

std::vector<document> read_documents(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<document> docs;
  std::string line;
  int64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const json r = json::parse(line);
    if (r.contains("error")) continue;
    document d;
    if (r.contains("prompt_tokens") && r["prompt_tokens"].is_array())
      d.tokens = r["prompt_tokens"].get<std::vector<int32_t>>();
    d.n_prompt = static_cast<int64_t>(d.tokens.size());
    const auto t = r.at("tokens").get<std::vector<int32_t>>();
    d.tokens.insert(d.tokens.end(), t.begin(), t.end());
    d.id = path + ":" + std::to_string(lineno);
    docs.push_back(std::move(d));
  }
  return docs;
}

// The attacker's estimate: per prefix (1 or 2 tokens), the summed next-token
// distributions of the student and of the base model, and how often the prefix was seen.
struct prefix_stats {
  ArrayXd student, base;
  int64_t n = 0;
};

class neutralizer {
 public:
  neutralizer(int32_t n_vocab, double tau, int64_t min_count, float delta_prime)
      : n_vocab_(n_vocab), tau_(tau), min_count_(min_count), delta_prime_(delta_prime) {}

  void fit(scorer& student, scorer& base, const std::vector<document>& docs) {
    for (const document& d : docs) {
      const auto ls = student.all_logits(d.tokens);  // two contexts: the buffers stay valid side by side
      const auto lb = base.all_logits(d.tokens);
      for (size_t i = 0; i + 1 < d.tokens.size(); ++i) {  // row i predicts token i+1; its prefix ends at token i
        const ArrayXd ps = softmax(ls.col(static_cast<Eigen::Index>(i)));
        const ArrayXd pb = softmax(lb.col(static_cast<Eigen::Index>(i)));
        add(one_[d.tokens[i]], ps, pb);
        if (i >= 1) add(two_[key2(d.tokens[i - 1], d.tokens[i])], ps, pb);
      }
    }
    favoured_.clear();
    favoured_1_.clear();
    for (auto& [k, s] : one_) favoured_1_[k] = favoured(s);
    for (auto& [k, s] : two_) favoured_[k] = favoured(s);
  }

  // Subtracts delta' from the tokens estimated favoured after (..., a, b).
  void apply(Eigen::Ref<ArrayXf> logits, int32_t a, int32_t b) const {
    const std::vector<int32_t>* set = nullptr;
    if (a >= 0) {
      auto it = favoured_.find(key2(a, b));
      if (it != favoured_.end() && !it->second.empty() && it->second[0] != -1) set = &it->second;
    }
    if (!set) {
      auto it = favoured_1_.find(b);
      if (it != favoured_1_.end() && !it->second.empty() && it->second[0] != -1) set = &it->second;
    }
    if (!set) return;
    for (int32_t v : *set) logits[v] -= delta_prime_;
  }

  json summary() const {
    int64_t p1 = 0, p2 = 0, t1 = 0, t2 = 0;
    for (const auto& [k, s] : favoured_1_)
      if (!s.empty() && s[0] != -1) ++p1, t1 += static_cast<int64_t>(s.size());
    for (const auto& [k, s] : favoured_)
      if (!s.empty() && s[0] != -1) ++p2, t2 += static_cast<int64_t>(s.size());
    return {{"prefixes_1_seen", one_.size()}, {"prefixes_2_seen", two_.size()},
            {"prefixes_1_used", p1}, {"prefixes_2_used", p2},
            {"favoured_per_prefix_1", p1 ? static_cast<double>(t1) / static_cast<double>(p1) : 0.0},
            {"favoured_per_prefix_2", p2 ? static_cast<double>(t2) / static_cast<double>(p2) : 0.0}};
  }

 private:
  static uint64_t key2(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  void add(prefix_stats& s, const ArrayXd& ps, const ArrayXd& pb) const {
    if (s.n == 0) {
      s.student = ArrayXd::Zero(n_vocab_);
      s.base = ArrayXd::Zero(n_vocab_);
    }
    s.student += ps;
    s.base += pb;
    ++s.n;
  }
  // {-1}: the prefix has too little data to be used.
  std::vector<int32_t> favoured(const prefix_stats& s) const {
    if (s.n < min_count_) return {-1};
    std::vector<int32_t> out;
    const ArrayXd log_ratio = (s.student / s.base.max(1e-300)).log();
    for (int32_t v = 0; v < n_vocab_; ++v)
      if (log_ratio[v] > tau_ && s.student[v] / static_cast<double>(s.n) > 1e-4) out.push_back(v);
    return out;
  }

  int32_t n_vocab_;
  double tau_;
  int64_t min_count_;
  float delta_prime_;
  std::unordered_map<int32_t, prefix_stats> one_;
  std::unordered_map<uint64_t, prefix_stats> two_;
  std::unordered_map<int32_t, std::vector<int32_t>> favoured_1_;
  std::unordered_map<uint64_t, std::vector<int32_t>> favoured_;
};

int32_t argmax_lowest(const Eigen::Ref<const ArrayXf>& x) {
  Eigen::Index i = 0;
  x.maxCoeff(&i);  // Eigen returns the first maximum: the lowest id on ties
  return static_cast<int32_t>(i);
}

struct options {
  std::string student, base;
  std::vector<std::string> fit;
  double tau = 0.05;
  int64_t min_count = 5;
  float delta_prime = 2.0f;
  std::string reading, key_path, reading_json;
  int32_t h = 2;
  double gamma = 0.25;
  std::string prompts, dump;
  int32_t n = 4, max_tokens = 256;
  uint64_t seed = 2001;
  std::vector<std::string> heldout;
  int32_t n_ctx = 512;
  int serve_port = -1;
};

json perplexities(scorer& student, const neutralizer& wn, const std::vector<std::string>& files) {
  json out = json::array();
  for (const std::string& f : files) {
    double nll_raw = 0, nll_wn = 0;
    int64_t n = 0;
    for (const document& d : read_documents(f)) {
      const auto l = student.all_logits(d.tokens);
      for (size_t i = 0; i + 1 < d.tokens.size(); ++i) {
        ArrayXf row = l.col(static_cast<Eigen::Index>(i));
        const int32_t next = d.tokens[i + 1];
        nll_raw -= std::log(softmax(row)[next]);
        wn.apply(row, i >= 1 ? d.tokens[i - 1] : -1, d.tokens[i]);
        nll_wn -= std::log(softmax(row)[next]);
        ++n;
      }
    }
    out.push_back({{"file", f}, {"tokens", n}, {"ppl_student", std::exp(nll_raw / static_cast<double>(n))},
                   {"ppl_neutralized", std::exp(nll_wn / static_cast<double>(n))}});
  }
  return out;
}

json reading_audit(scorer& student, const neutralizer& wn, const options& o) {
  const tracemark::key master = tracemark::key::load(o.key_path);
  tracemark::scheme_config cfg;
  cfg.name = "kgw-lefthash";
  cfg.context_width = o.h;
  cfg.gamma = o.gamma;
  cfg.vocab_size = student.n_vocab();
  const tracemark::scheme sch(master, cfg);
  tracemark::audit_options ao;
  ao.alpha = 1e-6;
  ao.n_samples = 1;
  tracemark::audit_accumulator acc(sch, ao);
  for (const document& d : read_documents(o.reading)) {
    const auto l = student.all_logits(d.tokens);
    std::vector<int32_t> pred(d.tokens.size(), -1);
    for (size_t i = 0; i + 1 < d.tokens.size(); ++i) {
      ArrayXf row = l.col(static_cast<Eigen::Index>(i));
      wn.apply(row, i >= 1 ? d.tokens[i - 1] : -1, d.tokens[i]);
      pred[i + 1] = argmax_lowest(row);
    }
    acc.add_reading(d.tokens, pred, d.n_prompt, d.id);
  }
  tracemark::audit_evidence ev = acc.evidence();
  ev.mode = tracemark::audit_mode::reading;
  ev.suspect = o.student + " (neutralized)";
  ev.key_fingerprint = master.fingerprint();
  const auto params = tracemark::evidence_params::of(sch, master.fingerprint(), ao.alpha);
  const std::string rec = tracemark::audit_record_json(ev, params);
  std::ofstream(o.reading_json) << rec << "\n";
  return json::parse(rec);
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

std::vector<int32_t> tokenize(const llama_vocab* vocab, const std::string& text) {
  std::vector<int32_t> t(text.size() + 8);
  int n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), t.data(),
                         static_cast<int32_t>(t.size()), /*add_special=*/true, /*parse_special=*/false);
  if (n < 0) throw std::runtime_error("tokenization failed");
  t.resize(static_cast<size_t>(n));
  return t;
}

// One completion of the neutralized student: temperature sampling from
// softmax((logits - neutralization) / temperature), stopping at BOS or EOS (stories260K
// emits BOS between stories) or at the context's end.
std::vector<int32_t> sample_completion(scorer& student, const neutralizer& wn, const std::vector<int32_t>& pt,
                                       int32_t max_tokens, double temperature, std::mt19937_64& rng) {
  const llama_vocab* vocab = student.vocab();
  const llama_token bos = llama_vocab_bos(vocab), eos = llama_vocab_eos(vocab);
  std::vector<int32_t> gen;
  ArrayXf row = student.start(pt);
  for (int32_t j = 0; j < max_tokens; ++j) {
    const auto at = [&](size_t back) {  // the token `back` places before the next one, or -1
      if (back <= gen.size()) return gen[gen.size() - back];
      const size_t in_prompt = back - gen.size();
      return in_prompt <= pt.size() ? pt[pt.size() - in_prompt] : -1;
    };
    wn.apply(row, at(2), at(1));
    int32_t t;
    if (temperature <= 0) {
      t = argmax_lowest(row);
    } else {
      const ArrayXd p = softmax(row / static_cast<float>(temperature));
      std::discrete_distribution<int32_t> dist(p.data(), p.data() + p.size());
      t = dist(rng);
    }
    if (t == bos || t == eos) break;
    gen.push_back(t);
    if (student.position() + 1 >= student.n_ctx()) break;
    row = student.step(t);
  }
  return gen;
}

std::string detokenize(const llama_vocab* vocab, const std::vector<int32_t>& tokens) {
  std::string out;
  char buf[256];
  for (int32_t t : tokens) {
    const int n = llama_token_to_piece(vocab, t, buf, sizeof buf, 0, false);
    if (n > 0) out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

int64_t dump(scorer& student, const neutralizer& wn, const options& o) {
  std::ofstream out(o.dump + ".part");
  int64_t n_tokens = 0;
  uint64_t prompt_index = 0;
  for (const std::string& prompt : read_lines(o.prompts)) {
    const std::vector<int32_t> pt = tokenize(student.vocab(), prompt);
    ++prompt_index;
    for (int32_t k = 0; k < o.n; ++k) {
      std::mt19937_64 rng(o.seed + prompt_index * UINT64_C(1000003) + static_cast<uint64_t>(k));
      const std::vector<int32_t> gen = sample_completion(student, wn, pt, o.max_tokens, 1.0, rng);
      n_tokens += static_cast<int64_t>(gen.size());
      out << json{{"prompt", prompt}, {"prompt_tokens", pt}, {"tokens", gen}, {"watermarked", false}}.dump() << "\n";
    }
  }
  out.close();
  std::rename((o.dump + ".part").c_str(), o.dump.c_str());
  return n_tokens;
}

// The attacker's API: the subset of POST /v1/completions that `tracemark audit
// --suspect-url` uses (prompt, max_tokens, temperature, seed; text and usage back).
// Serves until killed; prints "listening on URL" first.
void serve(scorer& student, const neutralizer& wn, int port) {
  httplib::Server server;
  std::mutex one_at_a_time;  // one llama.cpp context
  server.Post("/v1/completions", [&](const httplib::Request& req, httplib::Response& res) {
    try {
      const json r = json::parse(req.body);
      const std::string prompt = r.at("prompt").get<std::string>();
      const int32_t max_tokens = r.value("max_tokens", 16);
      const double temperature = r.value("temperature", 1.0);
      std::mt19937_64 rng(r.value("seed", UINT64_C(0)));
      std::lock_guard<std::mutex> lock(one_at_a_time);
      const std::vector<int32_t> pt = tokenize(student.vocab(), prompt);
      const std::vector<int32_t> gen = sample_completion(student, wn, pt, max_tokens, temperature, rng);
      const json out = {{"object", "text_completion"},
                        {"choices", {{{"index", 0}, {"text", detokenize(student.vocab(), gen)},
                                      {"finish_reason", static_cast<int32_t>(gen.size()) == max_tokens ? "length" : "stop"}}}},
                        {"usage", {{"prompt_tokens", pt.size()}, {"completion_tokens", gen.size()}}}};
      res.set_content(out.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
    } catch (const std::exception& e) {
      res.status = 400;
      res.set_content(json{{"error", {{"message", e.what()}}}}.dump(), "application/json");
    }
  });
  const int bound = port == 0 ? server.bind_to_any_port("127.0.0.1") : (server.bind_to_port("127.0.0.1", port) ? port : -1);
  if (bound < 0) throw std::runtime_error("cannot listen on 127.0.0.1");
  std::cout << "listening on http://127.0.0.1:" << bound << std::endl;
  server.listen_after_bind();
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  CLI::App app{"Inference-time watermark neutralization (Pan et al. 2025) of a student model, for docs/AUDIT.md"};
  app.add_option("--student", o.student, "The student GGUF")->required();
  app.add_option("--base", o.base, "The student's base model (before fine-tuning)")->required();
  app.add_option("--fit", o.fit, "JSON Lines texts along which the two models are compared (repeatable)")->required();
  app.add_option("--tau", o.tau, "Favoured when log(S_p(v)/B_p(v)) exceeds this");
  app.add_option("--min-count", o.min_count, "Use a prefix only when seen this often in the fit texts");
  app.add_option("--delta-prime", o.delta_prime, "Logit penalty on favoured tokens (inverse strength)");
  app.add_option("--reading", o.reading, "Reading mode over these marked texts (JSON Lines)");
  app.add_option("--key", o.key_path, "Provider key (for --reading)");
  app.add_option("-H", o.h, "Context width of the provider's kgw-lefthash scheme");
  app.add_option("--gamma", o.gamma, "Green fraction of the provider's scheme");
  app.add_option("--reading-json", o.reading_json, "Evidence record of the reading audit");
  app.add_option("--prompts", o.prompts, "Prompts for --dump, one per line");
  app.add_option("--n", o.n, "Completions per prompt");
  app.add_option("--seed", o.seed, "Sampling seed");
  app.add_option("--max-tokens", o.max_tokens, "Tokens per completion at most");
  app.add_option("--dump", o.dump, "Write the neutralized student's completions here (JSON Lines)");
  app.add_option("--heldout", o.heldout, "Held-out texts for perplexity (repeatable)");
  app.add_option("--serve", o.serve_port, "After the other outputs, serve POST /v1/completions on 127.0.0.1:PORT (0: any free port) until killed");
  CLI11_PARSE(app, argc, argv);
  try {
    llama_log_set(quiet_log, nullptr);
    llama_backend_init();
    scorer student(o.student, o.n_ctx), base(o.base, o.n_ctx);
    if (student.n_vocab() != base.n_vocab()) throw std::runtime_error("the student and the base model differ in vocabulary");
    neutralizer wn(student.n_vocab(), o.tau, o.min_count, o.delta_prime);
    std::vector<document> fit_docs;
    for (const std::string& f : o.fit)
      for (document& d : read_documents(f)) fit_docs.push_back(std::move(d));
    wn.fit(student, base, fit_docs);
    json out = {{"student", o.student}, {"tau", o.tau}, {"min_count", o.min_count},
                {"delta_prime", o.delta_prime}, {"fit_documents", fit_docs.size()}, {"estimate", wn.summary()}};
    if (!o.heldout.empty()) out["heldout"] = perplexities(student, wn, o.heldout);
    if (!o.reading.empty()) {
      const json r = reading_audit(student, wn, o);
      out["reading"] = {{"log10_p", r["log10_p"]}, {"scored", r["scored"]}, {"green_rate", r["green_rate"]}};
    }
    if (!o.dump.empty()) out["dump_tokens"] = dump(student, wn, o);
    std::cout << out.dump() << std::endl;
    if (o.serve_port >= 0) serve(student, wn, o.serve_port);
  } catch (const std::exception& e) {
    std::cerr << "tracemark-neutralize: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
