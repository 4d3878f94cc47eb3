// The scoring loop of docs/SPEC.md §6.1, shared by every accumulator (document, stream,
// corpus): they differ only in their deduplication set and in what they record per token.
#pragma once
#include <algorithm>
#include <cstdint>
#include <span>

#include "scheme_impl.h"
#include "tracemark/detector.h"

namespace tracemark::detail {

// The mark of a scored tuple: green when its score is above the null mean of one tuple
// (for green lists: the token is green).
inline token_mark mark_of_score(double score, double null_mean_per_tuple) noexcept {
  return score > null_mean_per_tuple ? token_mark::green : token_mark::red;
}

// Calls on_token(i, mark, score) for every position i of `tokens`, in order (score is 0
// for unscored marks). With `dedup`, a tuple whose (seed, token) is already in `seen`
// (seen.insert returns false) is marked `repeat`. Prompt positions (< n_prompt) are context
// only: they never enter `seen`. `Set` needs insert(seed, token) -> bool and prefetch.
template <class Set, class OnToken>
inline void score_tokens(const scheme_impl& s, std::span<const int32_t> tokens, int64_t n_prompt, bool dedup,
                         Set& seen, OnToken&& on_token) {
  const int32_t h = s.context_width();
  const double mean = s.null().mean(1);
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t first_scored = std::max<int64_t>(n_prompt, h);
  for (int64_t i = 0; i < std::min(first_scored, n); ++i)
    on_token(i, i < n_prompt ? token_mark::prompt : token_mark::no_context, 0.0);
  // Blocks: first every seed of the block in one call (independent hashes that the CPU
  // overlaps) and a prefetch of its dedup slot, then the in-order insertions, then the
  // scores of the tuples new to the set in one call.
  constexpr int64_t block = 64;
  uint64_t seeds[block], fresh_seeds[block];
  int32_t fresh_tokens[block];
  double fresh_scores[block];
  bool fresh[block];
  for (int64_t start = first_scored; start < n; start += block) {
    const int64_t end = std::min(n, start + block);
    const auto count = static_cast<size_t>(end - start);
    s.seeds(tokens.data(), start, end, seeds);
    if (dedup)
      for (size_t k = 0; k < count; ++k) seen.prefetch(seeds[k], tokens[static_cast<size_t>(start) + k]);
    size_t n_fresh = 0;
    for (size_t k = 0; k < count; ++k) {
      const int32_t token = tokens[static_cast<size_t>(start) + k];
      fresh[k] = !dedup || seen.insert(seeds[k], token);
      if (fresh[k]) {
        fresh_seeds[n_fresh] = seeds[k];
        fresh_tokens[n_fresh++] = token;
      }
    }
    s.scores(fresh_seeds, fresh_tokens, n_fresh, fresh_scores);
    size_t f = 0;
    for (size_t k = 0; k < count; ++k) {
      const int64_t i = start + static_cast<int64_t>(k);
      if (!fresh[k]) {
        on_token(i, token_mark::repeat, 0.0);
      } else {
        const double score = fresh_scores[f++];
        on_token(i, mark_of_score(score, mean), score);
      }
    }
  }
}

}  // namespace tracemark::detail
