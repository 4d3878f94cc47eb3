// stream_detector: a document scored piece by piece gives exactly detector::score on the
// whole, for every scheme, with and without dedup, with prompts and empty pieces.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "tracemark/detector.h"
#include "tracemark/error.h"
#include "tracemark/key.h"
#include "tracemark/stream_detector.h"

using namespace tracemark;

TEST_CASE("stream_detector: pieces give exactly the detector's result on the whole sequence") {
  std::mt19937_64 rng(42);
  const key master = key::generate();
  for (const char* kind : {"kgw-lefthash", "kgw-selfhash", "kgw-minhash", "unigram"}) {
    for (int32_t h : {1, 3}) {
      scheme_config cfg;
      cfg.name = kind;
      cfg.context_width = std::string(kind) == "unigram" ? 0 : h;
      cfg.vocab_size = 50;  // small: many repeated tuples
      const scheme s(master, cfg);
      for (bool dedup : {true, false}) {
        detect_options opt;
        opt.dedup = dedup;
        opt.keep_trace = true;
        opt.min_window = 8;
        const detector det(s, opt);
        stream_detector ss(s, opt);
        for (int trial = 0; trial < 20; ++trial) {
          std::uniform_int_distribution<int32_t> tok(0, 49);
          std::uniform_int_distribution<size_t> len(0, 300), plen(0, 5);
          std::vector<int32_t> prompt(plen(rng)), body(len(rng));
          for (int32_t& t : prompt) t = tok(rng);
          for (int32_t& t : body) t = tok(rng);
          std::vector<int32_t> all = prompt;
          all.insert(all.end(), body.begin(), body.end());
          const detection want = det.score(all, static_cast<int64_t>(prompt.size()));

          ss.reset();
          ss.add_prompt(prompt);
          size_t pos = 0;
          while (pos < body.size()) {
            const size_t n = std::min(body.size() - pos, std::uniform_int_distribution<size_t>(0, 40)(rng));
            ss.add(std::span<const int32_t>(body).subspan(pos, n));
            pos += n;
          }
          const detection got = ss.finish();
          CAPTURE(kind);
          CAPTURE(h);
          CAPTURE(dedup);
          CHECK(got.n_tokens == want.n_tokens);
          CHECK(got.n_scored() == want.n_scored());
          CHECK(got.n_green() == want.n_green());
          CHECK(got.n_repeat == want.n_repeat);
          CHECK(got.n_prompt == want.n_prompt);
          CHECK(got.n_no_context == want.n_no_context);
          CHECK(got.test.log10_p == want.test.log10_p);
          CHECK(got.test.z == want.test.z);
          CHECK(got.trace == want.trace);
          CHECK(got.window.found == want.window.found);
          CHECK(got.window.begin == want.window.begin);
          CHECK(got.window.end == want.window.end);
          CHECK(got.window.log10_p_corrected == want.window.log10_p_corrected);
        }
      }
    }
  }
}

TEST_CASE("stream_detector: a prompt after the text is refused") {
  scheme_config cfg;
  cfg.vocab_size = 100;
  const scheme s(key::generate(), cfg);
  stream_detector sd(s);
  const std::vector<int32_t> some{1, 2, 3};
  sd.add_prompt(some);
  sd.add(some);
  sd.add_prompt({});  // nothing to add: fine
  CHECK_THROWS_AS(sd.add_prompt(some), tracemark::error);
  sd.reset();
  sd.add_prompt(some);
  CHECK(sd.n_prompt() == 3);
}
