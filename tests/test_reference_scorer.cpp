// The fast detector agrees exactly with the naive reference scorer of tests/reference/.
#include <doctest/doctest.h>

#include "reference/reference_scorer.h"
#include "test_helpers.h"
#include "tracemark/detector.h"

using namespace tracemark;

namespace {

void compare(const scheme& s, const std::vector<int32_t>& tokens, size_t n_prompt, bool dedup) {
  detect_options opt;
  opt.dedup = dedup;
  opt.min_window = 0;
  const detection fast = detector(s, opt).score(tokens, static_cast<int64_t>(n_prompt));
  const reference::result slow = reference::score(s, tokens, n_prompt, dedup);
  REQUIRE(fast.n_scored() == slow.scored);
  REQUIRE(fast.n_green() == slow.green);
  REQUIRE(fast.n_repeat == slow.repeat);
  REQUIRE(fast.n_prompt == slow.prompt);
  REQUIRE(fast.n_no_context == slow.no_context);
  REQUIRE(fast.trace == slow.trace);
  // Same statistic, two independent tail computations: agree to 1e-9 in log10 p.
  REQUIRE(fast.test.log10_p == doctest::Approx(slow.log10_p).epsilon(1e-9).scale(1.0));
}

}  // namespace

TEST_CASE("fast detector == reference scorer on random inputs, every scheme") {
  testing_util::splitmix64 rng(20261129);
  const char* const kinds[] = {"kgw-lefthash", "kgw-selfhash", "kgw-minhash",
                               "unigram"};
  int n_cases = 0;
  for (int trial = 0; trial < 400; ++trial) {
    scheme_config c;
    c.name = kinds[trial % 4];
    c.context_width = c.name == "unigram" ? 0 : 1 + static_cast<int32_t>(rng.below(6));
    const double gammas[] = {0.1, 0.25, 0.5, 0.75};
    c.gamma = gammas[rng.below(4)];
    // Small vocabularies force repeated tuples, large ones make them rare.
    const uint32_t vocabs[] = {3, 20, 512, 32000};
    c.vocab_size = static_cast<int32_t>(vocabs[rng.below(4)]);
    c.account = trial % 3 == 0 ? "" : "acct-" + std::to_string(trial);
    const scheme s(testing_util::key_from_seed(rng.next()), c);
    const auto tokens = testing_util::random_tokens(rng, 1 + rng.below(600), static_cast<uint32_t>(c.vocab_size));
    const size_t n_prompt = rng.below(4) == 0 ? rng.below(static_cast<uint32_t>(tokens.size())) : 0;
    compare(s, tokens, n_prompt, true);
    compare(s, tokens, n_prompt, false);
    n_cases += 2;
  }
  CHECK(n_cases == 800);
}

TEST_CASE("fast detector == reference scorer on strongly green (marked-like) inputs far in the tail") {
  // Keep only green continuations so that p-values reach far below 1e-300.
  testing_util::splitmix64 rng(7);
  scheme_config c;
  c.context_width = 1;
  c.vocab_size = 32000;
  const scheme s(testing_util::key_from_seed(11), c);
  std::vector<int32_t> tokens{static_cast<int32_t>(rng.below(32000))};
  while (tokens.size() < 1200) {
    const int32_t t = static_cast<int32_t>(rng.below(32000));
    if (s.is_green(std::span<const int32_t>(&tokens.back(), 1), t)) tokens.push_back(t);
  }
  compare(s, tokens, 0, true);
  const detection d = detector(s).score(tokens);
  CHECK(d.n_green() == d.n_scored());
  CHECK(d.test.log10_p < -700.0);  // 1199 greens at gamma 1/4: about 1199 * log10(0.25) = -722
}
