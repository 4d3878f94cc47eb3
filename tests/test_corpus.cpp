// Corpus verdict: cross-document dedup, exactness under the null, power when each
// document alone is too short, and the marked-fraction estimate.
#include <doctest/doctest.h>

#include <boost/math/distributions/binomial.hpp>
#include <cmath>

#include "test_helpers.h"
#include "tracemark/corpus.h"
#include "tracemark/error.h"
#include "tracemark/watermarker.h"

using namespace tracemark;
using testing_util::marked_text;
using testing_util::splitmix64;

namespace {

scheme_config config() {
  scheme_config c;
  c.vocab_size = 32000;
  return c;
}

}  // namespace

TEST_CASE("5% marked 10-token documents: each alone undecided, the corpus decided, fraction estimated") {
  splitmix64 rng(1);
  const watermarker wm(testing_util::key_from_seed(1), config(), 2.0f);
  corpus_accumulator acc(wm.get_scheme());
  int marked_in_top = 0, n_marked = 0, docs_alone_detected = 0;
  std::vector<bool> is_marked;
  for (int i = 0; i < 5000; ++i) {
    const bool marked = rng.uniform() < 0.05;
    is_marked.push_back(marked);
    n_marked += marked;
    const auto tokens = marked ? marked_text(wm, rng, 10, 32000) : testing_util::random_tokens(rng, 10, 32000);
    const document_contribution c = acc.add(tokens, 0, "doc-" + std::to_string(i));
    docs_alone_detected += c.test.log10_p < -6;
  }
  const corpus_verdict v = acc.verdict();
  for (const auto& d : v.top_documents) marked_in_top += is_marked[static_cast<size_t>(d.index)];
  // 9 scored tuples per document: even all green gives p = 0.25^9 = 3.8e-6 > 1e-6.
  MESSAGE("corpus: ", n_marked, " of 5000 docs marked; log10 p ", v.test.log10_p, "; estimated fraction ",
          v.marked_fraction, " at green rate ", v.marked_green_rate, "; docs detected alone ", docs_alone_detected,
          "; marked among top 10: ", marked_in_top);
  CHECK(docs_alone_detected == 0);
  CHECK(v.test.log10_p < -10);
  CHECK(v.n_documents == 5000);
  CHECK(v.marked_fraction == doctest::Approx(static_cast<double>(n_marked) / 5000).epsilon(0.5));
  CHECK(v.top_documents.size() == 10);
  CHECK(marked_in_top >= 8);
  for (size_t i = 1; i < v.top_documents.size(); ++i)
    CHECK(v.top_documents[i - 1].test.log10_p <= v.top_documents[i].test.log10_p);
}

TEST_CASE("cross-document dedup: the same boilerplate in every document counts once") {
  splitmix64 rng(2);
  const scheme s(testing_util::key_from_seed(2), config());
  const auto boilerplate = testing_util::random_tokens(rng, 40, 32000);
  corpus_accumulator with(s), without(s, corpus_options{false, 10});
  int64_t sum_scored = 0;
  double sum_green = 0;
  for (int i = 0; i < 300; ++i) {
    auto doc = boilerplate;
    const auto body = testing_util::random_tokens(rng, 20, 32000);
    doc.insert(doc.end(), body.begin(), body.end());
    const auto c = with.add(doc, 0, "");
    without.add(doc, 0, "");
    sum_scored += c.test.stat.scored;
    sum_green += c.test.stat.score;
  }
  const corpus_verdict a = with.verdict(), b = without.verdict();
  CHECK(a.test.stat.scored == sum_scored);  // contributions add up to the corpus totals
  CHECK(a.test.stat.score == sum_green);
  CHECK(a.test.stat.scored < 300 * 21 + 40);  // the boilerplate's 39 tuples were scored once
  CHECK(b.test.stat.scored == 300 * 59);
}

TEST_CASE("a document added in pieces (extend) is one entry, with exactly the whole document's tuples") {
  splitmix64 rng(5);
  const watermarker wm(testing_util::key_from_seed(5), config(), 2.0f);
  const int32_t h = wm.get_scheme().context_width();
  corpus_accumulator whole(wm.get_scheme()), pieces(wm.get_scheme());
  for (int d = 0; d < 6; ++d) {
    const auto doc = d % 2 ? marked_text(wm, rng, 500, 32000) : testing_util::random_tokens(rng, 500, 32000);
    const auto w = whole.add(doc, 3, "doc-" + std::to_string(d));
    // Pieces of random length; each later piece starts with the previous h tokens.
    size_t at = 0, n_pieces = 0;
    document_contribution last;
    while (at < doc.size()) {
      const size_t len = std::min(doc.size() - at, static_cast<size_t>(1 + rng.below(120)));
      if (at == 0) {
        last = pieces.add(std::span(doc).first(len), 3, "doc-" + std::to_string(d));
      } else {
        const size_t from = at - static_cast<size_t>(h);
        last = pieces.extend(std::span(doc).subspan(from, len + static_cast<size_t>(h)), h);
      }
      at += len;
      ++n_pieces;
    }
    CHECK(n_pieces > 2);
    CHECK(last.index == w.index);
    CHECK(last.id == w.id);
    CHECK(last.test.stat.scored == w.test.stat.scored);
    CHECK(last.test.stat.score == w.test.stat.score);
    CHECK(last.test.log10_p == w.test.log10_p);
  }
  const corpus_verdict a = whole.verdict(), b = pieces.verdict();
  CHECK(b.n_documents == 6);
  CHECK(b.n_tokens == a.n_tokens);
  CHECK(b.test.stat.scored == a.test.stat.scored);
  CHECK(b.test.stat.score == a.test.stat.score);
  CHECK(b.test.log10_p == a.test.log10_p);
  REQUIRE(b.top_documents.size() == a.top_documents.size());
  for (size_t i = 0; i < a.top_documents.size(); ++i) {
    CHECK(b.top_documents[i].index == a.top_documents[i].index);
    CHECK(b.top_documents[i].test.stat.scored == a.top_documents[i].test.stat.scored);
  }
  corpus_accumulator empty(wm.get_scheme());
  const std::vector<int32_t> some{1, 2, 3};
  CHECK_THROWS_AS(empty.extend(some, 1), tracemark::error);
}

TEST_CASE("null corpora: corpus p-values are valid") {
  splitmix64 rng(3);
  const int n_corpora = 3000;
  int rejected = 0;
  for (int k = 0; k < n_corpora; ++k) {
    const scheme s(testing_util::key_from_seed(rng.next()), config());
    corpus_accumulator acc(s);
    const auto shared = testing_util::random_tokens(rng, 30, 32000);
    for (int i = 0; i < 20; ++i) {
      auto doc = testing_util::random_tokens(rng, 20, 32000);
      doc.insert(doc.end(), shared.begin(), shared.end());  // overlap between documents
      acc.add(doc, 0, "");
    }
    const corpus_verdict v = acc.verdict();
    rejected += v.test.log10_p <= -2;
    if (v.test.log10_p > marked_fraction_min_log10_p) REQUIRE(v.marked_fraction == 0.0);
  }
  const double upper = boost::math::quantile(
      boost::math::complement(boost::math::binomial_distribution<double>(n_corpora, 0.01), 0.0005));
  MESSAGE("null corpora: ", rejected, " of ", n_corpora, " rejected at 0.01 (99.9% upper bound ", upper, ")");
  CHECK(rejected <= upper);
}

TEST_CASE("mixture fit recovers known parameters and reports nothing on unmarked data") {
  splitmix64 rng(4);
  std::vector<int64_t> ns, gs;
  for (int i = 0; i < 4000; ++i) {
    const bool marked = i % 5 == 0;  // 20%
    const int64_t n = 100;
    int64_t g = 0;
    for (int64_t t = 0; t < n; ++t) g += rng.uniform() < (marked ? 0.6 : 0.25);
    ns.push_back(n);
    gs.push_back(g);
  }
  const mixture_fit fit = fit_marked_mixture(ns, gs, 0.25);
  CHECK(fit.marked_fraction == doctest::Approx(0.2).epsilon(0.1));
  CHECK(fit.marked_green_rate == doctest::Approx(0.6).epsilon(0.05));
  std::vector<int64_t> low(100, 20);
  CHECK(fit_marked_mixture(std::vector<int64_t>(100, 100), low, 0.25).marked_fraction == 0.0);
}
