// The audit accumulator: filters, global deduplication, and the scheme's exact test. The
// argument for validity is in docs/AUDIT_DESIGN.md.
#include "tracemark/audit.h"

#include <algorithm>

#include "tracemark/error.h"

namespace tracemark {

std::string_view audit_mode_name(audit_mode m) noexcept {
  switch (m) {
    case audit_mode::reading: return "reading";
    case audit_mode::suspect_url: return "suspect-url";
    case audit_mode::suspect_outputs: return "suspect-outputs";
  }
  return "unknown";
}

std::string_view audit_statistic_name(audit_statistic s) noexcept {
  switch (s) {
    case audit_statistic::sampled: return "sampled";
    case audit_statistic::green_mass: return "green-mass";
  }
  return "unknown";
}

char audit_mark_letter(audit_mark m) noexcept {
  static constexpr char letters[] = {'G', 'r', '=', '.', 'p', 'f', 'c', 'i'};
  const auto i = static_cast<size_t>(m);
  return i < sizeof letters ? letters[i] : '?';
}

audit_accumulator::audit_accumulator(scheme s, audit_options options)
    : scheme_(std::move(s)), options_(options), scored_(1 << 14) {
  if (!(options_.alpha > 0.0 && options_.alpha < 1.0))
    throw error(errc::invalid_argument, "alpha must lie strictly between 0 and 1");
  if (!(options_.confidence > 0.0 && options_.confidence < 1.0))
    throw error(errc::invalid_argument, "confidence must lie strictly between 0 and 1");
  if (options_.statistic == audit_statistic::green_mass) {
    // G(c, v) must be a Bernoulli(gamma) indicator: green lists only.
    const null_distribution& null = scheme_.null();
    if (null.kind() != null_distribution::family::binomial || null.trials_per_tuple() != 1)
      throw error(errc::invalid_argument, "the green-mass statistic needs a green-list scheme");
    mass_.emplace(null.p());
  }
}

void audit_accumulator::add_prompt(std::span<const int32_t> prompt) {
  const int32_t h = scheme_.context_width();
  for (size_t i = static_cast<size_t>(h); i < prompt.size(); ++i)
    prompt_ids_.push_back(scheme_.context_id(prompt.data() + i - static_cast<size_t>(h)));
  prompt_ids_sorted_ = false;
}

namespace {

bool sorted_contains(const std::vector<uint64_t>& v, uint64_t x) { return std::binary_search(v.begin(), v.end(), x); }

}  // namespace

// The filters shared by every mode, after the mode's own: the context index, then the
// global deduplication of (seed, token), then membership. Counts what it drops.
audit_mark audit_accumulator::score_tuple(const int32_t* ctx, uint64_t context_id_value, int32_t token,
                                          contribution& c) {
  if (options_.index && !options_.index->contains(context_id_value)) {
    ++filters_.not_in_index;
    return audit_mark::not_in_index;
  }
  const uint64_t seed = scheme_.seed(ctx, token);
  if (options_.dedup && !scored_.insert(seed, token)) {
    ++filters_.dedup_repeats;
    return audit_mark::repeat;
  }
  const double score = scheme_.score(seed, token);
  c.add(score);
  return score > scheme_.null().mean(1) ? audit_mark::green : audit_mark::red;
}

void audit_accumulator::sort_prompt_ids() {
  if (prompt_ids_sorted_) return;
  std::sort(prompt_ids_.begin(), prompt_ids_.end());
  prompt_ids_.erase(std::unique(prompt_ids_.begin(), prompt_ids_.end()), prompt_ids_.end());
  prompt_ids_sorted_ = true;
}

std::optional<audit_mark> audit_accumulator::black_box_filter(std::span<const int32_t> tokens, int64_t i,
                                                              int64_t n_prompt, uint64_t& context_id_out) {
  if (i < n_prompt) return audit_mark::prompt;
  ++usage_.positions;
  const int32_t h = scheme_.context_width();
  if (i < h) {
    ++filters_.no_context;
    return audit_mark::no_context;
  }
  context_id_out = scheme_.context_id(tokens.data() + i - h);
  if (options_.prompt_filter && !prompt_ids_.empty() && sorted_contains(prompt_ids_, context_id_out)) {
    ++filters_.prompt_context;
    return audit_mark::prompt_context;
  }
  return std::nullopt;
}

void audit_accumulator::require(audit_statistic s, const char* call) const {
  if (options_.statistic != s)
    throw error(errc::invalid_argument, std::string(call) + " needs an accumulator for the " +
                                            std::string(audit_statistic_name(s)) + " statistic");
}

// The black-box modes' walk over one document, whichever the statistic: the filters at every
// position, then `score(context, context id, position, contribution)` where they pass;
// counts, usage, the sample and the trajectory point.
template <class Score>
audit_accumulator::contribution audit_accumulator::score_black_box(std::span<const int32_t> tokens, int64_t n_prompt,
                                                                   std::string_view id, Score&& score) {
  sort_prompt_ids();
  const bool keep = samples_.size() < options_.n_samples;
  std::vector<audit_mark> marks;
  if (keep) marks.reserve(tokens.size());

  const int32_t h = scheme_.context_width();
  contribution c;
  const int64_t n = static_cast<int64_t>(tokens.size());
  for (int64_t i = 0; i < n; ++i) {
    uint64_t cid = 0;
    std::optional<audit_mark> m = black_box_filter(tokens, i, n_prompt, cid);
    if (!m) m = score(tokens.data() + i - h, cid, i, c);
    if (keep) marks.push_back(*m);
  }
  stat_ += c;
  ++usage_.documents;
  usage_.tokens += n;
  usage_.completion_tokens += n - n_prompt;
  if (keep) keep_sample(tokens, {}, n_prompt, id, std::move(marks));
  record_point();
  return c;
}

audit_accumulator::contribution audit_accumulator::add_completion(std::span<const int32_t> tokens, int64_t n_prompt,
                                                                  std::string_view id) {
  require(audit_statistic::sampled, "add_completion");
  if (n_prompt < 0 || n_prompt > static_cast<int64_t>(tokens.size()))
    throw error(errc::invalid_argument, "n_prompt must lie in [0, tokens.size()]");
  return score_black_box(tokens, n_prompt, id, [&](const int32_t* ctx, uint64_t cid, int64_t i, contribution& c) {
    return score_tuple(ctx, cid, tokens[static_cast<size_t>(i)], c);
  });
}

// The green mass of one context's returned distribution (green_mass.h). The context counts
// once in the whole audit (its G(c, v) must be fresh Bernoulli draws), then the index filter
// applies as for tuples.
audit_mark audit_accumulator::score_distribution(const int32_t* ctx, uint64_t context_id_value,
                                                 std::span<const token_probability> top, contribution& c) {
  if (options_.index && !options_.index->contains(context_id_value)) {
    ++filters_.not_in_index;
    return audit_mark::not_in_index;
  }
  if (options_.dedup && !scored_.insert(context_id_value, 0)) {
    ++filters_.dedup_repeats;
    return audit_mark::repeat;
  }
  // Equal tokens are one PRF input: merge them so that each G(c, v) enters once.
  merged_.assign(top.begin(), top.end());
  std::sort(merged_.begin(), merged_.end(),
            [](const token_probability& x, const token_probability& y) { return x.token < y.token; });
  size_t n = 0;
  for (size_t k = 0; k < merged_.size(); ++k) {
    if (n > 0 && merged_[n - 1].token == merged_[k].token) merged_[n - 1].p += merged_[k].p;
    else merged_[n++] = merged_[k];
  }
  double mass = 0.0, green = 0.0;
  for (size_t k = 0; k < n; ++k) {
    const token_probability& t = merged_[k];
    const double p = std::min(t.p, 1.0);
    const bool is_green = scheme_.score(scheme_.seed(ctx, t.token), t.token) > 0.0;
    mass_->add(p, is_green);
    mass += p;
    if (is_green) green += p;
  }
  mass_->end_context();
  c.scored += 1;
  c.score += green;
  return green > mass_->gamma() * mass ? audit_mark::green : audit_mark::red;
}

audit_accumulator::contribution audit_accumulator::add_distributions(
    std::span<const int32_t> tokens, int64_t n_prompt, std::span<const std::vector<token_probability>> top,
    std::string_view id) {
  require(audit_statistic::green_mass, "add_distributions");
  if (n_prompt < 0 || n_prompt > static_cast<int64_t>(tokens.size()))
    throw error(errc::invalid_argument, "n_prompt must lie in [0, tokens.size()]");
  if (static_cast<int64_t>(top.size()) != static_cast<int64_t>(tokens.size()) - n_prompt)
    throw error(errc::invalid_argument, "add_distributions: one distribution per completion token is needed");
  // Checked before anything is counted, so a bad document leaves the accumulator as it was.
  for (const std::vector<token_probability>& d : top) {
    double sum = 0.0;
    for (const token_probability& t : d) {
      if (t.token < 0 || t.token >= scheme_.config().vocab_size)
        throw error(errc::invalid_argument,
                    "add_distributions: token id " + std::to_string(t.token) + " is outside the vocabulary");
      // Servers round their log-probabilities (often to float): a little slack above 1.
      if (!(t.p >= 0.0 && t.p <= 1.0 + 1e-4))
        throw error(errc::invalid_argument, "add_distributions: a probability must lie in [0, 1]");
      sum += t.p;
    }
    if (sum > 1.0 + 1e-4)
      throw error(errc::invalid_argument, "add_distributions: the probabilities of one position sum to more than 1");
  }
  return score_black_box(tokens, n_prompt, id, [&](const int32_t* ctx, uint64_t cid, int64_t i, contribution& c) {
    return score_distribution(ctx, cid, top[static_cast<size_t>(i - n_prompt)], c);
  });
}

audit_accumulator::contribution audit_accumulator::add_reading(std::span<const int32_t> text,
                                                               std::span<const int32_t> predictions, int64_t n_prompt,
                                                               std::string_view id) {
  require(audit_statistic::sampled, "add_reading");
  if (predictions.size() != text.size())
    throw error(errc::invalid_argument, "add_reading: one prediction per text position is needed");
  if (n_prompt < 0 || n_prompt > static_cast<int64_t>(text.size()))
    throw error(errc::invalid_argument, "n_prompt must lie in [0, text.size()]");
  const bool keep = samples_.size() < options_.n_samples;
  std::vector<audit_mark> marks;
  if (keep) marks.reserve(text.size());
  auto mark = [&](audit_mark m) {
    if (keep) marks.push_back(m);
  };

  const int32_t h = scheme_.context_width();
  // Context ids already seen in this text (token 0: the set holds ids, not tuples).
  if (!options_.first_occurrence_global) text_contexts_.clear();
  text_contexts_.reserve(text_contexts_.size() + text.size());

  contribution c;
  const int64_t n = static_cast<int64_t>(text.size());
  for (int64_t i = 0; i < n; ++i) {
    if (i < h) {
      ++usage_.positions;
      ++filters_.no_context;
      mark(audit_mark::no_context);
      continue;
    }
    const int32_t* ctx = text.data() + i - h;
    const uint64_t cid = scheme_.context_id(ctx);
    // Register this context before any filter: a later position with the same context
    // is not a first occurrence, whatever happened here.
    const bool first = text_contexts_.insert(cid, 0);
    const int32_t token = predictions[static_cast<size_t>(i)];
    if (token < 0) {
      mark(audit_mark::no_context);
      continue;
    }
    ++usage_.positions;
    if (options_.first_occurrence && !first) {
      ++filters_.not_first_occurrence;
      mark(audit_mark::not_first_occurrence);
      continue;
    }
    mark(score_tuple(ctx, cid, token, c));
  }
  stat_ += c;
  ++usage_.documents;
  usage_.tokens += n;
  if (keep) keep_sample(text, predictions, n_prompt, id, std::move(marks));
  record_point();
  return c;
}

void audit_accumulator::keep_sample(std::span<const int32_t> tokens, std::span<const int32_t> scored_tokens,
                                    int64_t n_prompt, std::string_view id, std::vector<audit_mark>&& marks) {
  audit_sample s;
  s.id = std::string(id);
  s.n_prompt = n_prompt;
  s.tokens.assign(tokens.begin(), tokens.end());
  s.scored_tokens.assign(scored_tokens.begin(), scored_tokens.end());
  s.marks = std::move(marks);
  samples_.push_back(std::move(s));
}

void audit_accumulator::record_point() {
  // About ten points per factor of ten: enough for a chart, small for any audit size.
  if (stat_.scored < next_curve_at_) return;
  if (options_.statistic == audit_statistic::green_mass) {  // the bound is computed once, in evidence()
    curve_.push_back({stat_.scored, stat_.score, 0.0});
    mass_points_.emplace_back(mass_->n_terms(), mass_->n_contexts());
  } else {
    curve_.push_back({stat_.scored, stat_.score, scheme_.null().test(stat_).log10_p});
  }
  while (next_curve_at_ <= stat_.scored) next_curve_at_ = next_curve_at_ + std::max<int64_t>(1, next_curve_at_ / 4);
}

audit_evidence audit_accumulator::evidence() const {
  audit_evidence e;
  e.scheme = scheme_.config();
  e.null = scheme_.null();
  e.statistic = options_.statistic;
  e.confidence = options_.confidence;
  e.curve = curve_;
  if (options_.statistic == audit_statistic::green_mass) {
    e.green_mass = mass_->result();
    e.test.stat = stat_;
    e.test.z = e.green_mass.z;
    e.test.log10_p = e.green_mass.log10_p;
    e.interval = score_interval{0.0, 1.0};
    for (size_t k = 0; k < mass_points_.size(); ++k) {
      const green_mass_result r = mass_->result(mass_points_[k].first, mass_points_[k].second);
      e.curve[k].log10_p = r.log10_p;
      e.curve[k].mass = r.mass;
    }
  } else {
    e.test = e.null.test(stat_);
    e.interval = e.null.interval(stat_, options_.confidence);
  }
  e.alpha = options_.alpha;
  e.filters = filters_;
  e.usage = usage_;
  if (e.curve.empty() || e.curve.back().scored != stat_.scored)
    e.curve.push_back({stat_.scored, stat_.score, e.test.log10_p, e.green_mass.mass});
  e.samples = samples_;
  if (options_.index) e.index_contexts = static_cast<int64_t>(options_.index->size());
  return e;
}

}  // namespace tracemark
