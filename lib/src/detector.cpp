#include "tracemark/detector.h"

#include <cmath>

#include "score_loop.h"
#include "tracemark/binomial.h"

namespace tracemark {

char token_mark_letter(token_mark m) noexcept {
  switch (m) {
    case token_mark::green: return 'G';
    case token_mark::red: return 'r';
    case token_mark::repeat: return '=';
    case token_mark::prompt: return 'p';
    case token_mark::no_context: return '.';
  }
  return '?';
}

double green_z_score(int64_t n_green, int64_t n_scored, double gamma) noexcept {
  if (n_scored <= 0) return 0.0;
  const double n = static_cast<double>(n_scored);
  return (static_cast<double>(n_green) - n * gamma) / std::sqrt(n * gamma * (1.0 - gamma));
}

detector::detector(const scheme& s, detect_options options) : scheme_(s), options_(options) {}

detection detector::score(std::span<const int32_t> tokens, int64_t n_prompt) const {
  tuple_set seen(options_.dedup ? tokens.size() : 0);
  return score(tokens, n_prompt, seen);
}

detection detector::score(std::span<const int32_t> tokens, int64_t n_prompt, tuple_set& seen) const {
  detection d;
  d.n_tokens = static_cast<int64_t>(tokens.size());
  d.gamma = scheme_.gamma_effective();
  if (n_prompt < 0) n_prompt = 0;
  if (n_prompt > d.n_tokens) n_prompt = d.n_tokens;
  seen.clear();
  if (options_.keep_trace) d.trace.resize(tokens.size());

  const bool want_windows = options_.min_window > 0;
  std::vector<uint8_t> window_green;
  std::vector<int64_t> window_pos;
  if (want_windows) {  // at most one entry per token: grow once, not log(n) times
    window_green.reserve(tokens.size());
    window_pos.reserve(tokens.size());
  }

  detail::score_tokens(scheme_, tokens, n_prompt, options_.dedup, seen, [&](int64_t i, token_mark mark) {
    switch (mark) {
      case token_mark::prompt: ++d.n_prompt; break;
      case token_mark::no_context: ++d.n_no_context; break;
      case token_mark::repeat: ++d.n_repeat; break;
      case token_mark::green:
      case token_mark::red:
        ++d.n_scored;
        d.n_green += mark == token_mark::green;
        if (want_windows) {
          window_green.push_back(mark == token_mark::green);
          window_pos.push_back(i);
        }
        break;
    }
    if (options_.keep_trace) d.trace[static_cast<size_t>(i)] = mark;
  });

  d.z = green_z_score(d.n_green, d.n_scored, d.gamma);
  d.log10_p = binomial_log10_sf(d.n_green, d.n_scored, d.gamma);
  if (want_windows) d.window = best_window(window_green, window_pos, d.gamma, options_.min_window);
  return d;
}

}  // namespace tracemark
