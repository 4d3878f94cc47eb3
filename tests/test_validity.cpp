// Validity under the null (docs/SPEC.md §6.2): on text that does not depend on the key,
// p-values are super-uniform and the false-positive rate is what the test promises.
#include <doctest/doctest.h>

#include <boost/math/distributions/binomial.hpp>
#include <cmath>
#include <map>

#include "test_helpers.h"
#include "tracemark/binomial.h"
#include "tracemark/detector.h"

using namespace tracemark;
using testing_util::splitmix64;

namespace {

// Smallest k with P[Binomial(n, gamma) >= k] <= alpha: the rejection threshold.
int64_t critical_green_count(int64_t n, double gamma, double alpha) {
  int64_t k = 0;
  while (k <= n && binomial_log_sf(k, n, gamma) > std::log(alpha)) ++k;
  return k;
}

// Two-sided 99.9% interval for the number of events among `trials` at rate `rate`.
std::pair<double, double> interval_999(double trials, double rate) {
  boost::math::binomial_distribution<double> b(trials, rate);
  return {boost::math::quantile(b, 0.0005), boost::math::quantile(boost::math::complement(b, 0.0005))};
}

struct null_run {
  std::vector<double> randomized_p;  // exactly Uniform(0,1) under the null
  int64_t n_rejected = 0;            // p <= alpha
  double expected_rejected = 0;      // sum over texts of the exact size P[p <= alpha] at its n_scored
};

// The test's exact size for n scored tuples: P[p <= alpha] = P[X >= k*] <= alpha.
double exact_size(int64_t n, double gamma, double alpha) {
  static std::map<std::pair<int64_t, double>, double> cache;
  auto [it, fresh] = cache.try_emplace({n, gamma}, 0.0);
  if (fresh) it->second = std::exp(binomial_log_sf(critical_green_count(n, gamma, alpha), n, gamma));
  return it->second;
}

// Scores `n_seqs` uniformly random sequences of `len` tokens, each under a fresh key
// (the null: text independent of the key).
null_run run_null(scheme_config c, int n_seqs, size_t len, double alpha, uint64_t seed) {
  splitmix64 rng(seed);
  null_run r;
  r.randomized_p.reserve(static_cast<size_t>(n_seqs));
  detect_options opt;
  opt.keep_trace = false;
  opt.min_window = 0;
  tuple_set seen(len);
  for (int i = 0; i < n_seqs; ++i) {
    const scheme s(testing_util::key_from_seed(rng.next()), c);
    const auto tokens = testing_util::random_tokens(rng, len, static_cast<uint32_t>(c.vocab_size));
    const detection d = detector(s, opt).score(tokens, 0, seen);
    const double gamma = s.gamma_effective();
    if (d.test.log10_p <= std::log10(alpha)) ++r.n_rejected;
    r.expected_rejected += exact_size(d.n_scored(), gamma, alpha);
    // Randomized p-value P[X > G] + U P[X = G] removes the discreteness of the binomial.
    const double above = std::exp(binomial_log_sf(d.n_green() + 1, d.n_scored(), gamma));
    const double at = std::exp(binomial_log_pmf(d.n_green(), d.n_scored(), gamma));
    r.randomized_p.push_back(above + rng.uniform() * at);
  }
  return r;
}

void check_null(const scheme_config& c, int n_seqs, size_t len, uint64_t seed) {
  REQUIRE(len > 0);
  const double alpha = 1e-3;
  const null_run r = run_null(c, n_seqs, len, alpha, seed);

  const double d = testing_util::ks_statistic_uniform(r.randomized_p);
  const double ks_p = testing_util::ks_p_value(d, r.randomized_p.size());
  INFO("scheme ", c.name, " h=", c.context_width, " KS D=", d, " p=", ks_p);
  CHECK(ks_p > 1e-3);

  // Rejections are a sum of independent Bernoulli(size_i), size_i <= alpha; the binomial
  // interval at the mean size is a little wider than the exact Poisson-binomial one.
  const double size = r.expected_rejected / n_seqs;
  CHECK(size <= alpha);
  const auto [lo, hi] = interval_999(n_seqs, size);
  const auto [lo_alpha, hi_alpha] = interval_999(n_seqs, alpha);
  MESSAGE("scheme ", c.name, " h=", c.context_width, ": ", r.n_rejected, " of ", n_seqs,
          " rejected at alpha=1e-3 (exact size ", size, ", 99.9% interval [", lo, ", ", hi, "]); KS p=", ks_p);
  CHECK(static_cast<double>(r.n_rejected) >= lo);
  CHECK(static_cast<double>(r.n_rejected) <= hi);
  // And inside the interval of the nominal alpha's upper end: never anti-conservative.
  CHECK(static_cast<double>(r.n_rejected) <= hi_alpha);
}

}  // namespace

TEST_CASE("null p-values are uniform and FPR at 1e-3 is in its 99.9% interval: kgw-lefthash h=1, 100k sequences") {
  scheme_config c;
  c.name = "kgw-lefthash";
  c.context_width = 1;
  c.gamma = 0.25;
  c.vocab_size = 32000;
  check_null(c, 100000, 200, 1);
}

TEST_CASE("null validity for the other schemes (20k sequences each)") {
  scheme_config c;
  c.vocab_size = 32000;
  c.gamma = 0.5;
  c.name = "kgw-selfhash";
  c.context_width = 4;
  check_null(c, 20000, 200, 2);
  c.name = "kgw-minhash";
  c.gamma = 0.25;
  check_null(c, 20000, 200, 3);
  c.name = "unigram";
  c.context_width = 0;
  c.account = "account-7";
  check_null(c, 20000, 200, 4);
}

TEST_CASE("null validity with a single fixed key and mixed lengths (the provider's real situation)") {
  // One key, many unrelated texts: each text's p-value is still valid. Randomized p-values
  // must look uniform over 50k texts of lengths 20..1000.
  scheme_config c;
  c.vocab_size = 50000;
  c.context_width = 2;
  const scheme s(testing_util::key_from_seed(99), c);
  detect_options opt;
  opt.keep_trace = false;
  opt.min_window = 0;
  const detector det(s, opt);
  splitmix64 rng(5);
  std::vector<double> u;
  tuple_set seen;
  int64_t rejected = 0;
  for (int i = 0; i < 50000; ++i) {
    const auto tokens = testing_util::random_tokens(rng, 20 + rng.below(981), 50000);
    const detection d = det.score(tokens, 0, seen);
    rejected += d.test.log10_p <= -3.0;
    const double gamma = s.gamma_effective();
    const double above = std::exp(binomial_log_sf(d.n_green() + 1, d.n_scored(), gamma));
    const double at = std::exp(binomial_log_pmf(d.n_green(), d.n_scored(), gamma));
    u.push_back(above + rng.uniform() * at);
  }
  const double ks_p = testing_util::ks_p_value(testing_util::ks_statistic_uniform(u), u.size());
  MESSAGE("fixed key, mixed lengths: KS p=", ks_p, ", ", rejected, " of 50000 rejected at 1e-3");
  CHECK(ks_p > 1e-3);
  CHECK(rejected <= interval_999(50000, 1e-3).second);
}
