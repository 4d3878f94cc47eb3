// Inline hot paths of §4 shared by the encoder and the detector of the green-list family
// (green_list_scheme.h).
#pragma once
#include <cstdint>

#include "siphash.h"
#include "tracemark/scheme.h"

namespace tracemark::detail {

// How the context selects a green list (the schemes of docs/SPEC.md §3).
enum class green_list_kind : uint8_t {
  lefthash,  // KGW, seed from the previous h tokens (Kirchenbauer et al. 2023, §2)
  selfhash,  // KGW, seed from the previous h tokens and the candidate itself
  minhash,   // KGW, seed = the minimum of per-token hashes over the previous h tokens
  unigram,   // h = 0: one fixed green list per key (Zhao et al. 2023, "Unigram-Watermark")
};

inline siphash_key context_key(const prf_keys& k) { return {k.context_k0, k.context_k1}; }
inline siphash_key green_key(const prf_keys& k) { return {k.green_k0, k.green_k1}; }

// Seed of §4. `context` holds h tokens, oldest first; `token` matters for selfhash only.
inline uint64_t scheme_seed(green_list_kind kind, const prf_keys& k, const int32_t* context, int32_t h,
                            int32_t token) {
  uint32_t words[scheme::max_context_width + 1];
  switch (kind) {
    case green_list_kind::lefthash:
      for (int32_t i = 0; i < h; ++i) words[i] = static_cast<uint32_t>(context[i]);
      return siphash24_words(context_key(k), words, static_cast<size_t>(h));
    case green_list_kind::selfhash:
      for (int32_t i = 0; i < h; ++i) words[i] = static_cast<uint32_t>(context[i]);
      words[h] = static_cast<uint32_t>(token);
      return siphash24_words(context_key(k), words, static_cast<size_t>(h) + 1);
    case green_list_kind::minhash: {
      uint64_t m = UINT64_MAX;
      for (int32_t i = 0; i < h; ++i) {
        const uint32_t w = static_cast<uint32_t>(context[i]);
        const uint64_t v = siphash24_words(context_key(k), &w, 1);
        if (v < m) m = v;
      }
      return m;
    }
    case green_list_kind::unigram:
      return 0;
  }
  return 0;
}

inline uint64_t membership_prf(const prf_keys& k, uint64_t seed, int32_t token) {
  return siphash24_finish_token(siphash24_after_seed(green_key(k), seed), static_cast<uint32_t>(token));
}

}  // namespace tracemark::detail
