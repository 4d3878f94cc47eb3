// Exact one-sided binomial tail probabilities in log space (docs/SPEC.md §6).
#pragma once
#include <cstdint>

#include "tracemark/export.h"

namespace tracemark {

// ln P[X >= k] for X ~ Binomial(n, p), 0 < p < 1, 0 <= n. Returns 0 for k <= 0 and
// -infinity for k > n. Accurate to about 1e-12 relative (in the probability) while
// P >= 1e-250 (Boost.Math's regularized incomplete beta), and to about 1e-8 absolute
// in the logarithm below that, far past the double range (e.g. ln P = -13863 for
// n = k = 10000, p = 0.25).
TRACEMARK_EXPORT double binomial_log_sf(int64_t k, int64_t n, double p);

// log10 of the same probability.
TRACEMARK_EXPORT double binomial_log10_sf(int64_t k, int64_t n, double p);

// ln P[X = k]; -infinity outside 0..n.
TRACEMARK_EXPORT double binomial_log_pmf(int64_t k, int64_t n, double p);

}  // namespace tracemark
