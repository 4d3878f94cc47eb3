// Schemes: which (context, token) tuples a key marks, how marking acts on sampling, and
// how evidence is scored (docs/SPEC.md §2-§6). A scheme is chosen by name from a registry
// of families, as sentencepiece registers model types behind one interface: each family
// declares its sampling action, its per-tuple score and the null distribution of the score
// sum, and every detector, accumulator and record writer works from that declaration.
//
// Ownership and threads: a `scheme` is a cheap handle to an immutable implementation that
// its copies share (std::shared_ptr). Every const member function may be called from any
// number of threads at once. Objects that keep a scheme (detector, stream_detector,
// corpus_accumulator, audit_accumulator, watermarker) keep a copy of the handle, so the
// scheme they were given may be destroyed first.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "tracemark/export.h"
#include "tracemark/key.h"
#include "tracemark/statistics.h"

namespace tracemark {

namespace detail {
class scheme_impl;
}

// How a scheme acts on sampling.
enum class sampling_action : uint8_t {
  bias_logits,   // adds a bias to chosen candidates' logits; the engine samples as usual (green lists)
  choose_token,  // the scheme picks the token from the distribution itself (Gumbel-max, tournament)
};
// "bias_logits" or "choose_token" (the names used in evidence records).
TRACEMARK_EXPORT std::string_view sampling_action_name(sampling_action a) noexcept;

struct scheme_config {
  std::string name = "kgw-lefthash";  // a registered scheme (registered_schemes())
  int32_t context_width = 1;          // h: 1..16 for the kgw-* schemes, 0 for unigram
  double gamma = 0.25;                // green fraction, 0 < gamma < 1
  int32_t vocab_size = 0;             // size of the tokenizer's vocabulary, > 0
  std::string account;                // API account id (any bytes); empty selects the master sub-key
};

// One entry of the registry.
struct scheme_info {
  std::string_view name;         // what users type: "kgw-lefthash"
  std::string_view family;       // "kgw", "unigram"
  std::string_view description;  // one line, for --help
  int32_t default_context_width;
};
// Every scheme this build knows, in a fixed order.
TRACEMARK_EXPORT std::span<const scheme_info> registered_schemes() noexcept;
// The entry named `name`, or null.
TRACEMARK_EXPORT const scheme_info* find_scheme(std::string_view name) noexcept;
// "kgw-lefthash, kgw-selfhash, kgw-minhash, unigram" (for messages).
TRACEMARK_EXPORT std::string scheme_name_list();

// Keys for the two PRF calls of the green-list schemes (§4), derived by HKDF (§2).
struct prf_keys {
  uint64_t context_k0 = 0, context_k1 = 0;  // context hash
  uint64_t green_k0 = 0, green_k1 = 0;      // membership
};

class TRACEMARK_EXPORT scheme {
 public:
  static constexpr int32_t max_context_width = 16;

  // Looks `config.name` up in the registry, validates the configuration and derives the
  // sub-keys. Throws error{invalid_argument} naming the problem (an unknown name lists the
  // valid ones). `master` is not kept.
  scheme(const key& master, const scheme_config& config);
  // Wraps an implementation made elsewhere (the registry's factories, tests' own families).
  explicit scheme(std::shared_ptr<const detail::scheme_impl> impl);

  const scheme_config& config() const noexcept;
  std::string_view family() const noexcept;
  sampling_action action() const noexcept;
  // The distribution of the sum of n scored tuples' scores for text independent of the key.
  const null_distribution& null() const noexcept;
  int32_t context_width() const noexcept { return config().context_width; }
  // The HKDF info string that domain-separates this configuration (§2). Public.
  const std::string& derivation_info() const noexcept;

  // §6.1 one tuple at a time (the accumulators use the batched calls of scheme_impl).
  // `context` holds exactly context_width() tokens, oldest first. Two tuples with equal
  // (seed, token) are the same trial: deduplication keys on them.
  uint64_t seed(const int32_t* context, int32_t token) const noexcept;
  // The identity of a context for the audit's filters: two contexts with the same id give
  // the same PRF inputs for every candidate (docs/AUDIT_DESIGN.md §3).
  uint64_t context_id(const int32_t* context) const noexcept;
  // The score of the tuple (seed, token): for green lists 1 when green, else 0.
  double score(uint64_t seed, int32_t token) const noexcept;

  // Green-list schemes only (every scheme of format v1); error{invalid_argument} otherwise.
  // Membership given a seed: PRF(green key, seed, token) < T.
  bool green(uint64_t seed, int32_t token) const;
  // green(seed(context, token), token); context.size() must equal context_width().
  bool is_green(std::span<const int32_t> context, int32_t token) const;
  // T = floor(gamma * 2^64): a token is green iff its PRF output is below T.
  uint64_t green_threshold() const;
  // T / 2^64: the exact probability that an unseen tuple is green under the null.
  double gamma_effective() const;
  const prf_keys& keys() const;

  // The implementation, for the library's accumulators and encoder.
  const detail::scheme_impl& impl() const noexcept { return *impl_; }

 private:
  std::shared_ptr<const detail::scheme_impl> impl_;
};

// Canonical HKDF info string of a green-list configuration (§2); exposed for the spec vectors.
TRACEMARK_EXPORT std::string derivation_info(const scheme_config& config);
// floor(gamma * 2^64); throws error{invalid_argument} unless 0 < gamma < 1 (and T > 0).
TRACEMARK_EXPORT uint64_t green_threshold_for(double gamma);
// "kgw-lefthash h=2 gamma=0.25 vocab=512" (plus " account=..." when set): for people.
TRACEMARK_EXPORT std::string scheme_description(const scheme_config& c);

}  // namespace tracemark
