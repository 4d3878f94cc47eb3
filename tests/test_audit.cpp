// The provenance audit's accumulator, filters, interval and index on synthetic data
// (docs/AUDIT_DESIGN.md). The real-model tests are in tests/llama/test_audit_*.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "test_helpers.h"
#include "tracemark/audit.h"
#include "tracemark/binomial.h"
#include "tracemark/detector.h"
#include "tracemark/error.h"
#include "tracemark/evidence.h"

using namespace tracemark;
using testing_util::splitmix64;

namespace {

scheme_config cfg(int32_t h = 1, int32_t vocab = 512, std::string kind = "kgw-lefthash") {
  scheme_config c;
  c.name = kind;
  c.context_width = h;
  c.vocab_size = vocab;
  return c;
}

// A toy language model, independent of any key: after context token c, the next token is
// one of 8 fixed candidates of c with fixed random logits (h = 1 chain over `vocab` states).
struct toy_lm {
  int32_t vocab;
  std::vector<std::array<int32_t, 8>> next;
  std::vector<std::array<double, 8>> logit;
  explicit toy_lm(int32_t v, uint64_t seed) : vocab(v), next(static_cast<size_t>(v)), logit(static_cast<size_t>(v)) {
    splitmix64 rng(seed);
    for (int32_t c = 0; c < v; ++c)
      for (size_t j = 0; j < 8; ++j) {
        next[static_cast<size_t>(c)][j] = static_cast<int32_t>(rng.below(static_cast<uint32_t>(v)));
        logit[static_cast<size_t>(c)][j] = 2.0 * rng.uniform();
      }
  }
  // Generates n tokens after `start`; with a scheme, green candidates get +delta (the
  // watermark, h = 1: the context is the previous token).
  std::vector<int32_t> generate(splitmix64& rng, size_t n, int32_t start, const scheme* marked = nullptr,
                                double delta = 0.0) const {
    std::vector<int32_t> out{start};
    for (size_t t = 1; t < n; ++t) {
      const int32_t c = out.back();
      std::array<double, 8> w{};
      double z = 0;
      for (size_t j = 0; j < 8; ++j) {
        const int32_t v = next[static_cast<size_t>(c)][j];
        double l = logit[static_cast<size_t>(c)][j];
        if (marked && marked->is_green(std::span<const int32_t>(&c, 1), v)) l += delta;
        w[j] = std::exp(l);
        z += w[j];
      }
      double u = rng.uniform() * z;
      int32_t chosen = next[static_cast<size_t>(c)][7];
      for (size_t j = 0; j < 8; ++j)
        if ((u -= w[j]) <= 0) {
          chosen = next[static_cast<size_t>(c)][j];
          break;
        }
      out.push_back(chosen);
    }
    return out;
  }
};

// An untrained "suspect" that copies (induction heads): at position i, if the context
// x_{i-1} occurred earlier in the text, predict the token that followed its latest earlier
// occurrence; otherwise a fixed key-independent guess.
std::vector<int32_t> copying_predictions(const std::vector<int32_t>& x, int32_t vocab) {
  std::vector<int32_t> pred(x.size(), -1);
  std::vector<int64_t> last(static_cast<size_t>(vocab), -1);  // last position where token c was a context
  for (size_t i = 1; i < x.size(); ++i) {
    const int32_t c = x[i - 1];
    const int64_t j = last[static_cast<size_t>(c)];
    pred[i] = j >= 0 ? x[static_cast<size_t>(j) + 1] : static_cast<int32_t>((c * 7 + 3) % vocab);
    last[static_cast<size_t>(c)] = static_cast<int64_t>(i) - 1;
  }
  return pred;
}

// Randomised p-value of an audit (exactly uniform under the null for a discrete test).
double randomized_p(const audit_evidence& e, splitmix64& rng) {
  const double above = std::pow(10.0, binomial_log10_sf(static_cast<int64_t>(e.test.stat.score) + 1, e.test.stat.scored, e.null.p()));
  const double at = std::exp(binomial_log_pmf(static_cast<int64_t>(e.test.stat.score), e.test.stat.scored, e.null.p()));
  return above + rng.uniform() * at;
}

// Checks a set of null p-values: rejections at 0.05 within the 99.9% binomial bound, and KS.
void check_uniform(const std::vector<double>& ps, const char* what) {
  int rejections = 0;
  for (double p : ps) rejections += p <= 0.05;
  const auto n = static_cast<int64_t>(ps.size());
  // Smallest r with P[Binomial(n, 0.05) >= r] <= 1e-3.
  int64_t bound = 0;
  while (binomial_log10_sf(bound, n, 0.05) > -3) ++bound;
  const double d = testing_util::ks_statistic_uniform(ps);
  const double ks_p = testing_util::ks_p_value(d, ps.size());
  MESSAGE(std::string(what), ": ", rejections, "/", n, " rejected at 0.05 (bound < ", bound, "), KS D = ", d, " p = ", ks_p);
  CHECK(rejections < bound);
  CHECK(ks_p > 1e-3);
}

std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("tracemark_test_audit_" + std::to_string(::getpid()) + "_" + name);
}

}  // namespace

TEST_CASE("Clopper-Pearson: closed forms, the defining tail equations, exact coverage") {
  const score_interval none = clopper_pearson(0, 0);
  CHECK(none.low == 0.0);
  CHECK(none.high == 1.0);
  const score_interval zero = clopper_pearson(0, 10);
  CHECK(zero.low == 0.0);
  CHECK(zero.high == doctest::Approx(1.0 - std::pow(0.025, 0.1)).epsilon(1e-12));
  const score_interval all = clopper_pearson(10, 10);
  CHECK(all.low == doctest::Approx(std::pow(0.025, 0.1)).epsilon(1e-12));
  CHECK(all.high == 1.0);
  const score_interval half = clopper_pearson(5, 10);
  CHECK(half.low == doctest::Approx(0.1870860).epsilon(1e-6));  // standard tables
  CHECK(half.high == doctest::Approx(0.8129140).epsilon(1e-6));
  // The ends solve P[Bin(n, low) >= k] = 0.025 and P[Bin(n, high) <= k] = 0.025.
  const score_interval ci = clopper_pearson(2771, 10000, 0.95);
  CHECK(std::exp(binomial_log_sf(2771, 10000, ci.low)) == doctest::Approx(0.025).epsilon(1e-7));
  CHECK(1.0 - std::exp(binomial_log_sf(2772, 10000, ci.high)) == doctest::Approx(0.025).epsilon(1e-7));
  // Exact coverage >= 95% for every p (n = 40, a grid of p).
  const int64_t n = 40;
  std::vector<score_interval> cis;
  for (int64_t k = 0; k <= n; ++k) cis.push_back(clopper_pearson(k, n));
  for (int i = 1; i < 400; ++i) {
    const double p = i / 400.0;
    double cover = 0;
    for (int64_t k = 0; k <= n; ++k)
      if (cis[static_cast<size_t>(k)].low <= p && p <= cis[static_cast<size_t>(k)].high)
        cover += std::exp(binomial_log_pmf(k, n, p));
    REQUIRE(cover >= 0.95 - 1e-9);
  }
  CHECK_THROWS_AS(clopper_pearson(3, 2), tracemark::error);
  CHECK_THROWS_AS(clopper_pearson(1, 2, 1.0), tracemark::error);
}

TEST_CASE("context ids: lefthash = seed; selfhash ignores the candidate; minhash contexts share ids") {
  const key k = testing_util::key_from_seed(3);
  const scheme left(k, cfg(2));
  const int32_t ctx[2] = {5, 9};
  CHECK(left.context_id(ctx) == left.seed(ctx, 1));
  CHECK(left.context_id(ctx) == left.seed(ctx, 400));
  const scheme self(k, cfg(2, 512, "kgw-selfhash"));
  CHECK(self.seed(ctx, 1) != self.seed(ctx, 2));  // the seed depends on the candidate...
  const int32_t other[2] = {9, 5};
  CHECK(self.context_id(ctx) != self.context_id(other));  // ...the context id only on the context
  const scheme minh(k, cfg(2, 512, "kgw-minhash"));
  const int32_t a[2] = {5, 9}, b[2] = {9, 5};
  CHECK(minh.context_id(a) == minh.context_id(b));  // same set of tokens: same min-hash seed
}

TEST_CASE("black box, no filters: the same counts as the detector; global dedup across documents") {
  const key k = testing_util::key_from_seed(4);
  const scheme s(k, cfg(2, 1000));
  splitmix64 rng(9);
  audit_options o;
  o.prompt_filter = false;
  audit_accumulator acc(s, o);
  int64_t scored = 0, green = 0;
  const detector det(s);
  for (int d = 0; d < 20; ++d) {
    const auto t = testing_util::random_tokens(rng, 60, 40);  // small alphabet: many repeats
    const auto c = acc.add_completion(t, 5);
    scored += c.scored;
    green += static_cast<int64_t>(c.score);
    if (d == 0) {  // the first document: exactly the detector's per-text result
      const detection one = det.score(t, 5);
      CHECK(c.scored == one.n_scored());
      CHECK(static_cast<int64_t>(c.score) == one.n_green());
    }
  }
  const audit_evidence e = acc.evidence();
  CHECK(e.test.stat.scored == scored);
  CHECK(static_cast<int64_t>(e.test.stat.score) == green);
  CHECK(e.usage.documents == 20);
  CHECK(e.usage.tokens == 20 * 60);
  CHECK(e.usage.completion_tokens == 20 * 55);
  CHECK(e.filters.no_context == 0);  // n_prompt = 5 >= h
  CHECK(e.filters.dedup_repeats + e.test.stat.scored == 20 * 55);
  CHECK(e.test.stat.scored <= 40 * 40 * 40);  // distinct (context, token) triples at most
  CHECK(e.test.log10_p == doctest::Approx(binomial_log10_sf(green, scored, s.gamma_effective())));
  CHECK((e.test.stat.score / static_cast<double>(e.test.stat.scored)) == doctest::Approx(static_cast<double>(green) / static_cast<double>(scored)));
  CHECK(e.interval.low <= (e.test.stat.score / static_cast<double>(e.test.stat.scored)));
  CHECK((e.test.stat.score / static_cast<double>(e.test.stat.scored)) <= e.interval.high);
}

TEST_CASE("black box null: key-independent completions give uniform p-values over 300 keys") {
  splitmix64 rng(11), urng(12);
  const toy_lm lm(512, 77);
  std::vector<double> ps;
  for (int key_i = 0; key_i < 300; ++key_i) {
    const scheme s(testing_util::key_from_seed(1000 + static_cast<uint64_t>(key_i)), cfg(1));
    audit_accumulator acc(s);
    for (int d = 0; d < 4; ++d) {
      const auto t = lm.generate(rng, 150, static_cast<int32_t>(rng.below(512)));
      acc.add_prompt(std::span<const int32_t>(t).first(10));
      acc.add_completion(t, 10);
    }
    ps.push_back(randomized_p(acc.evidence(), urng));
  }
  check_uniform(ps, "black box null, toy LM, h=1");
}

TEST_CASE("prompt filter: a suspect that copies a marked prompt looks radioactive unless the filter is on") {
  const key k = testing_util::key_from_seed(21);
  const scheme s(k, cfg(1));
  const toy_lm lm(512, 5);
  splitmix64 rng(22);
  audit_options off;
  off.prompt_filter = false;
  audit_accumulator naive(s, off), filtered(s);
  // The prompts are marked text (delta 3); the untrained suspect repeats its prompt verbatim.
  std::vector<std::vector<int32_t>> docs;
  for (int d = 0; d < 20; ++d) {
    const auto prompt = lm.generate(rng, 60, static_cast<int32_t>(rng.below(512)), &s, 3.0);
    std::vector<int32_t> t = prompt;
    t.insert(t.end(), prompt.begin(), prompt.end());
    docs.push_back(std::move(t));
  }
  for (const auto& t : docs) filtered.add_prompt(std::span<const int32_t>(t).first(60));
  for (const auto& t : docs) {
    naive.add_completion(t, 60);
    filtered.add_completion(t, 60);
  }
  const audit_evidence a = naive.evidence(), b = filtered.evidence();
  MESSAGE("copying a marked prompt: without the filter log10 p = ", a.test.log10_p, " (", a.test.stat.scored,
          " tuples); with it ", b.test.stat.scored, " tuples scored, ", b.filters.prompt_context, " dropped");
  CHECK(a.test.log10_p < -10);
  CHECK(a.detected());
  // Every copied context (the boundary one aside) occurs in a prompt: almost nothing is left.
  CHECK(b.filters.prompt_context > 20 * 50);
  CHECK(b.test.stat.scored <= 20 * 2);
  CHECK_FALSE(b.detected());
}

TEST_CASE("reading mode: without the first-occurrence rule a copying model looks radioactive; with it, valid") {
  const toy_lm lm(512, 31);
  splitmix64 rng(32), urng(33);
  std::vector<double> p_rule, p_dedup_only, p_naive;
  for (int key_i = 0; key_i < 200; ++key_i) {
    const scheme s(testing_util::key_from_seed(5000 + static_cast<uint64_t>(key_i)), cfg(1));
    audit_options rule, dedup_only, naive;
    dedup_only.first_occurrence = false;
    naive.first_occurrence = false;
    naive.dedup = false;
    audit_accumulator a(s, rule), b(s, dedup_only), c(s, naive);
    for (int d = 0; d < 3; ++d) {
      // The provider's marked text (delta 2), read by an untrained model that copies.
      const auto x = lm.generate(rng, 300, static_cast<int32_t>(rng.below(512)), &s, 2.0);
      const auto pred = copying_predictions(x, 512);
      a.add_reading(x, pred);
      b.add_reading(x, pred);
      c.add_reading(x, pred);
    }
    p_rule.push_back(randomized_p(a.evidence(), urng));
    p_dedup_only.push_back(randomized_p(b.evidence(), urng));
    p_naive.push_back(randomized_p(c.evidence(), urng));
    if (key_i == 0)
      MESSAGE("key 0: first-occurrence rule ", a.evidence().test.stat.scored, " tuples (", a.evidence().filters.not_first_occurrence,
              " later occurrences dropped), log10 p = ", a.evidence().test.log10_p, "; dedup only log10 p = ",
              b.evidence().test.log10_p, "; naive log10 p = ", c.evidence().test.log10_p);
  }
  auto rejected = [](const std::vector<double>& ps, double alpha) {
    int r = 0;
    for (double p : ps) r += p <= alpha;
    return r;
  };
  MESSAGE("rejections at 1e-3 over 200 keys: rule ", rejected(p_rule, 1e-3), ", dedup only ",
          rejected(p_dedup_only, 1e-3), ", naive ", rejected(p_naive, 1e-3));
  // The invalid variants reject the null for most keys...
  CHECK(rejected(p_dedup_only, 1e-3) > 100);
  CHECK(rejected(p_naive, 1e-3) > 150);
  // ...the rule keeps the test exact.
  check_uniform(p_rule, "reading mode with the first-occurrence rule, copying model");
}

TEST_CASE("reading mode: a student trained on marked text is detected, one trained on unmarked text is not") {
  const toy_lm lm(512, 41);
  const scheme s(testing_util::key_from_seed(42), cfg(1));
  splitmix64 rng(43);
  // Bigram students: counts of (context, next) over 30k tokens of training text.
  auto train = [&](bool marked) {
    std::vector<std::vector<int32_t>> counts(512, std::vector<int32_t>(512, 0));
    for (int d = 0; d < 100; ++d) {
      const auto x = lm.generate(rng, 300, static_cast<int32_t>(rng.below(512)), marked ? &s : nullptr, 2.0);
      for (size_t i = 1; i < x.size(); ++i) ++counts[static_cast<size_t>(x[i - 1])][static_cast<size_t>(x[i])];
    }
    return counts;
  };
  const auto marked_student = train(true), clean_student = train(false);
  auto top1 = [](const std::vector<std::vector<int32_t>>& counts, const std::vector<int32_t>& x) {
    std::vector<int32_t> p(x.size(), -1);
    for (size_t i = 1; i < x.size(); ++i) {
      const auto& row = counts[static_cast<size_t>(x[i - 1])];
      p[i] = static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
    }
    return p;
  };
  audit_accumulator marked_audit(s), clean_audit(s);
  for (int d = 0; d < 20; ++d) {
    const auto x = lm.generate(rng, 300, static_cast<int32_t>(rng.below(512)), &s, 2.0);  // provider's texts
    marked_audit.add_reading(x, top1(marked_student, x));
    clean_audit.add_reading(x, top1(clean_student, x));
  }
  const audit_evidence m = marked_audit.evidence(), c = clean_audit.evidence();
  MESSAGE("bigram students, reading mode: marked log10 p = ", m.test.log10_p, " (green rate ", (m.test.stat.score / static_cast<double>(m.test.stat.scored)), ", ", m.test.stat.scored,
          " tuples); clean log10 p = ", c.test.log10_p, " (green rate ", (c.test.stat.score / static_cast<double>(c.test.stat.scored)), ")");
  CHECK(m.test.log10_p < -6);
  CHECK(m.detected());
  CHECK(c.test.log10_p > -3);
  CHECK(m.interval.low > m.null.p());
}

TEST_CASE("reading mode bookkeeping: predictions must match the text; negative predictions skip") {
  const scheme s(testing_util::key_from_seed(50), cfg(2));
  audit_options o;
  o.n_samples = 1;
  audit_accumulator acc(s, o);
  const std::vector<int32_t> x = {1, 2, 3, 1, 2, 3, 4};
  CHECK_THROWS_AS(acc.add_reading(x, std::vector<int32_t>(3, 0)), tracemark::error);
  std::vector<int32_t> pred = {-1, 7, 8, 9, 10, -1, 12};
  acc.add_reading(x, pred, 0, "doc");
  const audit_evidence e = acc.evidence();
  // Positions 0, 1: no context. 2: (1,2) first. 3: (2,3) first. 4: (3,1) first. 5: skipped
  // (prediction -1), 6: (2,3) again: not a first occurrence.
  CHECK(e.filters.no_context == 2);
  CHECK(e.filters.not_first_occurrence == 1);
  CHECK(e.test.stat.scored == 3);
  REQUIRE(e.samples.size() == 1);
  CHECK(e.samples[0].marks.size() == x.size());
  CHECK(e.samples[0].scored_tokens == pred);
  CHECK(audit_mark_letter(e.samples[0].marks[6]) == 'f');
}

TEST_CASE("index: built from marked outputs, filters contexts, round-trips, refuses another key or scheme") {
  const key k = testing_util::key_from_seed(60), other = testing_util::key_from_seed(61);
  const scheme s(k, cfg(2));
  const std::vector<int32_t> log1 = {1, 5, 6, 7, 8, 9}, log2 = {1, 5, 6, 10, 11};
  context_index idx(k, s);
  idx.add_marked(s, log1, 2);  // prompt {1, 5}: generated positions 2..5, contexts (1,5) (5,6) (6,7) (7,8)
  idx.add_marked(s, log2, 2);  // (1,5) (5,6) (6,10)
  idx.finalize();
  CHECK(idx.size() == 5);
  const int32_t c1[2] = {6, 7}, c2[2] = {8, 9};
  CHECK(idx.contains(s.context_id(c1)));
  CHECK_FALSE(idx.contains(s.context_id(c2)));  // followed by nothing generated

  const auto path = temp_path("idx");
  idx.save(path);
  const context_index back = context_index::load(path, k, s);
  CHECK(back.size() == 5);
  CHECK(back.contains(s.context_id(c1)));
  CHECK(back.fingerprint() == k.fingerprint());
  CHECK_THROWS_WITH_AS(context_index::load(path, other, scheme(other, cfg(2))), doctest::Contains("built for key"),
                       tracemark::error);
  CHECK_THROWS_WITH_AS(context_index::load(path, k, scheme(k, cfg(3))), doctest::Contains("h=2"), tracemark::error);
  scheme_config g = cfg(2);
  g.gamma = 0.5;
  CHECK_THROWS_WITH_AS(context_index::load(path, k, scheme(k, g)), doctest::Contains("gamma=0.25"), tracemark::error);

  // Audit with the index: only contexts in it are scored.
  audit_options o;
  o.index = &back;
  o.prompt_filter = false;
  audit_accumulator acc(s, o);
  acc.add_completion(std::vector<int32_t>{6, 7, 8, 9, 6, 10, 3}, 0);
  // Positions 2..6, contexts (6,7) in, (7,8) in, (8,9) out, (9,6) out, (6,10) in.
  const audit_evidence e = acc.evidence();
  CHECK(e.test.stat.scored == 3);
  CHECK(e.filters.not_in_index == 2);
  CHECK(e.index_contexts == 5);

  // Corruption: truncated body, unsorted ids, bad magic.
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  auto write = [&](const std::string& b) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << b;
  };
  write(bytes.substr(0, bytes.size() - 3));
  CHECK_THROWS_WITH_AS(context_index::load(path, k, s), doctest::Contains("size does not match"), tracemark::error);
  std::string swapped = bytes;
  std::swap_ranges(swapped.end() - 16, swapped.end() - 8, swapped.end() - 8);
  write(swapped);
  CHECK_THROWS_WITH_AS(context_index::load(path, k, s), doctest::Contains("strictly increasing"), tracemark::error);
  write("hello\n\n");
  CHECK_THROWS_WITH_AS(context_index::load(path, k, s), doctest::Contains("first line"), tracemark::error);
  std::filesystem::remove(path);
  CHECK_THROWS_AS(context_index::load(path, k, s), tracemark::error);
}

TEST_CASE("evidence JSON: every field, parseable, numbers exact, samples and curve consistent") {
  const key k = testing_util::key_from_seed(70);
  const scheme s(k, cfg(1));
  const toy_lm lm(512, 71);
  splitmix64 rng(72);
  audit_options o;
  o.n_samples = 2;
  o.alpha = 1e-4;
  audit_accumulator acc(s, o);
  for (int d = 0; d < 30; ++d) {
    const auto t = lm.generate(rng, 200, 3, &s, 3.0);
    acc.add_prompt(std::span<const int32_t>(t).first(4));
    acc.add_completion(t, 4, "doc \"" + std::to_string(d) + "\"\n");
  }
  acc.usage().queries = 30;
  audit_evidence e = acc.evidence();
  e.mode = audit_mode::suspect_url;
  e.suspect = "http://127.0.0.1:1/";
  e.key_fingerprint = k.fingerprint();
  for (int indent : {2, -1}) {
    const std::string text = audit_record_json(e, evidence_params::of(s, k.fingerprint(), 1e-4, true, 0), indent);
    if (indent < 0) CHECK(text.find('\n') == std::string::npos);
    const nlohmann::json j = nlohmann::json::parse(text);
    CHECK(j["format"] == "tracemark-audit 1");
    CHECK(j["mode"] == "suspect-url");
    CHECK(j["key_fingerprint"] == k.fingerprint());
    CHECK(j["scheme"]["name"] == "kgw-lefthash");
    CHECK(j["scheme"]["context_width"] == 1);
    CHECK(j["scheme"]["description"] == "kgw-lefthash h=1 gamma=0.25 vocab=512");
    CHECK(j["scored"].get<int64_t>() == e.test.stat.scored);
    CHECK(j["green"].get<int64_t>() == static_cast<int64_t>(e.test.stat.score));
    CHECK(j["gamma"].get<double>() == e.null.p());
    CHECK(j["green_rate"].get<double>() == (e.test.stat.score / static_cast<double>(e.test.stat.scored)));
    CHECK(j["ci_low"].get<double>() == e.interval.low);
    CHECK(j["ci_high"].get<double>() == e.interval.high);
    CHECK(j["log10_p"].get<double>() == e.test.log10_p);
    CHECK(j["alpha"].get<double>() == 1e-4);
    CHECK(j["verdict"] == "radioactive");
    CHECK(j["detected"] == true);
    for (const char* f : {"no_context", "not_first_occurrence", "prompt_context", "not_in_index", "dedup_repeats"})
      CHECK(j["filters"].contains(f));
    CHECK(j["filters"]["dedup_repeats"].get<int64_t>() == e.filters.dedup_repeats);
    CHECK(j["index"].is_null());
    CHECK(j["usage"]["queries"] == 30);
    CHECK(j["usage"]["documents"] == 30);
    REQUIRE(j["samples"].size() == 2);
    CHECK(j["samples"][0]["id"] == "doc \"0\"\n");
    CHECK(j["samples"][0]["marks"].get<std::string>().size() == 200);
    CHECK(j["samples"][0]["marks"].get<std::string>().substr(0, 4) == "pppp");
    CHECK(j["samples"][0]["tokens"].size() == 200);
    CHECK_FALSE(j["samples"][0].contains("scored_tokens"));
    const auto& curve = j["curve"];
    REQUIRE(curve.size() >= 2);
    for (size_t i = 1; i < curve.size(); ++i) CHECK(curve[i]["scored"] > curve[i - 1]["scored"]);
    CHECK(curve.back()["scored"].get<int64_t>() == e.test.stat.scored);
  }
}
