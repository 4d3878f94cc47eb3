// Attribution over API accounts (attribution.h, docs/SPEC.md §2 per-account sub-keys) with
// 100 accounts "acct-000" .. "acct-099" plus the master sub-key "" (101 tried):
//   (a) power: text marked for a random account (synthetic key-independent language model:
//       each step the next token is uniform over m = 4 fresh random candidates, the encoder
//       adds delta = 2 to the green ones; gamma 0.25, h = 1) is attributed to that account,
//       significant after the Bonferroni correction at alpha = 1e-6, at 200, 300 and 500
//       tokens, at least at 95% and within the binomial 99.9% band of the theoretical power
//       at alpha / 101; no wrong account is ever among the matches.
//   (b) validity: unmarked text under fresh random keys (3000 texts of 200 tokens, h = 2):
//       the corrected p-value of the best account is super-uniform (rejection rate at alpha
//       in {0.01, 0.05, 0.1, 0.5} at most the binomial 99.9% upper quantile of alpha); an
//       account is named at 1e-3 no more often than allowed; the uncorrected best p-value is
//       anti-conservative (so the correction is needed). Wrong accounts stay valid nulls when
//       the text is marked by another account.
//   (c) corpus_attribution: a corpus of one account's documents mixed with unmarked ones
//       names exactly that account; a corpus of unmarked documents names none; the
//       per-account corpus tests are those of a corpus_accumulator under that account.
//   (d) attribute() gives, for each account, exactly what a detector under that account's
//       scheme gives (every field of the detection), with and without a prompt, and the
//       corrected p-values are min(0, log10 p + log10 101).
#include <doctest/doctest.h>

#include <boost/math/distributions/binomial.hpp>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "test_helpers.h"
#include "tracemark/attribution.h"
#include "tracemark/binomial.h"
#include "tracemark/corpus.h"
#include "tracemark/detector.h"
#include "tracemark/watermarker.h"

using namespace tracemark;
using testing_util::splitmix64;

namespace {

constexpr int32_t vocab = 32000;
constexpr int n_candidates = 4;  // entropy ln 4 = 1.39 nats per token
constexpr double delta = 2.0;

std::vector<std::string> account_list() {
  std::vector<std::string> a{""};  // the master sub-key, tried first as `detect --accounts` does
  for (int i = 0; i < 100; ++i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "acct-%03d", i);
    a.emplace_back(buf);
  }
  return a;
}

scheme_config base_config(int32_t h) {
  scheme_config c;
  c.name = "kgw-lefthash";
  c.context_width = h;
  c.gamma = 0.25;
  c.vocab_size = vocab;
  return c;
}

// The synthetic language model of tests/test_power.cpp: m fresh random candidates per step,
// equal logits; with a watermarker, delta is added to the green ones before sampling.
std::vector<int32_t> generate(const watermarker* wm, splitmix64& rng, size_t len, const std::vector<int32_t>& prompt = {}) {
  sequence_state state(wm ? wm->get_scheme().context_width() : 1);
  for (int32_t t : prompt) state.accept(t);
  std::vector<candidate> cands(static_cast<size_t>(n_candidates));
  std::vector<int32_t> out = prompt;
  for (size_t t = 0; t < len; ++t) {
    for (auto& c : cands) c = candidate{static_cast<int32_t>(rng.below(static_cast<uint32_t>(vocab))), 0.0f, 0.0f};
    if (wm) wm->apply(state, cands);
    const int32_t chosen = testing_util::sample_softmax(cands, rng.uniform());
    state.accept(chosen);
    out.push_back(chosen);
  }
  return out;
}

// P[sampled token is green] under the watermark (Kirchenbauer et al. 2023 §4, uniform m-way choice).
double green_rate_under_watermark(int m, double gamma, double d) {
  double p1 = 0;
  for (int g = 0; g <= m; ++g)
    p1 += std::exp(binomial_log_pmf(g, m, gamma)) * g * std::exp(d) / (g * std::exp(d) + (m - g));
  return p1;
}

// P[p <= alpha] for n scored tuples whose green count is Binomial(n, p1).
double theoretical_power(int64_t n, double gamma, double p1, double alpha) {
  int64_t k = 0;
  while (k <= n && binomial_log_sf(k, n, gamma) > std::log(alpha)) ++k;
  return std::exp(binomial_log_sf(k, n, p1));
}

double upper_999(double trials, double rate) {
  boost::math::binomial_distribution<double> b(trials, rate);
  return boost::math::quantile(boost::math::complement(b, 0.001));
}
double lower_999(double trials, double rate) {
  boost::math::binomial_distribution<double> b(trials, rate);
  return boost::math::quantile(b, 0.001);
}

void check_same_detection(const detection& a, const detection& b) {
  CHECK(a.n_tokens == b.n_tokens);
  CHECK(a.n_repeat == b.n_repeat);
  CHECK(a.n_prompt == b.n_prompt);
  CHECK(a.n_no_context == b.n_no_context);
  CHECK(a.test.stat == b.test.stat);
  CHECK(a.test.z == b.test.z);
  CHECK(a.test.log10_p == b.test.log10_p);
  CHECK(a.trace == b.trace);
  CHECK(a.window.found == b.window.found);
  CHECK(a.window.begin == b.window.begin);
  CHECK(a.window.end == b.window.end);
  CHECK(a.window.test.stat == b.window.test.stat);
  CHECK(a.window.test.log10_p == b.window.test.log10_p);
  CHECK(a.window.log10_p_corrected == b.window.log10_p_corrected);
  CHECK(a.window.n_windows == b.window.n_windows);
}

}  // namespace

TEST_CASE("attribution (a): marked text is attributed to its account among 101 at alpha 1e-6") {
  const std::vector<std::string> accounts = account_list();
  const scheme_config c = base_config(1);
  const key master = testing_util::key_from_seed(0xA77A);
  const attributor attr(master, c, accounts);
  REQUIRE(attr.accounts().size() == 101);
  const double alpha = 1e-6;
  const double p1 = green_rate_under_watermark(n_candidates, c.gamma, delta);
  MESSAGE("m = 4 candidates, delta 2, gamma 0.25: expected green rate of marked text p1 = ", p1);
  CHECK(p1 == doctest::Approx(0.5346).epsilon(0.001));

  detect_options opt;
  opt.keep_trace = false;
  splitmix64 rng(20260101);
  const int n_trials = 60;
  for (size_t len : {size_t{200}, size_t{300}, size_t{500}}) {
    CAPTURE(len);
    int right_and_significant = 0, wrong_named = 0, best_is_right = 0;
    double green = 0, scored = 0;
    for (int t = 0; t < n_trials; ++t) {
      const size_t who = 1 + rng.below(100);  // one of acct-000 .. acct-099
      scheme_config wc = c;
      wc.account = accounts[who];
      const watermarker wm(master, wc, static_cast<float>(delta));
      const std::vector<int32_t> tokens = generate(&wm, rng, len);
      const attribution_result r = attr.attribute(tokens, 0, alpha, opt);
      REQUIRE(r.n_tried() == 101);
      green += static_cast<double>(r.accounts[who].det.n_green());
      scored += static_cast<double>(r.accounts[who].det.n_scored());
      best_is_right += r.best == who;
      if (r.best == who && r.significant(alpha)) ++right_and_significant;
      for (size_t m : r.matches) {
        CHECK_MESSAGE(m == who, "trial ", t, ": account ", accounts[m], " named for text of ", accounts[who]);
        wrong_named += m != who;
      }
      // The record's corrected value is the best account's, Bonferroni over 101.
      CHECK(r.log10_p_corrected ==
            doctest::Approx(std::fmin(0.0, r.accounts[r.best].det.test.log10_p + std::log10(101.0))));
    }
    const double rate = static_cast<double>(right_and_significant) / n_trials;
    const double theory = theoretical_power(static_cast<int64_t>(len) - 1, c.gamma, p1, alpha / 101.0);
    MESSAGE(len, " tokens: right account best in ", best_is_right, "/", n_trials, ", best and significant in ",
            right_and_significant, "/", n_trials, " (rate ", rate, ", theory ", theory, "), wrong accounts named ",
            wrong_named, ", green fraction ", green / scored);
    CHECK(green / scored == doctest::Approx(p1).epsilon(0.03));
    CHECK(rate >= 0.95);
    CHECK(static_cast<double>(right_and_significant) >= lower_999(n_trials, theory));
    CHECK(wrong_named == 0);
  }
}

TEST_CASE("attribution (b): Bonferroni-corrected best p-values are valid over 101 accounts; uncorrected ones are not") {
  const std::vector<std::string> accounts = account_list();
  const scheme_config c = base_config(2);
  detect_options opt;
  opt.keep_trace = false;
  opt.min_window = 0;
  const int n_trials = 3000;
  const size_t len = 200;
  const std::vector<double> alphas{0.01, 0.05, 0.1, 0.5};
  std::vector<int> rejected_corrected(alphas.size(), 0);
  int rejected_uncorrected_05 = 0, named_at_1e3 = 0;
  int64_t named_accounts_at_1e3 = 0;
  splitmix64 rng(777);
  for (int t = 0; t < n_trials; ++t) {
    const attributor attr(testing_util::key_from_seed(rng.next()), c, accounts);
    const std::vector<int32_t> tokens = generate(nullptr, rng, len);  // the same model, no watermark
    const attribution_result r = attr.attribute(tokens, 0, 1e-3, opt);
    REQUIRE(r.n_tried() == 101);
    const double corrected = r.log10_p_corrected;
    const double best = r.accounts[r.best].det.test.log10_p;
    // best is the smallest p-value.
    for (const account_test& a : r.accounts) REQUIRE(a.det.test.log10_p >= best);
    for (size_t i = 0; i < alphas.size(); ++i) rejected_corrected[i] += corrected <= std::log10(alphas[i]);
    rejected_uncorrected_05 += best <= std::log10(0.05);
    named_at_1e3 += !r.matches.empty();
    named_accounts_at_1e3 += static_cast<int64_t>(r.matches.size());
    CHECK(r.significant(1e-3) == !r.matches.empty());
  }
  for (size_t i = 0; i < alphas.size(); ++i) {
    const double bound = upper_999(n_trials, alphas[i]);
    MESSAGE("corrected best p <= ", alphas[i], ": ", rejected_corrected[i], " of ", n_trials, " (rate ",
            static_cast<double>(rejected_corrected[i]) / n_trials, "; allowed up to ", bound, ")");
    CHECK(static_cast<double>(rejected_corrected[i]) <= bound);
  }
  MESSAGE("an account named at alpha 1e-3: ", named_at_1e3, " of ", n_trials, " texts (", named_accounts_at_1e3,
          " accounts; allowed up to ", upper_999(n_trials, 1e-3), ")");
  CHECK(static_cast<double>(named_at_1e3) <= upper_999(n_trials, 1e-3));
  const double uncorrected_rate = static_cast<double>(rejected_uncorrected_05) / n_trials;
  MESSAGE("uncorrected best p <= 0.05: ", rejected_uncorrected_05, " of ", n_trials, " (rate ", uncorrected_rate, ")");
  // The minimum of 101 valid p-values is far from valid: the correction is needed.
  CHECK(static_cast<double>(rejected_uncorrected_05) > upper_999(n_trials, 0.05));
  CHECK(uncorrected_rate > 0.5);
}

TEST_CASE("attribution (b'): accounts that did not mark a text stay valid nulls when another account did") {
  const std::vector<std::string> accounts = account_list();
  const scheme_config c = base_config(1);
  detect_options opt;
  opt.keep_trace = false;
  opt.min_window = 0;
  const int n_trials = 400;
  int wrong_named = 0, right_named = 0;
  int64_t wrong_small_p = 0;  // wrong accounts' uncorrected p <= 0.01 (expected <= 1% of 100 per text)
  splitmix64 rng(4242);
  for (int t = 0; t < n_trials; ++t) {
    const key master = testing_util::key_from_seed(rng.next());
    const attributor attr(master, c, accounts);
    const size_t who = rng.below(101);  // the master sub-key "" included
    scheme_config wc = c;
    wc.account = accounts[who];
    const watermarker wm(master, wc, static_cast<float>(delta));
    const attribution_result r = attr.attribute(generate(&wm, rng, 200), 0, 1e-3, opt);
    for (size_t m : r.matches) (m == who ? right_named : wrong_named) += 1;
    for (size_t i = 0; i < r.accounts.size(); ++i)
      if (i != who) wrong_small_p += r.accounts[i].det.test.log10_p <= -2.0;
  }
  MESSAGE("marked texts: right account named in ", right_named, " of ", n_trials, "; a wrong account named ",
          wrong_named, " times (allowed up to ", upper_999(n_trials, 1e-3), "); wrong accounts with p <= 0.01: ",
          wrong_small_p, " of ", n_trials * 100);
  CHECK(static_cast<double>(wrong_named) <= upper_999(n_trials, 1e-3));
  CHECK(static_cast<double>(wrong_small_p) <= upper_999(n_trials * 100.0, 0.01));
  CHECK(right_named >= n_trials * 95 / 100);
}

TEST_CASE("attribution (c): corpus_attribution names the account of the marked documents, none for unmarked ones") {
  const std::vector<std::string> accounts = account_list();
  const scheme_config c = base_config(1);
  const key master = testing_util::key_from_seed(31337);
  const attributor attr(master, c, accounts);
  splitmix64 rng(99);
  for (size_t who : {size_t{0}, size_t{43}, size_t{100}}) {  // "", acct-042, acct-099
    CAPTURE(accounts[who]);
    scheme_config wc = c;
    wc.account = accounts[who];
    const watermarker wm(master, wc, static_cast<float>(delta));
    corpus_attribution mixed(attr);
    corpus_accumulator alone(wm.get_scheme());
    // 10 marked documents of 100 tokens among 30 unmarked ones, interleaved; some with prompts.
    for (int d = 0; d < 40; ++d) {
      const bool marked = d % 4 == 1;
      const std::vector<int32_t> prompt = d % 3 == 0 ? generate(nullptr, rng, 5) : std::vector<int32_t>{};
      const std::vector<int32_t> doc = generate(marked ? &wm : nullptr, rng, 100, prompt);
      const std::string id = "doc-" + std::to_string(d);
      mixed.add(doc, static_cast<int64_t>(prompt.size()), id);
      alone.add(doc, static_cast<int64_t>(prompt.size()), id);
    }
    const attribution_result r = mixed.result(1e-6);
    REQUIRE(r.n_tried() == 101);
    MESSAGE("mixed corpus of ", accounts[who].empty() ? std::string("(master)") : accounts[who], ": best ",
            r.accounts[r.best].account, " log10 p ", r.accounts[r.best].det.test.log10_p, " corrected ",
            r.log10_p_corrected, ", matches ", r.matches.size());
    CHECK(r.best == who);
    CHECK(r.significant(1e-6));
    REQUIRE(r.matches.size() == 1);
    CHECK(r.matches[0] == who);
    // The account's corpus test is that of a corpus accumulator under its scheme.
    const corpus_verdict v = alone.verdict();
    CHECK(r.accounts[who].det.test.stat == v.test.stat);
    CHECK(r.accounts[who].det.test.log10_p == v.test.log10_p);
    CHECK(r.accounts[who].det.n_tokens == v.n_tokens);
    CHECK(v.n_tokens == 40 * 100);
    CHECK(v.n_documents == 40);
  }
  // Unmarked documents only: no account.
  for (int rep = 0; rep < 3; ++rep) {
    corpus_attribution plain(attr);
    for (int d = 0; d < 40; ++d) plain.add(generate(nullptr, rng, 100), 0, "plain-" + std::to_string(d));
    plain.add_error();
    const attribution_result r = plain.result(1e-6);
    MESSAGE("unmarked corpus: best ", r.accounts[r.best].account, " log10 p ", r.accounts[r.best].det.test.log10_p,
            " corrected ", r.log10_p_corrected);
    CHECK_FALSE(r.significant(1e-6));
    CHECK(r.matches.empty());
    CHECK(r.log10_p_corrected > -3.0);
    for (const account_test& a : r.accounts) CHECK(a.det.test.stat.scored > 3900);
  }
}

TEST_CASE("attribution (d): attribute() equals a plain detector under each account's scheme") {
  const std::vector<std::string> accounts = account_list();
  for (int32_t h : {1, 2}) {
    CAPTURE(h);
    const scheme_config c = base_config(h);
    const key master = testing_util::key_from_seed(5150 + static_cast<uint64_t>(h));
    const attributor attr(master, c, accounts);
    splitmix64 rng(8 + static_cast<uint64_t>(h));
    for (size_t who : {size_t{0}, size_t{1}, size_t{57}, size_t{100}}) {
      CAPTURE(who);
      scheme_config wc = c;
      wc.account = accounts[who];
      const watermarker wm(master, wc, static_cast<float>(delta));
      // With a prompt of 7 tokens (context only) and a repeated stretch (dedup).
      std::vector<int32_t> tokens = generate(&wm, rng, 250, generate(nullptr, rng, 7));
      const std::vector<int32_t> stretch(tokens.begin() + 20, tokens.begin() + 60);
      tokens.insert(tokens.end(), stretch.begin(), stretch.end());
      for (int64_t n_prompt : {int64_t{0}, int64_t{7}}) {
        CAPTURE(n_prompt);
        const attribution_result r = attr.attribute(tokens, n_prompt, 1e-6);
        REQUIRE(r.n_tried() == 101);
        const detection own = detector(scheme(master, wc)).score(tokens, n_prompt);
        CHECK(attr.schemes()[who].derivation_info() == scheme(master, wc).derivation_info());
        CHECK(r.accounts[who].account == accounts[who]);
        check_same_detection(r.accounts[who].det, own);
        CHECK(own.n_repeat >= 40 - h);  // the repeated stretch, after its first h tokens (new contexts)
        CHECK(own.n_prompt == n_prompt);
        CHECK(own.test.significant(1e-6));
        CHECK(r.best == who);
        CHECK(r.log10_p_corrected == doctest::Approx(own.test.log10_p + std::log10(101.0)));
        CHECK(r.matches == std::vector<size_t>{who});
        // Every other account too, and its corrected value.
        for (size_t i : {size_t{0}, size_t{2}, size_t{99}}) {
          if (i == who) continue;
          scheme_config oc = c;
          oc.account = accounts[i];
          check_same_detection(r.accounts[i].det, detector(scheme(master, oc)).score(tokens, n_prompt));
          CHECK(r.corrected_log10_p(i) == std::fmin(0.0, r.accounts[i].det.test.log10_p + std::log10(101.0)));
        }
      }
    }
  }
}

TEST_CASE("attribution: bad arguments") {
  const scheme_config c = base_config(1);
  const key master = testing_util::key_from_seed(1);
  CHECK_THROWS(attributor(master, c, {}));
  CHECK_THROWS(attributor(master, c, {"a", "b", "a"}));
  const attributor attr(master, c, {"", "a"});
  const std::vector<int32_t> tokens{1, 2, 3, 4};
  CHECK_THROWS(attr.attribute(tokens, 0, 0.0));
  CHECK_THROWS(attr.attribute(tokens, 0, 1.0));
  // Nothing scored: never significant, no match.
  const attribution_result r = attr.attribute(tokens, 4, 0.5);
  CHECK_FALSE(r.significant(0.5));
  CHECK(r.matches.empty());
}
