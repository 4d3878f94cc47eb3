// The green-list family of format v1 (docs/SPEC.md §2-§5): kgw-lefthash, kgw-selfhash,
// kgw-minhash and unigram. A tuple scores 1 when its token is green, 0 otherwise; the null
// distribution of the sum is Binomial(n, T / 2^64); the encoder adds delta to the logits
// of green candidates.
#pragma once
#include <memory>

#include "scheme_impl.h"
#include "scheme_prf.h"

namespace tracemark::detail {

class green_list_scheme final : public scheme_impl {
 public:
  // Validates `config` (error{invalid_argument}) and derives the sub-keys from `master`.
  green_list_scheme(const key& master, const scheme_config& config, green_list_kind kind);

  green_list_kind kind() const noexcept { return kind_; }

  void seeds(const int32_t* tokens, int64_t begin, int64_t end, uint64_t* out) const noexcept override;
  uint64_t context_id(const int32_t* context) const noexcept override;
  double score(uint64_t seed, int32_t token) const noexcept override;
  void scores(const uint64_t* seeds, const int32_t* tokens, size_t n, double* out) const noexcept override;
  const green_list_params* green_list() const noexcept override { return &params_; }

  std::shared_ptr<encoder_scratch> make_encoder_scratch() const override;
  size_t bias(const sequence_state& state, std::span<candidate> candidates, float delta, float cutoff,
              bool sorted_descending, encoder_scratch* scratch) const noexcept override;

 private:
  green_list_kind kind_;
  green_list_params params_;
};

// Checks a green-list configuration (gamma, vocabulary, context width for `kind`).
void validate_green_list_config(const scheme_config& config, green_list_kind kind);

}  // namespace tracemark::detail
