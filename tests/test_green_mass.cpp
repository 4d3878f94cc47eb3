// The green-mass statistic (lib/include/tracemark/green_mass.h, docs/AUDIT_DESIGN.md §9):
// the Chernoff bound against exact enumeration, and the audit accumulator's green-mass
// path on synthetic suspects: super-uniform p-values across keys for suspects that never
// saw the key, detection of a suspect biased towards the key's green lists.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

#include "test_helpers.h"
#include "tracemark/audit.h"
#include "tracemark/binomial.h"
#include "tracemark/error.h"
#include "tracemark/evidence.h"
#include "tracemark/green_mass.h"

using namespace tracemark;
using testing_util::splitmix64;

namespace {

// Every outcome of sum_i w_i B_i (n <= 16) with its probability, largest sum first.
std::vector<std::pair<double, double>> outcomes(const std::vector<double>& w, double gamma) {
  const size_t n = w.size();
  std::vector<std::pair<double, double>> out;
  for (uint32_t mask = 0; mask < (1u << n); ++mask) {
    double sum = 0.0, prob = 1.0;
    for (size_t i = 0; i < n; ++i) {
      const bool g = (mask >> i) & 1u;
      sum += g ? w[i] : 0.0;
      prob *= g ? gamma : 1.0 - gamma;
    }
    out.emplace_back(sum, prob);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  return out;
}

// ln P[S >= s] from the sorted outcomes (exact enumeration).
double exact_ln_tail(const std::vector<std::pair<double, double>>& o, double s) {
  double p = 0.0;
  for (const auto& [sum, prob] : o) {
    if (sum < s - 1e-12) break;
    p += prob;
  }
  return std::log(p);
}

// KL divergence of Bernoulli(a) from Bernoulli(g).
double kl(double a, double g) {
  auto term = [](double x, double y) { return x > 0 ? x * std::log(x / y) : 0.0; };
  return term(a, g) + term(1 - a, 1 - g);
}

scheme_config cfg(int32_t h, int32_t vocab = 512, std::string name = "kgw-lefthash") {
  scheme_config c;
  c.name = std::move(name);
  c.context_width = h;
  c.vocab_size = vocab;
  return c;
}

// A synthetic suspect over `vocab` tokens with a two-token memory: after (a, b) its next
// token is one of 16 candidates with logits, all a fixed hash of (a, b, seed). With a
// scheme and delta > 0 the green candidates (under that scheme) get +delta: a student that
// absorbed the watermark. The audit sees the top `k` candidates with their probabilities.
struct toy_suspect {
  int32_t vocab = 512;
  uint64_t seed = 1;
  const scheme* bias = nullptr;
  double delta = 0.0;

  std::vector<token_probability> distribution(int32_t a, int32_t b) const {
    splitmix64 rng(seed ^ (uint64_t{static_cast<uint32_t>(a)} << 32) ^ (uint64_t{static_cast<uint32_t>(b)} * 0x9E3779B97F4A7C15ULL));
    std::array<int32_t, 16> ids{};
    std::array<double, 16> w{};
    double z = 0.0;
    const std::array<int32_t, 2> ctx{a, b};
    for (size_t j = 0; j < ids.size(); ++j) {
      ids[j] = static_cast<int32_t>(rng.below(static_cast<uint32_t>(vocab)));
      double l = 3.0 * rng.uniform();
      if (bias && bias->is_green(std::span<const int32_t>(ctx.data() + 2 - bias->context_width(),
                                                          static_cast<size_t>(bias->context_width())),
                                 ids[j]))
        l += delta;
      w[j] = std::exp(l);
      z += w[j];
    }
    std::vector<token_probability> d;
    for (size_t j = 0; j < ids.size(); ++j) d.push_back({ids[j], w[j] / z});  // duplicates possible: merged later
    return d;
  }
  // A completion of n tokens after `prompt`, with the top-k distribution at each position.
  void complete(const std::vector<int32_t>& prompt, size_t n, size_t k, splitmix64& rng, std::vector<int32_t>& tokens,
                std::vector<std::vector<token_probability>>& top) const {
    tokens = prompt;
    top.clear();
    for (size_t t = 0; t < n; ++t) {
      std::vector<token_probability> d = distribution(tokens[tokens.size() - 2], tokens.back());
      double u = rng.uniform();
      int32_t next = d.back().token;
      for (const token_probability& e : d)
        if ((u -= e.p) <= 0) {
          next = e.token;
          break;
        }
      std::sort(d.begin(), d.end(), [](const token_probability& x, const token_probability& y) { return x.p > y.p; });
      d.resize(std::min(k, d.size()));
      top.push_back(std::move(d));
      tokens.push_back(next);
    }
  }
};

// One audit of a suspect under `s`: `docs` completions of `n` tokens, top-`k`.
audit_evidence audit_suspect(const toy_suspect& m, const scheme& s, uint64_t seed, int docs, size_t n, size_t k,
                             audit_statistic stat = audit_statistic::green_mass) {
  audit_options o;
  o.statistic = stat;
  audit_accumulator acc(s, o);
  splitmix64 rng(seed);
  std::vector<std::vector<int32_t>> prompts;
  for (int d = 0; d < docs; ++d)
    prompts.push_back({static_cast<int32_t>(rng.below(512)), static_cast<int32_t>(rng.below(512)),
                       static_cast<int32_t>(rng.below(512))});
  for (const auto& p : prompts) acc.add_prompt(p);
  for (const auto& p : prompts) {
    std::vector<int32_t> tokens;
    std::vector<std::vector<token_probability>> top;
    m.complete(p, n, k, rng, tokens, top);
    if (stat == audit_statistic::green_mass) acc.add_distributions(tokens, static_cast<int64_t>(p.size()), top);
    else acc.add_completion(tokens, static_cast<int64_t>(p.size()));
  }
  return acc.evidence();
}

}  // namespace

TEST_CASE("the Chernoff bound is never below the exact tail, and equals the binomial Chernoff bound for equal weights") {
  splitmix64 rng(7);
  for (double gamma : {0.1, 0.25, 0.5, 0.7}) {
    for (int trial = 0; trial < 40; ++trial) {
      const size_t n = 1 + rng.below(12);
      std::vector<double> w(n);
      for (double& x : w) x = rng.uniform() < 0.2 ? 1e-6 * rng.uniform() : rng.uniform();
      if (trial % 5 == 0) w[0] = w[n - 1];  // equal weights among unequal ones
      // Every achievable sum is a threshold worth checking (the tail jumps there).
      const auto o = outcomes(w, gamma);
      for (const auto& [s, prob] : o) {
        const double bound = chernoff_ln_tail_bound(w, gamma, s);
        const double exact = exact_ln_tail(o, s);
        CAPTURE(gamma);
        CAPTURE(n);
        CAPTURE(s);
        REQUIRE(bound <= 0.0);
        REQUIRE(bound >= exact - 1e-9);
      }
    }
  }
  // Equal weights: S = w Binomial(n, gamma), and the minimum is -n KL(k/n || gamma).
  for (double gamma : {0.25, 0.5}) {
    const size_t n = 200;
    const std::vector<double> w(n, 0.37);
    for (int k = static_cast<int>(gamma * n) + 1; k < static_cast<int>(n); k += 7) {
      const double bound = chernoff_ln_tail_bound(w, gamma, 0.37 * k);
      CHECK(bound == doctest::Approx(-static_cast<double>(n) * kl(static_cast<double>(k) / n, gamma)).epsilon(1e-9));
      // And it is above the exact binomial tail, by less than the polynomial factor.
      const double exact = binomial_log_sf(k, static_cast<int64_t>(n), gamma);
      CHECK(bound >= exact);
      CHECK(bound - exact < std::log(10.0 * std::sqrt(static_cast<double>(n))));
    }
  }
}

TEST_CASE("the bound's edges: trivial below the mean, all green, impossible sums, bad input") {
  const std::vector<double> w{0.5, 0.25, 0.125};
  CHECK(chernoff_ln_tail_bound(w, 0.25, 0.0) == 0.0);
  CHECK(chernoff_ln_tail_bound(w, 0.25, 0.25 * 0.875) == 0.0);                  // s = E[S]
  CHECK(chernoff_ln_tail_bound(w, 0.25, 0.875) == doctest::Approx(3 * std::log(0.25)));  // every term green
  CHECK(chernoff_ln_tail_bound(w, 0.25, 0.9) == -std::numeric_limits<double>::infinity());
  CHECK(chernoff_ln_tail_bound({}, 0.25, 0.0) == 0.0);
  CHECK_THROWS_AS(chernoff_ln_tail_bound(w, 0.0, 0.1), error);
  CHECK_THROWS_AS(chernoff_ln_tail_bound(std::vector<double>{-0.1}, 0.25, 0.1), error);

  green_mass_test t(0.25);
  CHECK(t.result().log10_p == 0.0);
  CHECK(t.result().contexts == 0);
  CHECK_THROWS_AS(t.add(1.5, true), error);
  CHECK_THROWS_AS(green_mass_test(1.0), error);
  // All green: log10 p = terms * log10(gamma), exactly the probability that all are green.
  t.add(0.6, true);
  t.add(0.3, true);
  t.add(0.0, false);  // a zero term is dropped: it changes nothing
  t.end_context();
  const green_mass_result r = t.result();
  CHECK(r.terms == 2);
  CHECK(r.contexts == 1);
  CHECK(r.mass == doctest::Approx(0.9));
  CHECK(r.green_mass == doctest::Approx(0.9));
  CHECK(r.log10_p == doctest::Approx(2 * std::log10(0.25)));
}

TEST_CASE("green_mass_test gives the bound of its terms, with mass, expectation, variance and z") {
  splitmix64 rng(11);
  green_mass_test t(0.25);
  std::vector<double> w;
  double s = 0.0, sq = 0.0;
  for (int c = 0; c < 300; ++c) {
    for (int k = 0; k < 5; ++k) {
      const double p = 0.2 * rng.uniform();
      const bool g = rng.uniform() < 0.32;  // greener than chance
      t.add(p, g);
      w.push_back(p);
      s += g ? p : 0.0;
      sq += p * p;
    }
    t.end_context();
  }
  const green_mass_result r = t.result();
  double mass = 0.0;
  for (double x : w) mass += x;
  CHECK(r.contexts == 300);
  CHECK(r.terms == 1500);
  CHECK(r.mass == doctest::Approx(mass));
  CHECK(r.green_mass == doctest::Approx(s));
  CHECK(r.expected == doctest::Approx(0.25 * mass));
  CHECK(r.variance == doctest::Approx(0.25 * 0.75 * sq));
  CHECK(r.z == doctest::Approx((s - 0.25 * mass) / std::sqrt(0.25 * 0.75 * sq)));
  CHECK(r.log10_p * std::log(10.0) == doctest::Approx(chernoff_ln_tail_bound(w, 0.25, s)).epsilon(1e-9));
  CHECK(r.log10_p < -3.0);
  CHECK(r.lambda > 0.0);
  // The Chernoff exponent is never above the Gaussian one by more than the bound allows:
  // ln p <= 0 and, for moderate z, close to -z^2/2.
  CHECK(r.log10_p * std::log(10.0) >= -r.z * r.z / 2 - 1.0);
  // A prefix: the first 100 contexts.
  const green_mass_result head = t.result(500, 100);
  CHECK(head.contexts == 100);
  CHECK(head.terms == 500);
  CHECK(head.mass < r.mass);
  CHECK_THROWS_AS(t.result(1501, 300), error);
}

TEST_CASE("green mass: suspects that never saw the key give super-uniform p-values across 60 keys") {
  // One fixed suspect (independent of every key), audited under 60 keys; and 60 different
  // suspects under one key. The bound is conservative: at every level, the share of
  // p-values at or below it must not exceed the level beyond sampling noise.
  std::vector<double> p_keys, p_models;
  int64_t contexts = 0;
  for (uint64_t k = 0; k < 60; ++k) {
    const scheme s(testing_util::key_from_seed(500 + k), cfg(2));
    toy_suspect m;
    m.seed = 77;
    const audit_evidence e = audit_suspect(m, s, 1000 + k, 8, 100, 8);
    REQUIRE(e.statistic == audit_statistic::green_mass);
    contexts += e.green_mass.contexts;
    p_keys.push_back(std::pow(10.0, e.test.log10_p));
  }
  const scheme one(testing_util::key_from_seed(4242), cfg(2));
  for (uint64_t k = 0; k < 60; ++k) {
    toy_suspect m;
    m.seed = 9000 + k;
    p_models.push_back(std::pow(10.0, audit_suspect(m, one, 2000 + k, 8, 100, 8).test.log10_p));
  }
  MESSAGE("about ", contexts / 60, " contexts per audit");
  for (const auto* ps : {&p_keys, &p_models}) {
    for (double alpha : {0.01, 0.05, 0.1, 0.25, 0.5}) {
      const auto below = std::count_if(ps->begin(), ps->end(), [&](double p) { return p <= alpha; });
      // The 99.9% quantile of Binomial(60, alpha): a uniform p-value would stay below it.
      int64_t limit = 0;
      while (std::exp(binomial_log_sf(limit + 1, 60, alpha)) > 1e-3) ++limit;
      CAPTURE(alpha);
      CHECK(below <= limit);
    }
    double mean = 0;
    for (double p : *ps) mean += p / static_cast<double>(ps->size());
    MESSAGE("mean p ", mean, ", min p ", *std::min_element(ps->begin(), ps->end()));
    CHECK(mean > 0.5);  // conservative: at least as large as a uniform's mean, up to noise
  }
}

TEST_CASE("green mass: a suspect biased towards the green lists is detected, with fewer queries than sampled tokens") {
  const scheme s(testing_util::key_from_seed(31337), cfg(2));
  toy_suspect student;
  student.seed = 5;
  student.bias = &s;
  student.delta = 0.5;  // a weak absorbed bias
  const audit_evidence mass = audit_suspect(student, s, 1, 10, 100, 8);
  const audit_evidence sampled = audit_suspect(student, s, 1, 10, 100, 8, audit_statistic::sampled);
  MESSAGE("1,000 tokens of a delta-0.5 student: green mass log10 p = ", mass.test.log10_p, " over ",
          mass.green_mass.contexts, " contexts (green share ", mass.green_mass.green_mass / mass.green_mass.mass,
          "); sampled tokens log10 p = ", sampled.test.log10_p);
  CHECK(mass.test.log10_p < -6.0);
  CHECK(mass.test.log10_p < sampled.test.log10_p);
  // The same student under another key: nothing.
  const scheme other(testing_util::key_from_seed(31338), cfg(2));
  CHECK(audit_suspect(student, other, 1, 10, 100, 8).test.log10_p > -3.0);
}

TEST_CASE("green mass in the accumulator: filters, first occurrence of a context, merged tokens, record") {
  const scheme s(testing_util::key_from_seed(99), cfg(1, 64));
  audit_options o;
  o.statistic = audit_statistic::green_mass;
  o.n_samples = 1;
  audit_accumulator acc(s, o);
  // The other statistic's calls are refused, and so are malformed distributions.
  CHECK_THROWS_AS(acc.add_completion(std::vector<int32_t>{1, 2, 3}, 1), error);
  const std::vector<int32_t> prompt{5, 6};
  acc.add_prompt(prompt);
  // Completion positions 2..6 have the contexts 6, 5 (followed by 6 in the prompt), 7, 9, 7 (again).
  const std::vector<int32_t> tokens{5, 6, 5, 7, 9, 7, 9};
  const std::vector<token_probability> d{{1, 0.5}, {2, 0.25}, {1, 0.125}};  // token 1 twice: merged
  const std::vector<std::vector<token_probability>> top(5, d);
  CHECK_THROWS_AS(acc.add_distributions(tokens, 2, std::span(top).first(4)), error);
  std::vector<std::vector<token_probability>> bad = top;
  bad[2].push_back({64, 0.01});
  CHECK_THROWS_AS(acc.add_distributions(tokens, 2, bad), error);
  bad = top;
  bad[1].push_back({3, 0.5});  // sums to 1.375
  CHECK_THROWS_AS(acc.add_distributions(tokens, 2, bad), error);
  CHECK(acc.evidence().usage.documents == 0);  // nothing counted by the refused calls

  const auto c = acc.add_distributions(tokens, 2, top, "doc");
  const audit_evidence e = acc.evidence();
  CHECK(e.filters.prompt_context == 1);
  CHECK(e.filters.dedup_repeats == 1);
  CHECK(c.scored == 3);
  CHECK(e.green_mass.contexts == 3);
  CHECK(e.green_mass.terms == 6);  // two merged tokens per context
  CHECK(e.green_mass.mass == doctest::Approx(3 * 0.875));
  double expect_green = 0.0;
  for (int32_t ctx : {6, 7, 9})
    for (const auto& [tok, p] : std::vector<std::pair<int32_t, double>>{{1, 0.625}, {2, 0.25}})
      if (s.is_green(std::span<const int32_t>(&ctx, 1), tok)) expect_green += p;
  CHECK(e.green_mass.green_mass == doctest::Approx(expect_green));
  CHECK(e.test.stat.score == doctest::Approx(expect_green));
  CHECK(e.test.log10_p == e.green_mass.log10_p);
  REQUIRE(e.samples.size() == 1);
  CHECK(e.samples[0].marks.size() == tokens.size());
  CHECK(e.samples[0].marks[0] == audit_mark::prompt);
  CHECK(e.samples[0].marks[3] == audit_mark::prompt_context);
  CHECK(e.samples[0].marks[6] == audit_mark::repeat);
  CHECK(e.usage.completion_tokens == 5);

  // The record: the sum is a "score", the statistic and its details are appended.
  audit_evidence rec = e;
  rec.top_logprobs = 20;
  const nlohmann::json j = nlohmann::json::parse(audit_record_json(rec, evidence_params::of(s, "tmk1:0000000000000000", 1e-6)));
  CHECK(j["statistic"] == "green-mass");
  CHECK(j["scored"] == 3);
  CHECK_FALSE(j.contains("green"));
  CHECK(j["score"].get<double>() == doctest::Approx(expect_green));
  CHECK(j["ci_low"].is_null());
  CHECK(j["green_mass"]["top_logprobs"] == 20);
  CHECK(j["green_mass"]["contexts"] == 3);
  CHECK(j["green_mass"]["bound"] == "chernoff");
  CHECK(j["log10_p"] == j["green_mass"]["log10_p"]);

  // A sampled accumulator refuses distributions, and says "sampled" in its record.
  audit_accumulator sampled(s);
  CHECK_THROWS_AS(sampled.add_distributions(tokens, 2, top), error);
  const nlohmann::json js =
      nlohmann::json::parse(audit_record_json(sampled.evidence(), evidence_params::of(s, "tmk1:0000000000000000", 1e-6)));
  CHECK(js["statistic"] == "sampled");
  CHECK(js["green_mass"].is_null());
  CHECK(js.contains("green"));
}

TEST_CASE("green mass: the curve's bound is recomputed on each prefix, the last point is the total") {
  const scheme s(testing_util::key_from_seed(3), cfg(2));
  toy_suspect student;
  student.bias = &s;
  student.delta = 1.0;
  const audit_evidence e = audit_suspect(student, s, 3, 20, 100, 8);
  REQUIRE(e.curve.size() >= 3);
  for (size_t i = 1; i < e.curve.size(); ++i) CHECK(e.curve[i].scored > e.curve[i - 1].scored);
  CHECK(e.curve.back().scored == e.green_mass.contexts);
  CHECK(e.curve.back().log10_p == e.test.log10_p);
  CHECK(e.curve.front().log10_p > e.curve.back().log10_p);
  for (const audit_curve_point& p : e.curve) CHECK(p.log10_p <= 0.0);
}
