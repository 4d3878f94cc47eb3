// Validity of the provenance audit on the real tiny model ../shared/models/stories260K.gguf
// (docs/AUDIT_DESIGN.md §3, §7): the untouched model is not radioactive, whatever the key.
//
// For each of 30 keys, the model + watermark writes the provider's marked texts; then
//   reading mode:  the same model WITHOUT the watermark (the hardest null: it predicts what
//                  the teacher would have written) reads them; the first-occurrence rule must
//                  keep the p-values uniform, while the naive test (no rule, no dedup) is
//                  visibly anti-conservative on this model;
//   black box:     the base model's own unmarked completions (a dump, key-independent) are
//                  scored, without and with the index of that key's marked texts.
// Across keys the p-values must be uniform: randomised p-values pass KS, and the number
// of rejections at 0.05 stays below its 99.9% binomial bound.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>

#include "shared_files.h"
#include "test_helpers.h"
#include "tracemark/audit.h"
#include "tracemark/binomial.h"
#include "tracemark/error.h"
#include "tracemark/llama/engine.h"
#include "tracemark/llama/teacher_forcing.h"
#include "tracemark/watermarker.h"

using namespace tracemark;
using testing_util::splitmix64;

namespace {

const std::filesystem::path& model_path() {
  static const std::filesystem::path p = testing_util::verified_shared_file("models/stories260K.gguf");
  return p;
}

const char* const prompts[] = {"Once upon a time", "One day", "Tom and Lily", "The little dog", "Sara wanted to"};

double randomized_p(const audit_evidence& e, splitmix64& rng) {
  const double above = std::pow(10.0, binomial_log10_sf(static_cast<int64_t>(e.test.stat.score) + 1, e.test.stat.scored, e.null.p()));
  const double at = std::exp(binomial_log_pmf(static_cast<int64_t>(e.test.stat.score), e.test.stat.scored, e.null.p()));
  return above + rng.uniform() * at;
}

int64_t rejections(const std::vector<double>& ps, double alpha) {
  int64_t r = 0;
  for (double p : ps) r += p <= alpha;
  return r;
}

// Smallest r with P[Binomial(n, alpha) >= r] <= 1e-3.
int64_t rejection_bound(int64_t n, double alpha) {
  int64_t r = 0;
  while (binomial_log10_sf(r, n, alpha) > -3) ++r;
  return r;
}

void check_uniform(const std::vector<double>& ps, const std::string& what) {
  const auto n = static_cast<int64_t>(ps.size());
  const int64_t r = rejections(ps, 0.05), bound = rejection_bound(n, 0.05);
  double mean = 0;
  for (double p : ps) mean += p / static_cast<double>(n);
  const double d = testing_util::ks_statistic_uniform(ps);
  const double ks_p = testing_util::ks_p_value(d, ps.size());
  MESSAGE(what, ": ", r, "/", n, " rejected at 0.05 (99.9% bound: < ", bound, "), mean p ", mean, ", KS D = ", d,
          " (p = ", ks_p, ")");
  CHECK(r < bound);
  CHECK(ks_p > 1e-3);
}

}  // namespace

TEST_CASE("stories260K, 30 keys: the untouched model gives uniform p-values in reading and black-box modes") {
  const auto t0 = std::chrono::steady_clock::now();
  const llama_engine engine(model_path());
  REQUIRE(engine.n_vocab() == 512);
  llama_session session(engine, 512, 1);
  teacher_forcer reader(model_path(), 512, 1);
  REQUIRE(reader.n_vocab() == 512);

  // The suspect's dump for black-box mode: the base model's own unmarked completions.
  generation_params gp;
  gp.max_tokens = 200;
  gp.stop_at_bos = false;
  std::vector<std::vector<int32_t>> dump;
  std::vector<int64_t> dump_prompt;
  for (int i = 0; i < 30; ++i) {
    gp.seed = 90000u + static_cast<uint32_t>(i);
    const generation_result r = session.generate(prompts[i % 5], gp, nullptr);
    std::vector<int32_t> all = r.prompt_tokens;
    all.insert(all.end(), r.tokens.begin(), r.tokens.end());
    dump.push_back(std::move(all));
    dump_prompt.push_back(static_cast<int64_t>(r.prompt_tokens.size()));
  }

  const int n_keys = 30, texts_per_key = 6;
  for (const int32_t h : {1, 2}) {
    splitmix64 urng(static_cast<uint64_t>(h));
    std::vector<double> p_reading, p_naive, p_black, p_index;
    double min_log10_reading = 0;
    int64_t scored_reading = 0, scored_black = 0, scored_index = 0;
    for (int k = 0; k < n_keys; ++k) {
      scheme_config c;
      c.context_width = h;
      c.vocab_size = 512;
      const key master = testing_util::key_from_seed(7000 + static_cast<uint64_t>(100 * h + k));
      const watermarker wm(master, c, 2.0f);
      const scheme& s = wm.get_scheme();
      audit_options naive_opts;
      naive_opts.first_occurrence = false;
      naive_opts.dedup = false;
      audit_accumulator reading(s), naive(s, naive_opts);
      context_index index(master, s);
      for (int t = 0; t < texts_per_key; ++t) {
        gp.seed = 1000u * static_cast<uint32_t>(k) + static_cast<uint32_t>(t) + 500000u * static_cast<uint32_t>(h);
        const generation_result r = session.generate(prompts[t % 5], gp, &wm);
        std::vector<int32_t> x = r.prompt_tokens;
        x.insert(x.end(), r.tokens.begin(), r.tokens.end());
        const auto n_prompt = static_cast<int64_t>(r.prompt_tokens.size());
        const std::vector<int32_t> pred = reader.top1(x);
        reading.add_reading(x, pred, n_prompt);
        naive.add_reading(x, pred, n_prompt);
        index.add_marked(s, x, n_prompt);
      }
      index.finalize();
      audit_options with_index;
      with_index.index = &index;
      audit_accumulator black(s), black_index(s, with_index);
      for (size_t d = 0; d < dump.size(); ++d) {
        const auto prompt = std::span<const int32_t>(dump[d]).first(static_cast<size_t>(dump_prompt[d]));
        black.add_prompt(prompt);
        black_index.add_prompt(prompt);
      }
      for (size_t d = 0; d < dump.size(); ++d) {
        black.add_completion(dump[d], dump_prompt[d]);
        black_index.add_completion(dump[d], dump_prompt[d]);
      }
      const audit_evidence er = reading.evidence(), en = naive.evidence(), eb = black.evidence(),
                           ei = black_index.evidence();
      p_reading.push_back(randomized_p(er, urng));
      p_naive.push_back(randomized_p(en, urng));
      p_black.push_back(randomized_p(eb, urng));
      p_index.push_back(randomized_p(ei, urng));
      min_log10_reading = std::min(min_log10_reading, er.test.log10_p);
      scored_reading += er.test.stat.scored;
      scored_black += eb.test.stat.scored;
      scored_index += ei.test.stat.scored;
    }
    const std::string tag = "h=" + std::to_string(h);
    MESSAGE(tag, ": mean tuples per key: reading ", scored_reading / n_keys, ", black box ", scored_black / n_keys,
            ", black box with index ", scored_index / n_keys, "; smallest reading-mode p = 10^", min_log10_reading);
    check_uniform(p_reading, tag + " reading mode (first-occurrence rule)");
    check_uniform(p_black, tag + " black box (dump of unmarked completions)");
    check_uniform(p_index, tag + " black box with the index");
    const int64_t naive_rejected = rejections(p_naive, 0.05);
    MESSAGE(tag, " naive reading (no rule, no dedup): ", naive_rejected, "/", n_keys, " rejected at 0.05");
    // With h = 1 the tiny model repeats contexts so often that the naive test fails:
    // this is what the first-occurrence rule and the deduplication are for.
    if (h == 1) CHECK(naive_rejected >= rejection_bound(n_keys, 0.05));
  }
  MESSAGE("validity test took ",
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), " s");
}

TEST_CASE("teacher forcing: top-1 equals greedy generation, windows longer than the context agree") {
  const llama_engine engine(model_path());
  llama_session session(engine, 512, 1);
  generation_params gp;
  gp.temperature = 0.0f;  // greedy: each generated token is the argmax given the prefix
  gp.max_tokens = 60;
  gp.stop_at_bos = false;
  const generation_result r = session.generate("Once upon a time", gp, nullptr);
  std::vector<int32_t> x = r.prompt_tokens;
  x.insert(x.end(), r.tokens.begin(), r.tokens.end());
  teacher_forcer tf(model_path(), 512, 1);
  const std::vector<int32_t> pred = tf.top1(x);
  REQUIRE(pred.size() == x.size());
  CHECK(pred[0] == -1);
  int agree = 0;
  for (size_t i = r.prompt_tokens.size(); i < x.size(); ++i) agree += pred[i] == x[i];
  MESSAGE("teacher forcing vs greedy generation: ", agree, "/", r.tokens.size(), " positions agree");
  CHECK(agree >= static_cast<int>(r.tokens.size()) - 2);  // batch vs incremental rounding may flip a near-tie

  // A 16-token window reads a 60-token text in overlapping windows; positions inside the
  // first window match the full-context predictions exactly.
  teacher_forcer small(model_path(), 16, 1);
  const std::vector<int32_t> windowed = small.top1(x);
  REQUIRE(windowed.size() == x.size());
  for (size_t i = 1; i <= 16 && i < x.size(); ++i) CHECK(windowed[i] == pred[i]);
  for (size_t i = 1; i < x.size(); ++i) CHECK(windowed[i] >= 0);
  CHECK(small.n_evaluated() == static_cast<int64_t>(x.size()) - 1);
  CHECK_THROWS_AS(tf.top1(std::vector<int32_t>{1, 600}), tracemark::error);
  CHECK(tf.top1(std::vector<int32_t>{1}) == std::vector<int32_t>{-1});
}
