// The two loops of watermarker::apply() over a candidate array, for the schemes whose seed
// does not depend on the candidate (lefthash, minhash, unigram): the maximum logit, and
// "add delta to every candidate with logit >= cutoff whose SipHash finalisation on its
// id is below the green threshold" (SPEC §5.3). A scalar version, and an AVX-512 one that
// runs SipHash-2-4's finalisation in 8 lanes (x86-64 CPUs with AVX-512F/VL, chosen at run
// time). Both give bit-identical results (tests/test_bias_kernels.cpp).
//
// The vector kernel is used only for arrays of at least vector_min_candidates: on full
// vocabularies it is 5x faster (151,936 candidates: 245 us instead of 1.25 ms), but on a
// 512-token vocabulary inside llama.cpp generation every vector variant tried (512-bit,
// 256-bit EVEX, AVX2) made decoding slower than the scalar loop although each was faster
// alone (docs/PERFORMANCE.md, issue 4): a fixed cost per step when vector code runs
// between ggml's kernels, which a short array cannot repay.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "siphash.h"
#include "tracemark/watermarker.h"

namespace tracemark::detail {

// Largest logit; NaN entries are ignored; -inf when empty or all are -inf/NaN.
float max_logit_scalar(std::span<const candidate> c) noexcept;
// Biases the green candidates among those with logit >= cutoff (NaN never is); returns
// how many had logit >= cutoff. `after_seed`: siphash24_after_seed(K_green, seed).
size_t bias_shared_seed_scalar(const siphash_state& after_seed, uint64_t threshold, float delta, float cutoff,
                               std::span<candidate> c) noexcept;

// True when this build and this CPU have the AVX-512 kernels (and the environment
// variable TRACEMARK_DISABLE_AVX512 is unset or "0").
bool avx512_kernels_available() noexcept;
// The AVX-512 versions; call only when avx512_kernels_available().
float max_logit_avx512(std::span<const candidate> c) noexcept;
size_t bias_shared_seed_avx512(const siphash_state& after_seed, uint64_t threshold, float delta, float cutoff,
                               std::span<candidate> c) noexcept;

inline constexpr size_t vector_min_candidates = 4096;
// Green-list bitmaps (green_cache.h) exist for vocabularies below vector_min_candidates.
inline constexpr int32_t bitmap_max_vocab = static_cast<int32_t>(vector_min_candidates) - 1;
inline constexpr size_t bitmap_max_words = (static_cast<size_t>(bitmap_max_vocab) + 63) / 64;

// With a cached green list (green_cache.h): the same result as bias_shared_seed_scalar,
// reading green[id / 64] bit id % 64 for ids in [0, vocab) (SipHash for any other id).
size_t bias_from_bitmap(const siphash_state& after_seed, uint64_t threshold, float delta, float cutoff,
                        std::span<candidate> c, const uint64_t* green, int32_t vocab) noexcept;
// bias_shared_seed_scalar that also records every candidate's membership, tested or not,
// in green_out (words of `vocab` bits, zeroed by the caller; vocab <= bitmap_max_vocab). Returns the tested count;
// `complete` tells whether the candidates were exactly the ids 0..vocab-1 (each once), so
// that green_out is the whole green list.
size_t bias_shared_seed_recording(const siphash_state& after_seed, uint64_t threshold, float delta, float cutoff,
                                  std::span<candidate> c, uint64_t* green_out, int32_t vocab, bool& complete) noexcept;

// The faster version for this array size and CPU (the CPU is checked once per process).
float max_logit(std::span<const candidate> c) noexcept;
size_t bias_shared_seed(const siphash_state& after_seed, uint64_t threshold, float delta, float cutoff,
                        std::span<candidate> c) noexcept;

}  // namespace tracemark::detail
