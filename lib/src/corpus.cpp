#include "tracemark/corpus.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "score_loop.h"
#include "tracemark/error.h"
#include "tuple_owner_table.h"

namespace tracemark {
namespace {

// score_tokens' set interface over the corpus table: new tuples are owned by one entry.
struct owner_inserter {
  detail::tuple_owner_table& table;
  uint32_t owner;
  bool insert(uint64_t seed, int32_t token) { return table.insert(seed, token, owner); }
  void prefetch(uint64_t seed, int32_t token) const noexcept { table.prefetch(seed, token); }
};

}  // namespace

corpus_accumulator::corpus_accumulator(scheme s, corpus_options options)
    : scheme_(std::move(s)), options_(options) {
  if (options_.dedup) seen_ = std::make_unique<detail::tuple_owner_table>();
}

corpus_accumulator::~corpus_accumulator() = default;
corpus_accumulator::corpus_accumulator(corpus_accumulator&&) noexcept = default;
corpus_accumulator& corpus_accumulator::operator=(corpus_accumulator&&) noexcept = default;

size_t corpus_accumulator::dedup_bytes() const noexcept { return seen_ ? seen_->capacity_bytes() : 0; }

void corpus_accumulator::score_into(std::span<const int32_t> tokens, int64_t n_context, size_t entry) {
  if (seen_ && seen_->sorted())
    throw error(errc::invalid_argument, "corpus_accumulator: documents added after the evidence was saved");
  if (entry > detail::tuple_owner_table::max_owner)
    throw error(errc::invalid_argument, "corpus_accumulator: more than 2^32 - 2 documents in one shard");
  test_statistic& stat = entries_[entry].stat;
  const auto on_token = [&stat](int64_t, token_mark mark, double score) {
    if (mark == token_mark::green || mark == token_mark::red) stat.add(score);
  };
  if (seen_) {
    owner_inserter set{*seen_, static_cast<uint32_t>(entry)};
    detail::score_tokens(scheme_.impl(), tokens, n_context, true, set, on_token);
  } else {
    tuple_set unused(0);
    detail::score_tokens(scheme_.impl(), tokens, n_context, false, unused, on_token);
  }
}

document_contribution corpus_accumulator::add(std::span<const int32_t> tokens, int64_t n_prompt, std::string id) {
  if (n_prompt < 0 || n_prompt > static_cast<int64_t>(tokens.size()))
    throw error(errc::invalid_argument, "corpus_accumulator::add: n_prompt out of range");
  entries_.push_back(corpus_entry{next_document_++, static_cast<int64_t>(tokens.size()) - n_prompt, {}});
  ids_.push_back(std::move(id));
  // §6.1 with one deduplication set shared by the whole corpus.
  score_into(tokens, n_prompt, entries_.size() - 1);
  return contribution(entries_.size() - 1);
}

document_contribution corpus_accumulator::extend(std::span<const int32_t> tokens, int64_t n_context) {
  if (entries_.empty()) throw error(errc::invalid_argument, "corpus_accumulator::extend before any add");
  if (n_context < 0 || n_context > static_cast<int64_t>(tokens.size()))
    throw error(errc::invalid_argument, "corpus_accumulator::extend: n_context out of range");
  entries_.back().n_tokens += static_cast<int64_t>(tokens.size()) - n_context;
  score_into(tokens, n_context, entries_.size() - 1);
  return contribution(entries_.size() - 1);
}

void corpus_accumulator::add_error() {
  ++n_errors_;
  ++next_document_;
}

void corpus_accumulator::continue_document(std::string id) {
  if (!entries_.empty() || n_errors_ > 0)
    throw error(errc::invalid_argument, "corpus_accumulator::continue_document: the shard has documents already");
  // Document number -1: the previous shard's last document (merging resolves it).
  entries_.push_back(corpus_entry{-1, 0, {}});
  ids_.push_back(std::move(id));
  continues_ = true;
}

document_contribution corpus_accumulator::contribution(size_t entry) const {
  const corpus_entry& e = entries_[entry];
  return document_contribution{e.document, ids_[entry], e.n_tokens, scheme_.null().test(e.stat)};
}

corpus_verdict corpus_accumulator::verdict() const {
  return corpus_verdict_of(entries_, ids_, n_errors_, scheme_.null(), options_);
}

corpus_verdict corpus_verdict_of(std::span<const corpus_entry> entries, std::span<const std::string> ids,
                                 int64_t n_errors, const null_distribution& null, const corpus_options& options) {
  if (ids.size() != entries.size()) throw error(errc::invalid_argument, "corpus_verdict_of: one id per entry");
  corpus_verdict v;
  v.n_documents = static_cast<int64_t>(entries.size());
  v.n_errors = n_errors;
  test_statistic total;
  for (const corpus_entry& e : entries) {
    v.n_tokens += e.n_tokens;
    total += e.stat;
  }
  v.test = null.test(total);

  // The mixture is only identifiable when the corpus is clearly marked: on unmarked text
  // EM wanders (q -> gamma makes f arbitrary), so report no marked fraction there.
  const bool green_list = null.kind() == null_distribution::family::binomial && null.trials_per_tuple() == 1;
  v.marked_green_rate = null.mean(1);
  if (green_list && v.test.log10_p <= marked_fraction_min_log10_p) {
    std::vector<int64_t> ns, gs;
    ns.reserve(entries.size());
    gs.reserve(entries.size());
    for (const corpus_entry& e : entries) {
      ns.push_back(e.stat.scored);
      gs.push_back(static_cast<int64_t>(e.stat.score));
    }
    const mixture_fit fit = fit_marked_mixture(ns, gs, null.p());
    v.marked_fraction = fit.marked_fraction;
    v.marked_green_rate = fit.marked_green_rate;
  }

  // The documents with the smallest p-values (ties: earlier first), exact over all entries.
  if (options.n_top_documents > 0) {
    std::vector<std::pair<double, size_t>> ranked;
    ranked.reserve(entries.size());
    std::vector<test_result> tests(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
      tests[i] = null.test(entries[i].stat);
      ranked.emplace_back(tests[i].log10_p, i);
    }
    const size_t k = std::min(options.n_top_documents, ranked.size());
    std::partial_sort(ranked.begin(), ranked.begin() + static_cast<ptrdiff_t>(k), ranked.end());
    for (size_t r = 0; r < k; ++r) {
      const size_t i = ranked[r].second;
      v.top_documents.push_back({entries[i].document, ids[i], entries[i].n_tokens, tests[i]});
    }
  }
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
