// The encoder (docs/SPEC.md §5): an immutable, thread-safe watermarker shared by
// many per-sequence states. Per-token calls allocate nothing and throw nothing.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "tracemark/export.h"
#include "tracemark/key.h"
#include "tracemark/scheme.h"

namespace tracemark {

namespace detail {
class encoder_scratch;
}

// One sampling candidate. Same layout as llama.cpp's llama_token_data, so a
// sampler can hand its array over without copying.
struct candidate {
  int32_t id;
  float logit;
  float p;
};

// The context of one sequence: a ring of its last h accepted tokens. A value (no heap);
// one per sequence, not shared between threads without synchronisation.
class TRACEMARK_EXPORT sequence_state {
 public:
  explicit sequence_state(int32_t context_width) noexcept;

  // Appends a sampled (or prompt) token to the context.
  void accept(int32_t token) noexcept;
  // Forgets the context; the next tokens start a new text.
  void reset() noexcept;
  int32_t context_width() const noexcept { return width_; }
  // True once h tokens have been accepted (always true for h = 0).
  bool has_full_context() const noexcept { return n_accepted_ >= width_; }
  // Copies the last h tokens, oldest first, into out[0..h). Requires has_full_context().
  void copy_context(int32_t* out) const noexcept;

 private:
  std::array<int32_t, scheme::max_context_width> ring_{};
  int32_t width_ = 0;
  int32_t head_ = 0;        // index of the oldest token once the ring is full
  int64_t n_accepted_ = 0;  // saturates meaning only up to width_
};

// Thread safety: immutable after construction; apply() may be called from any number of
// threads at once (each with its own sequence_state). Copies share the scheme and the
// encoder's caches.
class TRACEMARK_EXPORT watermarker {
 public:
  // delta: logit bias added to green tokens, 0 < delta <= 64. Throws error{invalid_argument},
  // also for a scheme that chooses tokens itself (sampling_action::choose_token).
  watermarker(const key& master, const scheme_config& config, float delta);

  const scheme& get_scheme() const noexcept { return scheme_; }
  float delta() const noexcept { return delta_; }
  sequence_state new_state() const noexcept { return sequence_state(scheme_.context_width()); }

  // Adds delta to every green candidate whose logit is within prune_margin() of the
  // maximum (the others cannot change the sampling distribution by more than
  // 1e-10 in total variation, §5.2). No bias before the context holds h tokens.
  // `sorted_descending` lets the scan stop at the first candidate below the cutoff.
  // Returns how many candidates were tested for membership.
  size_t apply(const sequence_state& state, std::span<candidate> candidates,
               bool sorted_descending = false) const noexcept;

  // Same as apply() but tests every candidate; the reference for the bound.
  size_t apply_all(const sequence_state& state, std::span<candidate> candidates) const noexcept;

  // The green-list cache of small vocabularies (below 4,096 ids; lefthash, minhash and
  // unigram): steps whose seed was seen before skip the PRF. Counts since construction,
  // shared by copies; both zero when there is no cache. For monitoring and benchmarks.
  struct cache_stats {
    uint64_t hits = 0, misses = 0;
  };
  cache_stats green_list_cache_stats() const noexcept;

  // ln((e^delta - 1) * n / 1e-10): candidates further below the maximum are skipped.
  static double prune_margin(float delta, size_t n_candidates) noexcept;
  static constexpr double pruning_tv_bound = 1e-10;

 private:
  scheme scheme_;
  float delta_;
  // The encoder's state shared by copies (for green lists: the cache of recent seeds' green
  // lists of small vocabularies, lib/src/green_cache.h). Null when the scheme keeps none.
  std::shared_ptr<detail::encoder_scratch> scratch_;
};

}  // namespace tracemark
