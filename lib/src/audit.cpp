// The audit accumulator (issue 5): filters, global deduplication, the exact test and the
// Clopper-Pearson interval. The argument for validity is in docs/AUDIT_DESIGN.md.
#include "tracemark/audit.h"

#include <algorithm>
#include <boost/math/special_functions/beta.hpp>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "scheme_prf.h"
#include "tracemark/binomial.h"
#include "tracemark/detector.h"
#include "tracemark/error.h"

namespace tracemark {

uint64_t context_id(const scheme& s, const int32_t* context) noexcept {
  const scheme_kind kind = s.config().kind;
  const int32_t h = s.context_width();
  if (kind == scheme_kind::selfhash)  // the lefthash seed of the same context: token-free
    return detail::scheme_seed(scheme_kind::lefthash, s.keys(), context, h, 0);
  return detail::scheme_seed(kind, s.keys(), context, h, 0);
}

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

std::string scheme_description(const scheme_config& c) {
  char gamma[32];
  std::snprintf(gamma, sizeof gamma, "%g", c.gamma);
  std::string s = std::string(scheme_kind_name(c.kind)) + " h=" + std::to_string(c.context_width) +
                  " gamma=" + gamma + " vocab=" + std::to_string(c.vocab_size);
  if (!c.account.empty()) s += " account=" + c.account;
  return s;
}

proportion_interval clopper_pearson(int64_t k, int64_t n, double confidence) {
  if (!(confidence > 0.0 && confidence < 1.0))
    throw error(errc::invalid_argument, "confidence must lie strictly between 0 and 1");
  if (n < 0 || k < 0 || k > n) throw error(errc::invalid_argument, "clopper_pearson needs 0 <= k <= n");
  proportion_interval ci;
  if (n == 0) return ci;
  const double tail = (1.0 - confidence) / 2.0;
  const double kd = static_cast<double>(k), nd = static_cast<double>(n);
  // Lower end: P[Binomial(n, p) >= k] = I_p(k, n-k+1) = tail. Upper: P[Binomial(n, p) <= k] = tail,
  // i.e. I_p(k+1, n-k) = 1 - tail.
  ci.low = k == 0 ? 0.0 : boost::math::ibeta_inv(kd, nd - kd + 1.0, tail);
  ci.high = k == n ? 1.0 : boost::math::ibeta_inv(kd + 1.0, nd - kd, 1.0 - tail);
  return ci;
}

audit_accumulator::audit_accumulator(const scheme& s, audit_options options)
    : scheme_(s), options_(options), scored_(1 << 14) {
  if (!(options_.alpha > 0.0 && options_.alpha < 1.0))
    throw error(errc::invalid_argument, "alpha must lie strictly between 0 and 1");
  if (!(options_.confidence > 0.0 && options_.confidence < 1.0))
    throw error(errc::invalid_argument, "confidence must lie strictly between 0 and 1");
}

void audit_accumulator::add_prompt(std::span<const int32_t> prompt) {
  const int32_t h = scheme_.context_width();
  for (size_t i = static_cast<size_t>(h); i < prompt.size(); ++i)
    prompt_ids_.push_back(context_id(scheme_, prompt.data() + i - static_cast<size_t>(h)));
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
  const uint64_t seed = detail::scheme_seed(scheme_.config().kind, scheme_.keys(), ctx, scheme_.context_width(), token);
  if (options_.dedup && !scored_.insert(seed, token)) {
    ++filters_.dedup_repeats;
    return audit_mark::repeat;
  }
  const bool green = detail::membership_prf(scheme_.keys(), seed, token) < scheme_.green_threshold();
  ++c.scored;
  c.green += green;
  return green ? audit_mark::green : audit_mark::red;
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
    const uint64_t cid = context_id(scheme_, ctx);
    if (filter_prompts && sorted_contains(prompt_ids_, cid)) {
      ++filters_.prompt_context;
      mark(audit_mark::prompt_context);
      continue;
    }
    mark(score_tuple(ctx, cid, tokens[static_cast<size_t>(i)], c));
  }
  n_scored_ += c.scored;
  n_green_ += c.green;
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
    const uint64_t cid = context_id(scheme_, ctx);
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
  n_scored_ += c.scored;
  n_green_ += c.green;
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
  if (n_scored_ < next_curve_at_) return;
  curve_.push_back({n_scored_, n_green_, binomial_log10_sf(n_green_, n_scored_, scheme_.gamma_effective())});
  while (next_curve_at_ <= n_scored_) next_curve_at_ = next_curve_at_ + std::max<int64_t>(1, next_curve_at_ / 4);
}

audit_evidence audit_accumulator::evidence() const {
  audit_evidence e;
  e.scheme = scheme_.config();
  e.scored = n_scored_;
  e.green = n_green_;
  e.gamma = scheme_.gamma_effective();
  e.green_rate = n_scored_ > 0 ? static_cast<double>(n_green_) / static_cast<double>(n_scored_) : 0.0;
  e.confidence = options_.confidence;
  const proportion_interval ci = clopper_pearson(n_green_, n_scored_, options_.confidence);
  e.ci_low = ci.low;
  e.ci_high = ci.high;
  e.z = green_z_score(n_green_, n_scored_, e.gamma);
  e.log10_p = binomial_log10_sf(n_green_, n_scored_, e.gamma);
  e.alpha = options_.alpha;
  e.detected = n_scored_ > 0 && e.log10_p <= std::log10(options_.alpha);
  e.verdict = e.detected ? "radioactive" : "not_detected";
  e.filters = filters_;
  e.usage = usage_;
  e.curve = curve_;
  if (e.curve.empty() || e.curve.back().scored != n_scored_) e.curve.push_back({n_scored_, n_green_, e.log10_p});
  e.samples = samples_;
  if (options_.index) e.index_contexts = static_cast<int64_t>(options_.index->size());
  return e;
}

// ------------------------------------------------------------------ JSON

std::string to_json(const audit_evidence& e, int indent) {
  // ordered_json keeps the documented field order (docs/AUDIT_DESIGN.md §6).
  using json = nlohmann::ordered_json;
  // Non-finite numbers (none are expected) become null, as JSON has no NaN.
  auto number = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  json j;
  j["format"] = "tracemark-audit 1";
  j["mode"] = audit_mode_name(e.mode);
  j["suspect"] = e.suspect;
  j["key_fingerprint"] = e.key_fingerprint;
  j["scheme"] = {{"name", scheme_kind_name(e.scheme.kind)},
                 {"context_width", e.scheme.context_width},
                 {"gamma", e.scheme.gamma},
                 {"vocab_size", e.scheme.vocab_size},
                 {"account", e.scheme.account},
                 {"description", scheme_description(e.scheme)}};
  j["scored"] = e.scored;
  j["green"] = e.green;
  j["gamma"] = number(e.gamma);
  j["green_rate"] = number(e.green_rate);
  j["confidence"] = number(e.confidence);
  j["ci_low"] = number(e.ci_low);
  j["ci_high"] = number(e.ci_high);
  j["z"] = number(e.z);
  j["log10_p"] = number(e.log10_p);
  j["p_value"] = number(std::pow(10.0, e.log10_p));
  j["alpha"] = number(e.alpha);
  j["verdict"] = e.verdict;
  j["detected"] = e.detected;
  j["filters"] = {{"no_context", e.filters.no_context},
                  {"not_first_occurrence", e.filters.not_first_occurrence},
                  {"prompt_context", e.filters.prompt_context},
                  {"not_in_index", e.filters.not_in_index},
                  {"dedup_repeats", e.filters.dedup_repeats}};
  j["index"] = e.index_path.empty() ? json(nullptr) : json{{"path", e.index_path}, {"contexts", e.index_contexts}};
  j["usage"] = {{"documents", e.usage.documents},   {"tokens", e.usage.tokens},
                {"positions", e.usage.positions},   {"queries", e.usage.queries},
                {"cache_hits", e.usage.cache_hits}, {"retries", e.usage.retries},
                {"completion_tokens", e.usage.completion_tokens}};
  json curve = json::array();
  for (const audit_curve_point& p : e.curve)
    curve.push_back({{"scored", p.scored}, {"green", p.green}, {"log10_p", number(p.log10_p)}});
  j["curve"] = std::move(curve);
  json samples = json::array();
  for (const audit_sample& s : e.samples) {
    json one = {{"id", s.id}, {"n_prompt", s.n_prompt}, {"tokens", s.tokens}};
    if (!s.scored_tokens.empty()) one["scored_tokens"] = s.scored_tokens;
    std::string letters;
    letters.reserve(s.marks.size());
    for (audit_mark m : s.marks) letters += audit_mark_letter(m);
    one["marks"] = std::move(letters);
    samples.push_back(std::move(one));
  }
  j["samples"] = std::move(samples);
  // Ids and paths are bytes from the caller; replace invalid UTF-8 instead of throwing.
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

}  // namespace tracemark
