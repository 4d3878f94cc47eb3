#include "tracemark/binomial.h"

#include <array>
#include <boost/math/special_functions/beta.hpp>
#include <cmath>
#include <limits>

namespace tracemark {
namespace {

constexpr double neg_inf = -std::numeric_limits<double>::infinity();
// Below this, Boost's double result loses relative precision to subnormals; switch to log space.
constexpr double log_space_threshold = 1e-250;

// ln P[X >= k] = ln pmf(k) + ln sum_{j>=k} pmf(j)/pmf(k), valid when k > n p so that the
// term ratios (n-j) p / ((j+1) q) are below 1 and decrease: the series converges
// geometrically and the rest after a term t with ratio r is below t r / (1 - r).
double log_sf_series(int64_t k, int64_t n, double p) {
  const long double q_over = static_cast<long double>(p) / (1.0L - static_cast<long double>(p));
  long double term = 1.0L, sum = 1.0L;
  for (int64_t j = k; j < n; ++j) {
    const long double ratio = static_cast<long double>(n - j) / static_cast<long double>(j + 1) * q_over;
    term *= ratio;
    sum += term;
    if (ratio < 1.0L && term * ratio / (1.0L - ratio) < sum * 1e-18L) break;
  }
  return binomial_log_pmf(k, n, p) + static_cast<double>(std::log(sum));
}

// Documents are short: up to this n the tail is summed term by term in double precision
// (about 10 standard deviations of terms at most), 3-5x faster than Boost's incomplete
// beta, which per-document statistics (a document's tail and its best windows') made the
// largest cost of text detection (docs/PERFORMANCE.md, issue 3).
constexpr int64_t small_n_limit = 4096;

// ln k! for k <= small_n_limit, from lgamma (accurate to about an ulp each).
const std::array<double, small_n_limit + 1>& log_factorials() {
  static const std::array<double, small_n_limit + 1> table = [] {
    std::array<double, small_n_limit + 1> t{};
    for (size_t i = 0; i < t.size(); ++i) t[i] = std::lgamma(static_cast<double>(i) + 1.0);
    return t;
  }();
  return table;
}

// ln P[X >= k] for 1 <= k <= n <= small_n_limit, by summation from the side of k away from
// the mean, where successive pmf ratios are below 1 and decrease, so the rest of the sum
// after a term t with ratio r is below t r / (1 - r) (the same bound as log_sf_series):
//   k > n p:  P[X >= k] = pmf(k) (1 + r_k + r_k r_{k+1} + ...), r_j = (n-j) p / ((j+1) q);
//   k <= n p: P[X >= k] = 1 - P[X <= k-1], P[X <= m] = pmf(m) (1 + s_m + s_m s_{m-1} + ...),
//             s_j = j q / ((n-j+1) p), which is below 1 for j <= m < n p.
double log_sf_small(int64_t k, int64_t n, double p) {
  const std::array<double, small_n_limit + 1>& lf = log_factorials();
  const double log_p = std::log(p), log_q = std::log1p(-p);
  auto log_pmf = [&](int64_t j) {
    return lf[static_cast<size_t>(n)] - lf[static_cast<size_t>(j)] - lf[static_cast<size_t>(n - j)] +
           static_cast<double>(j) * log_p + static_cast<double>(n - j) * log_q;
  };
  const double q = 1.0 - p;
  double term = 1.0, sum = 1.0;
  if (static_cast<double>(k) > static_cast<double>(n) * p) {
    for (int64_t j = k; j < n; ++j) {
      const double ratio = static_cast<double>(n - j) / static_cast<double>(j + 1) * (p / q);
      term *= ratio;
      sum += term;
      if (ratio < 1.0 && term * ratio < sum * 1e-17 * (1.0 - ratio)) break;
    }
    return log_pmf(k) + std::log(sum);
  }
  const int64_t m = k - 1;
  for (int64_t j = m; j > 0; --j) {
    const double ratio = static_cast<double>(j) * q / (static_cast<double>(n - j + 1) * p);
    term *= ratio;
    sum += term;
    if (ratio < 1.0 && term * ratio < sum * 1e-17 * (1.0 - ratio)) break;
  }
  const double lower = std::exp(log_pmf(m) + std::log(sum));  // P[X <= k-1], at most about 1/2 here
  return std::log1p(-std::min(lower, 1.0));
}

}  // namespace

double binomial_log_pmf(int64_t k, int64_t n, double p) {
  if (k < 0 || k > n) return neg_inf;
  const long double nn = static_cast<long double>(n), kk = static_cast<long double>(k);
  const long double log_choose = std::lgamma(nn + 1.0L) - std::lgamma(kk + 1.0L) - std::lgamma(nn - kk + 1.0L);
  const long double pp = p;
  const long double log_p_part = (k == 0 ? 0.0L : kk * std::log(pp)) + (k == n ? 0.0L : (nn - kk) * std::log1p(-pp));
  return static_cast<double>(log_choose + log_p_part);
}

double binomial_log_sf(int64_t k, int64_t n, double p) {
  if (k <= 0) return 0.0;
  if (k > n) return neg_inf;
  if (n <= small_n_limit && p > 0.0 && p < 1.0) return log_sf_small(k, n, p);
  // P[X >= k] = I_p(k, n - k + 1), the regularized incomplete beta function.
  const double direct = boost::math::ibeta(static_cast<double>(k), static_cast<double>(n - k + 1), p);
  if (direct >= log_space_threshold) return std::log(direct);
  // Only the far upper tail reaches here, where k is well above n p.
  return log_sf_series(k, n, p);
}

double binomial_log10_sf(int64_t k, int64_t n, double p) {
  return binomial_log_sf(k, n, p) / std::log(10.0);
}

}  // namespace tracemark
