// Windowed detection for partly marked texts, docs/SPEC.md §6.3.
#include <algorithm>
#include <cmath>
#include <vector>

#include "tracemark/detector.h"

namespace tracemark {

window_result best_window(std::span<const double> scores, std::span<const int64_t> positions,
                          const null_distribution& null, int64_t min_window) {
  window_result best;
  const int64_t n = static_cast<int64_t>(scores.size());
  if (min_window <= 0 || n < min_window) return best;

  // prefix[i] = score sum of the first i tuples (exact for the integer scores of green lists).
  std::vector<double> prefix(static_cast<size_t>(n) + 1, 0.0);
  for (int64_t i = 0; i < n; ++i)
    prefix[static_cast<size_t>(i) + 1] = prefix[static_cast<size_t>(i)] + scores[static_cast<size_t>(i)];

  // Per length, the window with the largest score sum (first on ties) has that length's
  // smallest p-value. Across lengths the candidates are ranked by z-score and the exact
  // tail is computed for the top two only: tail evaluations dominate the cost on short
  // texts. Any selection rule keeps the Bonferroni bound valid (SPEC §6.3), and the
  // p-value reported for the chosen window is exact.
  struct candidate_window {
    int64_t len, start;
    double sum, z;
  };
  std::vector<candidate_window> per_length;
  int64_t n_windows = 0;
  for (int64_t len = min_window; len <= n; len *= 2) {
    const int64_t stride = len / 2 > 0 ? len / 2 : 1;
    double top_sum = -1.0;
    int64_t top_start = 0;
    for (int64_t start = 0; start + len <= n; start += stride) {
      ++n_windows;
      const double s = prefix[static_cast<size_t>(start + len)] - prefix[static_cast<size_t>(start)];
      if (s > top_sum) {
        top_sum = s;
        top_start = start;
      }
    }
    const double z = (top_sum - null.mean(len)) / std::sqrt(null.variance(len));
    per_length.push_back({len, top_start, top_sum, z});
    if (len > n / 2) break;  // the next length would exceed n
  }
  std::stable_sort(per_length.begin(), per_length.end(),
                   [](const candidate_window& a, const candidate_window& b) { return a.z > b.z; });
  bool chosen = false;
  for (size_t k = 0; k < per_length.size() && k < 2; ++k) {
    const candidate_window& c = per_length[k];
    const test_result t = null.test(test_statistic{c.len, c.sum});
    if (!chosen || t.log10_p < best.test.log10_p) {
      chosen = true;
      best.test = t;
      best.begin = positions[static_cast<size_t>(c.start)];
      best.end = positions[static_cast<size_t>(c.start + c.len - 1)] + 1;
    }
  }
  best.found = true;
  best.n_windows = n_windows;
  best.log10_p_corrected =
      std::fmin(0.0, best.test.log10_p + std::log10(static_cast<double>(n_windows)));
  return best;
}

}  // namespace tracemark
