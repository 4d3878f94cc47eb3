// The AVX-512 candidate loops of watermarker::apply() against their scalar versions
// (lib/src/bias_kernels.h): bit-identical logits and tested counts on random arrays of
// every length up to 70 and real vocabulary sizes, with NaN, infinities and signed zeros.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "bias_kernels.h"

using tracemark::candidate;
namespace detail = tracemark::detail;

namespace {

std::vector<candidate> random_candidates(std::mt19937_64& rng, size_t n, bool specials) {
  std::normal_distribution<float> logit(0.0f, 4.0f);
  std::vector<candidate> c(n);
  for (size_t i = 0; i < n; ++i) {
    c[i] = {static_cast<int32_t>(rng() % 200000), logit(rng), static_cast<float>(i)};
    if (specials && rng() % 16 == 0) {
      const float pick[] = {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::infinity(), 0.0f, -0.0f};
      c[i].logit = pick[rng() % 5];
    }
  }
  return c;
}

bool same_bytes(const std::vector<candidate>& a, const std::vector<candidate>& b) {
  if (a.size() != b.size()) return false;
  return a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(candidate)) == 0;  // no memcmp(nullptr)
}

}  // namespace

TEST_CASE("AVX-512 kernels equal the scalar kernels bit for bit") {
  // Without AVX-512 (CPU or build), calling the AVX-512 kernels would be an illegal
  // instruction: the vector side is then the dispatching kernels, which must fall back.
  const bool vector = detail::avx512_kernels_available();
  if (!vector) MESSAGE("this CPU or build has no AVX-512 kernels: the dispatching kernels are compared instead");
  const auto max_vector = [vector](std::span<const candidate> c) {
    return vector ? detail::max_logit_avx512(c) : detail::max_logit(c);
  };
  const auto bias_vector = [vector](const detail::siphash_state& st, uint64_t t, float d, float cut, std::span<candidate> c) {
    return vector ? detail::bias_shared_seed_avx512(st, t, d, cut, c) : detail::bias_shared_seed(st, t, d, cut, c);
  };
  std::mt19937_64 rng(20261129);
  std::vector<size_t> sizes;
  for (size_t n = 0; n <= 70; ++n) sizes.push_back(n);
  for (size_t n : {256u, 512u, 32000u, 128256u, 151936u}) sizes.push_back(n);
  int64_t cases = 0, tested_total = 0, biased_total = 0;
  for (size_t n : sizes)
    for (int rep = 0; rep < 6; ++rep) {
      const bool specials = rep % 2 == 1;
      const std::vector<candidate> pristine = random_candidates(rng, n, specials);
      // The max loop.
      const float m_scalar = detail::max_logit_scalar(pristine);
      const float m_vector = max_vector(pristine);
      CHECK((m_scalar == m_vector || (std::isnan(m_scalar) && std::isnan(m_vector))));
      // The bias loop, with a cutoff anywhere from "all" to "none", random keys and gammas.
      const detail::siphash_state st{rng(), rng(), rng(), rng()};
      const uint64_t threshold = rng() >> (rng() % 4);
      const float cutoff = rep == 0 ? -std::numeric_limits<float>::infinity() : std::normal_distribution<float>(0, 6)(rng);
      const float delta = 0.5f + static_cast<float>(rng() % 100) / 10.0f;
      std::vector<candidate> a = pristine, b = pristine;
      const size_t ta = detail::bias_shared_seed_scalar(st, threshold, delta, cutoff, a);
      const size_t tb = bias_vector(st, threshold, delta, cutoff, b);
      CAPTURE(n);
      CAPTURE(rep);
      CHECK(ta == tb);
      CHECK(same_bytes(a, b));
      size_t changed = 0;
      for (size_t i = 0; i < n; ++i) changed += std::memcmp(&a[i], &pristine[i], sizeof(candidate)) != 0;
      ++cases;
      tested_total += static_cast<int64_t>(ta);
      biased_total += static_cast<int64_t>(changed);
    }
  // The comparison must have exercised both outcomes (a check that cannot fail is no check).
  CHECK(tested_total > 0);
  CHECK(biased_total > 0);
  CHECK(biased_total < tested_total);
  MESSAGE(cases << " arrays, " << tested_total << " candidates tested, " << biased_total << " biased");
}

TEST_CASE("the dispatching kernels agree with the scalar ones above the vector threshold") {
  std::mt19937_64 rng(7);
  std::vector<candidate> a = random_candidates(rng, 2 * detail::vector_min_candidates + 3, true), b = a;
  const detail::siphash_state st{1, 2, 3, 4};
  CHECK(detail::bias_shared_seed(st, uint64_t{1} << 62, 2.0f, -1.0f, a) ==
        detail::bias_shared_seed_scalar(st, uint64_t{1} << 62, 2.0f, -1.0f, b));
  CHECK(same_bytes(a, b));
  CHECK(detail::max_logit(a) == detail::max_logit_scalar(a));
}
