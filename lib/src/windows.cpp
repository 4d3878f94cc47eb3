// Windowed detection for partly marked texts, docs/SPEC.md §6.3.
#include <algorithm>
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

  // Per length, the window with the most greens (first on ties) has that length's
  // smallest p-value. Across lengths the candidates are ranked by z-score and the exact
  // tail is computed for the top two only: tail evaluations dominate the cost on short
  // texts. Any selection rule keeps the Bonferroni bound valid (SPEC §6.3), and the
  // p-value reported for the chosen window is exact.
  struct candidate_window {
    int64_t len, start, green;
    double z;
  };
  std::vector<candidate_window> per_length;
  int64_t n_windows = 0;
  for (int64_t len = min_window; len <= n; len *= 2) {
    const int64_t stride = len / 2 > 0 ? len / 2 : 1;
    int64_t top_green = -1, top_start = 0;
    for (int64_t start = 0; start + len <= n; start += stride) {
      ++n_windows;
      const int64_t g = prefix[static_cast<size_t>(start + len)] - prefix[static_cast<size_t>(start)];
      if (g > top_green) {
        top_green = g;
        top_start = start;
      }
    }
    per_length.push_back({len, top_start, top_green, green_z_score(top_green, len, gamma)});
    if (len > n / 2) break;  // the next length would exceed n
  }
  std::stable_sort(per_length.begin(), per_length.end(),
                   [](const candidate_window& a, const candidate_window& b) { return a.z > b.z; });
  double best_log10 = 1.0;
  for (size_t k = 0; k < per_length.size() && k < 2; ++k) {
    const candidate_window& c = per_length[k];
    const double lp = binomial_log10_sf(c.green, c.len, gamma);
    if (lp < best_log10) {
      best_log10 = lp;
      best.begin = positions[static_cast<size_t>(c.start)];
      best.end = positions[static_cast<size_t>(c.start + c.len - 1)] + 1;
      best.n_scored = c.len;
      best.n_green = c.green;
    }
  }
  best.found = true;
  best.n_windows = n_windows;
  best.log10_p = best_log10;
  best.log10_p_corrected = std::fmin(0.0, best_log10 + std::log10(static_cast<double>(n_windows)));
  return best;
}

}  // namespace tracemark
