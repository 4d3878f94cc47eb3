// Green-list schemes of format v1 (docs/SPEC.md §3-§4): which tokens are green
// after which context, under a key. Immutable and thread-safe once built.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "tracemark/export.h"
#include "tracemark/key.h"

namespace tracemark {

// How the context selects a green list.
enum class scheme_kind : uint8_t {
  lefthash,  // KGW, seed from the previous h tokens (Kirchenbauer et al. 2023, §2)
  selfhash,  // KGW, seed from the previous h tokens and the candidate itself
  minhash,   // KGW, seed = the minimum of per-token hashes over the previous h tokens
  unigram,   // h = 0: one fixed green list per key (Zhao et al. 2023, "Unigram-Watermark")
};

// "kgw-lefthash", "kgw-selfhash", "kgw-minhash", "unigram".
TRACEMARK_EXPORT std::string_view scheme_kind_name(scheme_kind kind) noexcept;
// Inverse of scheme_kind_name; throws error{invalid_argument} listing the valid names.
TRACEMARK_EXPORT scheme_kind parse_scheme_kind(std::string_view name);

struct scheme_config {
  scheme_kind kind = scheme_kind::lefthash;
  int32_t context_width = 1;  // h: 1..16 for KGW kinds, 0 for unigram
  double gamma = 0.25;        // green fraction, 0 < gamma < 1
  int32_t vocab_size = 0;     // size of the tokenizer's vocabulary, > 0
  std::string account;        // API account id; empty selects the master sub-key
};

// Keys for the two PRF calls of §4, derived from the master key by HKDF (§2).
struct prf_keys {
  uint64_t context_k0 = 0, context_k1 = 0;  // context hash
  uint64_t green_k0 = 0, green_k1 = 0;      // membership
};

class TRACEMARK_EXPORT scheme {
 public:
  static constexpr int32_t max_context_width = 16;

  // Validates the configuration (throws error{invalid_argument}) and derives sub-keys.
  scheme(const key& master, const scheme_config& config);

  const scheme_config& config() const noexcept { return config_; }
  int32_t context_width() const noexcept { return config_.context_width; }
  // T = floor(gamma * 2^64): a token is green iff its PRF output is below T.
  uint64_t green_threshold() const noexcept { return threshold_; }
  // T / 2^64: the exact probability that an unseen tuple is green under the null.
  double gamma_effective() const noexcept;
  // The HKDF info string that domain-separates this configuration (§2). Public.
  const std::string& derivation_info() const noexcept { return info_; }
  const prf_keys& keys() const noexcept { return keys_; }

  // Seed of the membership PRF for `token` after `context` (exactly context_width()
  // tokens, oldest first). Two tuples with equal (seed, token) are the same trial.
  uint64_t seed(const int32_t* context, int32_t token) const noexcept;
  // Membership given a seed: PRF(green key, seed, token) < T.
  bool green(uint64_t seed, int32_t token) const noexcept;
  // Convenience: green(seed(context, token), token). context.size() must equal context_width().
  bool is_green(std::span<const int32_t> context, int32_t token) const;

 private:
  scheme_config config_;
  std::string info_;
  prf_keys keys_;
  uint64_t threshold_ = 0;
};

// Canonical HKDF info string for a configuration (§2); exposed for the spec vectors.
TRACEMARK_EXPORT std::string derivation_info(const scheme_config& config);
// floor(gamma * 2^64); throws error{invalid_argument} unless 0 < gamma < 1.
TRACEMARK_EXPORT uint64_t green_threshold_for(double gamma);

}  // namespace tracemark
