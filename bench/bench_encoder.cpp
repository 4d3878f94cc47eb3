// watermarker::apply per decoding step (docs/SPEC.md §5), at the vocabulary sizes of
// Llama 2 (32,000), Llama 3 (128,256) and Qwen 2 (151,936), on realistic peaked logits.
//
// Logit model (generated once per vocabulary size, fixed seed): the bulk of the
// vocabulary ~ Normal(0, 2.5); a head of 8 tokens (random ids) uniform in [8, 20]
// above it, like a real LLM's next-token logits (a few plausible tokens, a long
// flat tail). The candidate array is built as llama.cpp builds it: {id, logit, 0} in id
// order.
//
// Each iteration is one decoding step: the sequence accepts a new token (so the seed
// and the green list change every step, as in real decoding), the pristine candidate
// array is copied into the working array (apply() adds delta to green logits, so the
// input must be restored), and apply() runs. The copy is timed; BM_copy_candidates
// measures it alone at the same size so it can be subtracted (docs/PERFORMANCE.md
// reports both). BM_apply_unsorted_manual_time cross-checks the subtraction by timing
// apply() alone with a steady clock, the copy outside the timed region (wall-clock
// time: it only agrees with the CPU-time numbers on an otherwise idle machine).
//
// Counters: tested = candidates tested for membership per step (apply's return value),
// n = candidates passed in; for the full arrays also spread = max - min logit,
// margin = the pruning margin of §5.2, and oracle_skippable = how many candidates the
// tightest rule with the same 1e-10 TV guarantee could skip (see logits_fixture).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <vector>


#include "bias_kernels.h"
#include "scheme_prf.h"
#include "tracemark/key.h"
#include "tracemark/scheme.h"
#include "tracemark/watermarker.h"

namespace {

using tracemark::candidate;

constexpr size_t kTopK = 40;
constexpr float kDelta = 2.0f;
constexpr double kGamma = 0.25;

struct logits_fixture {
  std::vector<candidate> by_id;      // (a): id order, as llama.cpp fills it
  std::vector<candidate> sorted;     // (b): sorted by logit, descending
  std::vector<candidate> top_k;      // (c): the 40 highest, sorted descending
  std::vector<int32_t> next_tokens;  // tokens accepted step after step

  explicit logits_fixture(int32_t vocab) {
    std::mt19937_64 rng(uint64_t{0x7a11ce5eed} ^ static_cast<uint64_t>(vocab));
    std::normal_distribution<float> bulk(0.0f, 2.5f);
    std::uniform_real_distribution<float> head(8.0f, 20.0f);
    std::uniform_int_distribution<int32_t> any_token(0, vocab - 1);
    by_id.resize(static_cast<size_t>(vocab));
    for (int32_t v = 0; v < vocab; ++v) by_id[static_cast<size_t>(v)] = candidate{v, bulk(rng), 0.0f};
    for (int i = 0; i < 8; ++i) by_id[static_cast<size_t>(any_token(rng))].logit = head(rng);
    sorted = by_id;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const candidate& a, const candidate& b) { return a.logit > b.logit; });
    top_k.assign(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(kTopK));
    for (int i = 0; i < 4096; ++i) next_tokens.push_back(any_token(rng));
    max_logit = sorted.front().logit;
    min_logit = sorted.back().logit;
    // The most any pruning rule with the TV bound of §5.2 could skip: the longest run of
    // lowest logits with (e^delta - 1) * sum e^l <= eps * Z (Z of the unbiased logits, a
    // lower bound of the biased one, so this is if anything generous).
    double z = 0.0;
    for (const candidate& c : sorted) z += std::exp(static_cast<double>(c.logit - max_logit));
    const double budget = tracemark::watermarker::pruning_tv_bound * z / std::expm1(static_cast<double>(kDelta));
    double tail = 0.0;
    for (auto it = sorted.rbegin(); it != sorted.rend(); ++it) {
      tail += std::exp(static_cast<double>(it->logit - max_logit));
      if (tail > budget) break;
      ++oracle_skippable;
    }
  }
  float max_logit = 0.0f, min_logit = 0.0f;
  size_t oracle_skippable = 0;
};

const logits_fixture& logits_for(int32_t vocab) {
  static std::map<int32_t, std::unique_ptr<logits_fixture>> cache;
  auto& slot = cache[vocab];
  if (!slot) slot = std::make_unique<logits_fixture>(vocab);
  return *slot;
}

const tracemark::watermarker& watermarker_for(const std::string& kind, int32_t vocab) {
  static std::map<std::pair<std::string, int32_t>, std::unique_ptr<tracemark::watermarker>> cache;
  auto& slot = cache[{kind, vocab}];
  if (!slot) {
    tracemark::key::secret_bytes secret{};
    for (size_t i = 0; i < secret.size(); ++i) secret[i] = static_cast<uint8_t>(0xa5 ^ (11 * i));
    tracemark::scheme_config cfg;
    cfg.name = kind;
    cfg.context_width = 1;
    cfg.gamma = kGamma;
    cfg.vocab_size = vocab;
    slot = std::make_unique<tracemark::watermarker>(tracemark::key::from_secret(secret), cfg, kDelta);
  }
  return *slot;
}

enum class array_kind { unsorted, sorted, top_k };

const std::vector<candidate>& pick(const logits_fixture& f, array_kind a) {
  switch (a) {
    case array_kind::unsorted: return f.by_id;
    case array_kind::sorted: return f.sorted;
    case array_kind::top_k: return f.top_k;
  }
  return f.by_id;
}

void set_counters(benchmark::State& state, size_t n, size_t tested_total) {
  state.counters["n"] = static_cast<double>(n);
  state.counters["tested"] = benchmark::Counter(static_cast<double>(tested_total), benchmark::Counter::kAvgIterations);
}

// One decoding step per iteration: accept, restore (copy), apply.
void run_apply(benchmark::State& state, const char* kind, array_kind arrays, bool sorted_flag, bool prune) {
  const int32_t vocab = static_cast<int32_t>(state.range(0));
  const logits_fixture& f = logits_for(vocab);
  const tracemark::watermarker& wm = watermarker_for(kind, vocab);
  const std::vector<candidate>& pristine = pick(f, arrays);
  std::vector<candidate> work(pristine);
  tracemark::sequence_state seq = wm.new_state();
  size_t step = 0, tested_total = 0;
  for (auto _ : state) {
    seq.accept(f.next_tokens[step++ & 4095]);
    std::memcpy(work.data(), pristine.data(), pristine.size() * sizeof(candidate));
    const size_t tested = prune ? wm.apply(seq, work, sorted_flag) : wm.apply_all(seq, work);
    tested_total += tested;
    benchmark::DoNotOptimize(work.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, pristine.size(), tested_total);
  if (arrays != array_kind::top_k) {
    state.counters["spread"] = static_cast<double>(f.max_logit - f.min_logit);
    state.counters["margin"] = tracemark::watermarker::prune_margin(kDelta, pristine.size());
    state.counters["oracle_skippable"] = static_cast<double>(f.oracle_skippable);
  }
}

// (a) full candidate array in id order, pruning on.
void BM_apply_unsorted(benchmark::State& s) { run_apply(s, "kgw-lefthash", array_kind::unsorted, false, true); }
// (a) with kgw-selfhash: one context hash + one full membership hash per tested candidate.
void BM_apply_unsorted_selfhash(benchmark::State& s) { run_apply(s, "kgw-selfhash", array_kind::unsorted, false, true); }
// (b) full array sorted descending, sorted_descending = true (scan stops at the cutoff).
void BM_apply_sorted(benchmark::State& s) { run_apply(s, "kgw-lefthash", array_kind::sorted, true, true); }
// (c) top-k = 40 candidates, sorted descending (llama.cpp's top-k sampler sorts).
void BM_apply_topk40(benchmark::State& s) { run_apply(s, "kgw-lefthash", array_kind::top_k, true, true); }
// (d) apply_all: every candidate tested, no pruning; the baseline for (a).
void BM_apply_all(benchmark::State& s) { run_apply(s, "kgw-lefthash", array_kind::unsorted, false, false); }

// Where the 5 us budget at vocab 151,936 holds: top-k arrays of k = 40 ... 2048
// (the k highest logits, sorted descending, sorted_descending = true).
void BM_apply_topk_n(benchmark::State& state) {
  const size_t k = static_cast<size_t>(state.range(0));
  const int32_t vocab = 151936;
  const logits_fixture& f = logits_for(vocab);
  const tracemark::watermarker& wm = watermarker_for("kgw-lefthash", vocab);
  const std::vector<candidate> pristine(f.sorted.begin(), f.sorted.begin() + static_cast<std::ptrdiff_t>(k));
  std::vector<candidate> work(pristine);
  tracemark::sequence_state seq = wm.new_state();
  size_t step = 0, tested_total = 0;
  for (auto _ : state) {
    seq.accept(f.next_tokens[step++ & 4095]);
    std::memcpy(work.data(), pristine.data(), k * sizeof(candidate));
    tested_total += wm.apply(seq, work, true);
    benchmark::DoNotOptimize(work.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, k, tested_total);
}

// Cross-check of the copy subtraction: only apply() inside the timed region.
void BM_apply_unsorted_manual_time(benchmark::State& state) {
  const int32_t vocab = static_cast<int32_t>(state.range(0));
  const logits_fixture& f = logits_for(vocab);
  const tracemark::watermarker& wm = watermarker_for("kgw-lefthash", vocab);
  std::vector<candidate> work(f.by_id);
  tracemark::sequence_state seq = wm.new_state();
  size_t step = 0, tested_total = 0;
  for (auto _ : state) {
    seq.accept(f.next_tokens[step++ & 4095]);
    std::memcpy(work.data(), f.by_id.data(), f.by_id.size() * sizeof(candidate));
    benchmark::ClobberMemory();
    const auto t0 = std::chrono::steady_clock::now();
    tested_total += wm.apply(seq, work, false);
    benchmark::ClobberMemory();
    const auto t1 = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
  }
  set_counters(state, f.by_id.size(), tested_total);
}

// The restore cost included in every BM_apply_* iteration.
void BM_copy_candidates(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const logits_fixture& f = logits_for(static_cast<int32_t>(state.range(1)));
  const std::vector<candidate>& pristine = n == kTopK ? f.top_k : f.by_id;
  std::vector<candidate> work(pristine);
  for (auto _ : state) {
    std::memcpy(work.data(), pristine.data(), n * sizeof(candidate));
    benchmark::DoNotOptimize(work.data());
    benchmark::ClobberMemory();
  }
  state.counters["n"] = static_cast<double>(n);
}

// Floor of any full-vocabulary sampler: one pass finding the maximum logit.
void BM_baseline_max_logit(benchmark::State& state) {
  const logits_fixture& f = logits_for(static_cast<int32_t>(state.range(0)));
  const std::vector<candidate>& c = f.by_id;
  for (auto _ : state) {
    float m = -std::numeric_limits<float>::infinity();
    for (const candidate& x : c) m = x.logit > m ? x.logit : m;
    benchmark::DoNotOptimize(m);
  }
  state.counters["n"] = static_cast<double>(c.size());
}

// A full softmax over the candidate array (max, exp and sum, normalise), writing p,
// as llama.cpp's softmax sampler does (without its sort).
void BM_baseline_softmax(benchmark::State& state) {
  const logits_fixture& f = logits_for(static_cast<int32_t>(state.range(0)));
  std::vector<candidate> c(f.by_id);
  for (auto _ : state) {
    float m = -std::numeric_limits<float>::infinity();
    for (const candidate& x : c) m = x.logit > m ? x.logit : m;
    float sum = 0.0f;
    for (candidate& x : c) {
      x.p = std::exp(x.logit - m);
      sum += x.p;
    }
    const float inv = 1.0f / sum;
    for (candidate& x : c) x.p *= inv;
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["n"] = static_cast<double>(c.size());
}

// ------------------------------------------------------------------ bias-loop variants
// watermarker::bias() for kgw-lefthash (pruning cutoff included) with a chosen loop: the
// scalar replica, a branchless prototype (bench only), and the library's AVX-512 kernel
// called directly (apply() uses it only from 4096 candidates up: lib/src/bias_kernels.h).
// Each is checked against watermarker::apply on the same step (identical logits and
// tested count). The step setup (prune margin, context
// seed, shared SipHash state) is done per iteration, as in apply().
enum class bias_variant { branchy, branchless, avx512 };

size_t bias_branchy(const tracemark::detail::siphash_state& st, uint64_t t, float delta, float cutoff,
                    std::span<candidate> c) {
  size_t n_tested = 0;
  for (candidate& x : c) {
    if (!(x.logit >= cutoff)) continue;
    ++n_tested;
    if (tracemark::detail::siphash24_finish_token(st, static_cast<uint32_t>(x.id)) < t) x.logit += delta;
  }
  return n_tested;
}

// The green outcome is a coin flip (gamma = 0.25): as a branch it mispredicts often.
// Adding +0.0f to a non-green logit leaves it unchanged (logits are never -0.0 here).
size_t bias_branchless(const tracemark::detail::siphash_state& st, uint64_t t, float delta, float cutoff,
                       std::span<candidate> c) {
  size_t n_tested = 0;
  for (candidate& x : c) {
    const bool tested = x.logit >= cutoff;
    n_tested += tested;
    const bool green = tracemark::detail::siphash24_finish_token(st, static_cast<uint32_t>(x.id)) < t;
    // Select delta or +0.0f with a mask (GCC turns `? delta : 0.0f` back into a branch).
    const uint32_t select = 0u - static_cast<uint32_t>(tested & green);
    x.logit += std::bit_cast<float>(std::bit_cast<uint32_t>(delta) & select);
  }
  return n_tested;
}

void BM_proto_bias(benchmark::State& state, bias_variant variant) {
  if (variant == bias_variant::avx512 && !tracemark::detail::avx512_kernels_available()) {
    state.SkipWithError("no AVX-512F/VL kernels on this CPU or build");
    return;
  }
  const int32_t vocab = static_cast<int32_t>(state.range(0));
  const logits_fixture& f = logits_for(vocab);
  const tracemark::watermarker& wm = watermarker_for("kgw-lefthash", vocab);
  const tracemark::prf_keys& keys = wm.get_scheme().keys();
  const uint64_t t = wm.get_scheme().green_threshold();
  const std::vector<candidate>& pristine = f.by_id;
  std::vector<candidate> work(pristine), ref(pristine);
  tracemark::sequence_state seq = wm.new_state();
  auto step = [&](std::span<candidate> c) -> size_t {  // apply() with the chosen bias loop
    float max_logit = -std::numeric_limits<float>::infinity();
    if (variant == bias_variant::avx512) max_logit = tracemark::detail::max_logit_avx512(c);
    else
      for (const candidate& x : c) max_logit = x.logit > max_logit ? x.logit : max_logit;
    const double margin = tracemark::watermarker::prune_margin(kDelta, c.size());
    const float cutoff = std::nextafter(static_cast<float>(static_cast<double>(max_logit) - margin),
                                        -std::numeric_limits<float>::infinity());
    int32_t context[1];
    seq.copy_context(context);
    const uint64_t sd = tracemark::detail::scheme_seed(tracemark::detail::green_list_kind::lefthash, keys, context, 1, 0);
    const tracemark::detail::siphash_state st =
        tracemark::detail::siphash24_after_seed(tracemark::detail::green_key(keys), sd);
    switch (variant) {
      case bias_variant::branchy: return bias_branchy(st, t, kDelta, cutoff, c);
      case bias_variant::branchless: return bias_branchless(st, t, kDelta, cutoff, c);
      case bias_variant::avx512: return tracemark::detail::bias_shared_seed_avx512(st, t, kDelta, cutoff, c);
    }
    return 0;
  };
  seq.accept(f.next_tokens[0]);
  const size_t tested_ref = wm.apply(seq, ref, false);
  if (step(work) != tested_ref ||
      std::memcmp(work.data(), ref.data(), work.size() * sizeof(candidate)) != 0) {
    state.SkipWithError("prototype disagrees with watermarker::apply");
    return;
  }
  size_t i = 0, tested_total = 0;
  for (auto _ : state) {
    seq.accept(f.next_tokens[i++ & 4095]);
    std::memcpy(work.data(), pristine.data(), pristine.size() * sizeof(candidate));
    tested_total += step(work);
    benchmark::DoNotOptimize(work.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, pristine.size(), tested_total);
}

void vocab_args(benchmark::internal::Benchmark* b) {
  b->ArgName("vocab")->Arg(32000)->Arg(128256)->Arg(151936)->Unit(benchmark::kMicrosecond);
}

BENCHMARK(BM_baseline_max_logit)->Apply(vocab_args);
BENCHMARK(BM_baseline_softmax)->Apply(vocab_args);
BENCHMARK(BM_copy_candidates)
    ->ArgNames({"n", "vocab"})
    ->Args({32000, 32000})
    ->Args({128256, 128256})
    ->Args({151936, 151936})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_copy_candidates)->ArgNames({"n", "vocab"})->Args({static_cast<int64_t>(kTopK), 151936});
BENCHMARK(BM_apply_unsorted)->Apply(vocab_args);
BENCHMARK(BM_apply_unsorted_manual_time)->Apply(vocab_args)->UseManualTime();
BENCHMARK(BM_apply_sorted)->Apply(vocab_args);
BENCHMARK(BM_apply_topk40)->ArgName("vocab")->Arg(32000)->Arg(128256)->Arg(151936);  // ns
BENCHMARK(BM_apply_all)->Apply(vocab_args);
BENCHMARK(BM_apply_unsorted_selfhash)->Apply(vocab_args);
BENCHMARK(BM_apply_topk_n)->ArgName("k")->Arg(40)->Arg(128)->Arg(256)->Arg(512)->Arg(1024)->Arg(2048);  // ns
BENCHMARK(BM_copy_candidates)->ArgNames({"n", "vocab"})->Args({2048, 151936});
BENCHMARK_CAPTURE(BM_proto_bias, replica_branchy, bias_variant::branchy)->Apply(vocab_args);
BENCHMARK_CAPTURE(BM_proto_bias, branchless, bias_variant::branchless)->Apply(vocab_args);
BENCHMARK_CAPTURE(BM_proto_bias, avx512_8lanes, bias_variant::avx512)->Apply(vocab_args);

}  // namespace
