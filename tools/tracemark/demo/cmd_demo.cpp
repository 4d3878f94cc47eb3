// tracemark demo: the whole pipeline on an embedded toy language model. Generates a
// throw-away key, samples text with and without the watermark, detects both.
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/cli.h"
#include "common/scheme_options.h"
#include "detect/table.h"
#include "tracemark/detector.h"
#include "tracemark/error.h"
#include "tracemark/key.h"
#include "tracemark/watermarker.h"

namespace tracemark::cli {

namespace {

constexpr int32_t demo_vocab = 32000;
constexpr double demo_alpha = 1e-6;

struct demo_flags {
  scheme_options scheme;
  int64_t tokens = 300;
  double delta = 2.0;
  uint64_t seed = 1;
};

uint64_t splitmix64(uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// xoshiro256** (Blackman & Vigna), seeded through splitmix64: the sampler's randomness.
class rng {
 public:
  explicit rng(uint64_t seed) noexcept {
    for (uint64_t& w : s_) w = seed = splitmix64(seed);
  }
  uint64_t next() noexcept {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)

 private:
  static uint64_t rotl(uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// The toy language model: the next-token logits depend on the previous token only,
// through a fixed (key-independent) hash. Each logit is spread uniformly over
// (-spread, 0], so about 32000/spread = 2 tokens share each unit of logit at the top:
// a peaked distribution with under 2 nats of entropy per token, like a real model's.
class toy_model {
 public:
  static constexpr double spread = 16000.0;
  static constexpr uint64_t model_salt = 0x746f796d6f64656cULL;  // "toymodel"

  void logits(int32_t previous, std::vector<candidate>& out) const {
    out.resize(static_cast<size_t>(demo_vocab));
    const uint64_t prev = static_cast<uint32_t>(previous);
    const uint64_t context = splitmix64(model_salt ^ prev);
    for (int32_t v = 0; v < demo_vocab; ++v) {
      const double u = static_cast<double>(splitmix64(context + static_cast<uint64_t>(v)) >> 11) * 0x1.0p-53;
      out[static_cast<size_t>(v)] = candidate{v, static_cast<float>(spread * (u - 1.0)), 0.0f};
    }
  }
};

// Samples from softmax(logits).
int32_t sample(std::span<const candidate> cands, rng& r, std::vector<double>& weights) {
  float top = cands[0].logit;
  for (const candidate& c : cands) top = std::max(top, c.logit);
  weights.resize(cands.size());
  double total = 0.0;
  for (size_t i = 0; i < cands.size(); ++i) {
    const double d = static_cast<double>(cands[i].logit) - static_cast<double>(top);
    weights[i] = d < -60.0 ? 0.0 : std::exp(d);
    total += weights[i];
  }
  double x = r.uniform() * total;
  for (size_t i = 0; i < cands.size(); ++i) {
    x -= weights[i];
    if (x < 0.0) return cands[i].id;
  }
  return cands.back().id;  // rounding: x landed exactly on the total
}

// Generates `n` tokens after the one-token prompt `start`; watermarked when `wm` is given.
std::vector<int32_t> generate(const toy_model& model, const watermarker& wm, bool mark, int32_t start, int64_t n,
                              rng& r) {
  std::vector<int32_t> text{start};
  sequence_state state = wm.new_state();
  state.accept(start);
  std::vector<candidate> cands;
  std::vector<double> weights;
  for (int64_t i = 0; i < n; ++i) {
    model.logits(text.back(), cands);
    if (mark) wm.apply(state, cands);
    const int32_t t = sample(cands, r, weights);
    text.push_back(t);
    state.accept(t);
  }
  return text;
}

// A private temporary directory holding the demo key; removed with everything in it.
class temp_key_dir {
 public:
  temp_key_dir() {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/tracemark-demo-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr)
      throw tracemark::error(errc::io, "cannot create a temporary directory from " + templ + ": " + std::strerror(errno));
    dir_ = buf.data();
    key_path_ = dir_ + "/demo.key";
  }
  ~temp_key_dir() {
    ::unlink(key_path_.c_str());
    ::rmdir(dir_.c_str());
  }
  temp_key_dir(const temp_key_dir&) = delete;
  temp_key_dir& operator=(const temp_key_dir&) = delete;
  const std::string& key_path() const { return key_path_; }

 private:
  std::string dir_, key_path_;
};

struct demo_row {
  const char* label;
  int64_t tokens;
  detection det;
  bool watermarked() const { return det.test.significant(demo_alpha); }
};

void print_row(const demo_row& r) {
  const test_result& t = r.det.test;
  const double pct = t.stat.scored > 0 ? 100.0 * t.stat.score / static_cast<double>(t.stat.scored) : 0.0;
  std::printf("  %-18s %6lld %7lld %6.1f%% %7.2f  %-12s %s\n", r.label, static_cast<long long>(r.tokens),
              static_cast<long long>(t.stat.scored), pct, t.z, format_p_value(t.log10_p).c_str(),
              r.watermarked() ? "watermarked" : "not watermarked");
}

int run_demo(const demo_flags& f) {
  if (f.tokens < 1 || f.tokens > 1000000)
    throw usage_error("--tokens: must be between 1 and 1000000 (got " + std::to_string(f.tokens) + ")");
  if (!(f.delta > 0.0 && f.delta <= 64.0))
    throw usage_error("--delta: the logit bias must lie in (0, 64] (got " + std::to_string(f.delta) + ")");
  const scheme_config config = f.scheme.to_config(demo_vocab);

  std::optional<key> master;
  std::string key_dir_note;
  try {
    temp_key_dir dir;
    key::generate().save(dir.key_path());
    struct stat st {};
    if (::stat(dir.key_path().c_str(), &st) == 0) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      key_dir_note = std::string("fresh key, file mode ") + mode + ", deleted after the demo";
    }
    master.emplace(key::load(dir.key_path()));  // the same checks as 'detect --key'
  } catch (const tracemark::error& e) {
    throw cli_error(exit_key, e.what());
  }

  const watermarker wm(*master, config, static_cast<float>(f.delta));
  const toy_model model;
  const detector det(wm.get_scheme());

  rng marked_rng(f.seed), plain_rng(splitmix64(f.seed ^ 0x706c61696eULL));
  const int32_t start = 1;
  const std::vector<int32_t> marked = generate(model, wm, true, start, f.tokens, marked_rng);
  const std::vector<int32_t> plain = generate(model, wm, false, start, f.tokens, plain_rng);

  const demo_row rows[2] = {{"with watermark", f.tokens, det.score(marked, 1)},
                            {"without watermark", f.tokens, det.score(plain, 1)}};

  std::printf("tracemark demo: an embedded toy language model (vocabulary %d, no network, no real model)\n\n",
              demo_vocab);
  std::printf("  key     %s (%s)\n", master->fingerprint().c_str(), key_dir_note.c_str());
  std::printf("  scheme  %s, delta %g\n", scheme_description(config).c_str(), f.delta);
  std::printf("  test    one-sided exact binomial test, watermarked when p <= %g\n\n", demo_alpha);
  std::printf("  %-18s %6s %7s %7s %7s  %-12s %s\n", "text", "tokens", "scored", "green", "z", "p-value", "verdict");
  for (const demo_row& r : rows) print_row(r);
  std::printf("\n");

  const bool ok = rows[0].watermarked() && !rows[1].watermarked();
  if (ok)
    std::printf("OK: the watermarked text is detected and the plain text is not.\n");
  else
    std::printf("FAILED: %s\n", !rows[0].watermarked() ? "the watermarked text was not detected"
                                                     : "the plain text was flagged as watermarked");
  std::fflush(stdout);
  return ok ? exit_ok : exit_record_error;
}

}  // namespace

command add_demo_command(CLI::App& parent) {
  auto f = std::make_shared<demo_flags>();
  CLI::App* app = parent.add_subcommand(
      "demo",
      "Run the whole pipeline on an embedded toy language model: make a throw-away key, generate text with "
      "and without the watermark, detect both");
  f->scheme.add_to(*app, /*with_vocab=*/false);
  app->add_option("--tokens", f->tokens, "Tokens to generate per text")->capture_default_str()->type_name("N");
  app->add_option("--delta", f->delta, "Watermark strength: logit bias added to green tokens")
      ->capture_default_str()
      ->type_name("D");
  app->add_option("--seed", f->seed, "Seed of the sampler (the model is fixed; the key is fresh every run)")
      ->capture_default_str()
      ->type_name("S");
  app->footer(
      "The toy model's next-token logits are a fixed hash of the previous token over a 32,000-token\n"
      "vocabulary. The demo key lives in a private temporary directory and is deleted afterwards.\n\n"
      "Exit codes:\n"
      "  0  the watermarked text was detected (p <= 1e-6) and the plain text was not\n"
      "  1  the demo did not separate the two texts\n"
      "  2  usage error\n"
      "  3  the demo key could not be written or read back\n");
  return {app, [f]() -> int { return run_demo(*f); }};
}

}  // namespace tracemark::cli
