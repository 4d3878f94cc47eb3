// SipHash-2-4 (siphash.h) in 8 64-bit lanes of AVX-512 registers: the finalisation of
// LE64(seed) || LE32(id) from the state after the seed, for 8 ids at once (SPEC §4).
// x86-64 only; callers check the CPU (bias_kernels.h) and compile these inline functions
// into their own target("avx512f,...") functions.
#pragma once
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include <cstdint>

#include "siphash.h"

#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 false positives inside its own avx512fintrin.h (_mm512_undefined_* in casts).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#define TRACEMARK_AVX512 __attribute__((target("avx2,avx512f,avx512vl")))

namespace tracemark::detail {

// One SipHash round in 8 lanes.
TRACEMARK_AVX512 inline void sip_round(__m512i& v0, __m512i& v1, __m512i& v2, __m512i& v3) {
  v0 = _mm512_add_epi64(v0, v1);
  v1 = _mm512_rol_epi64(v1, 13);
  v1 = _mm512_xor_si512(v1, v0);
  v0 = _mm512_rol_epi64(v0, 32);
  v2 = _mm512_add_epi64(v2, v3);
  v3 = _mm512_rol_epi64(v3, 16);
  v3 = _mm512_xor_si512(v3, v2);
  v0 = _mm512_add_epi64(v0, v3);
  v3 = _mm512_rol_epi64(v3, 21);
  v3 = _mm512_xor_si512(v3, v0);
  v2 = _mm512_add_epi64(v2, v1);
  v1 = _mm512_rol_epi64(v1, 17);
  v1 = _mm512_xor_si512(v1, v2);
  v2 = _mm512_rol_epi64(v2, 32);
}

// The state after the seed, broadcast to 8 lanes.
struct siphash_state8 {
  __m512i v0, v1, v2, v3;
};
TRACEMARK_AVX512 inline siphash_state8 broadcast(const siphash_state& s) {
  return {_mm512_set1_epi64(static_cast<long long>(s.v0)), _mm512_set1_epi64(static_cast<long long>(s.v1)),
          _mm512_set1_epi64(static_cast<long long>(s.v2)), _mm512_set1_epi64(static_cast<long long>(s.v3))};
}

// siphash24_finish_token(s, id) for 8 ids (8 x uint32 in a 256-bit register).
TRACEMARK_AVX512 inline __m512i finish_tokens8(const siphash_state8& s, __m256i ids) {
  const __m512i m = _mm512_or_si512(_mm512_cvtepu32_epi64(ids), _mm512_set1_epi64(static_cast<long long>(uint64_t{12} << 56)));
  __m512i v0 = s.v0, v1 = s.v1, v2 = s.v2, v3 = _mm512_xor_si512(s.v3, m);
  sip_round(v0, v1, v2, v3);
  sip_round(v0, v1, v2, v3);
  v0 = _mm512_xor_si512(v0, m);
  v2 = _mm512_xor_si512(v2, _mm512_set1_epi64(0xff));
  sip_round(v0, v1, v2, v3);
  sip_round(v0, v1, v2, v3);
  sip_round(v0, v1, v2, v3);
  sip_round(v0, v1, v2, v3);
  return _mm512_xor_si512(_mm512_xor_si512(v0, v1), _mm512_xor_si512(v2, v3));
}

}  // namespace tracemark::detail

#endif
