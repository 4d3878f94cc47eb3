#include "stream_scorer.h"

#include "tracemark/binomial.h"

namespace tracemark::cli {

stream_scorer::stream_scorer(const scheme& s, detect_options options) : scheme_(s), options_(options) { reset(); }

void stream_scorer::reset() {
  seen_.clear();
  context_.clear();
  position_ = n_prompt_ = 0;
  d_ = detection{};
  d_.gamma = scheme_.gamma_effective();
  green_.clear();
  positions_.clear();
}

void stream_scorer::push(int32_t token, bool prompt) {
  const auto h = static_cast<size_t>(scheme_.context_width());
  token_mark mark;
  if (prompt) {
    mark = token_mark::prompt;
    ++d_.n_prompt;
  } else if (context_.size() < h) {
    mark = token_mark::no_context;
    ++d_.n_no_context;
  } else {
    const uint64_t seed = scheme_.seed(context_.data(), token);
    if (options_.dedup && !seen_.insert(seed, token)) {
      mark = token_mark::repeat;
      ++d_.n_repeat;
    } else {
      const bool g = scheme_.green(seed, token);
      mark = g ? token_mark::green : token_mark::red;
      ++d_.n_scored;
      d_.n_green += g;
      if (options_.min_window > 0) {
        green_.push_back(g ? 1 : 0);
        positions_.push_back(position_);
      }
    }
  }
  if (options_.keep_trace) d_.trace.push_back(mark);
  if (h > 0) {
    if (context_.size() == h) context_.erase(context_.begin());
    context_.push_back(token);
  }
  ++position_;
  ++d_.n_tokens;
}

void stream_scorer::add_prompt(std::span<const int32_t> tokens) {
  for (const int32_t t : tokens) push(t, true);
  n_prompt_ += static_cast<int64_t>(tokens.size());
}

void stream_scorer::add(std::span<const int32_t> tokens) {
  for (const int32_t t : tokens) push(t, false);
}

detection stream_scorer::finish() const {
  detection d = d_;
  d.z = green_z_score(d.n_green, d.n_scored, d.gamma);
  d.log10_p = binomial_log10_sf(d.n_green, d.n_scored, d.gamma);
  if (options_.min_window > 0) d.window = best_window(green_, positions_, d.gamma, options_.min_window);
  return d;
}

}  // namespace tracemark::cli
