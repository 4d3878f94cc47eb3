#include "tracemark/corpus.h"

#include <algorithm>
#include <cmath>

#include "score_loop.h"
#include "tracemark/binomial.h"
#include "tracemark/error.h"

namespace tracemark {

corpus_accumulator::corpus_accumulator(const scheme& s, corpus_options options)
    : scheme_(s), options_(options), seen_(1 << 16) {}

document_contribution corpus_accumulator::add(std::span<const int32_t> tokens, int64_t n_prompt, std::string id) {
  document_contribution c;
  c.index = static_cast<int64_t>(per_document_.size());
  c.id = std::move(id);
  // §6.1 with one deduplication set shared by the whole corpus.
  detail::score_tokens(scheme_, tokens, n_prompt, options_.dedup, seen_, [&c](int64_t, token_mark mark) {
    c.n_scored += mark == token_mark::green || mark == token_mark::red;
    c.n_green += mark == token_mark::green;
  });
  c.log10_p = binomial_log10_sf(c.n_green, c.n_scored, scheme_.gamma_effective());
  n_tokens_ += static_cast<int64_t>(tokens.size());
  n_scored_ += c.n_scored;
  n_green_ += c.n_green;
  per_document_.push_back({c.n_scored, c.n_green});
  last_id_ = c.id;
  rank(c);
  return c;
}

document_contribution corpus_accumulator::extend(std::span<const int32_t> tokens, int64_t n_context) {
  if (per_document_.empty()) throw error(errc::invalid_argument, "corpus_accumulator::extend before any add");
  if (n_context < 0 || n_context > static_cast<int64_t>(tokens.size()))
    throw error(errc::invalid_argument, "corpus_accumulator::extend: n_context out of range");
  int64_t scored = 0, green = 0;
  detail::score_tokens(scheme_, tokens, n_context, options_.dedup, seen_, [&](int64_t, token_mark mark) {
    scored += mark == token_mark::green || mark == token_mark::red;
    green += mark == token_mark::green;
  });
  n_tokens_ += static_cast<int64_t>(tokens.size()) - n_context;
  n_scored_ += scored;
  n_green_ += green;
  counts& last = per_document_.back();
  last.n_scored += scored;
  last.n_green += green;
  document_contribution c;
  c.index = static_cast<int64_t>(per_document_.size()) - 1;
  c.id = last_id_;
  c.n_scored = last.n_scored;
  c.n_green = last.n_green;
  c.log10_p = binomial_log10_sf(c.n_green, c.n_scored, scheme_.gamma_effective());
  // The document's evidence changed: its place among the top documents too. (When it
  // weakened, a document evicted earlier may deserve the freed slot but is not recalled:
  // the list is exact for single-piece documents.)
  std::erase_if(top_, [&](const document_contribution& t) { return t.index == c.index; });
  rank(c);
  return c;
}

// Keeps top_ sorted by evidence (smallest log10_p first), at most n_top_documents long.
void corpus_accumulator::rank(const document_contribution& c) {
  if (options_.n_top_documents == 0) return;
  auto by_evidence = [](const document_contribution& a, const document_contribution& b) {
    return a.log10_p < b.log10_p || (a.log10_p == b.log10_p && a.index < b.index);
  };
  if (top_.size() < options_.n_top_documents || by_evidence(c, top_.back())) {
    top_.insert(std::upper_bound(top_.begin(), top_.end(), c, by_evidence), c);
    if (top_.size() > options_.n_top_documents) top_.pop_back();
  }
}

corpus_verdict corpus_accumulator::verdict() const {
  corpus_verdict v;
  v.n_documents = static_cast<int64_t>(per_document_.size());
  v.n_tokens = n_tokens_;
  v.n_scored = n_scored_;
  v.n_green = n_green_;
  v.gamma = scheme_.gamma_effective();
  v.z = green_z_score(n_green_, n_scored_, v.gamma);
  v.log10_p = binomial_log10_sf(n_green_, n_scored_, v.gamma);
  std::vector<int64_t> ns, gs;
  ns.reserve(per_document_.size());
  gs.reserve(per_document_.size());
  for (const counts& c : per_document_) {
    ns.push_back(c.n_scored);
    gs.push_back(c.n_green);
  }
  // The mixture is only identifiable when the corpus is clearly marked: on unmarked text
  // EM wanders (q -> gamma makes f arbitrary), so report no marked fraction there.
  v.marked_green_rate = v.gamma;
  if (v.log10_p <= marked_fraction_min_log10_p) {
    const mixture_fit fit = fit_marked_mixture(ns, gs, v.gamma);
    v.marked_fraction = fit.marked_fraction;
    v.marked_green_rate = fit.marked_green_rate;
  }
  v.top_documents = top_;
  return v;
}

// Expectation-maximisation for a two-component binomial mixture (Dempster, Laird & Rubin
// 1977): document i is marked with probability f, then G_i ~ Binomial(n_i, q), q > gamma;
// otherwise G_i ~ Binomial(n_i, gamma). The binomial coefficients cancel in the
// responsibilities, so only the likelihood ratio (q/gamma)^g ((1-q)/(1-gamma))^(n-g) is needed.
mixture_fit fit_marked_mixture(std::span<const int64_t> n_scored, std::span<const int64_t> n_green, double gamma) {
  mixture_fit fit;
  int64_t total_n = 0, total_g = 0;
  for (size_t i = 0; i < n_scored.size(); ++i) {
    total_n += n_scored[i];
    total_g += n_green[i];
  }
  if (total_n == 0) return fit;
  const double overall = static_cast<double>(total_g) / static_cast<double>(total_n);
  if (overall <= gamma) {
    fit.marked_green_rate = gamma;
    return fit;  // no excess green: nothing looks marked
  }
  double f = 0.5, q = std::min(0.999, gamma + 2 * (overall - gamma));
  for (int iter = 0; iter < 500; ++iter) {
    double sum_r = 0, sum_rg = 0, sum_rn = 0;
    const double lq = std::log(q), l1q = std::log1p(-q), lg = std::log(gamma), l1g = std::log1p(-gamma);
    for (size_t i = 0; i < n_scored.size(); ++i) {
      if (n_scored[i] == 0) continue;
      const double g = static_cast<double>(n_green[i]), n = static_cast<double>(n_scored[i]);
      const double log_ratio = g * (lq - lg) + (n - g) * (l1q - l1g) + std::log(f) - std::log1p(-f);
      const double r = log_ratio > 0 ? 1.0 / (1.0 + std::exp(-log_ratio)) : std::exp(log_ratio) / (1.0 + std::exp(log_ratio));
      sum_r += r;
      sum_rg += r * g;
      sum_rn += r * n;
    }
    double n_docs = 0;
    for (int64_t n : n_scored) n_docs += n > 0;
    const double f_new = std::clamp(sum_r / n_docs, 1e-9, 1.0 - 1e-9);
    const double q_new = sum_rn > 0 ? std::clamp(sum_rg / sum_rn, gamma + 1e-9, 1.0 - 1e-9) : q;
    const bool converged = std::fabs(f_new - f) < 1e-10 && std::fabs(q_new - q) < 1e-10;
    f = f_new;
    q = q_new;
    if (converged) break;
  }
  fit.marked_fraction = f;
  fit.marked_green_rate = q;
  return fit;
}

}  // namespace tracemark
