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

audit_accumulator::contribution audit_accumulator::add_completion(std::span<const int32_t> tokens, int64_t n_prompt,
                                                                  std::string_view id) {
  if (n_prompt < 0 || n_prompt > static_cast<int64_t>(tokens.size()))
    throw error(errc::invalid_argument, "n_prompt must lie in [0, tokens.size()]");
  if (!prompt_ids_sorted_) {
    std::sort(prompt_ids_.begin(), prompt_ids_.end());
    prompt_ids_.erase(std::unique(prompt_ids_.begin(), prompt_ids_.end()), prompt_ids_.end());
    prompt_ids_sorted_ = true;
  }
  const bool keep = samples_.size() < options_.n_samples;
  std::vector<audit_mark> marks;
  if (keep) marks.reserve(tokens.size());
  auto mark = [&](audit_mark m) {
    if (keep) marks.push_back(m);
  };

  const int32_t h = scheme_.context_width();
  const bool filter_prompts = options_.prompt_filter && !prompt_ids_.empty();
  contribution c;
  const int64_t n = static_cast<int64_t>(tokens.size());
  for (int64_t i = 0; i < n; ++i) {
    if (i < n_prompt) {
      mark(audit_mark::prompt);
      continue;
    }
    ++usage_.positions;
    if (i < h) {
      ++filters_.no_context;
      mark(audit_mark::no_context);
      continue;
    }
    const int32_t* ctx = tokens.data() + i - h;
    const uint64_t cid = scheme_.context_id(ctx);
    if (filter_prompts && sorted_contains(prompt_ids_, cid)) {
      ++filters_.prompt_context;
      mark(audit_mark::prompt_context);
      continue;
    }
    mark(score_tuple(ctx, cid, tokens[static_cast<size_t>(i)], c));
  }
  stat_ += c;
  ++usage_.documents;
  usage_.tokens += n;
  usage_.completion_tokens += n - n_prompt;
  if (keep) keep_sample(tokens, {}, n_prompt, id, std::move(marks));
  record_point();
  return c;
}

audit_accumulator::contribution audit_accumulator::add_reading(std::span<const int32_t> text,
                                                               std::span<const int32_t> predictions, int64_t n_prompt,
                                                               std::string_view id) {
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
  curve_.push_back({stat_.scored, stat_.score, scheme_.null().test(stat_).log10_p});
  while (next_curve_at_ <= stat_.scored) next_curve_at_ = next_curve_at_ + std::max<int64_t>(1, next_curve_at_ / 4);
}

audit_evidence audit_accumulator::evidence() const {
  audit_evidence e;
  e.scheme = scheme_.config();
  e.null = scheme_.null();
  e.test = e.null.test(stat_);
  e.confidence = options_.confidence;
  e.interval = e.null.interval(stat_, options_.confidence);
  e.alpha = options_.alpha;
  e.filters = filters_;
  e.usage = usage_;
  e.curve = curve_;
  if (e.curve.empty() || e.curve.back().scored != stat_.scored)
    e.curve.push_back({stat_.scored, stat_.score, e.test.log10_p});
  e.samples = samples_;
  if (options_.index) e.index_contexts = static_cast<int64_t>(options_.index->size());
  return e;
}

}  // namespace tracemark
