// The deduplication set of a corpus (docs/SPEC.md §6.1 across documents): every distinct
// (seed, token) tuple with the corpus entry that scored it first. Evidence files store
// these triples so that shards merge exactly (corpus_evidence.cpp).
//
// Open addressing with linear probing at load factor <= 1/2: 16 bytes a slot, so 32 to 64
// bytes per distinct tuple, and 1.5 times that while growing (both arrays alive).
// Not thread-safe.
#pragma once
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "tracemark/error.h"
#include "tracemark/tuple_set.h"

namespace tracemark::detail {

struct owned_tuple {
  uint64_t seed;
  uint32_t token;
  uint32_t owner;  // corpus entry index; empty_owner marks a free slot

  friend bool operator<(const owned_tuple& a, const owned_tuple& b) noexcept {
    return a.seed != b.seed ? a.seed < b.seed : a.token < b.token;
  }
};

class tuple_owner_table {
 public:
  static constexpr uint32_t empty_owner = UINT32_MAX;
  static constexpr uint32_t max_owner = UINT32_MAX - 1;

  explicit tuple_owner_table(size_t expected = 1 << 16) { grow_to(std::bit_ceil(std::max<size_t>(16, 2 * expected))); }

  // Inserts (seed, token) owned by `owner`; false when the tuple was already there.
  bool insert(uint64_t seed, int32_t token, uint32_t owner) {
    if (2 * (size_ + 1) > slots_.size()) grow_to(2 * slots_.size());
    const uint32_t t = static_cast<uint32_t>(token);
    for (size_t i = tuple_slot_hash(seed, token) & mask_;; i = (i + 1) & mask_) {
      owned_tuple& s = slots_[i];
      if (s.owner == empty_owner) {
        s = owned_tuple{seed, t, owner};
        ++size_;
        return true;
      }
      if (s.seed == seed && s.token == t) return false;
    }
  }
  void prefetch(uint64_t seed, int32_t token) const noexcept {
    __builtin_prefetch(slots_.data() + (tuple_slot_hash(seed, token) & mask_));
  }
  size_t size() const noexcept { return size_; }
  size_t capacity_bytes() const noexcept { return slots_.capacity() * sizeof(owned_tuple); }

  // Moves every tuple to the front, sorted by (seed, token), and returns them; the table is
  // unusable for insertions afterwards (no extra memory is needed for the sort).
  std::span<owned_tuple> sort_in_place() {
    const auto end = std::remove_if(slots_.begin(), slots_.end(), [](const owned_tuple& s) { return s.owner == empty_owner; });
    std::sort(slots_.begin(), end);
    sorted_ = true;
    return {slots_.data(), static_cast<size_t>(end - slots_.begin())};
  }
  bool sorted() const noexcept { return sorted_; }

 private:
  void grow_to(size_t n) {
    std::vector<owned_tuple> old;
    old.swap(slots_);
    slots_.assign(n, owned_tuple{0, 0, empty_owner});
    mask_ = n - 1;
    size_ = 0;
    for (const owned_tuple& s : old)
      if (s.owner != empty_owner) insert(s.seed, static_cast<int32_t>(s.token), s.owner);
  }

  std::vector<owned_tuple> slots_;
  size_t mask_ = 0, size_ = 0;
  bool sorted_ = false;
};

}  // namespace tracemark::detail
