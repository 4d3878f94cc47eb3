// The scheme-family interface (lib/src/scheme_impl.h) is enough for a scheme whose score
// and null distribution are not the green lists': a test-only Gumbel-max family (Aaronson's
// exponential scores, as in Fernandez et al. 2023, "Three Bricks", §3) defined here, outside
// the library, plugs into the library's detector, stream detector, corpus accumulator,
// evidence files, merge and record writer with no change to any of them. Its tuple score is
// -ln(1 - r), r a keyed uniform of (seed, token); under the null the sum of n scores is
// Gamma(n, 1) (null_distribution::exponential_sum).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <unistd.h>

#include "scheme_impl.h"
#include "siphash.h"
#include "test_helpers.h"
#include "tracemark/corpus.h"
#include "tracemark/corpus_evidence.h"
#include "tracemark/detector.h"
#include "tracemark/evidence.h"
#include "tracemark/statistics.h"
#include "tracemark/stream_detector.h"

using namespace tracemark;
using testing_util::splitmix64;

namespace {

// Gumbel-max watermark, h = 1: r(seed, v) = SipHash(K, seed || v) / 2^64.
class gumbel_test_family final : public detail::scheme_impl {
 public:
  gumbel_test_family(uint64_t k0, uint64_t k1, int32_t vocab)
      : scheme_impl(make_config(vocab), "gumbel-test", sampling_action::choose_token,
                    null_distribution::exponential_sum(), "gumbel-test;h=1"),
        key_{k0, k1} {}

  void seeds(const int32_t* tokens, int64_t begin, int64_t end, uint64_t* out) const noexcept override {
    for (int64_t i = begin; i < end; ++i) out[i - begin] = context_id(tokens + i - 1);
  }
  uint64_t context_id(const int32_t* context) const noexcept override {
    const uint32_t w = static_cast<uint32_t>(context[0]);
    return detail::siphash24_words(key_, &w, 1);
  }
  double uniform(uint64_t seed, int32_t token) const noexcept {
    const uint32_t w[3] = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(token)};
    return (static_cast<double>(detail::siphash24_words(key_, w, 3) >> 11) + 0.5) * 0x1.0p-53;  // (0, 1)
  }
  double score(uint64_t seed, int32_t token) const noexcept override { return -std::log1p(-uniform(seed, token)); }

  // Gumbel-max sampling: argmax_v r_v^(1 / p_v) over the distribution `p`.
  int32_t choose(int32_t previous, const std::vector<double>& p) const {
    const int32_t ctx[1] = {previous};
    const uint64_t s = context_id(ctx);
    int32_t best = 0;
    double best_key = -1;
    for (size_t v = 0; v < p.size(); ++v) {
      if (p[v] <= 0) continue;
      const double k = std::log(uniform(s, static_cast<int32_t>(v))) / p[v];
      if (k > best_key || best_key == -1) {
        best_key = k;
        best = static_cast<int32_t>(v);
      }
    }
    return best;
  }

 private:
  static scheme_config make_config(int32_t vocab) {
    scheme_config c;
    c.name = "gumbel-test";
    c.context_width = 1;
    c.vocab_size = vocab;
    return c;
  }
  detail::siphash_key key_;
};

constexpr int32_t vocab = 2000;

// A key-independent language model: after token c, a distribution over 32 candidates.
std::vector<double> next_distribution(int32_t c) {
  std::vector<double> p(vocab, 0.0);
  splitmix64 rng(static_cast<uint64_t>(c) * 7919 + 1);
  double z = 0;
  for (int j = 0; j < 32; ++j) {
    const auto v = static_cast<size_t>(rng.below(vocab));
    const double w = std::exp(2.0 * rng.uniform());
    p[v] += w;
    z += w;
  }
  for (double& x : p) x /= z;
  return p;
}

// Gumbel-max sampling is deterministic given the context; as the Gumbel schemes do, a
// context that repeats within one generation is sampled normally instead (else the text
// would cycle).
std::vector<int32_t> generate(const gumbel_test_family* marked, splitmix64& rng, size_t n) {
  std::vector<int32_t> out{static_cast<int32_t>(rng.below(vocab))};
  std::vector<bool> seen_context(vocab, false);
  while (out.size() < n) {
    const std::vector<double> p = next_distribution(out.back());
    const bool fresh = !seen_context[static_cast<size_t>(out.back())];
    seen_context[static_cast<size_t>(out.back())] = true;
    if (marked && fresh) {
      out.push_back(marked->choose(out.back(), p));
    } else {
      double u = rng.uniform();
      size_t v = 0;
      while (v + 1 < p.size() && (u -= p[v]) > 0) ++v;
      out.push_back(static_cast<int32_t>(v));
    }
  }
  return out;
}

scheme make_scheme(uint64_t seed) {
  splitmix64 rng(seed);
  return scheme(std::make_shared<const gumbel_test_family>(rng.next(), rng.next(), vocab));
}

}  // namespace

TEST_CASE("gamma null: the log-space tail matches the Poisson sum and stays finite far past 1e-308") {
  const null_distribution g = null_distribution::exponential_sum();
  for (int64_t n : {1, 2, 7, 50, 400}) {
    for (double s : {0.5, 1.0, 3.0, 10.0, 60.0, 300.0, 900.0, 3000.0}) {
      // P[Gamma(n, 1) >= s] = e^-s sum_{j<n} s^j / j!, summed in long double log space.
      long double acc = -INFINITY;
      for (int64_t j = 0; j < n; ++j) {
        const long double t = static_cast<long double>(j) * std::log(static_cast<long double>(s)) -
                              std::lgamma(static_cast<long double>(j) + 1);
        acc = std::max(acc, t) + std::log1p(std::exp(-std::fabs(acc - t)));
      }
      const double want = static_cast<double>(acc - static_cast<long double>(s));
      CAPTURE(n);
      CAPTURE(s);
      CHECK(g.log_sf(n, s) == doctest::Approx(want).epsilon(1e-9).scale(1.0));
    }
  }
  CHECK(g.log_sf(10, 3000.0) < -2900.0);  // far below the double range, still exact
  CHECK(g.log_sf(0, 5.0) == 0.0);
  CHECK(g.log_sf(5, 0.0) == 0.0);
}

TEST_CASE("a Gumbel-max family plugs into the detector: valid p-values on unmarked text, power on marked") {
  detect_options opt;
  opt.keep_trace = false;
  opt.min_window = 0;
  std::vector<double> p_values;
  splitmix64 rng(4242);
  int detected = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const scheme s = make_scheme(1000 + static_cast<uint64_t>(trial));
    CHECK(s.action() == sampling_action::choose_token);
    CHECK(s.null().kind() == null_distribution::family::gamma);
    const detector det(s, opt);
    const detection unmarked = det.score(generate(nullptr, rng, 150), 0);
    p_values.push_back(std::pow(10.0, unmarked.test.log10_p));
    const auto* family = dynamic_cast<const gumbel_test_family*>(&s.impl());
    REQUIRE(family != nullptr);
    const detection marked = det.score(generate(family, rng, 150), 0);
    detected += marked.test.significant(1e-6);
  }
  // The gamma test is continuous: p-values are uniform under the null.
  const double d = testing_util::ks_statistic_uniform(p_values);
  const double ks_p = testing_util::ks_p_value(d, p_values.size());
  MESSAGE("gumbel-test family: unmarked KS p = ", ks_p, "; marked detected at 1e-6: ", detected, " of 400");
  CHECK(ks_p > 1e-3);
  CHECK(detected >= 380);
}

TEST_CASE("a Gumbel-max family: stream pieces, corpus, evidence files, merge and records need no change") {
  const scheme s = make_scheme(77);
  const auto* family = dynamic_cast<const gumbel_test_family*>(&s.impl());
  splitmix64 rng(99);
  std::vector<std::vector<int32_t>> docs;
  for (int i = 0; i < 12; ++i) docs.push_back(generate(i % 3 == 0 ? family : nullptr, rng, 120));
  docs.push_back(docs[3]);  // a duplicate: its tuples count once

  // Stream detector in pieces == detector on the whole.
  detect_options opt;
  opt.min_window = 20;
  const detection whole = detector(s, opt).score(docs[0], 0);
  stream_detector st(s, opt);
  st.add(std::span<const int32_t>(docs[0]).first(50));
  st.add(std::span<const int32_t>(docs[0]).subspan(50));
  const detection pieces = st.finish();
  CHECK(pieces.test.stat.scored == whole.test.stat.scored);
  CHECK(pieces.test.stat.score == whole.test.stat.score);
  CHECK(pieces.window.test.log10_p == whole.window.test.log10_p);

  // One pass vs two shards merged.
  corpus_accumulator all(s), first(s), second(s);
  for (size_t i = 0; i < docs.size(); ++i) {
    all.add(docs[i], 0, "d" + std::to_string(i));
    (i < 6 ? first : second).add(docs[i], 0, "d" + std::to_string(i));
  }
  const corpus_verdict one = all.verdict();
  CHECK(one.test.significant(1e-6));
  CHECK(one.top_documents.front().index % 3 == 0);  // a marked document carries most evidence

  char dir_template[] = "/tmp/tracemark-family-XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  const std::string dir = dir_template;
  const evidence_metadata meta = evidence_metadata::of(s, "test-key", true, std::nullopt);
  save_evidence(first, meta, dir + "/a.tmev");
  save_evidence(second, meta, dir + "/b.tmev");
  const std::vector<std::string> shards{dir + "/a.tmev", dir + "/b.tmev"};
  const corpus_evidence merged = merge_evidence(shards);
  const corpus_verdict m = merged.verdict(corpus_options{});
  CHECK(m.n_documents == one.n_documents);
  CHECK(m.test.stat.scored == one.test.stat.scored);
  // Real-valued scores: subtracting a duplicate may differ from never adding it in the last bits.
  CHECK(m.test.stat.score == doctest::Approx(one.test.stat.score).epsilon(1e-12));
  CHECK(m.test.log10_p == doctest::Approx(one.test.log10_p).epsilon(1e-9));
  std::filesystem::remove_all(dir);

  // The record writer describes the family from its declaration: "score" instead of "green".
  const nlohmann::json record = nlohmann::json::parse(corpus_record_json(one, evidence_params::of(s, "test-key", 1e-6)));
  CHECK(record["corpus"].contains("score"));
  CHECK_FALSE(record["corpus"].contains("green"));
  CHECK(record["corpus"]["params"]["null"] == "gamma");
  CHECK(record["corpus"]["params"]["family"] == "gumbel-test");
}
