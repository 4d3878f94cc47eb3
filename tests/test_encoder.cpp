// Encoder (docs/SPEC.md §5): no allocation per token, the pruning bound, thread safety,
// and agreement with the detector's notion of green.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <thread>

#include "test_helpers.h"
#include "tracemark/detector.h"
#include "tracemark/error.h"
#include "tracemark/watermarker.h"

// Count every heap allocation in this test program. GCC cannot see that these replacement
// operators pair malloc with free on purpose.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
static std::atomic<long> g_allocations{0};
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

using namespace tracemark;
using testing_util::splitmix64;

namespace {

// Logits shaped like an LLM's: a bulk around 0 and a handful of strong candidates.
std::vector<candidate> realistic_logits(splitmix64& rng, int32_t vocab) {
  std::vector<candidate> c(static_cast<size_t>(vocab));
  for (int32_t i = 0; i < vocab; ++i) {
    // Sum of uniforms: roughly normal, sd ~2.
    double x = 0;
    for (int k = 0; k < 4; ++k) x += rng.uniform() - 0.5;
    c[static_cast<size_t>(i)] = candidate{i, static_cast<float>(x * 3.5), 0.0f};
  }
  for (int k = 0; k < 5; ++k) c[rng.below(static_cast<uint32_t>(vocab))].logit = static_cast<float>(8 + 12 * rng.uniform());
  return c;
}

long double total_variation(const std::vector<candidate>& a, const std::vector<candidate>& b) {
  long double ma = -INFINITY, mb = -INFINITY, za = 0, zb = 0, tv = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ma = std::max<long double>(ma, a[i].logit);
    mb = std::max<long double>(mb, b[i].logit);
  }
  for (size_t i = 0; i < a.size(); ++i) {
    za += std::exp((long double)a[i].logit - ma);
    zb += std::exp((long double)b[i].logit - mb);
  }
  for (size_t i = 0; i < a.size(); ++i)
    tv += std::fabs(std::exp((long double)a[i].logit - ma) / za - std::exp((long double)b[i].logit - mb) / zb);
  return tv / 2;
}

scheme_config config(const std::string& kind, int32_t h, int32_t vocab) {
  scheme_config c;
  c.name = kind;
  c.context_width = h;
  c.vocab_size = vocab;
  return c;
}

}  // namespace

TEST_CASE("apply and accept allocate nothing per token") {
  const watermarker wm(testing_util::key_from_seed(1), config("kgw-lefthash", 2, 32000), 2.0f);
  const watermarker wm_self(testing_util::key_from_seed(1), config("kgw-selfhash", 4, 32000), 2.0f);
  // A small vocabulary: the green-list cache is filled and read (lib/src/green_cache.h).
  const watermarker wm_small(testing_util::key_from_seed(1), config("kgw-lefthash", 1, 512), 2.0f);
  splitmix64 rng(1);
  auto logits = realistic_logits(rng, 32000);
  auto small = realistic_logits(rng, 512);
  sequence_state state = wm.new_state();
  sequence_state state_self = wm_self.new_state();
  sequence_state state_small = wm_small.new_state();
  const long before = g_allocations.load();
  size_t tested = 0;
  for (int step = 0; step < 2000; ++step) {
    tested += wm.apply(state, logits);
    tested += wm_self.apply(state_self, std::span<candidate>(logits.data(), 64));
    tested += wm_small.apply(state_small, small);
    state.accept(static_cast<int32_t>(step));
    state_self.accept(static_cast<int32_t>(step));
    state_small.accept(static_cast<int32_t>(step % 50));
  }
  CHECK(wm_small.green_list_cache_stats().hits > 1000);
  const long after = g_allocations.load();
  CHECK(tested > 0);
  CHECK(after == before);
  // The counter works: a vector allocation is seen.
  std::vector<int> probe(10);
  CHECK(g_allocations.load() > after);
}

TEST_CASE("pruned biasing differs from full-vocabulary biasing by < 1e-9 in total variation") {
  splitmix64 rng(2);
  for (int32_t vocab : {32000, 151936}) {
    for (float delta : {1.0f, 2.0f, 4.0f, 8.0f}) {
      const watermarker wm(testing_util::key_from_seed(rng.next()), config("kgw-lefthash", 1, vocab), delta);
      sequence_state state = wm.new_state();
      state.accept(17);
      auto base = realistic_logits(rng, vocab);
      auto full = base, pruned = base;
      wm.apply_all(state, full);
      const size_t tested = wm.apply(state, pruned);
      const long double tv = total_variation(full, pruned);
      INFO("vocab ", vocab, " delta ", delta, " tested ", tested, " tv ", static_cast<double>(tv));
      CHECK(tv < 1e-9L);
    }
  }
}

TEST_CASE("pruning bound holds in the worst case: every skipped token sits just below the cutoff") {
  // One leader at 0 and all other candidates at (-margin - tiny), all green-or-not by key:
  // the bound's proof is tight here, so TV must still be below 1e-10 (+ rounding).
  for (float delta : {2.0f, 10.0f}) {
    const int32_t vocab = 151936;
    const watermarker wm(testing_util::key_from_seed(9), config("unigram", 0, vocab), delta);
    const double margin = watermarker::prune_margin(delta, static_cast<size_t>(vocab));
    std::vector<candidate> base(static_cast<size_t>(vocab));
    for (int32_t i = 0; i < vocab; ++i)
      base[static_cast<size_t>(i)] = candidate{i, static_cast<float>(-margin - 1e-3), 0.0f};
    base[0].logit = 0.0f;
    auto full = base, pruned = base;
    sequence_state state = wm.new_state();
    wm.apply_all(state, full);
    const size_t tested = wm.apply(state, pruned);
    CHECK(tested == 1);  // only the leader
    const long double tv = total_variation(full, pruned);
    MESSAGE("worst case delta ", delta, ": TV ", static_cast<double>(tv), " (bound 1e-10)");
    CHECK(tv < 1.01e-10L);
    CHECK(tv > 1e-12L);  // the case really is near the bound, so the check can fail
  }
}

TEST_CASE("sorted input lets apply stop early and gives the same result") {
  splitmix64 rng(3);
  const watermarker wm(testing_util::key_from_seed(3), config("kgw-lefthash", 1, 32000), 2.0f);
  sequence_state state = wm.new_state();
  state.accept(5);
  auto base = realistic_logits(rng, 32000);
  std::sort(base.begin(), base.end(), [](const candidate& a, const candidate& b) { return a.logit > b.logit; });
  auto unsorted_path = base, sorted_path = base;
  const size_t a = wm.apply(state, unsorted_path, false);
  const size_t b = wm.apply(state, sorted_path, true);
  CHECK(a == b);
  for (size_t i = 0; i < base.size(); ++i) REQUIRE(unsorted_path[i].logit == sorted_path[i].logit);
}

TEST_CASE("encoder and detector agree on green, for every scheme") {
  splitmix64 rng(4);
  for (auto [kind, h] : {std::pair{"kgw-lefthash", 3}, std::pair{"kgw-selfhash", 2},
                         std::pair{"kgw-minhash", 4}, std::pair{"unigram", 0}}) {
    const watermarker wm(testing_util::key_from_seed(rng.next()), config(kind, h, 1000), 3.0f);
    sequence_state state = wm.new_state();
    std::vector<int32_t> text;
    int checked = 0;
    for (int step = 0; step < 300; ++step) {
      std::vector<candidate> cands(1000);
      for (int32_t i = 0; i < 1000; ++i) cands[static_cast<size_t>(i)] = candidate{i, 0.0f, 0.0f};
      wm.apply_all(state, cands);
      const int32_t next = static_cast<int32_t>(rng.below(1000));
      if (state.has_full_context()) {
        // The detector's verdict for `next` after this context must match the encoder's bias.
        auto with_next = text;
        with_next.push_back(next);
        detect_options opt;
        opt.dedup = false;
        opt.min_window = 0;
        const detection d = detector(wm.get_scheme(), opt).score(with_next);
        const bool detector_green = d.trace.back() == token_mark::green;
        REQUIRE(detector_green == (cands[static_cast<size_t>(next)].logit > 0.0f));
        ++checked;
      } else {
        for (const auto& c : cands) REQUIRE(c.logit == 0.0f);  // no context, no bias
      }
      state.accept(next);
      text.push_back(next);
    }
    CHECK(checked == 300 - h);
  }
}

TEST_CASE("one watermarker shared by many threads gives the same results as one thread") {
  const watermarker wm(testing_util::key_from_seed(5), config("kgw-lefthash", 2, 32000), 2.0f);
  auto run = [&](uint64_t seed) {
    splitmix64 rng(seed);
    sequence_state state = wm.new_state();
    uint64_t digest = 0;
    for (int step = 0; step < 300; ++step) {
      std::vector<candidate> cands(256);
      for (auto& c : cands) c = candidate{static_cast<int32_t>(rng.below(32000)), 0.0f, 0.0f};
      wm.apply(state, cands);
      for (const auto& c : cands) digest = digest * 31 + (c.logit > 0.0f);
      state.accept(cands[0].id);
    }
    return digest;
  };
  std::vector<uint64_t> sequential, parallel(8);
  for (uint64_t s = 0; s < 8; ++s) sequential.push_back(run(s));
  std::vector<std::thread> threads;
  for (uint64_t s = 0; s < 8; ++s) threads.emplace_back([&, s] { parallel[s] = run(s); });
  for (auto& t : threads) t.join();
  CHECK(sequential == parallel);
}

TEST_CASE("sequence_state keeps the last h tokens in order") {
  sequence_state s(3);
  CHECK_FALSE(s.has_full_context());
  for (int32_t t = 1; t <= 5; ++t) s.accept(t);
  int32_t ctx[3];
  s.copy_context(ctx);
  CHECK(ctx[0] == 3);
  CHECK(ctx[1] == 4);
  CHECK(ctx[2] == 5);
  s.reset();
  CHECK_FALSE(s.has_full_context());
  CHECK(sequence_state(0).has_full_context());
}

TEST_CASE("bad watermarker parameters are rejected with clear errors") {
  const key k = testing_util::key_from_seed(6);
  CHECK_THROWS_WITH_AS(watermarker(k, config("kgw-lefthash", 1, 100), 0.0f), doctest::Contains("delta"), tracemark::error);
  CHECK_THROWS_WITH_AS(watermarker(k, config("kgw-lefthash", 0, 100), 2.0f),
                       doctest::Contains("context width"), tracemark::error);
  CHECK_THROWS_WITH_AS(watermarker(k, config("unigram", 1, 100), 2.0f), doctest::Contains("width 0"),
                       tracemark::error);
  CHECK_THROWS_WITH_AS(watermarker(k, config("kgw-lefthash", 1, 0), 2.0f), doctest::Contains("vocab_size"),
                       tracemark::error);
  scheme_config c = config("kgw-lefthash", 1, 100);
  for (double g : {0.0, 1.0, -0.5, 1.5, std::nan("")}) {
    c.gamma = g;
    CHECK_THROWS_WITH_AS(watermarker(k, c, 2.0f), doctest::Contains("gamma"), tracemark::error);
  }
  c.gamma = 0.25;
  c.name = "kgw";
  CHECK_THROWS_WITH_AS(watermarker(k, c, 2.0f), doctest::Contains("valid schemes"), tracemark::error);
}
