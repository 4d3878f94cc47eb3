// Deterministic randomness and small statistics helpers shared by the tests.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "tracemark/key.h"
#include "tracemark/watermarker.h"

namespace testing_util {

// SplitMix64 (Steele, Lea & Flood 2014): tiny, seedable, identical everywhere.
struct splitmix64 {
  uint64_t state;
  explicit splitmix64(uint64_t seed) : state(seed) {}
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) (multiply-shift on the top 32 bits; bias < n / 2^32, irrelevant here).
  uint32_t below(uint32_t n) { return static_cast<uint32_t>(((next() >> 32) * n) >> 32); }
  // Uniform in (0, 1).
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }
};

inline tracemark::key key_from_seed(uint64_t seed) {
  splitmix64 rng(seed);
  tracemark::key::secret_bytes s{};
  for (size_t i = 0; i < s.size(); i += 8) {
    const uint64_t v = rng.next();
    for (size_t j = 0; j < 8; ++j) s[i + j] = static_cast<uint8_t>(v >> (8 * j));
  }
  return tracemark::key::from_secret(s);
}

// The id drawn from softmax(logits) of `cands` by u uniform in [0, 1) (inverse CDF in
// array order; the last id if rounding leaves u unspent).
inline int32_t sample_softmax(std::span<const tracemark::candidate> cands, double u) {
  double z = 0;
  for (const auto& c : cands) z += std::exp(static_cast<double>(c.logit));
  double x = u * z;
  for (const auto& c : cands)
    if ((x -= std::exp(static_cast<double>(c.logit))) <= 0) return c.id;
  return cands.back().id;
}

// Text of a synthetic model marked by `wm`: at every step the next token is uniform over `m`
// fresh random candidates among `vocab` ids (entropy ln m nats), after `wm` adds delta to
// the green ones.
inline std::vector<int32_t> marked_text(const tracemark::watermarker& wm, splitmix64& rng, size_t len, int32_t vocab,
                                        int m = 16) {
  tracemark::sequence_state state = wm.new_state();
  std::vector<tracemark::candidate> cands(static_cast<size_t>(m));
  std::vector<int32_t> out;
  for (size_t t = 0; t < len; ++t) {
    for (auto& c : cands)
      c = tracemark::candidate{static_cast<int32_t>(rng.below(static_cast<uint32_t>(vocab))), 0.0f, 0.0f};
    wm.apply(state, cands);
    const int32_t chosen = sample_softmax(cands, rng.uniform());
    state.accept(chosen);
    out.push_back(chosen);
  }
  return out;
}

inline std::vector<int32_t> random_tokens(splitmix64& rng, size_t n, uint32_t vocab) {
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(rng.below(vocab));
  return t;
}

// One-sample Kolmogorov-Smirnov statistic D_n against Uniform(0, 1).
inline double ks_statistic_uniform(std::vector<double> u) {
  std::sort(u.begin(), u.end());
  const double n = static_cast<double>(u.size());
  double d = 0;
  for (size_t i = 0; i < u.size(); ++i) {
    d = std::max(d, static_cast<double>(i + 1) / n - u[i]);
    d = std::max(d, u[i] - static_cast<double>(i) / n);
  }
  return d;
}

// Asymptotic Kolmogorov distribution: P[sqrt(n) D_n > x] = 2 sum_{k>=1} (-1)^{k-1} e^{-2 k^2 x^2}
// (Kolmogorov 1933; accurate for n in the thousands and beyond).
inline double ks_p_value(double d, size_t n) {
  const double x = d * std::sqrt(static_cast<double>(n));
  double sum = 0;
  for (int k = 1; k <= 100; ++k) sum += (k % 2 ? 2.0 : -2.0) * std::exp(-2.0 * k * k * x * x);
  return std::clamp(sum, 0.0, 1.0);
}

}  // namespace testing_util
