#include "tracemark/tuple_set.h"

#include <bit>

namespace tracemark {

tuple_set::tuple_set(size_t expected) { reserve(expected); }

void tuple_set::reserve(size_t expected) {
  // Load factor at most 1/2.
  const size_t want = std::bit_ceil(expected < 8 ? size_t{16} : 2 * expected);
  if (want <= slots_.size()) return;
  std::vector<slot> old;
  old.swap(slots_);
  const uint32_t old_generation = generation_;
  slots_.assign(want, slot{0, 0, 0});
  mask_ = want - 1;
  generation_ = 1;
  size_ = 0;
  for (const slot& s : old)
    if (s.generation == old_generation) insert(s.seed, static_cast<int32_t>(s.token));
}

size_t tuple_set::index_of(uint64_t seed, int32_t token) const noexcept {
  return static_cast<size_t>(tuple_slot_hash(seed, token)) & mask_;
}

bool tuple_set::insert(uint64_t seed, int32_t token) {
  if (2 * (size_ + 1) > slots_.size()) grow();
  const uint32_t t = static_cast<uint32_t>(token);
  for (size_t i = index_of(seed, token);; i = (i + 1) & mask_) {
    slot& s = slots_[i];
    if (s.generation != generation_) {
      s = slot{seed, t, generation_};
      ++size_;
      return true;
    }
    if (s.seed == seed && s.token == t) return false;
  }
}

bool tuple_set::contains(uint64_t seed, int32_t token) const noexcept {
  const uint32_t t = static_cast<uint32_t>(token);
  for (size_t i = index_of(seed, token);; i = (i + 1) & mask_) {
    const slot& s = slots_[i];
    if (s.generation != generation_) return false;
    if (s.seed == seed && s.token == t) return true;
  }
}

void tuple_set::clear() noexcept {
  size_ = 0;
  if (++generation_ == 0) {  // wrapped: stamps are ambiguous, so really zero them
    for (slot& s : slots_) s.generation = 0;
    generation_ = 1;
  }
}

void tuple_set::grow() { reserve(slots_.size()); }

}  // namespace tracemark
