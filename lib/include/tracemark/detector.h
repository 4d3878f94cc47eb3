// The detector on token ids (docs/SPEC.md §6): scores a sequence under a scheme and
// returns its test (sufficient statistics, z, exact p-value), a per-token trace and the best
// window.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "tracemark/export.h"
#include "tracemark/scheme.h"
#include "tracemark/statistics.h"
#include "tracemark/tuple_set.h"

namespace tracemark {

// What happened to one token.
enum class token_mark : uint8_t {
  green,       // scored; green (score above the null mean of one tuple)
  red,         // scored; not green
  repeat,      // skipped: its (seed, token) tuple was already scored
  prompt,      // skipped: part of the given prompt
  no_context,  // skipped: fewer than h tokens before it
};
// One letter per mark for compact traces: G r = p . (in enum order).
TRACEMARK_EXPORT char token_mark_letter(token_mark m) noexcept;

struct detect_options {
  bool dedup = true;          // score each distinct (seed, token) tuple once
  bool keep_trace = true;     // fill detection::trace
  int64_t min_window = 50;    // smallest window, in scored tuples; 0 turns windows off
};

// The best window over the scored tuples (§6.3).
struct window_result {
  bool found = false;          // false when fewer than min_window tuples were scored
  int64_t begin = 0, end = 0;  // token positions [begin, end) in the input
  test_result test;            // of this window alone (uncorrected)
  double log10_p_corrected = 0.0;  // Bonferroni over n_windows: min(0, log10 p + log10 n_windows)
  int64_t n_windows = 0;           // how many windows were tried
};

struct detection {
  int64_t n_tokens = 0;      // all input tokens, prompt included
  int64_t n_repeat = 0;
  int64_t n_prompt = 0;
  int64_t n_no_context = 0;
  test_result test;          // test.stat.scored distinct tuples, test.stat.score their score sum
  std::vector<token_mark> trace;  // one per input token when keep_trace
  window_result window;

  int64_t n_scored() const noexcept { return test.stat.scored; }
  // Green-list schemes: how many scored tuples were green (the score sum).
  int64_t n_green() const noexcept { return static_cast<int64_t>(test.stat.score); }
};

// Thread safety: immutable; score() may be called from many threads at once (each with its
// own tuple_set when the reusing overload is used). Keeps a copy of the scheme handle.
class TRACEMARK_EXPORT detector {
 public:
  explicit detector(scheme s, detect_options options = {});

  // Scores `tokens`; the first n_prompt of them are a prompt: context only, never scored.
  detection score(std::span<const int32_t> tokens, int64_t n_prompt = 0) const;
  // Same, reusing `seen` as the deduplication set (cleared first): no allocation in steady state.
  detection score(std::span<const int32_t> tokens, int64_t n_prompt, tuple_set& seen) const;

  const scheme& get_scheme() const noexcept { return scheme_; }
  const detect_options& options() const noexcept { return options_; }

 private:
  scheme scheme_;
  detect_options options_;
};

// §6.3: windows of L = m, 2m, 4m, ... scored tuples starting at multiples of max(1, L/2);
// returns the window with the smallest p-value and its Bonferroni-corrected p-value.
// scores[i] is the score of the i-th scored tuple, positions[i] its token position.
TRACEMARK_EXPORT window_result best_window(std::span<const double> scores, std::span<const int64_t> positions,
                                           const null_distribution& null, int64_t min_window);

}  // namespace tracemark
