#include "tracemark/watermarker.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "bias_kernels.h"
#include "green_cache.h"
#include "scheme_prf.h"
#include "tracemark/error.h"

namespace tracemark {

sequence_state::sequence_state(int32_t context_width) noexcept
    : width_(context_width < 0 ? 0
                               : (context_width > scheme::max_context_width ? scheme::max_context_width
                                                                           : context_width)) {}

void sequence_state::accept(int32_t token) noexcept {
  if (width_ == 0) return;
  if (n_accepted_ < width_) {
    ring_[static_cast<size_t>(n_accepted_)] = token;
  } else {
    ring_[static_cast<size_t>(head_)] = token;
    head_ = (head_ + 1) % width_;
  }
  ++n_accepted_;
}

void sequence_state::reset() noexcept {
  head_ = 0;
  n_accepted_ = 0;
}

void sequence_state::copy_context(int32_t* out) const noexcept {
  for (int32_t i = 0; i < width_; ++i) out[i] = ring_[static_cast<size_t>((head_ + i) % width_)];
}

watermarker::watermarker(const key& master, const scheme_config& config, float delta)
    : scheme_(master, config), delta_(delta) {
  if (!(delta > 0.0f && delta <= 64.0f))
    throw error(errc::invalid_argument, "delta must lie in (0, 64] (got " + std::to_string(delta) + ")");
  if (scheme_.config().kind != scheme_kind::selfhash && scheme_.config().vocab_size <= detail::bitmap_max_vocab)
    cache_ = std::make_shared<detail::green_cache>(scheme_.config().vocab_size);
}

watermarker::cache_stats watermarker::green_list_cache_stats() const noexcept {
  if (!cache_) return {};
  return {cache_->hits(), cache_->misses()};
}

double watermarker::prune_margin(float delta, size_t n_candidates) noexcept {
  const double n = n_candidates == 0 ? 1.0 : static_cast<double>(n_candidates);
  return std::log(std::expm1(static_cast<double>(delta)) * n / pruning_tv_bound);
}

size_t watermarker::apply(const sequence_state& state, std::span<candidate> candidates,
                          bool sorted_descending) const noexcept {
  if (candidates.empty()) return 0;
  const float max_logit = sorted_descending ? candidates[0].logit : detail::max_logit(candidates);
  if (!(max_logit > -std::numeric_limits<float>::infinity())) return 0;  // all masked (or NaN)
  const double margin = prune_margin(delta_, candidates.size());
  // Rounded down so no candidate that the bound requires is ever skipped.
  const float cutoff = std::nextafter(static_cast<float>(static_cast<double>(max_logit) - margin),
                                      -std::numeric_limits<float>::infinity());
  return bias(state, candidates, cutoff, sorted_descending);
}

size_t watermarker::apply_all(const sequence_state& state, std::span<candidate> candidates) const noexcept {
  return bias(state, candidates, -std::numeric_limits<float>::infinity(), false);
}

size_t watermarker::bias(const sequence_state& state, std::span<candidate> candidates, float cutoff,
                         bool sorted_descending) const noexcept {
  if (!state.has_full_context()) return 0;
  const prf_keys& keys = scheme_.keys();
  const scheme_kind kind = scheme_.config().kind;
  const int32_t h = scheme_.context_width();
  const uint64_t threshold = scheme_.green_threshold();
  int32_t context[scheme::max_context_width];
  state.copy_context(context);

  if (kind == scheme_kind::selfhash) {
    size_t n_tested = 0;
    for (candidate& c : candidates) {
      if (!(c.logit >= cutoff)) {
        if (sorted_descending) break;
        continue;
      }
      ++n_tested;
      const uint64_t s = detail::scheme_seed(kind, keys, context, h, c.id);
      if (detail::membership_prf(keys, s, c.id) < threshold) c.logit += delta_;
    }
    return n_tested;
  }
  // The seed does not depend on the candidate: absorb it once per step (§5.3).
  const uint64_t s = detail::scheme_seed(kind, keys, context, h, 0);
  const detail::siphash_state after_seed = detail::siphash24_after_seed(detail::green_key(keys), s);
  if (sorted_descending) {  // only the head can reach the cutoff
    size_t head = 0;
    while (head < candidates.size() && candidates[head].logit >= cutoff) ++head;
    candidates = candidates.first(head);
  }
  if (cache_) {
    const int32_t vocab = scheme_.config().vocab_size;
    uint64_t green[detail::bitmap_max_words];
    if (cache_->lookup(s, green))
      return detail::bias_from_bitmap(after_seed, threshold, delta_, cutoff, candidates, green, vocab);
    // Only a full candidate array (every id once, as llama.cpp passes it) yields the whole
    // green list; recording it costs a SipHash for candidates below the cutoff too.
    if (candidates.size() == static_cast<size_t>(vocab)) {
      std::fill(green, green + cache_->words(), uint64_t{0});
      bool complete = false;
      const size_t tested =
          detail::bias_shared_seed_recording(after_seed, threshold, delta_, cutoff, candidates, green, vocab, complete);
      if (complete) cache_->store(s, green);
      return tested;
    }
  }
  return detail::bias_shared_seed(after_seed, threshold, delta_, cutoff, candidates);
}

}  // namespace tracemark
