// The PRF choice of docs/SPEC.md §4, measured: cost of one green-list membership test
// green(s, v) = PRF(K_green, LE64(s) || LE32(v)) < T under
//   * our SipHash-2-4 (lib/src/siphash.h), the full hash of the 12-byte input (what the
//     detector pays) and the per-candidate finalisation after the shared seed state (what
//     the encoder pays, §5.3);
//   * OpenSSL 3's SipHash through EVP_MAC (size 8), re-initialised per test;
//   * one AES-128 block through EVP (ECB): one EVP_EncryptUpdate per block, and one call
//     encrypting 1024 blocks (per-block cost);
//   * prototypes (bench-only, not in lib/) of the encoder finalisation vectorised with
//     AVX2 (4 lanes) and AVX-512F (8 lanes), checked bit-for-bit against the scalar code:
//     evidence for the optimisation proposed in docs/PERFORMANCE.md.
// Every benchmark does kBatch = 1024 membership tests per iteration; the counter
// `per_test` is the time of one test (seconds, SI-prefixed: "2.1n" = 2.1 ns).
#include <benchmark/benchmark.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TRACEMARK_BENCH_X86 1
#endif

#include "scheme_prf.h"
#include "siphash.h"
#include "siphash_avx512.h"
#include "tracemark/key.h"
#include "tracemark/scheme.h"

namespace {

constexpr size_t kBatch = 1024;
constexpr int32_t kVocab = 151936;

struct prf_fixture {
  tracemark::prf_keys keys;
  uint64_t threshold = 0;
  uint64_t step_seed = 0;             // the seed of one decoding step (encoder case)
  std::vector<uint64_t> seeds;        // one seed per test (detector case)
  std::vector<int32_t> tokens;        // candidate ids
  std::array<uint8_t, 16> green_key_bytes{};  // LE64(k0) || LE64(k1): the same key for OpenSSL

  prf_fixture() {
    tracemark::key::secret_bytes secret{};
    for (size_t i = 0; i < secret.size(); ++i) secret[i] = static_cast<uint8_t>(0x5a ^ (7 * i));
    const tracemark::key master = tracemark::key::from_secret(secret);
    tracemark::scheme_config cfg;
    cfg.name = "kgw-lefthash";
    cfg.context_width = 1;
    cfg.gamma = 0.25;
    cfg.vocab_size = kVocab;
    const tracemark::scheme s(master, cfg);
    keys = s.keys();
    threshold = s.green_threshold();
    std::mt19937_64 rng(20240601);
    step_seed = rng();
    std::uniform_int_distribution<int32_t> tok(0, kVocab - 1);
    for (size_t i = 0; i < kBatch; ++i) {
      seeds.push_back(rng());
      tokens.push_back(tok(rng));
    }
    for (int i = 0; i < 8; ++i) {
      green_key_bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(keys.green_k0 >> (8 * i));
      green_key_bytes[static_cast<size_t>(8 + i)] = static_cast<uint8_t>(keys.green_k1 >> (8 * i));
    }
  }
};

const prf_fixture& fixture() {
  static const prf_fixture f;
  return f;
}

void set_counters(benchmark::State& state) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kBatch));
  state.counters["per_test"] = benchmark::Counter(static_cast<double>(kBatch),
                                                  benchmark::Counter::kIsIterationInvariantRate |
                                                      benchmark::Counter::kInvert);
}

// Reference answers (scalar SipHash of the shared-seed case), for the equality checks.
std::vector<uint8_t> reference_green_step() {
  const prf_fixture& f = fixture();
  std::vector<uint8_t> out(kBatch);
  for (size_t i = 0; i < kBatch; ++i)
    out[i] = tracemark::detail::membership_prf(f.keys, f.step_seed, f.tokens[i]) < f.threshold;
  return out;
}

// ---------------------------------------------------------------- our SipHash-2-4

// Full hash of LE64(s_i) || LE32(v_i), a different seed per test (the detector's case;
// distinct seeds also keep the compiler from hoisting the seed block out of the loop).
void BM_siphash24_full(benchmark::State& state) {
  const prf_fixture& f = fixture();
  const uint64_t* seeds = f.seeds.data();
  const int32_t* tokens = f.tokens.data();
  for (auto _ : state) {
    size_t n_green = 0;
    for (size_t i = 0; i < kBatch; ++i)
      n_green += tracemark::detail::membership_prf(f.keys, seeds[i], tokens[i]) < f.threshold;
    benchmark::DoNotOptimize(n_green);
  }
  set_counters(state);
}
BENCHMARK(BM_siphash24_full);

// The encoder's per-candidate cost: the state after LE64(s) is shared by the step,
// each candidate pays one finalisation (1 compression + 4 finalisation rounds).
void BM_siphash24_finish_after_seed(benchmark::State& state) {
  const prf_fixture& f = fixture();
  const tracemark::detail::siphash_state after_seed =
      tracemark::detail::siphash24_after_seed(tracemark::detail::green_key(f.keys), f.step_seed);
  const int32_t* tokens = f.tokens.data();
  for (auto _ : state) {
    size_t n_green = 0;
    for (size_t i = 0; i < kBatch; ++i)
      n_green += tracemark::detail::siphash24_finish_token(after_seed, static_cast<uint32_t>(tokens[i])) <
                 f.threshold;
    benchmark::DoNotOptimize(n_green);
  }
  set_counters(state);
}
BENCHMARK(BM_siphash24_finish_after_seed);

// ---------------------------------------------------------------- OpenSSL SipHash (EVP_MAC)

void BM_openssl_siphash_evp_mac(benchmark::State& state) {
  const prf_fixture& f = fixture();
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "SIPHASH", nullptr);
  EVP_MAC_CTX* ctx = mac ? EVP_MAC_CTX_new(mac) : nullptr;
  size_t out_size = 8;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &out_size), OSSL_PARAM_construct_end()};
  if (!ctx || EVP_MAC_init(ctx, f.green_key_bytes.data(), f.green_key_bytes.size(), params) != 1) {
    state.SkipWithError("EVP_MAC SIPHASH unavailable");
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return;
  }
  uint8_t msg[12];
  for (int b = 0; b < 8; ++b) msg[b] = static_cast<uint8_t>(f.step_seed >> (8 * b));
  // One test: re-initialise with the stored key (EVP_MAC_init with a null key restores
  // the keyed state), absorb the 12 bytes, finalise to 8 bytes.
  auto test = [&](int32_t token) -> bool {
    const uint32_t t = static_cast<uint32_t>(token);
    for (int b = 0; b < 4; ++b) msg[8 + b] = static_cast<uint8_t>(t >> (8 * b));
    uint8_t out[8];
    size_t out_len = 0;
    EVP_MAC_init(ctx, nullptr, 0, nullptr);
    EVP_MAC_update(ctx, msg, sizeof msg);
    EVP_MAC_final(ctx, out, &out_len, sizeof out);
    return tracemark::detail::load_le64(out) < f.threshold;
  };
  const std::vector<uint8_t> expected = reference_green_step();
  for (size_t i = 0; i < kBatch; ++i) {
    if (static_cast<uint8_t>(test(f.tokens[i])) != expected[i]) {
      state.SkipWithError("OpenSSL SipHash disagrees with tracemark's SipHash-2-4");
      break;
    }
  }
  for (auto _ : state) {
    size_t n_green = 0;
    for (size_t i = 0; i < kBatch; ++i) n_green += test(f.tokens[i]);
    benchmark::DoNotOptimize(n_green);
  }
  set_counters(state);
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
}
BENCHMARK(BM_openssl_siphash_evp_mac);

// ---------------------------------------------------------------- AES-128 (EVP, ECB)
// green(s, v) = first 8 bytes (LE64) of AES_K(LE64(s) || LE32(v) || 0^4) < T.

struct aes_ctx {
  EVP_CIPHER* cipher = nullptr;
  EVP_CIPHER_CTX* ctx = nullptr;
  bool ok = false;
  explicit aes_ctx(const uint8_t* key16) {
    cipher = EVP_CIPHER_fetch(nullptr, "AES-128-ECB", nullptr);
    ctx = EVP_CIPHER_CTX_new();
    ok = cipher && ctx && EVP_EncryptInit_ex2(ctx, cipher, key16, nullptr, nullptr) == 1 &&
         EVP_CIPHER_CTX_set_padding(ctx, 0) == 1;
  }
  ~aes_ctx() {
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(cipher);
  }
  aes_ctx(const aes_ctx&) = delete;
  aes_ctx& operator=(const aes_ctx&) = delete;
};

void fill_block(uint8_t* block, uint64_t seed, int32_t token) {
  for (int b = 0; b < 8; ++b) block[b] = static_cast<uint8_t>(seed >> (8 * b));
  const uint32_t t = static_cast<uint32_t>(token);
  for (int b = 0; b < 4; ++b) block[8 + b] = static_cast<uint8_t>(t >> (8 * b));
  for (int b = 12; b < 16; ++b) block[b] = 0;
}

// One EVP_EncryptUpdate per membership test.
void BM_aes128_evp_one_block_per_call(benchmark::State& state) {
  const prf_fixture& f = fixture();
  aes_ctx aes(f.green_key_bytes.data());
  if (!aes.ok) {
    state.SkipWithError("EVP AES-128-ECB unavailable");
    return;
  }
  alignas(16) uint8_t in[16];
  alignas(16) uint8_t out[16];
  for (auto _ : state) {
    size_t n_green = 0;
    for (size_t i = 0; i < kBatch; ++i) {
      fill_block(in, f.step_seed, f.tokens[i]);
      int out_len = 0;
      EVP_EncryptUpdate(aes.ctx, out, &out_len, in, 16);
      n_green += tracemark::detail::load_le64(out) < f.threshold;
    }
    benchmark::DoNotOptimize(n_green);
  }
  set_counters(state);
}
BENCHMARK(BM_aes128_evp_one_block_per_call);

// All 1024 blocks in one EVP_EncryptUpdate (AES-NI pipelines several blocks); the time
// includes building the input blocks and the comparisons.
void BM_aes128_evp_batch1024(benchmark::State& state) {
  const prf_fixture& f = fixture();
  aes_ctx aes(f.green_key_bytes.data());
  if (!aes.ok) {
    state.SkipWithError("EVP AES-128-ECB unavailable");
    return;
  }
  std::vector<uint8_t> in(16 * kBatch), out(16 * kBatch);
  for (auto _ : state) {
    for (size_t i = 0; i < kBatch; ++i) fill_block(in.data() + 16 * i, f.step_seed, f.tokens[i]);
    int out_len = 0;
    EVP_EncryptUpdate(aes.ctx, out.data(), &out_len, in.data(), static_cast<int>(in.size()));
    size_t n_green = 0;
    for (size_t i = 0; i < kBatch; ++i) n_green += tracemark::detail::load_le64(out.data() + 16 * i) < f.threshold;
    benchmark::DoNotOptimize(n_green);
    benchmark::ClobberMemory();
  }
  set_counters(state);
}
BENCHMARK(BM_aes128_evp_batch1024);

// ---------------------------------------------------------------- SIMD prototypes (bench only)
// The encoder's loop over candidates is embarrassingly parallel: every candidate starts
// from the same 4-word state. These compute the same finalisation in 4 / 8 lanes and
// write a 0/1 green flag per candidate (what apply() would turn into "+delta").

#ifdef TRACEMARK_BENCH_X86

#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 warns inside its own avx512fintrin.h (_mm512_undefined_* used by the
// set1/convert intrinsics): a known false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

__attribute__((target("avx2"))) inline __m256i rotl256(__m256i x, int b) {
  return _mm256_or_si256(_mm256_slli_epi64(x, b), _mm256_srli_epi64(x, 64 - b));
}

__attribute__((target("avx2"))) inline void round256(__m256i& v0, __m256i& v1, __m256i& v2, __m256i& v3) {
  v0 = _mm256_add_epi64(v0, v1); v1 = rotl256(v1, 13); v1 = _mm256_xor_si256(v1, v0);
  v0 = _mm256_shuffle_epi32(v0, 0xB1);  // rotl 32
  v2 = _mm256_add_epi64(v2, v3); v3 = rotl256(v3, 16); v3 = _mm256_xor_si256(v3, v2);
  v0 = _mm256_add_epi64(v0, v3); v3 = rotl256(v3, 21); v3 = _mm256_xor_si256(v3, v0);
  v2 = _mm256_add_epi64(v2, v1); v1 = rotl256(v1, 17); v1 = _mm256_xor_si256(v1, v2);
  v2 = _mm256_shuffle_epi32(v2, 0xB1);
}

__attribute__((target("avx2"))) void green_flags_avx2(const tracemark::detail::siphash_state& s,
                                                      const int32_t* tokens, size_t n, uint64_t threshold,
                                                      uint8_t* flags) {
  const __m256i s0 = _mm256_set1_epi64x(static_cast<long long>(s.v0));
  const __m256i s1 = _mm256_set1_epi64x(static_cast<long long>(s.v1));
  const __m256i s2 = _mm256_set1_epi64x(static_cast<long long>(s.v2));
  const __m256i s3 = _mm256_set1_epi64x(static_cast<long long>(s.v3));
  const __m256i len = _mm256_set1_epi64x(static_cast<long long>(uint64_t{12} << 56));
  const __m256i ff = _mm256_set1_epi64x(0xff);
  const __m256i sign = _mm256_set1_epi64x(static_cast<long long>(0x8000000000000000ULL));
  const __m256i t_biased = _mm256_xor_si256(_mm256_set1_epi64x(static_cast<long long>(threshold)), sign);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256i m = _mm256_or_si256(
        _mm256_cvtepu32_epi64(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tokens + i))), len);
    __m256i v0 = s0, v1 = s1, v2 = s2, v3 = _mm256_xor_si256(s3, m);
    round256(v0, v1, v2, v3);
    round256(v0, v1, v2, v3);
    v0 = _mm256_xor_si256(v0, m);
    v2 = _mm256_xor_si256(v2, ff);
    round256(v0, v1, v2, v3);
    round256(v0, v1, v2, v3);
    round256(v0, v1, v2, v3);
    round256(v0, v1, v2, v3);
    const __m256i h = _mm256_xor_si256(_mm256_xor_si256(v0, v1), _mm256_xor_si256(v2, v3));
    // unsigned h < T  <=>  signed (h ^ 2^63) < (T ^ 2^63)
    const __m256i lt = _mm256_cmpgt_epi64(t_biased, _mm256_xor_si256(h, sign));
    const int mask = _mm256_movemask_pd(_mm256_castsi256_pd(lt));
    for (int l = 0; l < 4; ++l) flags[i + static_cast<size_t>(l)] = static_cast<uint8_t>((mask >> l) & 1);
  }
  for (; i < n; ++i)
    flags[i] = tracemark::detail::siphash24_finish_token(s, static_cast<uint32_t>(tokens[i])) < threshold;
}

TRACEMARK_AVX512 void green_flags_avx512(const tracemark::detail::siphash_state& s, const int32_t* tokens, size_t n,
                                         uint64_t threshold, uint8_t* flags) {
  const tracemark::detail::siphash_state8 s8 = tracemark::detail::broadcast(s);
  const __m512i t = _mm512_set1_epi64(static_cast<long long>(threshold));
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m512i h =
        tracemark::detail::finish_tokens8(s8, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tokens + i)));
    const __mmask8 mask = _mm512_cmplt_epu64_mask(h, t);
    for (unsigned l = 0; l < 8; ++l) flags[i + l] = static_cast<uint8_t>((mask >> l) & 1u);
  }
  for (; i < n; ++i)
    flags[i] = tracemark::detail::siphash24_finish_token(s, static_cast<uint32_t>(tokens[i])) < threshold;
}

using flags_fn = void (*)(const tracemark::detail::siphash_state&, const int32_t*, size_t, uint64_t, uint8_t*);

void run_simd(benchmark::State& state, flags_fn fn, bool supported) {
  if (!supported) {
    state.SkipWithError("CPU lacks the instruction set");
    return;
  }
  const prf_fixture& f = fixture();
  const tracemark::detail::siphash_state after_seed =
      tracemark::detail::siphash24_after_seed(tracemark::detail::green_key(f.keys), f.step_seed);
  std::vector<uint8_t> flags(kBatch);
  fn(after_seed, f.tokens.data(), kBatch, f.threshold, flags.data());
  if (flags != reference_green_step()) {
    state.SkipWithError("SIMD finalisation disagrees with scalar SipHash-2-4");
    return;
  }
  for (auto _ : state) {
    fn(after_seed, f.tokens.data(), kBatch, f.threshold, flags.data());
    benchmark::DoNotOptimize(flags.data());
    benchmark::ClobberMemory();
  }
  set_counters(state);
}

void BM_proto_finish_avx2_4lanes(benchmark::State& state) {
  run_simd(state, green_flags_avx2, __builtin_cpu_supports("avx2"));
}
BENCHMARK(BM_proto_finish_avx2_4lanes);

void BM_proto_finish_avx512_8lanes(benchmark::State& state) {
  run_simd(state, green_flags_avx512, __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"));
}
BENCHMARK(BM_proto_finish_avx512_8lanes);

#endif  // TRACEMARK_BENCH_X86

}  // namespace
