#include "tracemark/watermarker.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "bias_kernels.h"
#include "green_cache.h"
#include "scheme_impl.h"
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
  if (scheme_.action() != sampling_action::bias_logits)
    throw error(errc::invalid_argument, "scheme " + config.name + " chooses tokens itself; it has no logit bias");
  scratch_ = scheme_.impl().make_encoder_scratch();
}

watermarker::cache_stats watermarker::green_list_cache_stats() const noexcept {
  const auto* cache = dynamic_cast<const detail::green_cache*>(scratch_.get());
  if (cache == nullptr) return {};
  return {cache->hits(), cache->misses()};
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
  return scheme_.impl().bias(state, candidates, delta_, cutoff, sorted_descending, scratch_.get());
}

size_t watermarker::apply_all(const sequence_state& state, std::span<candidate> candidates) const noexcept {
  return scheme_.impl().bias(state, candidates, delta_, -std::numeric_limits<float>::infinity(), false,
                             scratch_.get());
}

}  // namespace tracemark
