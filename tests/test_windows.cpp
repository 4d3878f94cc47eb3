// Windowed detection (docs/SPEC.md §6.3): the Bonferroni-corrected best-window p-value is
// conservative, proved by exact enumeration for short sequences and checked by simulation.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "test_helpers.h"
#include "tracemark/binomial.h"
#include "tracemark/detector.h"

using namespace tracemark;

TEST_CASE("exact enumeration: P[corrected p <= alpha] <= alpha for every alpha, n <= 16") {
  int n_configs = 0;
  for (int n : {6, 10, 14, 16}) {
    for (int64_t m : {2, 3, 4}) {
      for (double gamma : {0.25, 0.5}) {
        std::vector<int64_t> pos(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) pos[static_cast<size_t>(i)] = i;
        // Distribution of the corrected p-value over all 2^n green patterns.
        std::vector<std::pair<double, double>> outcomes;  // (corrected p, probability)
        for (uint32_t bits = 0; bits < (1u << n); ++bits) {
          std::vector<double> g(static_cast<size_t>(n));
          int k = 0;
          for (int i = 0; i < n; ++i) k += static_cast<int>(g[static_cast<size_t>(i)] = (bits >> i) & 1);
          const window_result w = best_window(g, pos, null_distribution::binomial(gamma), m);
          REQUIRE(w.found);
          const double prob = std::pow(gamma, k) * std::pow(1 - gamma, n - k);
          outcomes.push_back({std::pow(10.0, w.log10_p_corrected), prob});
        }
        // For every attainable alpha (each distinct corrected p-value, ascending) the
        // probability of rejecting at alpha is at most alpha.
        std::sort(outcomes.begin(), outcomes.end());
        double cumulative = 0;
        for (size_t i = 0; i < outcomes.size(); ++i) {
          cumulative += outcomes[i].second;
          const bool last_of_value = i + 1 == outcomes.size() || outcomes[i + 1].first > outcomes[i].first;
          if (last_of_value) REQUIRE(cumulative <= outcomes[i].first * (1 + 1e-9));
        }
        ++n_configs;
      }
    }
  }
  CHECK(n_configs == 24);
}

TEST_CASE("simulation: corrected window p-values are conservative on null sequences") {
  testing_util::splitmix64 rng(17);
  const int n_seqs = 20000;
  int64_t rejected = 0, rejected_uncorrected = 0;
  std::vector<double> g(1000);
  std::vector<int64_t> pos(1000);
  for (size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<int64_t>(i);
  for (int s = 0; s < n_seqs; ++s) {
    for (auto& x : g) x = rng.uniform() < 0.25 ? 1.0 : 0.0;
    const window_result w = best_window(g, pos, null_distribution::binomial(0.25), 50);
    rejected += w.log10_p_corrected <= -2.0;
    rejected_uncorrected += w.test.log10_p <= -2.0;
  }
  MESSAGE("null, 1000 tuples, 20000 runs at alpha 0.01: corrected ", rejected, ", uncorrected ", rejected_uncorrected);
  CHECK(rejected <= 0.01 * n_seqs);                  // conservative
  CHECK(rejected_uncorrected > 3 * 0.01 * n_seqs);   // and the correction is needed
}

TEST_CASE("a marked passage inside unmarked text is found by its window") {
  // 2000 unmarked tuples with a 200-tuple marked passage (green rate 0.6) in the middle.
  testing_util::splitmix64 rng(5);
  std::vector<double> g(2000);
  std::vector<int64_t> pos(2000);
  for (size_t i = 0; i < g.size(); ++i) {
    pos[i] = static_cast<int64_t>(2 * i + 7);  // scored tuples need not be adjacent tokens
    g[i] = rng.uniform() < ((i >= 900 && i < 1100) ? 0.6 : 0.25) ? 1.0 : 0.0;
  }
  const window_result w = best_window(g, pos, null_distribution::binomial(0.25), 50);
  REQUIRE(w.found);
  CHECK(w.log10_p_corrected < -10);
  CHECK(w.begin >= pos[800]);
  CHECK(w.end <= pos[1199] + 1);
  CHECK(w.n_windows > 100);
  CHECK(w.log10_p_corrected == doctest::Approx(w.test.log10_p + std::log10(static_cast<double>(w.n_windows))));
}

TEST_CASE("fewer scored tuples than the smallest window: no window") {
  std::vector<double> g(10, 1.0);
  std::vector<int64_t> pos(10, 0);
  CHECK_FALSE(best_window(g, pos, null_distribution::binomial(0.25), 50).found);
  CHECK_FALSE(best_window(g, pos, null_distribution::binomial(0.25), 0).found);
}
