// Scalar and AVX-512 versions of the candidate loops of watermarker::apply() (bias_kernels.h).
// The vector kernel runs the SipHash-2-4 finalisation of LE64(seed) || LE32(id) (SPEC §4,
// Aumasson & Bernstein 2012) in 8 64-bit lanes: the state after the seed is shared, so
// each lane absorbs the 12-byte message's last word (id | 12 << 56), then 2 + 4 rounds.
#include "bias_kernels.h"

#include <bit>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <limits>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TRACEMARK_HAVE_AVX512_KERNELS 1
#include "siphash_avx512.h"
#endif

namespace tracemark::detail {

namespace {
// Adds delta to x's logit when `bias` is set, keeping every bit of it otherwise.
inline void add_if(candidate& x, bool bias, float delta) noexcept {
  const uint32_t keep = std::bit_cast<uint32_t>(x.logit);
  const uint32_t biased = std::bit_cast<uint32_t>(x.logit + delta);
  const uint32_t select = 0u - static_cast<uint32_t>(bias);
  x.logit = std::bit_cast<float>((biased & select) | (keep & ~select));
}
}  // namespace

float max_logit_scalar(std::span<const candidate> c) noexcept {
  float m = -std::numeric_limits<float>::infinity();
  for (const candidate& x : c) m = x.logit > m ? x.logit : m;
  return m;
}

// Branch-free: whether a candidate is green is a coin flip (gamma) that a branch would
// mispredict a quarter of the time or more; the select below keeps the bits of a
// non-green logit exactly (also -0.0f and NaN), as the vector kernel does.
size_t bias_shared_seed_scalar(const siphash_state& after_seed, uint64_t threshold, float delta, float cutoff,
                               std::span<candidate> c) noexcept {
  size_t n_tested = 0;
  for (candidate& x : c) {
    const bool tested = x.logit >= cutoff;  // false for NaN
    n_tested += tested;
    const bool green = siphash24_finish_token(after_seed, static_cast<uint32_t>(x.id)) < threshold;
    add_if(x, tested && green, delta);
  }
  return n_tested;
}

size_t bias_from_bitmap(const siphash_state& after_seed, uint64_t threshold, float delta, float cutoff,
                        std::span<candidate> c, const uint64_t* green, int32_t vocab) noexcept {
  size_t n_tested = 0;
  for (candidate& x : c) {
    const bool tested = x.logit >= cutoff;
    n_tested += tested;
    const auto id = static_cast<uint32_t>(x.id);
    const bool is_green = id < static_cast<uint32_t>(vocab)
                              ? (green[id >> 6] >> (id & 63)) & 1
                              : siphash24_finish_token(after_seed, id) < threshold;
    add_if(x, tested && is_green, delta);
  }
  return n_tested;
}

size_t bias_shared_seed_recording(const siphash_state& after_seed, uint64_t threshold, float delta, float cutoff,
                                  std::span<candidate> c, uint64_t* green_out, int32_t vocab, bool& complete) noexcept {
  size_t n_tested = 0;
  bool ids_ok = c.size() == static_cast<size_t>(vocab);
  uint64_t seen[bitmap_max_words] = {};
  for (candidate& x : c) {
    const bool tested = x.logit >= cutoff;
    n_tested += tested;
    const auto id = static_cast<uint32_t>(x.id);
    const bool is_green = siphash24_finish_token(after_seed, id) < threshold;
    if (id < static_cast<uint32_t>(vocab)) {
      green_out[id >> 6] |= static_cast<uint64_t>(is_green) << (id & 63);
      seen[id >> 6] |= uint64_t{1} << (id & 63);
    } else {
      ids_ok = false;
    }
    add_if(x, tested && is_green, delta);
  }
  // n = vocab candidates, all in range, and every id seen: each id exactly once.
  if (ids_ok) {
    size_t n_seen = 0;
    for (size_t w = 0; w < (static_cast<size_t>(vocab) + 63) / 64; ++w) n_seen += static_cast<size_t>(std::popcount(seen[w]));
    ids_ok = n_seen == static_cast<size_t>(vocab);
  }
  complete = ids_ok;
  return n_tested;
}

#ifdef TRACEMARK_HAVE_AVX512_KERNELS

namespace {

// TRACEMARK_DISABLE_AVX512=1 forces the scalar code (for A/B measurements and debugging).
bool detect_avx512() noexcept {
  const char* off = std::getenv("TRACEMARK_DISABLE_AVX512");
  if (off && *off && std::strcmp(off, "0") != 0) return false;
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
}

const bool g_avx512 = detect_avx512();

}  // namespace

bool avx512_kernels_available() noexcept { return g_avx512; }

// 16 candidates (48 words, 192 bytes) per step; candidate i's logit is word 3i + 1.
TRACEMARK_AVX512 float max_logit_avx512(std::span<const candidate> c) noexcept {
  static_assert(sizeof(candidate) == 12 && offsetof(candidate, logit) == 4);
  const __m512i pick_lo = _mm512_setr_epi32(1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31, 0, 0, 0, 0, 0);
  const __m512i pick_hi = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 5, 8, 11, 14);
  __m512 m = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  size_t i = 0;
  const size_t n = c.size();
  for (; i + 16 <= n; i += 16) {
    const float* base = reinterpret_cast<const float*>(c.data() + i);
    const __m512 a = _mm512_permutex2var_ps(_mm512_loadu_ps(base), pick_lo, _mm512_loadu_ps(base + 16));
    const __m512 b = _mm512_permutexvar_ps(pick_hi, _mm512_loadu_ps(base + 32));
    // MAXPS returns its second operand when either is NaN: NaN logits are ignored, as in
    // the scalar loop.
    m = _mm512_max_ps(_mm512_mask_blend_ps(0xf800, a, b), m);
  }
  float r = _mm512_reduce_max_ps(m);
  for (; i < n; ++i) r = c[i].logit > r ? c[i].logit : r;
  return r;
}

// 8 candidates (24 words, 96 bytes) per step: two loads and two-source permutes pick the
// ids and the logits; the biased logits are blended back into the loaded words, which are
// stored whole (ids and p rewritten with their own values; masked stores followed by a
// load of the same cache line were slower).
TRACEMARK_AVX512 size_t bias_shared_seed_avx512(const siphash_state& after_seed, uint64_t threshold, float delta,
                                                float cutoff, std::span<candidate> c) noexcept {
  static_assert(sizeof(candidate) == 12 && offsetof(candidate, id) == 0 && offsetof(candidate, logit) == 4);
  const siphash_state8 state = broadcast(after_seed);
  const __m512i green_below = _mm512_set1_epi64(static_cast<long long>(threshold));
  const __m512i pick_id = _mm512_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i pick_logit = _mm512_setr_epi32(1, 4, 7, 10, 13, 16, 19, 22, 0, 0, 0, 0, 0, 0, 0, 0);
  // Back: word j of the first 16 takes lane (j - 1) / 3; words 16..23 take lanes 5..7.
  const __m512i put_lo = _mm512_setr_epi32(0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0);
  const __m256i put_hi = _mm256_setr_epi32(5, 0, 0, 6, 0, 0, 7, 0);
  const __m256 cut = _mm256_set1_ps(cutoff);
  const __m256 dv = _mm256_set1_ps(delta);
  size_t n_tested = 0, i = 0;
  const size_t n = c.size();
  for (; i + 8 <= n; i += 8) {
    float* base = reinterpret_cast<float*>(c.data() + i);
    const __m512i lo = _mm512_loadu_si512(base);
    const __m512i hi = _mm512_maskz_loadu_epi32(0x00ff, base + 16);
    const __m256i ids = _mm512_castsi512_si256(_mm512_permutex2var_epi32(lo, pick_id, hi));
    const __m256 logits = _mm256_castsi256_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi32(lo, pick_logit, hi)));
    const __mmask8 tested = _mm256_cmp_ps_mask(logits, cut, _CMP_GE_OQ);  // false for NaN
    n_tested += static_cast<size_t>(__builtin_popcount(tested));
    const __m512i h = finish_tokens8(state, ids);
    const auto green = static_cast<__mmask8>(_mm512_cmplt_epu64_mask(h, green_below) & tested);
    const __m512i biased =
        _mm512_castsi256_si512(_mm256_castps_si256(_mm256_mask_add_ps(logits, green, logits, dv)));
    _mm512_storeu_si512(base, _mm512_mask_permutexvar_epi32(lo, 0x2492, put_lo, biased));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(base + 16),
                        _mm256_mask_permutexvar_epi32(_mm512_castsi512_si256(hi), 0x49, put_hi,
                                                      _mm512_castsi512_si256(biased)));
  }
  return n_tested + bias_shared_seed_scalar(after_seed, threshold, delta, cutoff, c.subspan(i));
}

#else  // no AVX-512 kernels in this build

bool avx512_kernels_available() noexcept { return false; }
float max_logit_avx512(std::span<const candidate> c) noexcept { return max_logit_scalar(c); }
size_t bias_shared_seed_avx512(const siphash_state& after_seed, uint64_t threshold, float delta, float cutoff,
                               std::span<candidate> c) noexcept {
  return bias_shared_seed_scalar(after_seed, threshold, delta, cutoff, c);
}

#endif

namespace {
bool use_vector(size_t n) noexcept { return n >= vector_min_candidates && avx512_kernels_available(); }
}  // namespace

float max_logit(std::span<const candidate> c) noexcept {
  return use_vector(c.size()) ? max_logit_avx512(c) : max_logit_scalar(c);
}

size_t bias_shared_seed(const siphash_state& after_seed, uint64_t threshold, float delta, float cutoff,
                        std::span<candidate> c) noexcept {
  return use_vector(c.size()) ? bias_shared_seed_avx512(after_seed, threshold, delta, cutoff, c)
                              : bias_shared_seed_scalar(after_seed, threshold, delta, cutoff, c);
}

}  // namespace tracemark::detail
