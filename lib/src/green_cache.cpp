#include "green_cache.h"

#include <bit>

namespace tracemark::detail {

green_cache::green_cache(int32_t vocab_size) : words_((static_cast<size_t>(vocab_size) + 63) / 64) {
  const size_t entry_words = 2 + words_;
  n_entries_ = std::bit_floor(budget_bytes / (entry_words * sizeof(uint64_t)));
  shift_ = 64 - std::countr_zero(n_entries_);
  const size_t n = n_entries_ * entry_words;
  slots_ = std::make_unique<std::atomic<uint64_t>[]>(n);
  // Empty entries are odd (1): never readable, and seed 0 cannot match a zeroed entry.
  for (size_t e = 0; e < n_entries_; ++e) slots_[e * entry_words].store(1, std::memory_order_relaxed);
}

bool green_cache::lookup(uint64_t seed, uint64_t* out) const noexcept {
  const std::atomic<uint64_t>* slot = &slots_[index(seed) * (2 + words_)];
  const uint64_t v1 = slot[0].load(std::memory_order_acquire);
  if ((v1 & 1) || slot[1].load(std::memory_order_relaxed) != seed) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  for (size_t w = 0; w < words_; ++w) out[w] = slot[2 + w].load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  if (slot[0].load(std::memory_order_relaxed) != v1) {  // overwritten meanwhile
    misses_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void green_cache::store(uint64_t seed, const uint64_t* bits) noexcept {
  std::atomic<uint64_t>* slot = &slots_[index(seed) * (2 + words_)];
  uint64_t v = slot[0].load(std::memory_order_relaxed);
  // Take the entry: even (or the initial odd 1 of an empty entry) -> a new odd value.
  if ((v & 1) && v != 1) return;  // another writer is in the middle of it
  const uint64_t writing = (v | 1) + 2;  // odd
  if (!slot[0].compare_exchange_strong(v, writing, std::memory_order_acquire, std::memory_order_relaxed)) return;
  std::atomic_thread_fence(std::memory_order_release);
  slot[1].store(seed, std::memory_order_relaxed);
  for (size_t w = 0; w < words_; ++w) slot[2 + w].store(bits[w], std::memory_order_relaxed);
  slot[0].store(writing + 1, std::memory_order_release);  // even: readable
}

}  // namespace tracemark::detail
