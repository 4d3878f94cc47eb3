// Repeated (context, token) tuples (docs/SPEC.md §6.1): on templated, highly repetitive
// unmarked text, counting repeats makes the test invalid; deduplication restores validity.
#include <doctest/doctest.h>

#include <boost/math/distributions/binomial.hpp>

#include "test_helpers.h"
#include "tracemark/detector.h"

using namespace tracemark;

TEST_CASE("templated text: false positives explode without dedup and stay valid with it") {
  const int n_texts = 20000;
  const double alpha = 1e-3;
  scheme_config c;
  c.context_width = 1;
  c.vocab_size = 32000;
  testing_util::splitmix64 rng(42);

  detect_options with, without;
  with.keep_trace = without.keep_trace = false;
  with.min_window = without.min_window = 0;
  without.dedup = false;

  int64_t fp_with = 0, fp_without = 0, scored_with = 0, scored_without = 0;
  tuple_set seen;
  for (int i = 0; i < n_texts; ++i) {
    const scheme s(testing_util::key_from_seed(rng.next()), c);
    // A 30-token template repeated 10 times with one varying slot per repetition:
    // like form letters, lists, or boilerplate.
    const auto templ = testing_util::random_tokens(rng, 30, 32000);
    std::vector<int32_t> text;
    for (int rep = 0; rep < 10; ++rep) {
      text.insert(text.end(), templ.begin(), templ.end());
      text.push_back(static_cast<int32_t>(rng.below(32000)));
    }
    const detection a = detector(s, with).score(text, 0, seen);
    const detection b = detector(s, without).score(text, 0, seen);
    fp_with += a.test.log10_p <= -3.0;
    fp_without += b.test.log10_p <= -3.0;
    scored_with += a.n_scored();
    scored_without += b.n_scored();
  }
  const double upper = boost::math::quantile(
      boost::math::complement(boost::math::binomial_distribution<double>(n_texts, alpha), 0.0005));
  MESSAGE("templated text, ", n_texts, " texts: false positives at 1e-3 without dedup ", fp_without,
          ", with dedup ", fp_with, " (99.9% upper bound for a valid test: ", upper, ")");
  MESSAGE("scored tuples per text: without dedup ", scored_without / n_texts, ", with dedup ", scored_with / n_texts);
  CHECK(fp_without > 50 * alpha * n_texts);  // more than 50x the promised rate
  CHECK(static_cast<double>(fp_with) <= upper);
  CHECK(scored_with < scored_without / 5);
}
