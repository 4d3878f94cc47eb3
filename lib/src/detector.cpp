#include "tracemark/detector.h"

#include "score_loop.h"

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

detector::detector(scheme s, detect_options options) : scheme_(std::move(s)), options_(options) {}

detection detector::score(std::span<const int32_t> tokens, int64_t n_prompt) const {
  tuple_set seen(options_.dedup ? tokens.size() : 0);
  return score(tokens, n_prompt, seen);
}

detection detector::score(std::span<const int32_t> tokens, int64_t n_prompt, tuple_set& seen) const {
  detection d;
  d.n_tokens = static_cast<int64_t>(tokens.size());
  if (n_prompt < 0) n_prompt = 0;
  if (n_prompt > d.n_tokens) n_prompt = d.n_tokens;
  seen.clear();
  if (options_.keep_trace) d.trace.resize(tokens.size());

  const bool want_windows = options_.min_window > 0;
  std::vector<double> window_scores;
  std::vector<int64_t> window_pos;
  if (want_windows) {  // at most one entry per token: grow once, not log(n) times
    window_scores.reserve(tokens.size());
    window_pos.reserve(tokens.size());
  }

  test_statistic stat;
  detail::score_tokens(scheme_.impl(), tokens, n_prompt, options_.dedup, seen,
                       [&](int64_t i, token_mark mark, double score) {
                         switch (mark) {
                           case token_mark::prompt: ++d.n_prompt; break;
                           case token_mark::no_context: ++d.n_no_context; break;
                           case token_mark::repeat: ++d.n_repeat; break;
                           case token_mark::green:
                           case token_mark::red:
                             stat.add(score);
                             if (want_windows) {
                               window_scores.push_back(score);
                               window_pos.push_back(i);
                             }
                             break;
                         }
                         if (options_.keep_trace) d.trace[static_cast<size_t>(i)] = mark;
                       });

  d.test = scheme_.null().test(stat);
  if (want_windows) d.window = best_window(window_scores, window_pos, scheme_.null(), options_.min_window);
  return d;
}

}  // namespace tracemark
