// The green-list cache of small vocabularies (lib/src/green_cache.h): a watermarker with it
// biases exactly like the PRF says, on cache hits and misses, from many threads at once;
// the cache itself returns what was stored and nothing for other seeds.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "green_cache.h"
#include "test_helpers.h"
#include "tracemark/watermarker.h"

using namespace tracemark;
using testing_util::splitmix64;

namespace {

// A full candidate array (every id once, shuffled) with logits in a 10-nat range: nothing
// is pruned, so every candidate is tested.
std::vector<candidate> full_array(splitmix64& rng, int32_t vocab) {
  std::vector<candidate> c(static_cast<size_t>(vocab));
  for (int32_t i = 0; i < vocab; ++i) c[static_cast<size_t>(i)] = {i, static_cast<float>(rng.uniform() * 10.0), 0.0f};
  for (size_t i = c.size() - 1; i > 0; --i) std::swap(c[i], c[rng.below(static_cast<uint32_t>(i + 1))]);
  return c;
}

// What apply() must produce: +delta exactly on the green candidates (SPEC §5).
std::vector<candidate> expected(const watermarker& wm, const sequence_state& st, std::vector<candidate> c) {
  const scheme& s = wm.get_scheme();
  int32_t ctx[scheme::max_context_width];
  st.copy_context(ctx);
  for (candidate& x : c) {
    const uint64_t seed = s.seed(ctx, x.id);
    if (s.green(seed, x.id)) x.logit += wm.delta();
  }
  return c;
}

bool same(const std::vector<candidate>& a, const std::vector<candidate>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(candidate)) == 0);
}

}  // namespace

TEST_CASE("green_cache: a hit returns exactly what was stored; other seeds miss") {
  detail::green_cache cache(512);
  REQUIRE(cache.words() == 8);
  uint64_t bits[8], out[8];
  for (int i = 0; i < 8; ++i) bits[i] = uint64_t{0x0123456789abcdefULL} * (static_cast<uint64_t>(i) + 1);
  CHECK_FALSE(cache.lookup(42, out));
  cache.store(42, bits);
  REQUIRE(cache.lookup(42, out));
  CHECK(std::memcmp(out, bits, sizeof bits) == 0);
  CHECK_FALSE(cache.lookup(43, out));
  CHECK_FALSE(cache.lookup(0, out));  // an empty entry is never taken for seed 0
  bits[3] ^= 1;
  cache.store(42, bits);  // overwrite
  REQUIRE(cache.lookup(42, out));
  CHECK(out[3] == bits[3]);
  CHECK(cache.hits() == 2);
}

TEST_CASE("a watermarker with the cache biases exactly like the PRF, hit or miss") {
  for (const char* kind : {"kgw-lefthash", "kgw-minhash", "unigram"}) {
    CAPTURE(kind);
    scheme_config cfg;
    cfg.name = kind;
    cfg.context_width = std::string(kind) == "unigram" ? 0 : 2;
    cfg.vocab_size = 300;  // not a multiple of 64
    const watermarker wm(testing_util::key_from_seed(11), cfg, 2.5f);
    splitmix64 rng(3);
    sequence_state st = wm.new_state();
    int mismatches = 0, steps = 0;
    for (int step = 0; step < 3000; ++step) {
      // A small token alphabet so contexts repeat (cache hits), every array full.
      std::vector<candidate> c = full_array(rng, cfg.vocab_size);
      const std::vector<candidate> want = st.has_full_context() ? expected(wm, st, c) : c;
      wm.apply(st, c);
      mismatches += !same(c, want);
      // Also a top-k style partial array: served from the cache when the seed is known.
      std::vector<candidate> part(c.begin(), c.begin() + 20);
      for (size_t i = 0; i < part.size(); ++i) part[i] = want[i], part[i].logit = static_cast<float>(rng.uniform());
      const std::vector<candidate> want_part = st.has_full_context() ? expected(wm, st, part) : part;
      wm.apply(st, part);
      mismatches += !same(part, want_part);
      st.accept(static_cast<int32_t>(rng.below(6)));
      ++steps;
    }
    CHECK(mismatches == 0);
    const auto stats = wm.green_list_cache_stats();
    MESSAGE(steps << " steps: " << stats.hits << " hits, " << stats.misses << " misses");
    CHECK(stats.hits > 1000);  // 36 distinct contexts (h = 2 over 6 tokens): nearly all hits
    CHECK(stats.misses > 0);
  }
}

TEST_CASE("the cache is not used where it cannot be: self-hash, large vocabularies") {
  scheme_config cfg;
  cfg.vocab_size = 300;
  cfg.name = "kgw-selfhash";
  const watermarker self(testing_util::key_from_seed(12), cfg, 2.0f);
  cfg.name = "kgw-lefthash";
  cfg.vocab_size = 32000;
  const watermarker large(testing_util::key_from_seed(12), cfg, 2.0f);
  splitmix64 rng(4);
  for (const watermarker* wm : {&self, &large}) {
    sequence_state st = wm->new_state();
    st.accept(1);
    std::vector<candidate> c = full_array(rng, wm->get_scheme().config().vocab_size);
    const std::vector<candidate> want = expected(*wm, st, c);
    wm->apply(st, c);
    CHECK(same(c, want));
    CHECK(wm->green_list_cache_stats().hits == 0);
    CHECK(wm->green_list_cache_stats().misses == 0);
  }
}

TEST_CASE("many threads share one cached watermarker and all get exact results") {
  scheme_config cfg;
  cfg.context_width = 1;
  cfg.vocab_size = 512;
  const watermarker wm(testing_util::key_from_seed(13), cfg, 3.0f);
  std::vector<int> bad(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      splitmix64 rng(100 + static_cast<uint64_t>(t));
      sequence_state st = wm.new_state();
      for (int step = 0; step < 1500; ++step) {
        st.accept(static_cast<int32_t>(rng.below(40)));
        std::vector<candidate> c = full_array(rng, 512);
        const std::vector<candidate> want = expected(wm, st, c);
        wm.apply(st, c);
        bad[static_cast<size_t>(t)] += !same(c, want);
      }
    });
  for (auto& th : threads) th.join();
  for (int b : bad) CHECK(b == 0);
  CHECK(wm.green_list_cache_stats().hits > 3000);
}
