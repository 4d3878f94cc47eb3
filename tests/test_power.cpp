// Power: text sampled from a synthetic language model through the encoder is detected,
// and the detection rate vs length matches theory for the model's entropy.
#include <doctest/doctest.h>

#include <cmath>

#include "test_helpers.h"
#include "tracemark/binomial.h"
#include "tracemark/detector.h"
#include "tracemark/watermarker.h"

using namespace tracemark;
using testing_util::marked_text;
using testing_util::splitmix64;

namespace {

// Theory (Kirchenbauer et al. 2023, §4, specialised to a uniform m-way choice): with G ~
// Binomial(m, gamma) green candidates, the sampled token is green with probability
//   p1 = E[ G e^delta / (G e^delta + m - G) ],
// independently per step (fresh candidates, fresh contexts). The number of greens among
// n scored tokens is then Binomial(n, p1), and the detection rate at level alpha is
//   P[Binomial(n, p1) >= k*(n)],  k*(n) = min{k : P[Binomial(n, gamma) >= k] <= alpha}.
double green_rate_under_watermark(int m, double gamma, double delta) {
  double p1 = 0;
  for (int g = 0; g <= m; ++g) {
    const double w = std::exp(binomial_log_pmf(g, m, gamma));
    p1 += w * g * std::exp(delta) / (g * std::exp(delta) + (m - g));
  }
  return p1;
}

double theoretical_power(int64_t n, double gamma, double p1, double alpha) {
  int64_t k = 0;
  while (k <= n && binomial_log_sf(k, n, gamma) > std::log(alpha)) ++k;
  return std::exp(binomial_log_sf(k, n, p1));
}

}  // namespace

TEST_CASE("detection rate at p < 1e-6 vs length matches theory (m = 8 candidates, delta = 1)") {
  const int m = 8;
  const double delta = 1.0, alpha = 1e-6;
  scheme_config c;
  c.context_width = 1;
  c.gamma = 0.25;
  c.vocab_size = 32000;
  const double p1 = green_rate_under_watermark(m, c.gamma, delta);
  MESSAGE("entropy ln 8 = 2.08 nats, delta 1, gamma 0.25: expected green rate p1 = ", p1);
  CHECK(p1 > 0.40);
  CHECK(p1 < 0.47);

  splitmix64 rng(2026);
  const int n_seqs = 1000;
  double previous = -1;
  for (size_t len : {size_t{51}, size_t{101}, size_t{151}, size_t{201}, size_t{301}}) {
    int detected = 0;
    double green_sum = 0, scored_sum = 0;
    for (int i = 0; i < n_seqs; ++i) {
      const watermarker wm(testing_util::key_from_seed(rng.next()), c, static_cast<float>(delta));
      const auto tokens = marked_text(wm, rng, len, c.vocab_size, m);
      const detection d = detector(wm.get_scheme()).score(tokens);
      detected += d.test.log10_p < std::log10(alpha);
      green_sum += static_cast<double>(d.n_green());
      scored_sum += static_cast<double>(d.n_scored());
    }
    const double rate = static_cast<double>(detected) / n_seqs;
    const double theory = theoretical_power(static_cast<int64_t>(len) - 1, c.gamma, p1, alpha);
    MESSAGE("length ", len, ": detected ", rate, " (theory ", theory, "), green fraction ", green_sum / scored_sum);
    CHECK(green_sum / scored_sum == doctest::Approx(p1).epsilon(0.02));
    // Binomial standard error <= 0.016 at 1000 runs; allow 3 SE.
    CHECK(std::fabs(rate - theory) < 0.05);
    CHECK(rate >= previous);
    previous = rate;
  }
  CHECK(previous > 0.95);
}

TEST_CASE("low-entropy text carries little signal; more candidates (entropy) raise the green rate") {
  scheme_config c;
  c.vocab_size = 32000;
  const double at2 = green_rate_under_watermark(2, 0.25, 2.0);
  const double at64 = green_rate_under_watermark(64, 0.25, 2.0);
  CHECK(at2 < at64);
  CHECK(green_rate_under_watermark(1, 0.25, 2.0) == doctest::Approx(0.25));  // no choice, no signal
  splitmix64 rng(3);
  const watermarker wm(testing_util::key_from_seed(1), c, 2.0f);
  const auto tokens = marked_text(wm, rng, 20000, c.vocab_size, 64);
  const detection d = detector(wm.get_scheme()).score(tokens);
  CHECK(static_cast<double>(d.n_green()) / static_cast<double>(d.n_scored()) == doctest::Approx(at64).epsilon(0.02));
}
