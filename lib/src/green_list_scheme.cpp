// The green-list family (green_list_scheme.h): §3 seeds, §4 membership, §5 encoder.
#include "green_list_scheme.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "bias_kernels.h"
#include "green_cache.h"
#include "hkdf.h"
#include "tracemark/error.h"

namespace tracemark::detail {

void validate_green_list_config(const scheme_config& c, green_list_kind kind) {
  green_threshold_for(c.gamma);
  if (c.vocab_size <= 0)
    throw error(errc::invalid_argument, "vocab_size must be positive (got " + std::to_string(c.vocab_size) + ")");
  if (kind == green_list_kind::unigram) {
    if (c.context_width != 0)
      throw error(errc::invalid_argument, "the unigram scheme has context width 0 (got " +
                                              std::to_string(c.context_width) + ")");
  } else if (c.context_width < 1 || c.context_width > scheme::max_context_width) {
    throw error(errc::invalid_argument, c.name + " needs a context width between 1 and " +
                                            std::to_string(scheme::max_context_width) + " (got " +
                                            std::to_string(c.context_width) + ")");
  }
}

green_list_scheme::green_list_scheme(const key& master, const scheme_config& config, green_list_kind kind)
    : scheme_impl(config, kind == green_list_kind::unigram ? "unigram" : "kgw", sampling_action::bias_logits,
                  null_distribution::binomial(static_cast<double>(std::ldexp(
                      static_cast<long double>(green_threshold_for(config.gamma)), -64))),
                  tracemark::derivation_info(config)),
      kind_(kind) {
  params_.threshold = green_threshold_for(config.gamma);
  uint8_t okm[32];
  hkdf_sha256(master.secret().data(), master.secret().size(), format_v1_salt, derivation_info(), okm, sizeof okm);
  params_.keys.context_k0 = load_le64(okm);
  params_.keys.context_k1 = load_le64(okm + 8);
  params_.keys.green_k0 = load_le64(okm + 16);
  params_.keys.green_k1 = load_le64(okm + 24);
  std::fill(std::begin(okm), std::end(okm), uint8_t{0});
}

void green_list_scheme::seeds(const int32_t* tokens, int64_t begin, int64_t end, uint64_t* out) const noexcept {
  const int32_t h = context_width();
  for (int64_t i = begin; i < end; ++i) out[i - begin] = scheme_seed(kind_, params_.keys, tokens + i - h, h, tokens[i]);
}

uint64_t green_list_scheme::context_id(const int32_t* context) const noexcept {
  // For selfhash the seed hashes the candidate too; its token-free identity is the lefthash
  // seed of the same context: two different raw contexts never share a PRF input there.
  const green_list_kind k = kind_ == green_list_kind::selfhash ? green_list_kind::lefthash : kind_;
  return scheme_seed(k, params_.keys, context, context_width(), 0);
}

double green_list_scheme::score(uint64_t seed, int32_t token) const noexcept {
  return membership_prf(params_.keys, seed, token) < params_.threshold ? 1.0 : 0.0;
}

void green_list_scheme::scores(const uint64_t* seeds, const int32_t* tokens, size_t n, double* out) const noexcept {
  for (size_t k = 0; k < n; ++k)
    out[k] = membership_prf(params_.keys, seeds[k], tokens[k]) < params_.threshold ? 1.0 : 0.0;
}

std::shared_ptr<encoder_scratch> green_list_scheme::make_encoder_scratch() const {
  if (kind_ != green_list_kind::selfhash && config().vocab_size <= bitmap_max_vocab)
    return std::make_shared<green_cache>(config().vocab_size);
  return nullptr;
}

size_t green_list_scheme::bias(const sequence_state& state, std::span<candidate> candidates, float delta,
                               float cutoff, bool sorted_descending, encoder_scratch* scratch) const noexcept {
  if (!state.has_full_context()) return 0;
  const prf_keys& keys = params_.keys;
  const int32_t h = context_width();
  const uint64_t threshold = params_.threshold;
  int32_t context[scheme::max_context_width];
  state.copy_context(context);

  if (kind_ == green_list_kind::selfhash) {
    size_t n_tested = 0;
    for (candidate& c : candidates) {
      if (!(c.logit >= cutoff)) {
        if (sorted_descending) break;
        continue;
      }
      ++n_tested;
      const uint64_t s = scheme_seed(kind_, keys, context, h, c.id);
      if (membership_prf(keys, s, c.id) < threshold) c.logit += delta;
    }
    return n_tested;
  }
  // The seed does not depend on the candidate: absorb it once per step (§5.3).
  const uint64_t s = scheme_seed(kind_, keys, context, h, 0);
  const siphash_state after_seed = siphash24_after_seed(green_key(keys), s);
  if (sorted_descending) {  // only the head can reach the cutoff
    size_t head = 0;
    while (head < candidates.size() && candidates[head].logit >= cutoff) ++head;
    candidates = candidates.first(head);
  }
  // The scratch of this family is always its own green_cache (make_encoder_scratch).
  if (auto* cache = static_cast<green_cache*>(scratch)) {
    const int32_t vocab = config().vocab_size;
    uint64_t green[bitmap_max_words];
    if (cache->lookup(s, green)) return bias_from_bitmap(after_seed, threshold, delta, cutoff, candidates, green, vocab);
    // Only a full candidate array (every id once, as llama.cpp passes it) yields the whole
    // green list; recording it costs a SipHash for candidates below the cutoff too.
    if (candidates.size() == static_cast<size_t>(vocab)) {
      std::fill(green, green + cache->words(), uint64_t{0});
      bool complete = false;
      const size_t tested =
          bias_shared_seed_recording(after_seed, threshold, delta, cutoff, candidates, green, vocab, complete);
      if (complete) cache->store(s, green);
      return tested;
    }
  }
  return bias_shared_seed(after_seed, threshold, delta, cutoff, candidates);
}

}  // namespace tracemark::detail
