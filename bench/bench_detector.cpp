// detector::score throughput (docs/SPEC.md §6), tokens per second on one core.
//
// Input: uniformly random token ids (fixed seed) of length 200, 10,000 and 1,000,000,
// no prompt. Deduplication on (the default), reusing one tuple_set scratch across calls
// (the allocation-free overload). Two modes:
//   pure  : keep_trace = false, min_window = 0  (counts and the exact p-value only)
//   full  : keep_trace = true,  min_window = 50 (per-token trace and best window too)
// Schemes: kgw-lefthash h=1 and h=4, kgw-minhash h=4, unigram; gamma 0.25, vocab 32,000
// (plus lefthash h=1 at 151,936: the vocabulary only enters the key derivation, so the
// speed must not depend on it).
// items_per_second is the number of input tokens scored per second (issue target: >= 20 M/s).
#include <benchmark/benchmark.h>

#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "scheme_prf.h"
#include "tracemark/detector.h"
#include "tracemark/key.h"
#include "tracemark/scheme.h"
#include "tracemark/tuple_set.h"

namespace {


std::vector<int32_t> random_tokens(size_t n, int32_t vocab) {
  std::mt19937_64 rng(0xdec0de00ULL + n);
  std::uniform_int_distribution<int32_t> tok(0, vocab - 1);
  std::vector<int32_t> out(n);
  for (int32_t& t : out) t = tok(rng);
  return out;
}

void BM_score(benchmark::State& state, const char* kind, int32_t h, int32_t vocab, bool full, bool dedup = true) {
  const size_t n = static_cast<size_t>(state.range(0));
  const std::vector<int32_t> tokens = random_tokens(n, vocab);
  tracemark::key::secret_bytes secret{};
  for (size_t i = 0; i < secret.size(); ++i) secret[i] = static_cast<uint8_t>(0x3c ^ (5 * i));
  tracemark::scheme_config cfg;
  cfg.name = kind;
  cfg.context_width = h;
  cfg.gamma = 0.25;
  cfg.vocab_size = vocab;
  const tracemark::scheme s(tracemark::key::from_secret(secret), cfg);
  tracemark::detect_options opt;
  opt.dedup = dedup;
  opt.keep_trace = full;
  opt.min_window = full ? 50 : 0;
  const tracemark::detector det(s, opt);
  tracemark::tuple_set seen(n);
  int64_t scored = 0, repeats = 0;
  for (auto _ : state) {
    const tracemark::detection d = det.score(tokens, 0, seen);
    scored = d.n_scored();
    repeats = d.n_repeat;
    benchmark::DoNotOptimize(d.test.log10_p);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
  state.counters["scored"] = static_cast<double>(scored);
  state.counters["repeat"] = static_cast<double>(repeats);
  state.counters["ns_per_token"] = benchmark::Counter(static_cast<double>(n),
                                                      benchmark::Counter::kIsIterationInvariantRate |
                                                          benchmark::Counter::kInvert);
}

void lengths(benchmark::internal::Benchmark* b) {
  b->ArgName("len")->Arg(200)->Arg(10000)->Arg(1000000)->Unit(benchmark::kMicrosecond);
}

BENCHMARK_CAPTURE(BM_score, lefthash_h1_pure, "kgw-lefthash", 1, 32000, false)->Apply(lengths);
BENCHMARK_CAPTURE(BM_score, lefthash_h4_pure, "kgw-lefthash", 4, 32000, false)->Apply(lengths);
BENCHMARK_CAPTURE(BM_score, minhash_h4_pure, "kgw-minhash", 4, 32000, false)->Apply(lengths);
BENCHMARK_CAPTURE(BM_score, unigram_pure, "unigram", 0, 32000, false)->Apply(lengths);
BENCHMARK_CAPTURE(BM_score, lefthash_h1_full, "kgw-lefthash", 1, 32000, true)->Apply(lengths);
BENCHMARK_CAPTURE(BM_score, lefthash_h4_full, "kgw-lefthash", 4, 32000, true)->Apply(lengths);
BENCHMARK_CAPTURE(BM_score, minhash_h4_full, "kgw-minhash", 4, 32000, true)->Apply(lengths);
BENCHMARK_CAPTURE(BM_score, unigram_full, "unigram", 0, 32000, true)->Apply(lengths);
BENCHMARK_CAPTURE(BM_score, lefthash_h1_pure_vocab151936, "kgw-lefthash", 1, 151936, false)
    ->ArgName("len")
    ->Arg(10000)
    ->Unit(benchmark::kMicrosecond);

// ------------------------------------------------------------------ diagnostics
// Where the time goes at 1,000,000 tokens (docs/PERFORMANCE.md): the same scoring without
// deduplication (PRF cost only; not a valid test, see SPEC §6.1), and the tuple_set alone.
BENCHMARK_CAPTURE(BM_score, lefthash_h1_pure_NODEDUP, "kgw-lefthash", 1, 32000, false, false)
    ->Apply(lengths);

struct tuple_input {
  std::vector<uint64_t> seeds;
  std::vector<int32_t> tokens;
  explicit tuple_input(size_t n) {
    std::mt19937_64 rng(0x5e7ULL + n);
    std::uniform_int_distribution<int32_t> tok(0, 31999);
    for (size_t i = 0; i < n; ++i) {
      seeds.push_back(rng());
      tokens.push_back(tok(rng));
    }
  }
};

// tracemark::tuple_set::insert of n distinct random (seed, token) pairs, set reused (clear()).
void BM_tuple_set_insert(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const tuple_input in(n);
  tracemark::tuple_set seen(n);
  for (auto _ : state) {
    seen.clear();
    size_t fresh = 0;
    for (size_t i = 0; i < n; ++i) fresh += seen.insert(in.seeds[i], in.tokens[i]);
    benchmark::DoNotOptimize(fresh);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
  state.counters["ns_per_insert"] = benchmark::Counter(
      static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_tuple_set_insert)->ArgName("len")->Arg(10000)->Arg(1000000)->Unit(benchmark::kMicrosecond);

// ------------------------------------------------------------------ prototypes (bench only)
// A replica of tuple_set (same slot layout, hash, load factor 1/2, generation stamps) to
// test two changes without touching lib/: (1) the slot array in transparent huge pages
// (madvise(MADV_HUGEPAGE); 4 KiB pages make every probe of a 32 MiB table a TLB miss,
// a two-dimensional page walk under a hypervisor); (2) software prefetch: compute the
// slot index of the next kAhead tuples and prefetch them before inserting in order (the
// seeds depend only on the tokens, so the detector can compute them ahead; inserting in
// order keeps the first-occurrence semantics of §6.1).
class proto_set {
 public:
  proto_set(size_t expected, bool huge) {
    size_t want = 16;
    while (want < 2 * expected) want *= 2;
    bytes_ = want * sizeof(slot);
    const size_t align = size_t{2} << 20;
    bytes_ = (bytes_ + align - 1) / align * align;
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      bytes_ = 0;
      return;
    }
    if (huge) madvise(p, bytes_, MADV_HUGEPAGE);
    slots_ = static_cast<slot*>(p);
    std::memset(p, 0, bytes_);
    mask_ = want - 1;
  }
  ~proto_set() {
    if (slots_) munmap(slots_, bytes_);
  }
  proto_set(const proto_set&) = delete;
  proto_set& operator=(const proto_set&) = delete;
  bool ok() const { return slots_ != nullptr; }
  void clear() { ++generation_; }  // (wrap handling omitted: 2^32 clears)

  size_t index_of(uint64_t seed, int32_t token) const {
    return static_cast<size_t>(tracemark::tuple_slot_hash(seed, token)) & mask_;
  }
  void prefetch(size_t i) const { __builtin_prefetch(slots_ + i, 1); }
  bool insert_at(size_t i, uint64_t seed, int32_t token) {
    const uint32_t t = static_cast<uint32_t>(token);
    for (;; i = (i + 1) & mask_) {
      slot& s = slots_[i];
      if (s.generation != generation_) {
        s = slot{seed, t, generation_};
        return true;
      }
      if (s.seed == seed && s.token == t) return false;
    }
  }

 private:
  struct slot {
    uint64_t seed;
    uint32_t token;
    uint32_t generation;
  };
  slot* slots_ = nullptr;
  size_t bytes_ = 0;
  size_t mask_ = 0;
  uint32_t generation_ = 1;
};

void BM_proto_set_insert(benchmark::State& state, bool huge, bool prefetch) {
  const size_t n = static_cast<size_t>(state.range(0));
  const tuple_input in(n);
  proto_set seen(n, huge);
  if (!seen.ok()) {
    state.SkipWithError("mmap failed");
    return;
  }
  constexpr size_t kAhead = 16;
  std::vector<size_t> idx(n);
  for (auto _ : state) {
    seen.clear();
    size_t fresh = 0;
    if (prefetch) {
      // The index computation is part of the timed work (as it would be in score()).
      for (size_t i = 0; i < n && i < kAhead; ++i) {
        idx[i] = seen.index_of(in.seeds[i], in.tokens[i]);
        seen.prefetch(idx[i]);
      }
      for (size_t i = 0; i < n; ++i) {
        if (i + kAhead < n) {
          idx[i + kAhead] = seen.index_of(in.seeds[i + kAhead], in.tokens[i + kAhead]);
          seen.prefetch(idx[i + kAhead]);
        }
        fresh += seen.insert_at(idx[i], in.seeds[i], in.tokens[i]);
      }
    } else {
      for (size_t i = 0; i < n; ++i) fresh += seen.insert_at(seen.index_of(in.seeds[i], in.tokens[i]), in.seeds[i], in.tokens[i]);
    }
    benchmark::DoNotOptimize(fresh);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
  state.counters["ns_per_insert"] = benchmark::Counter(
      static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK_CAPTURE(BM_proto_set_insert, replica_4k_pages, false, false)
    ->ArgName("len")->Arg(1000000)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_proto_set_insert, huge_pages, true, false)
    ->ArgName("len")->Arg(1000000)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_proto_set_insert, prefetch16, false, true)
    ->ArgName("len")->Arg(1000000)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_proto_set_insert, huge_pages_prefetch16, true, true)
    ->ArgName("len")->Arg(1000000)->Unit(benchmark::kMicrosecond);

// A replica of detector::score's pure mode (dedup on, no trace, no windows) for
// kgw-lefthash, with the proto_set above: `prefetch` computes the seed and slot index
// kAhead tokens ahead (a ring) and prefetches the slot, then inserts and scores in order.
// Checked against detector::score (same n_scored, n_green).
void BM_proto_score_pure(benchmark::State& state, int32_t h, bool huge, bool prefetch) {
  const size_t n = static_cast<size_t>(state.range(0));
  const std::vector<int32_t> tokens = random_tokens(n, 32000);
  tracemark::key::secret_bytes secret{};
  for (size_t i = 0; i < secret.size(); ++i) secret[i] = static_cast<uint8_t>(0x3c ^ (5 * i));
  tracemark::scheme_config cfg;
  cfg.name = "kgw-lefthash";
  cfg.context_width = h;
  cfg.vocab_size = 32000;
  const tracemark::scheme s(tracemark::key::from_secret(secret), cfg);
  const tracemark::prf_keys& keys = s.keys();
  const uint64_t threshold = s.green_threshold();
  proto_set seen(n, huge);
  if (!seen.ok()) {
    state.SkipWithError("mmap failed");
    return;
  }
  constexpr size_t kAhead = 16;  // power of two (ring)
  auto run = [&](int64_t& n_scored, int64_t& n_green) {
    seen.clear();
    n_scored = 0;
    n_green = 0;
    const size_t first = static_cast<size_t>(h);
    if (!prefetch) {
      for (size_t i = first; i < n; ++i) {
        const int32_t t = tokens[i];
        const uint64_t sd = tracemark::detail::scheme_seed(tracemark::detail::green_list_kind::lefthash, keys, tokens.data() + i - first, h, t);
        if (!seen.insert_at(seen.index_of(sd, t), sd, t)) continue;
        ++n_scored;
        n_green += tracemark::detail::membership_prf(keys, sd, t) < threshold;
      }
      return;
    }
    uint64_t ring_seed[kAhead];
    size_t ring_idx[kAhead];
    auto stage = [&](size_t i) {
      const uint64_t sd = tracemark::detail::scheme_seed(tracemark::detail::green_list_kind::lefthash, keys, tokens.data() + i - first, h, tokens[i]);
      const size_t ix = seen.index_of(sd, tokens[i]);
      seen.prefetch(ix);
      ring_seed[i % kAhead] = sd;
      ring_idx[i % kAhead] = ix;
    };
    for (size_t i = first; i < n && i < first + kAhead; ++i) stage(i);
    for (size_t i = first; i < n; ++i) {
      const int32_t t = tokens[i];
      const uint64_t sd = ring_seed[i % kAhead];
      const size_t ix = ring_idx[i % kAhead];
      if (i + kAhead < n) stage(i + kAhead);
      if (!seen.insert_at(ix, sd, t)) continue;
      ++n_scored;
      n_green += tracemark::detail::membership_prf(keys, sd, t) < threshold;
    }
  };
  int64_t n_scored = 0, n_green = 0;
  run(n_scored, n_green);
  tracemark::detect_options opt;
  opt.keep_trace = false;
  opt.min_window = 0;
  const tracemark::detection ref = tracemark::detector(s, opt).score(tokens);
  if (ref.n_scored() != n_scored || ref.n_green() != n_green) {
    state.SkipWithError("replica disagrees with detector::score");
    return;
  }
  for (auto _ : state) {
    run(n_scored, n_green);
    benchmark::DoNotOptimize(n_green);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
  state.counters["ns_per_token"] = benchmark::Counter(
      static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
void proto_lengths(benchmark::internal::Benchmark* b) {
  b->ArgName("len")->Arg(10000)->Arg(1000000)->Unit(benchmark::kMicrosecond);
}
BENCHMARK_CAPTURE(BM_proto_score_pure, lefthash_h1_replica, 1, false, false)->Apply(proto_lengths);
BENCHMARK_CAPTURE(BM_proto_score_pure, lefthash_h1_huge_pages, 1, true, false)->Apply(proto_lengths);
BENCHMARK_CAPTURE(BM_proto_score_pure, lefthash_h1_prefetch16, 1, false, true)->Apply(proto_lengths);
BENCHMARK_CAPTURE(BM_proto_score_pure, lefthash_h1_huge_pages_prefetch16, 1, true, true)->Apply(proto_lengths);
BENCHMARK_CAPTURE(BM_proto_score_pure, lefthash_h4_prefetch16, 4, false, true)->Apply(proto_lengths);

// kgw-minhash seeds: the library hashes each of the h context tokens at every position
// (h SipHash calls per token); each token's hash can instead be computed once and the
// window minimum taken over the last h cached values. Both produce identical seeds.
void BM_minhash_seeds(benchmark::State& state, bool cached) {
  const size_t n = static_cast<size_t>(state.range(0));
  constexpr int32_t h = 4;
  const std::vector<int32_t> tokens = random_tokens(n, 32000);
  tracemark::key::secret_bytes secret{};
  tracemark::scheme_config cfg;
  cfg.name = "kgw-minhash";
  cfg.context_width = h;
  cfg.vocab_size = 32000;
  const tracemark::scheme s(tracemark::key::from_secret(secret), cfg);
  const tracemark::prf_keys& keys = s.keys();
  std::vector<uint64_t> seeds(n), per_token(n);
  auto compute = [&]() {
    if (!cached) {
      for (size_t i = h; i < n; ++i)
        seeds[i] = tracemark::detail::scheme_seed(tracemark::detail::green_list_kind::minhash, keys, tokens.data() + i - h, h, 0);
    } else {
      for (size_t i = 0; i < n; ++i) {
        const uint32_t w = static_cast<uint32_t>(tokens[i]);
        per_token[i] = tracemark::detail::siphash24_words(tracemark::detail::context_key(keys), &w, 1);
      }
      for (size_t i = h; i < n; ++i) {
        uint64_t m = per_token[i - h];
        for (size_t j = i - h + 1; j < i; ++j) m = per_token[j] < m ? per_token[j] : m;
        seeds[i] = m;
      }
    }
  };
  compute();
  for (size_t i = h; i < n; ++i) {
    if (seeds[i] != s.seed(tokens.data() + i - h, 0)) {
      state.SkipWithError("cached min-hash seeds differ from scheme::seed");
      return;
    }
  }
  for (auto _ : state) {
    compute();
    benchmark::DoNotOptimize(seeds.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
  state.counters["ns_per_token"] = benchmark::Counter(
      static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK_CAPTURE(BM_minhash_seeds, library_h4, false)->ArgName("len")->Arg(10000)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_minhash_seeds, proto_cached_h4, true)->ArgName("len")->Arg(10000)->Unit(benchmark::kMicrosecond);

}  // namespace
