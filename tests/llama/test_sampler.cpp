// The llama.cpp watermark sampler and the generation engine, on the real tiny model
// ../shared/models/stories260K.gguf (TinyStories, vocab 512).
#include <doctest/doctest.h>
#include <llama.h>

#include <algorithm>
#include <cmath>

#include "shared_files.h"
#include "test_helpers.h"
#include "tracemark/binomial.h"
#include "tracemark/detector.h"
#include "tracemark/error.h"
#include "tracemark/llama/engine.h"
#include "tracemark/llama/sampler.h"
#include "tracemark/tracemark.h"

using namespace tracemark;

namespace {

scheme_config tiny_config(int32_t h = 2) {
  scheme_config c;
  c.context_width = h;
  c.vocab_size = 512;
  return c;
}

const llama_engine& tiny_engine() {
  static const llama_engine engine(testing_util::verified_shared_file("models/stories260K.gguf"));
  return engine;
}

}  // namespace

TEST_CASE("sampler in a chain biases exactly like watermarker::apply, tracks context, clones state") {
  const watermarker wm(testing_util::key_from_seed(1), tiny_config(2), 3.0f);
  llama_sampler* smpl = make_llama_watermark_sampler(wm);
  REQUIRE(smpl != nullptr);
  CHECK(std::string(llama_sampler_name(smpl)) == "tracemark");

  std::vector<llama_token_data> data(512);
  auto reset_data = [&] {
    for (int32_t i = 0; i < 512; ++i) data[static_cast<size_t>(i)] = {i, static_cast<float>(i % 7), 0.0f};
  };
  llama_token_data_array arr{data.data(), data.size(), -1, true};

  // No context yet (h = 2): nothing changes, the sorted flag is left alone.
  reset_data();
  llama_sampler_apply(smpl, &arr);
  for (int32_t i = 0; i < 512; ++i) CHECK(data[static_cast<size_t>(i)].logit == static_cast<float>(i % 7));
  CHECK(arr.sorted);

  llama_sampler_accept(smpl, 10);
  llama_sampler_accept(smpl, 20);
  reset_data();
  llama_sampler_apply(smpl, &arr);
  CHECK_FALSE(arr.sorted);  // biased logits are out of order

  sequence_state state = wm.new_state();
  state.accept(10);
  state.accept(20);
  std::vector<candidate> expect(512);
  for (int32_t i = 0; i < 512; ++i) expect[static_cast<size_t>(i)] = {i, static_cast<float>(i % 7), 0.0f};
  wm.apply(state, expect);
  int n_biased = 0;
  for (size_t i = 0; i < 512; ++i) {
    REQUIRE(data[i].logit == expect[i].logit);
    n_biased += data[i].logit != static_cast<float>(i % 7);
  }
  CHECK(n_biased > 50);  // about gamma * 512 = 128
  CHECK(n_biased < 220);

  // A clone continues from the same context; reset forgets it.
  llama_sampler* copy = llama_sampler_clone(smpl);
  reset_data();
  llama_sampler_apply(copy, &arr);
  for (size_t i = 0; i < 512; ++i) REQUIRE(data[i].logit == expect[i].logit);
  llama_sampler_reset(copy);
  reset_data();
  llama_sampler_apply(copy, &arr);
  for (int32_t i = 0; i < 512; ++i) CHECK(data[static_cast<size_t>(i)].logit == static_cast<float>(i % 7));
  llama_sampler_free(copy);
  llama_sampler_free(smpl);
}

TEST_CASE("C entry point: tmk_llama_sampler_init over a tmk_watermarker, owned by a chain") {
  tmk_key* key = nullptr;
  REQUIRE(tmk_key_generate(&key) == TMK_OK);
  tmk_watermark_params p = tmk_watermark_params_default();
  p.vocab_size = 512;
  tmk_watermarker* wm = nullptr;
  REQUIRE(tmk_watermarker_init(key, &p, &wm) == TMK_OK);
  CHECK(tmk_llama_sampler_init(nullptr) == nullptr);
  llama_sampler* chain = llama_sampler_chain_init(llama_sampler_chain_default_params());
  llama_sampler_chain_add(chain, tmk_llama_sampler_init(wm));
  llama_sampler_chain_add(chain, llama_sampler_init_greedy());
  CHECK(llama_sampler_chain_n(chain) == 2);
  std::vector<llama_token_data> data(512);
  for (int32_t i = 0; i < 512; ++i) data[static_cast<size_t>(i)] = {i, 0.0f, 0.0f};
  llama_token_data_array arr{data.data(), data.size(), -1, false};
  llama_sampler_accept(chain, 3);
  llama_sampler_apply(chain, &arr);
  // Greedy picks a green token: the only ones raised above 0.
  REQUIRE(arr.selected >= 0);
  CHECK(data[static_cast<size_t>(arr.selected)].logit == doctest::Approx(2.0f));
  llama_sampler_free(chain);  // frees the watermark sampler too
  tmk_watermarker_free(wm);
  tmk_key_free(key);
}

TEST_CASE("stories260K: marked completions are detected at 200 tokens, unmarked ones are not") {
  // h = 2, delta 3: on this 512-token model, h = 1 repeats (context, token) tuples so often
  // that dedup leaves too few scored tokens for p < 1e-6 at 200 tokens every time.
  const llama_engine& engine = tiny_engine();
  REQUIRE(engine.n_vocab() == 512);
  llama_session session(engine, 512, 1);
  const watermarker wm(testing_util::key_from_seed(7), tiny_config(2), 3.0f);
  const detector det(wm.get_scheme());
  generation_params gp;
  gp.max_tokens = 200;
  gp.stop_at_bos = false;  // keep 200 tokens even across story boundaries
  int marked_detected = 0, control_rejected_05 = 0;
  double worst_marked = -INFINITY;
  const int n_runs = 20;
  for (int i = 0; i < n_runs; ++i) {
    gp.seed = static_cast<uint32_t>(1000 + i);
    const generation_result marked = session.generate("Once upon a time", gp, &wm);
    REQUIRE(marked.tokens.size() == 200);
    // Score the completion with its prompt as context, as the encoder saw it.
    std::vector<int32_t> all = marked.prompt_tokens;
    all.insert(all.end(), marked.tokens.begin(), marked.tokens.end());
    const detection d = det.score(all, static_cast<int64_t>(marked.prompt_tokens.size()));
    marked_detected += d.test.log10_p < -6;
    worst_marked = std::max(worst_marked, d.test.log10_p);

    const generation_result control = session.generate("Once upon a time", gp, nullptr);
    all = control.prompt_tokens;
    all.insert(all.end(), control.tokens.begin(), control.tokens.end());
    control_rejected_05 += det.score(all, static_cast<int64_t>(control.prompt_tokens.size())).test.log10_p <= std::log10(0.05);
  }
  MESSAGE("stories260K, 200 tokens, h=2 delta 3: ", marked_detected, "/", n_runs,
          " marked detected at 1e-6 (worst log10 p ", worst_marked, "); controls rejected at 0.05: ",
          control_rejected_05, "/", n_runs);
  CHECK(marked_detected == n_runs);
  CHECK(control_rejected_05 <= 5);  // P[Binomial(20, 0.05) >= 6] = 0.0003
}

TEST_CASE("generation is deterministic per seed, and the watermark changes the text") {
  llama_session session(tiny_engine(), 256, 1);
  const watermarker wm(testing_util::key_from_seed(8), tiny_config(2), 3.0f);
  generation_params gp;
  gp.max_tokens = 50;
  gp.seed = 42;
  const auto a = session.generate("Once upon a time", gp, &wm);
  const auto b = session.generate("Once upon a time", gp, &wm);
  const auto c = session.generate("Once upon a time", gp, nullptr);
  CHECK(a.tokens == b.tokens);
  CHECK(a.text == b.text);
  CHECK(a.tokens != c.tokens);
  CHECK(!a.text.empty());
  CHECK(a.prompt_tokens.front() == tiny_engine().tokenizer().bos());
}

TEST_CASE("every flash-attention mode generates marked text that is detected") {
  const watermarker wm(testing_util::key_from_seed(9), tiny_config(2), 3.0f);
  const detector det(wm.get_scheme());
  generation_params gp;
  gp.max_tokens = 200;
  gp.stop_at_bos = false;
  gp.seed = 5;
  for (flash_attention fa : {flash_attention::automatic, flash_attention::on, flash_attention::off}) {
    CAPTURE(static_cast<int>(fa));
    llama_session session(tiny_engine(), 512, 1, fa);
    const auto r = session.generate("Once upon a time", gp, &wm);
    REQUIRE(r.tokens.size() == 200);
    std::vector<int32_t> all = r.prompt_tokens;
    all.insert(all.end(), r.tokens.begin(), r.tokens.end());
    CHECK(det.score(all, static_cast<int64_t>(r.prompt_tokens.size())).test.log10_p < -6);
    CHECK(session.generate("Once upon a time", gp, &wm).tokens == r.tokens);  // deterministic per mode
  }
}

TEST_CASE("an account's sub-key does not detect another account's text") {
  llama_session session(tiny_engine(), 512, 1);
  scheme_config alice = tiny_config(2), bob = tiny_config(2);
  alice.account = "alice";
  bob.account = "bob";
  const key master = testing_util::key_from_seed(9);
  const watermarker wm_alice(master, alice, 3.0f), wm_bob(master, bob, 3.0f);
  generation_params gp;
  gp.max_tokens = 200;
  gp.stop_at_bos = false;
  gp.seed = 5;
  const auto r = session.generate("Once upon a time", gp, &wm_alice);
  const detection by_alice = detector(wm_alice.get_scheme()).score(r.tokens);
  const detection by_bob = detector(wm_bob.get_scheme()).score(r.tokens);
  CHECK(by_alice.test.log10_p < -6);
  CHECK(by_bob.test.log10_p > -2);
}

TEST_CASE("engine errors name the file and the problem") {
  CHECK_THROWS_WITH_AS(llama_engine("/nonexistent/model.gguf"), doctest::Contains("/nonexistent/model.gguf"),
                       tracemark::error);
  llama_session session(tiny_engine(), 16, 1);
  const watermarker wrong_vocab(testing_util::key_from_seed(1), [] {
    scheme_config c;
    c.vocab_size = 32000;
    return c;
  }(), 2.0f);
  generation_params gp;
  CHECK_THROWS_WITH_AS(session.generate("Once", gp, &wrong_vocab), doctest::Contains("vocabulary size 32000"),
                       tracemark::error);
  CHECK_THROWS_WITH_AS(session.generate(std::string(200, 'a'), gp), doctest::Contains("the context holds 16"),
                       tracemark::error);
  gp.top_p = 0.0f;
  CHECK_THROWS_WITH_AS(session.generate("Once", gp), doctest::Contains("top_p"), tracemark::error);
}

TEST_CASE("log-probabilities are the model's own distribution: before the watermark and every sampler") {
  llama_session session(tiny_engine(), 256, 1);
  const watermarker wm(testing_util::key_from_seed(12), tiny_config(2), 10.0f);  // a strong bias, to see it
  generation_params gp;
  gp.max_tokens = 40;
  gp.seed = 3;
  gp.stop_at_bos = false;

  // Asking for them changes nothing in the text.
  const auto plain = session.generate("Once upon a time", gp, &wm);
  gp.logprobs = 512;  // the whole vocabulary
  const auto full = session.generate("Once upon a time", gp, &wm);
  CHECK(full.tokens == plain.tokens);
  REQUIRE(full.logprobs.size() == full.tokens.size());
  CHECK(plain.logprobs.empty());
  for (size_t i = 0; i < full.tokens.size(); ++i) {
    const position_logprobs& lp = full.logprobs[i];
    CHECK(lp.sampled.token == full.tokens[i]);
    REQUIRE(lp.top.size() == 512);
    double z = 0.0;
    for (size_t k = 0; k < lp.top.size(); ++k) {
      z += std::exp(lp.top[k].logprob);
      if (k > 0) CHECK(lp.top[k].logprob <= lp.top[k - 1].logprob);
      if (lp.top[k].token == lp.sampled.token) CHECK(lp.top[k].logprob == lp.sampled.logprob);
    }
    CHECK(z == doctest::Approx(1.0).epsilon(1e-9));
  }

  // The first position's distribution is the same whatever the sampling settings and the
  // watermark: it is read before any sampler.
  gp.logprobs = 5;
  gp.max_tokens = 1;
  const auto base = session.generate("Once upon a time", gp, nullptr);
  for (int variant = 0; variant < 4; ++variant) {
    generation_params v = gp;
    if (variant == 1) v.temperature = 0.3f;
    if (variant == 2) {
      v.top_k = 3;
      v.top_p = 0.5f;
    }
    if (variant == 3) v.temperature = 0.0f;
    const auto r = session.generate("Once upon a time", v, variant % 2 ? &wm : nullptr);
    REQUIRE(r.logprobs.size() == 1);
    REQUIRE(r.logprobs[0].top.size() == 5);
    for (size_t k = 0; k < 5; ++k) {
      CHECK(r.logprobs[0].top[k].token == base.logprobs[0].top[k].token);
      CHECK(r.logprobs[0].top[k].logprob == base.logprobs[0].top[k].logprob);
    }
  }

  // Greedy without the watermark picks the returned top token; with a strong watermark it
  // often does not (the bias acts after the returned distribution).
  gp.temperature = 0.0f;
  gp.max_tokens = 40;
  gp.logprobs = 1;
  const auto greedy = session.generate("Once upon a time", gp, nullptr);
  for (const position_logprobs& lp : greedy.logprobs) CHECK(lp.sampled.token == lp.top[0].token);
  const auto greedy_marked = session.generate("Once upon a time", gp, &wm);
  int64_t off_top = 0;
  for (const position_logprobs& lp : greedy_marked.logprobs) off_top += lp.sampled.token != lp.top[0].token;
  CHECK(off_top > 0);

  gp.logprobs = 513;
  CHECK_THROWS_WITH_AS(session.generate("Once", gp), doctest::Contains("vocabulary size"), tracemark::error);
}
