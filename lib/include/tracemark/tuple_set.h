// A set of scored (seed, token) tuples: the deduplication of docs/SPEC.md §6.1.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tracemark/export.h"

namespace tracemark {

// The slot hash of a (seed, token) tuple in the deduplication tables: a SplitMix64-style
// finalizer over both fields (seeds may be 0, as unigram's always are, or repeat).
inline uint64_t tuple_slot_hash(uint64_t seed, int32_t token) noexcept {
  uint64_t h = seed ^ (static_cast<uint64_t>(static_cast<uint32_t>(token)) * 0x9E3779B97F4A7C15ULL);
  h ^= h >> 30;
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 27;
  h *= 0x94D049BB133111EBULL;
  h ^= h >> 31;
  return h;
}

// Open addressing with linear probing; clear() is O(1) (generation stamps) so one
// set can be reused across many documents without re-zeroing memory.
// Thread safety: not thread-safe; one set per thread.
class TRACEMARK_EXPORT tuple_set {
 public:
  explicit tuple_set(size_t expected = 1024);

  // True if (seed, token) was not in the set and has been inserted.
  bool insert(uint64_t seed, int32_t token);
  bool contains(uint64_t seed, int32_t token) const noexcept;
  // Hint that (seed, token) will be looked up soon: starts loading its slot. Once the set
  // outgrows the cache each lookup waits for memory; prefetching a block ahead hides it.
  void prefetch(uint64_t seed, int32_t token) const noexcept {
    __builtin_prefetch(slots_.data() + index_of(seed, token));
  }
  size_t size() const noexcept { return size_; }
  void clear() noexcept;
  void reserve(size_t expected);

 private:
  struct slot {
    uint64_t seed;
    uint32_t token;
    uint32_t generation;  // slot is occupied iff generation == generation_
  };
  size_t index_of(uint64_t seed, int32_t token) const noexcept;
  void grow();

  std::vector<slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
  uint32_t generation_ = 1;
};

}  // namespace tracemark
