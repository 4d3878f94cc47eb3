// Green lists of recently seen seeds, as bitmaps over the vocabulary, shared by every
// sequence of a watermarker (SPEC §5.3: for lefthash, minhash and unigram the green list
// depends on the seed only). A decoding step whose context was seen before then costs a
// bit test per candidate instead of a SipHash finalisation (~6 ns each): on a 512-token
// vocabulary that is most of the sampler's cost (docs/PERFORMANCE.md, issue 4).
//
// Used only for vocabularies below vector_min_candidates (bias_kernels.h), whose bitmaps
// are at most 512 bytes; larger ones use the AVX-512 kernel. Direct-mapped, fixed size
// (budget_bytes, allocated with the watermarker, so that per-token calls never allocate),
// lock-free: each entry is guarded by a sequence counter (a seqlock);
// a reader that sees a write in progress, and a writer that finds the entry busy, simply
// miss. Results never depend on the cache: a hit returns the exact bitmap that was stored
// for that seed.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "scheme_impl.h"

namespace tracemark::detail {

class green_cache final : public encoder_scratch {
 public:
  static constexpr size_t budget_bytes = size_t{512} << 10;
  // A cache for a vocabulary of `vocab_size` ids (<= bitmap_max_vocab of bias_kernels.h).
  explicit green_cache(int32_t vocab_size);

  size_t words() const noexcept { return words_; }
  // Copies the bitmap of `seed` into out[0..words()); false when it is not cached.
  bool lookup(uint64_t seed, uint64_t* out) const noexcept;
  // Stores the bitmap of `seed` (bit v of word v / 64 set when id v is green).
  void store(uint64_t seed, const uint64_t* bits) noexcept;

  // Counters for benchmarks (relaxed; approximate under concurrency).
  uint64_t hits() const noexcept { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const noexcept { return misses_.load(std::memory_order_relaxed); }

 private:
  size_t index(uint64_t seed) const noexcept { return static_cast<size_t>(seed * 0x9E3779B97F4A7C15ULL >> shift_); }

  size_t words_;
  size_t n_entries_;  // a power of two
  int shift_;
  // Per entry: version (odd while written), seed, then words_ bitmap words.
  std::unique_ptr<std::atomic<uint64_t>[]> slots_;
  mutable std::atomic<uint64_t> hits_{0}, misses_{0};
};

}  // namespace tracemark::detail
