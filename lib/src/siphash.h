// SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast short-input PRF", 2012),
// the keyed PRF of format v1. Scalar, integer-only, byte-order independent:
// inputs are defined as little-endian words, never as host memory.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tracemark::detail {

struct siphash_key {
  uint64_t k0 = 0;
  uint64_t k1 = 0;
};

inline uint64_t load_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// The four-word SipHash state; one message block absorbed per call.
struct siphash_state {
  uint64_t v0, v1, v2, v3;

  static inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

  inline void round() {
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
  }

  static inline siphash_state init(const siphash_key& k) {
    return {k.k0 ^ 0x736f6d6570736575ULL, k.k1 ^ 0x646f72616e646f6dULL,
            k.k0 ^ 0x6c7967656e657261ULL, k.k1 ^ 0x7465646279746573ULL};
  }

  inline void absorb(uint64_t m) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }

  // `last` holds the final 0..7 message bytes; total_len is the whole message length.
  inline uint64_t finish(uint64_t last, size_t total_len) {
    absorb(last | (static_cast<uint64_t>(total_len & 0xff) << 56));
    v2 ^= 0xff;
    round();
    round();
    round();
    round();
    return v0 ^ v1 ^ v2 ^ v3;
  }
};

// SipHash-2-4 of an arbitrary byte string (reference path; used by tests and key vectors).
inline uint64_t siphash24(const siphash_key& k, const uint8_t* data, size_t len) {
  siphash_state s = siphash_state::init(k);
  size_t i = 0;
  for (; i + 8 <= len; i += 8) s.absorb(load_le64(data + i));
  uint64_t last = 0;
  for (size_t j = 0; i + j < len; ++j) last |= static_cast<uint64_t>(data[i + j]) << (8 * j);
  return s.finish(last, len);
}

// SipHash-2-4 of the byte string LE32(w[0]) || ... || LE32(w[n-1]), without building it.
inline uint64_t siphash24_words(const siphash_key& k, const uint32_t* w, size_t n) {
  siphash_state s = siphash_state::init(k);
  size_t i = 0;
  for (; i + 2 <= n; i += 2) s.absorb(static_cast<uint64_t>(w[i]) | (static_cast<uint64_t>(w[i + 1]) << 32));
  const uint64_t last = (i < n) ? static_cast<uint64_t>(w[i]) : 0;
  return s.finish(last, 4 * n);
}

// SipHash-2-4 of LE64(seed) || LE32(token): the green-list membership input.
// The state after absorbing `seed` is shared by every candidate of a decoding step.
inline siphash_state siphash24_after_seed(const siphash_key& k, uint64_t seed) {
  siphash_state s = siphash_state::init(k);
  s.absorb(seed);
  return s;
}
inline uint64_t siphash24_finish_token(siphash_state s, uint32_t token) { return s.finish(token, 12); }

}  // namespace tracemark::detail
