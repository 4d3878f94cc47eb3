// Marks a few tokens and detects them through the installed public API.
#include <tracemark/tracemark.hpp>

#include <cstdio>
#include <vector>

int main() {
  const tracemark::key k = tracemark::key::generate();
  tracemark::scheme_config c;
  c.vocab_size = 1000;
  const tracemark::watermarker wm(k, c, 20.0f);
  tracemark::sequence_state state = wm.new_state();
  std::vector<int32_t> text{1};
  state.accept(1);
  for (int step = 0; step < 200; ++step) {
    std::vector<tracemark::candidate> cands(1000);
    for (int32_t i = 0; i < 1000; ++i) cands[static_cast<size_t>(i)] = {i, 0.0f, 0.0f};
    wm.apply(state, cands);
    // With delta 20 the sample is green; pick one of the green tokens pseudo-randomly.
    std::vector<int32_t> green;
    for (const auto& cand : cands)
      if (cand.logit > 0.0f) green.push_back(cand.id);
    if (green.empty()) return 2;
    const int32_t best = green[static_cast<size_t>(step * 7919 + 13) % green.size()];
    state.accept(best);
    text.push_back(best);
  }
  const tracemark::detection d = tracemark::detector(wm.get_scheme()).score(text);
  std::printf("consumer: scored %lld green %lld log10_p %.1f\n", static_cast<long long>(d.n_scored()),
              static_cast<long long>(d.n_green()), d.test.log10_p);
  return d.test.log10_p < -10 ? 0 : 1;
}
