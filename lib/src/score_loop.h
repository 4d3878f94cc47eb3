// The scoring loop of docs/SPEC.md §6.1, shared by the per-text detector and the
// corpus accumulator (which differ only in what they record per token).
#pragma once
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
  for (int64_t i = 0; i < n; ++i) {
    if (i < n_prompt) {
      on_token(i, token_mark::prompt);
    } else if (i < h) {
      on_token(i, token_mark::no_context);
    } else {
      const int32_t token = tokens[static_cast<size_t>(i)];
      const uint64_t seed = scheme_seed(kind, keys, tokens.data() + i - h, h, token);
      if (dedup && !seen.insert(seed, token)) {
        on_token(i, token_mark::repeat);
      } else {
        on_token(i, membership_prf(keys, seed, token) < threshold ? token_mark::green : token_mark::red);
      }
    }
  }
}

}  // namespace tracemark::detail
