// The null distributions of docs/SPEC.md §6.2 (binomial) and of exponential scores (gamma).
#include "tracemark/statistics.h"

#include <boost/math/special_functions/beta.hpp>
#include <boost/math/special_functions/gamma.hpp>
#include <cmath>
#include <limits>
#include <string>

#include "tracemark/binomial.h"
#include "tracemark/error.h"

namespace tracemark {
namespace {

// Below this Boost's double result loses relative precision to subnormals (as binomial.cpp).
constexpr double log_space_threshold = 1e-250;

void check_confidence(double confidence) {
  if (!(confidence > 0.0 && confidence < 1.0))
    throw error(errc::invalid_argument, "confidence must lie strictly between 0 and 1");
}

// ln P[Gamma(n, 1) >= s] for integer n >= 1 and s > n - 1, from the Poisson identity
// P[Gamma(n, 1) >= s] = e^{-s} sum_{j<n} s^j / j! (Johnson, Kotz & Kemp, "Univariate
// Discrete Distributions", §4.2). For s > n - 1 the terms grow with j, so the sum is taken
// from j = n - 1 down; the term ratios j / s fall as j falls, so the rest after a term t
// with ratio r is below t r / (1 - r).
double gamma_log_sf_series(int64_t n, double s) {
  const double log_s = std::log(s);
  const double top = static_cast<double>(n - 1) * log_s - std::lgamma(static_cast<double>(n));
  double term = 1.0, sum = 1.0;
  for (int64_t j = n - 1; j > 0; --j) {
    const double ratio = static_cast<double>(j) / s;
    term *= ratio;
    sum += term;
    if (term * ratio < sum * 1e-17 * (1.0 - ratio)) break;
  }
  return -s + top + std::log(sum);
}

}  // namespace

bool test_result::significant(double alpha) const noexcept {
  return stat.scored > 0 && log10_p <= std::log10(alpha);
}

score_interval clopper_pearson(int64_t k, int64_t n, double confidence) {
  check_confidence(confidence);
  if (n < 0 || k < 0 || k > n) throw error(errc::invalid_argument, "clopper_pearson needs 0 <= k <= n");
  score_interval ci;
  if (n == 0) return ci;
  const double tail = (1.0 - confidence) / 2.0;
  const double kd = static_cast<double>(k), nd = static_cast<double>(n);
  // Lower end: P[Binomial(n, p) >= k] = I_p(k, n-k+1) = tail. Upper: P[Binomial(n, p) <= k] = tail,
  // i.e. I_p(k+1, n-k) = 1 - tail.
  ci.low = k == 0 ? 0.0 : boost::math::ibeta_inv(kd, nd - kd + 1.0, tail);
  ci.high = k == n ? 1.0 : boost::math::ibeta_inv(kd + 1.0, nd - kd, 1.0 - tail);
  return ci;
}

null_distribution null_distribution::binomial(double p, int32_t trials_per_tuple) {
  if (!(p > 0.0 && p < 1.0))
    throw error(errc::invalid_argument, "a binomial null needs 0 < p < 1 (got " + std::to_string(p) + ")");
  if (trials_per_tuple < 1 || trials_per_tuple > 1024)
    throw error(errc::invalid_argument, "a binomial null needs 1 to 1024 trials per tuple");
  return null_distribution(family::binomial, p, trials_per_tuple);
}

null_distribution null_distribution::exponential_sum() { return null_distribution(family::gamma, 0.0, 1); }

std::string_view null_distribution::name() const noexcept {
  return kind_ == family::binomial ? "binomial" : "gamma";
}

double null_distribution::mean(int64_t n) const noexcept {
  const double nd = static_cast<double>(n);
  return kind_ == family::binomial ? nd * static_cast<double>(trials_) * p_ : nd;
}

double null_distribution::variance(int64_t n) const noexcept {
  const double nd = static_cast<double>(n);
  return kind_ == family::binomial ? nd * static_cast<double>(trials_) * p_ * (1.0 - p_) : nd;
}

double null_distribution::log_sf(int64_t n, double s) const {
  if (n <= 0 || !(s > 0.0)) return 0.0;
  if (kind_ == family::binomial) {
    const int64_t trials = n * trials_;
    return binomial_log_sf(static_cast<int64_t>(std::ceil(s)), trials, p_);
  }
  const double direct = boost::math::gamma_q(static_cast<double>(n), s);
  if (direct >= log_space_threshold) return std::log(direct);
  return gamma_log_sf_series(n, s);
}

test_result null_distribution::test(const test_statistic& stat) const {
  test_result r;
  r.stat = stat;
  if (stat.scored <= 0) return r;
  if (kind_ == family::binomial) {
    // The expression of SPEC §6.2 term by term: records must not change in the last bit.
    const double n = static_cast<double>(stat.scored * trials_);
    r.z = (stat.score - n * p_) / std::sqrt(n * p_ * (1.0 - p_));
    r.log10_p = binomial_log10_sf(static_cast<int64_t>(std::ceil(stat.score)), stat.scored * trials_, p_);
  } else {
    r.z = (stat.score - mean(stat.scored)) / std::sqrt(variance(stat.scored));
    r.log10_p = log_sf(stat.scored, stat.score) / std::log(10.0);
  }
  return r;
}

score_interval null_distribution::interval(const test_statistic& stat, double confidence) const {
  check_confidence(confidence);
  if (kind_ == family::binomial)
    return clopper_pearson(static_cast<int64_t>(std::llround(stat.score)), stat.scored * trials_, confidence);
  score_interval ci{0.0, std::numeric_limits<double>::infinity()};
  if (stat.scored <= 0) return ci;
  // S ~ Gamma(n, theta) for a mean score theta, so S / theta ~ Gamma(n, 1).
  const double tail = (1.0 - confidence) / 2.0, n = static_cast<double>(stat.scored);
  ci.low = stat.score / boost::math::gamma_p_inv(n, 1.0 - tail);
  ci.high = stat.score / boost::math::gamma_p_inv(n, tail);
  return ci;
}

}  // namespace tracemark
