// The interface every scheme family implements (scheme.h is the public handle). A family
// is registered by name in scheme.cpp; the detectors, accumulators and the encoder only
// talk to this interface, so a new family needs no change anywhere else.
//
// Thread safety: implementations are immutable after construction; every member function
// may be called from any number of threads. Batched calls exist so that the per-token
// virtual call is paid once per block, not per token.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "tracemark/scheme.h"
#include "tracemark/statistics.h"
#include "tracemark/watermarker.h"

namespace tracemark::detail {

// State an encoder keeps for the lifetime of a watermarker and shares between its copies
// and threads (caches); internally synchronised. Created by make_encoder_scratch().
class encoder_scratch {
 public:
  virtual ~encoder_scratch() = default;
};

class scheme_impl {
 public:
  scheme_impl(scheme_config config, std::string_view family, sampling_action action, null_distribution null,
              std::string derivation_info)
      : config_(std::move(config)),
        family_(family),
        action_(action),
        null_(null),
        derivation_info_(std::move(derivation_info)) {}
  virtual ~scheme_impl() = default;
  scheme_impl(const scheme_impl&) = delete;
  scheme_impl& operator=(const scheme_impl&) = delete;

  const scheme_config& config() const noexcept { return config_; }
  std::string_view family() const noexcept { return family_; }
  sampling_action action() const noexcept { return action_; }
  const null_distribution& null() const noexcept { return null_; }
  const std::string& derivation_info() const noexcept { return derivation_info_; }
  int32_t context_width() const noexcept { return config_.context_width; }

  // Seeds of positions [begin, end) of `tokens` (begin >= context_width()): out[i - begin]
  // is the seed of tokens[i] after tokens[i-h .. i-1].
  virtual void seeds(const int32_t* tokens, int64_t begin, int64_t end, uint64_t* out) const noexcept = 0;
  virtual uint64_t context_id(const int32_t* context) const noexcept = 0;
  // Score of the tuple (seed, token). It must depend on nothing else: deduplication treats
  // equal (seed, token) as one trial, and evidence files store only (seed, token).
  virtual double score(uint64_t seed, int32_t token) const noexcept = 0;
  // Scores of n tuples (seeds[k], tokens[k]).
  virtual void scores(const uint64_t* seeds, const int32_t* tokens, size_t n, double* out) const noexcept {
    for (size_t k = 0; k < n; ++k) out[k] = score(seeds[k], tokens[k]);
  }

  // Green-list families: the parameters of §4; null for other families.
  struct green_list_params {
    prf_keys keys;
    uint64_t threshold = 0;
  };
  virtual const green_list_params* green_list() const noexcept { return nullptr; }

  // Encoder of bias_logits families (docs/SPEC.md §5): adds `delta` to the marked candidates
  // among those with logit >= cutoff; returns how many were tested. Never allocates or
  // throws. A choose_token family does not bias (the watermarker refuses it).
  virtual std::shared_ptr<encoder_scratch> make_encoder_scratch() const { return nullptr; }
  virtual size_t bias(const sequence_state& /*state*/, std::span<candidate> /*candidates*/, float /*delta*/,
                      float /*cutoff*/, bool /*sorted_descending*/, encoder_scratch* /*scratch*/) const noexcept {
    return 0;
  }

 private:
  scheme_config config_;
  std::string_view family_;
  sampling_action action_;
  null_distribution null_;
  std::string derivation_info_;
};

}  // namespace tracemark::detail
