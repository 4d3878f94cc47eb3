// The scoring loop of docs/SPEC.md §6.1, shared by the per-text detector and the
// corpus accumulator (which differ only in what they record per token).
#pragma once
#include <algorithm>
#include <cstdint>
#include <span>

#include "scheme_prf.h"
#include "tracemark/detector.h"
#include "tracemark/tuple_set.h"

namespace tracemark::detail {

// Calls on_token(i, mark) for every position i of `tokens`, in order. Repeated
// (seed, token) tuples are marked `repeat` when `dedup` is set, using `seen`.
template <class OnToken>
inline void score_tokens(const scheme& s, std::span<const int32_t> tokens, int64_t n_prompt, bool dedup,
                         tuple_set& seen, OnToken&& on_token) {
  const prf_keys& keys = s.keys();
  const scheme_kind kind = s.config().kind;
  const int32_t h = s.context_width();
  const uint64_t threshold = s.green_threshold();
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t first_scored = std::max<int64_t>(n_prompt, h);
  for (int64_t i = 0; i < std::min(first_scored, n); ++i)
    on_token(i, i < n_prompt ? token_mark::prompt : token_mark::no_context);
  // Blocks of `block` tokens: first every seed of the block (independent hashes that the
  // CPU overlaps) and a prefetch of its dedup slot, then the in-order pass.
  constexpr int64_t block = 16;
  uint64_t seeds[block];
  for (int64_t start = first_scored; start < n; start += block) {
    const int64_t end = std::min(n, start + block);
    for (int64_t i = start; i < end; ++i) {
      const int32_t token = tokens[static_cast<size_t>(i)];
      seeds[i - start] = scheme_seed(kind, keys, tokens.data() + i - h, h, token);
      if (dedup) seen.prefetch(seeds[i - start], token);
    }
    for (int64_t i = start; i < end; ++i) {
      const int32_t token = tokens[static_cast<size_t>(i)];
      const uint64_t seed = seeds[i - start];
      if (dedup && !seen.insert(seed, token)) {
        on_token(i, token_mark::repeat);
      } else {
        on_token(i, membership_prf(keys, seed, token) < threshold ? token_mark::green : token_mark::red);
      }
    }
  }
}

}  // namespace tracemark::detail
