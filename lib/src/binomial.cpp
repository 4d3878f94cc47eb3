#include "tracemark/binomial.h"

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
