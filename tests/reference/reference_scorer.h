// A slow, obviously-correct scorer written straight from docs/SPEC.md §3-§6, used only
// to cross-check the fast detector. It rebuilds every PRF input as explicit bytes,
// deduplicates with std::set, and sums binomial probabilities term by term.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "siphash.h"
#include "tracemark/detector.h"
#include "tracemark/scheme.h"

namespace reference {

inline void put_le32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
inline void put_le64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
inline uint64_t sip(uint64_t k0, uint64_t k1, const std::vector<uint8_t>& bytes) {
  return tracemark::detail::siphash24({k0, k1}, bytes.data(), bytes.size());
}

// §3: the seed for `token` after context tokens[i-h .. i-1].
inline uint64_t seed(const tracemark::scheme& s, const std::vector<int32_t>& tokens, size_t i) {
  const auto& k = s.keys();
  const size_t h = static_cast<size_t>(s.context_width());
  std::vector<uint8_t> bytes;
  const std::string& name = s.config().name;
  if (name == "unigram") return 0;
  if (name == "kgw-lefthash") {
    for (size_t j = i - h; j < i; ++j) put_le32(bytes, static_cast<uint32_t>(tokens[j]));
    return sip(k.context_k0, k.context_k1, bytes);
  }
  if (name == "kgw-selfhash") {
    for (size_t j = i - h; j <= i; ++j) put_le32(bytes, static_cast<uint32_t>(tokens[j]));
    return sip(k.context_k0, k.context_k1, bytes);
  }
  if (name == "kgw-minhash") {
    uint64_t m = UINT64_MAX;
    for (size_t j = i - h; j < i; ++j) {
      bytes.clear();
      put_le32(bytes, static_cast<uint32_t>(tokens[j]));
      m = std::min(m, sip(k.context_k0, k.context_k1, bytes));
    }
    return m;
  }
  return 0;
}

// §4.
inline bool green(const tracemark::scheme& s, uint64_t seed_value, int32_t token) {
  std::vector<uint8_t> bytes;
  put_le64(bytes, seed_value);
  put_le32(bytes, static_cast<uint32_t>(token));
  return sip(s.keys().green_k0, s.keys().green_k1, bytes) < s.green_threshold();
}

// ln P[Binomial(n, p) >= k] by summing every term pmf(j), j = k..n, in log space.
inline double log_tail(int64_t k, int64_t n, long double p) {
  if (k <= 0) return 0.0;
  if (k > n) return -INFINITY;
  std::vector<long double> logs;
  for (int64_t j = k; j <= n; ++j) {
    const long double lj = std::lgamma((long double)n + 1) - std::lgamma((long double)j + 1) -
                           std::lgamma((long double)(n - j) + 1) + (long double)j * std::log(p) +
                           (long double)(n - j) * std::log1p(-p);
    logs.push_back(lj);
  }
  const long double mx = *std::max_element(logs.begin(), logs.end());
  long double sum = 0;
  for (long double l : logs) sum += std::exp(l - mx);
  return static_cast<double>(std::min(0.0L, mx + std::log(sum)));
}

struct result {
  int64_t scored = 0, green = 0, repeat = 0, prompt = 0, no_context = 0;
  std::vector<tracemark::token_mark> trace;
  double log10_p = 0;
};

// §6.1-§6.2.
inline result score(const tracemark::scheme& s, const std::vector<int32_t>& tokens, size_t n_prompt, bool dedup) {
  result r;
  std::set<std::pair<uint64_t, int32_t>> seen;
  const size_t h = static_cast<size_t>(s.context_width());
  for (size_t i = 0; i < tokens.size(); ++i) {
    tracemark::token_mark m;
    if (i < n_prompt) {
      m = tracemark::token_mark::prompt;
      ++r.prompt;
    } else if (i < h) {
      m = tracemark::token_mark::no_context;
      ++r.no_context;
    } else {
      const uint64_t sd = seed(s, tokens, i);
      if (dedup && !seen.insert({sd, tokens[i]}).second) {
        m = tracemark::token_mark::repeat;
        ++r.repeat;
      } else {
        const bool g = green(s, sd, tokens[i]);
        m = g ? tracemark::token_mark::green : tracemark::token_mark::red;
        ++r.scored;
        r.green += g;
      }
    }
    r.trace.push_back(m);
  }
  const long double gamma = std::ldexp((long double)s.green_threshold(), -64);
  r.log10_p = log_tail(r.green, r.scored, gamma) / std::log(10.0);
  return r;
}

}  // namespace reference
