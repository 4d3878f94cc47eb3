// The one statistical test of tracemark (docs/SPEC.md §6.2, docs/EVIDENCE.md): every
// accumulator (a document, a stream, a window, a corpus, an audit, an account) reduces its
// scored tuples to a test_statistic (how many tuples, the sum of their scores) and asks
// the scheme's null_distribution for the exact tail of that sum.
//
// Thread safety: every type here is a value; const member functions may be called from
// any number of threads.
#pragma once
#include <cstdint>
#include <string_view>

#include "tracemark/export.h"

namespace tracemark {

// Sufficient statistics of a test: they add up, so shards merge exactly.
struct test_statistic {
  int64_t scored = 0;  // distinct tuples scored
  double score = 0.0;  // sum of their scores (for green lists: how many were green; exact below 2^53)

  void add(double tuple_score) noexcept {
    ++scored;
    score += tuple_score;
  }
  test_statistic& operator+=(const test_statistic& o) noexcept {
    scored += o.scored;
    score += o.score;
    return *this;
  }
  friend bool operator==(const test_statistic&, const test_statistic&) = default;
};

// A test_statistic judged against its null distribution.
struct test_result {
  test_statistic stat;
  double z = 0.0;        // (score - E[score]) / sd[score] under the null; informative only
  double log10_p = 0.0;  // log10 P[S >= score] under the null: exact, valid far below 1e-308

  // The one decision rule of the project: evidence at level alpha (0 < alpha < 1) when
  // something was scored and p <= alpha.
  TRACEMARK_EXPORT bool significant(double alpha) const noexcept;
};

// A two-sided confidence interval for the mean score per tuple (the green rate for green
// lists).
struct score_interval {
  double low = 0.0, high = 1.0;
};

// Clopper-Pearson ("exact") two-sided interval for a binomial proportion k / n: the lower
// end is the (1-confidence)/2 quantile of Beta(k, n-k+1) (0 for k = 0), the upper end the
// 1-(1-confidence)/2 quantile of Beta(k+1, n-k) (1 for k = n); n = 0 gives [0, 1].
// Throws error{invalid_argument} unless 0 <= k <= n and 0 < confidence < 1.
TRACEMARK_EXPORT score_interval clopper_pearson(int64_t k, int64_t n, double confidence = 0.95);

// The distribution of the sum S_n of n scored tuples' scores when the text is independent
// of the key. A value type; a scheme declares one (scheme::null()).
class TRACEMARK_EXPORT null_distribution {
 public:
  enum class family : uint8_t {
    binomial,  // each tuple scores Binomial(trials, p): S_n ~ Binomial(n trials, p). Green lists: trials 1.
    gamma,     // each tuple scores Exp(1) (= -ln(1 - U), U uniform): S_n ~ Gamma(n, 1). Gumbel-max schemes.
  };

  // Throws error{invalid_argument} unless 0 < p < 1 and 1 <= trials_per_tuple <= 1024.
  static null_distribution binomial(double p, int32_t trials_per_tuple = 1);
  static null_distribution exponential_sum();

  family kind() const noexcept { return kind_; }
  // "binomial" or "gamma" (the names used in evidence records).
  std::string_view name() const noexcept;
  double p() const noexcept { return p_; }  // binomial success probability (0 for gamma)
  int32_t trials_per_tuple() const noexcept { return trials_; }

  double mean(int64_t n) const noexcept;
  double variance(int64_t n) const noexcept;
  // ln P[S_n >= s]: 0 for n = 0 or s <= 0 (nothing can be less), -infinity when s exceeds
  // the largest value S_n can take. Binomial: binomial.h (s rounded up to an integer).
  // Gamma: the Poisson identity P[Gamma(n, 1) >= s] = P[Poisson(s) <= n - 1], by Boost.Math's
  // gamma_q while it is >= 1e-250, below that by the log-space sum of its terms.
  double log_sf(int64_t n, double s) const;
  // z, log10 p of a statistic.
  test_result test(const test_statistic& stat) const;
  // Exact interval at `confidence` for the mean score per tuple (per trial for the
  // binomial): Clopper-Pearson for the binomial, the chi-square (gamma) interval for the
  // exponential mean. n = 0 gives [0, 1] (binomial) or [0, inf) (gamma).
  score_interval interval(const test_statistic& stat, double confidence) const;

  friend bool operator==(const null_distribution&, const null_distribution&) = default;

 private:
  null_distribution(family k, double p, int32_t trials) noexcept : kind_(k), p_(p), trials_(trials) {}
  family kind_ = family::binomial;
  double p_ = 0.5;
  int32_t trials_ = 1;
};

}  // namespace tracemark
