// Windowed detection for partly marked texts, docs/SPEC.md §6.3.
#include <cmath>
#include <vector>

#include "tracemark/binomial.h"
#include "tracemark/detector.h"

namespace tracemark {

window_result best_window(std::span<const uint8_t> green, std::span<const int64_t> positions, double gamma,
                          int64_t min_window) {
  window_result best;
  const int64_t n = static_cast<int64_t>(green.size());
  if (min_window <= 0 || n < min_window) return best;

  std::vector<int64_t> prefix(static_cast<size_t>(n) + 1, 0);  // prefix[i] = greens among the first i
  for (int64_t i = 0; i < n; ++i) prefix[static_cast<size_t>(i) + 1] = prefix[static_cast<size_t>(i)] + green[static_cast<size_t>(i)];

  int64_t n_windows = 0;
  double best_log10 = 1.0;
  for (int64_t len = min_window; len <= n; len *= 2) {
    const int64_t stride = len / 2 > 0 ? len / 2 : 1;
    // Within one length the p-value decreases with the green count, so only the
    // window with the most greens (first one on ties) needs a tail evaluation.
    int64_t top_green = -1, top_start = 0;
    for (int64_t start = 0; start + len <= n; start += stride) {
      ++n_windows;
      const int64_t g = prefix[static_cast<size_t>(start + len)] - prefix[static_cast<size_t>(start)];
      if (g > top_green) {
        top_green = g;
        top_start = start;
      }
    }
    const double lp = binomial_log10_sf(top_green, len, gamma);
    if (lp < best_log10) {
      best_log10 = lp;
      best.begin = positions[static_cast<size_t>(top_start)];
      best.end = positions[static_cast<size_t>(top_start + len - 1)] + 1;
      best.n_scored = len;
      best.n_green = top_green;
    }
    if (len > n / 2) break;  // the next length would exceed n
  }
  best.found = true;
  best.n_windows = n_windows;
  best.log10_p = best_log10;
  best.log10_p_corrected = std::fmin(0.0, best_log10 + std::log10(static_cast<double>(n_windows)));
  return best;
}

}  // namespace tracemark
