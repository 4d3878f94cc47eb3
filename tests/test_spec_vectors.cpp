// Known-answer vectors of format v1 (docs/SPEC.md §1-§4, §6.2, §9), produced by the
// independent Python implementation scripts/spec_reference.py, checked against
// the C++ library. Layout of the files: data/spec-v1/README.md.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hkdf.h"
#include "siphash.h"
#include "tracemark/tracemark.hpp"

using json = nlohmann::json;

namespace {

const std::string vector_dir = std::string(TRACEMARK_SOURCE_DIR) + "/data/spec-v1/";

json load_vectors(const std::string& name) {
  std::ifstream in(vector_dir + name, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing vector file " << vector_dir + name
                                                    << " (run python3 scripts/spec_reference.py)");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  REQUIRE_MESSAGE(!text.empty(), "empty vector file " << name);
  json j = json::parse(text);
  REQUIRE(j.at("format").get<std::string>() == "tracemark-spec-vectors 1");
  return j;
}

uint64_t u64(const json& j) {
  const std::string s = j.get<std::string>();
  uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 10);
  REQUIRE_MESSAGE((ec == std::errc{} && p == s.data() + s.size() && !s.empty()),
                  "bad uint64 decimal: " << s);
  return v;
}

std::vector<uint8_t> bytes(const std::string& hex) {
  REQUIRE(hex.size() % 2 == 0);
  std::vector<uint8_t> out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    unsigned v = 0;
    const auto [p, ec] = std::from_chars(hex.data() + 2 * i, hex.data() + 2 * i + 2, v, 16);
    REQUIRE((ec == std::errc{} && p == hex.data() + 2 * i + 2));
    out[i] = static_cast<uint8_t>(v);
  }
  return out;
}

std::string hex(const uint8_t* p, size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

tracemark::key::secret_bytes secret_of(const json& j) {
  const auto b = bytes(j.get<std::string>());
  REQUIRE(b.size() == tracemark::key::n_secret_bytes);
  tracemark::key::secret_bytes s{};
  std::memcpy(s.data(), b.data(), s.size());
  return s;
}

double parse_hex_double(const std::string& s) {
  char* end = nullptr;
  errno = 0;
  const double d = std::strtod(s.c_str(), &end);
  REQUIRE(end == s.c_str() + s.size());
  return d;
}

// Gamma from the vectors: the decimal JSON number and the hex float must be the same double.
double gamma_of(const json& c) {
  const double g = c.at("gamma").get<double>();
  const double gh = parse_hex_double(c.at("gamma_hex").get<std::string>());
  REQUIRE(g == gh);
  return gh;
}

// Each CHECK of a known answer bumps this; every test case REQUIREs a minimum so
// that missing or truncated vector files cannot pass silently.
struct counter {
  size_t n = 0;
  void operator++() { ++n; }
};

}  // namespace

TEST_CASE("spec vectors: SipHash-2-4 and HKDF-SHA256 primitives") {
  const json j = load_vectors("primitives.json");
  counter checks;
  bool paper15 = false, paper0 = false;
  for (const auto& v : j.at("siphash24")) {
    const auto key = bytes(v.at("key").get<std::string>());
    REQUIRE(key.size() == 16);
    const tracemark::detail::siphash_key k{u64(v.at("k0")), u64(v.at("k1"))};
    CHECK(k.k0 == tracemark::detail::load_le64(key.data()));
    CHECK(k.k1 == tracemark::detail::load_le64(key.data() + 8));
    const auto msg = bytes(v.at("message").get<std::string>());
    const uint64_t want = u64(v.at("hash"));
    CHECK_MESSAGE(tracemark::detail::siphash24(k, msg.data(), msg.size()) == want,
                  "message " << v.at("message").get<std::string>());
    ++checks;
    // The length-multiple-of-4 messages also through the word path.
    if (msg.size() % 4 == 0) {
      std::vector<uint32_t> words(msg.size() / 4);
      for (size_t i = 0; i < words.size(); ++i)
        words[i] = static_cast<uint32_t>(msg[4 * i]) | static_cast<uint32_t>(msg[4 * i + 1]) << 8 |
                   static_cast<uint32_t>(msg[4 * i + 2]) << 16 | static_cast<uint32_t>(msg[4 * i + 3]) << 24;
      CHECK(tracemark::detail::siphash24_words(k, words.data(), words.size()) == want);
      ++checks;
    }
    if (key == bytes("000102030405060708090a0b0c0d0e0f")) {
      if (msg.size() == 15) paper15 = (want == 0xa129ca6149be45e5ULL);
      if (msg.empty()) paper0 = (want == 0x726fdb47dd0e0e31ULL);
    }
  }
  CHECK(paper15);  // the generator itself agrees with the SipHash paper
  CHECK(paper0);

  bool rfc = false;
  for (const auto& v : j.at("hkdf_sha256")) {
    const auto ikm = bytes(v.at("ikm").get<std::string>());
    const auto salt = bytes(v.at("salt").get<std::string>());
    const auto info = bytes(v.at("info").get<std::string>());
    const auto want = bytes(v.at("okm").get<std::string>());
    REQUIRE(want.size() == v.at("length").get<size_t>());
    std::vector<uint8_t> got(want.size());
    tracemark::detail::hkdf_sha256(
        ikm.data(), ikm.size(),
        std::string_view(reinterpret_cast<const char*>(salt.data()), salt.size()),
        std::string_view(reinterpret_cast<const char*>(info.data()), info.size()), got.data(),
        got.size());
    CHECK(hex(got.data(), got.size()) == hex(want.data(), want.size()));
    ++checks;
    if (v.at("name") == "RFC 5869 A.1")
      rfc = v.at("okm") ==
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865";
  }
  CHECK(rfc);
  REQUIRE(checks.n >= 25);
}

TEST_CASE("spec vectors: key fingerprints and key file text (SPEC §1)") {
  const json j = load_vectors("keys.json");
  counter checks;
  for (const auto& v : j.at("fingerprints")) {
    const auto k = tracemark::key::from_secret(secret_of(v.at("secret")));
    CHECK_MESSAGE(k.fingerprint() == v.at("fingerprint").get<std::string>(),
                  "secret " << v.at("name").get<std::string>());
    ++checks;
  }
  REQUIRE(checks.n >= 5);

  // The published key file text loads and yields the same secret and fingerprint,
  // and a key saved by the library has exactly the same non-comment lines.
  const json& kf = j.at("key_file");
  const std::string text = kf.at("text").get<std::string>();
  const auto secret = secret_of(kf.at("secret"));
  char tmpl[] = "/tmp/tracemark-spec-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  const std::string in_path = dir + "/published.key", out_path = dir + "/saved.key";
  {
    const int fd = ::open(in_path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    ::close(fd);
  }
  const auto loaded = tracemark::key::load(in_path);
  CHECK(loaded.secret() == secret);
  CHECK(text.find(loaded.fingerprint()) != std::string::npos);

  tracemark::key::from_secret(secret).save(out_path);
  std::ifstream in(out_path);
  std::string line, saved;
  while (std::getline(in, line))
    if (!line.empty() && line[0] != '#') saved += line + "\n";
  CHECK(saved == text);
  ::unlink(in_path.c_str());
  ::unlink(out_path.c_str());
  ::rmdir(dir.c_str());
}

TEST_CASE("spec vectors: green threshold T = floor(gamma * 2^64) (SPEC §4)") {
  const json j = load_vectors("thresholds.json");
  counter checks;
  for (const auto& v : j.at("valid")) {
    const double g = gamma_of(v);
    const uint64_t t = tracemark::green_threshold_for(g);
    CHECK_MESSAGE(t == u64(v.at("T")), "gamma " << v.at("gamma_hex").get<std::string>());
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(t));
    CHECK(std::string(buf) == v.at("T_hex16").get<std::string>());
    ++checks;
  }
  REQUIRE(checks.n >= 6);
}

namespace {
double invalid_gamma(const json& v) {
  const std::string h = v.at("gamma_hex").get<std::string>();
  return h == "nan" ? std::nan("") : h == "inf" ? HUGE_VAL : parse_hex_double(h);
}

// Counts the invalid gammas with the given `why` that green_threshold_for rejects
// with invalid_argument; FAIL_CHECKs each one it accepts.
size_t check_rejected(const json& j, const std::string& why) {
  size_t n = 0;
  for (const auto& v : j.at("invalid")) {
    if (v.at("why").get<std::string>() != why) continue;
    CAPTURE(v.at("name").get<std::string>());
    try {
      const uint64_t t = tracemark::green_threshold_for(invalid_gamma(v));
      FAIL_CHECK("accepted invalid gamma " << v.at("name").get<std::string>() << ", T = " << t);
    } catch (const tracemark::error& e) {
      CHECK(e.code() == tracemark::errc::invalid_argument);
    }
    ++n;
  }
  return n;
}
}  // namespace

TEST_CASE("spec vectors: gamma outside (0, 1) is rejected (SPEC §4)") {
  const json j = load_vectors("thresholds.json");
  REQUIRE(check_rejected(j, "not 0 < gamma < 1") >= 6);
}

// SPEC §4 defines T = floor(gamma * 2^64) and requires T >= 1, so 0 < gamma < 2^-64
// has no valid T and must be rejected.
TEST_CASE("spec vectors: gamma below 2^-64 (T = 0) is rejected (SPEC §4, T >= 1)") {
  const json j = load_vectors("thresholds.json");
  REQUIRE(check_rejected(j, "T = floor(gamma * 2^64) = 0") >= 2);
}

TEST_CASE("spec vectors: sub-keys, seeds and green lists of every scheme (SPEC §2-§4)") {
  const json j = load_vectors("schemes.json");
  counter configs, cases;
  for (const auto& c : j.at("configs")) {
    tracemark::scheme_config cfg;
    cfg.name = (c.at("scheme").get<std::string>());
    cfg.context_width = c.at("h").get<int32_t>();
    cfg.gamma = gamma_of(c);
    cfg.vocab_size = c.at("vocab").get<int32_t>();
    const auto account = bytes(c.at("account_hex").get<std::string>());
    cfg.account.assign(account.begin(), account.end());
    CHECK(cfg.account == c.at("account").get<std::string>());
    const std::string label = c.at("info").get<std::string>();
    CAPTURE(label);

    // §2: info string, OKM, sub-key words.
    const auto info = bytes(c.at("info_hex").get<std::string>());
    const std::string want_info(info.begin(), info.end());
    CHECK(tracemark::derivation_info(cfg) == want_info);
    const auto master = tracemark::key::from_secret(secret_of(c.at("secret")));
    const tracemark::scheme sch(master, cfg);
    CHECK(sch.derivation_info() == want_info);
    CHECK(sch.green_threshold() == u64(c.at("T")));
    CHECK(tracemark::green_threshold_for(cfg.gamma) == u64(c.at("T")));

    uint8_t okm[32];
    tracemark::detail::hkdf_sha256(master.secret().data(), master.secret().size(), "tracemark/v1",
                                   want_info, okm, sizeof okm);
    CHECK(hex(okm, sizeof okm) == c.at("okm").get<std::string>());
    const auto& k = sch.keys();
    CHECK(k.context_k0 == u64(c.at("k_ctx").at(0)));
    CHECK(k.context_k1 == u64(c.at("k_ctx").at(1)));
    CHECK(k.green_k0 == u64(c.at("k_green").at(0)));
    CHECK(k.green_k1 == u64(c.at("k_green").at(1)));
    ++configs;

    // §3-§4: per (context, token).
    const uint64_t T = u64(c.at("T"));
    size_t n_cases = 0;
    for (const auto& t : c.at("cases")) {
      const auto ctx = t.at("context").get<std::vector<int32_t>>();
      REQUIRE(ctx.size() == static_cast<size_t>(cfg.context_width));
      const int32_t token = t.at("token").get<int32_t>();
      const uint64_t want_seed = u64(t.at("seed"));
      const uint64_t want_prf = u64(t.at("prf"));
      const bool want_green = t.at("green").get<bool>();
      CAPTURE(t.dump());
      REQUIRE(want_green == (want_prf < T));  // the vectors are self-consistent

      const uint64_t s = sch.seed(ctx.data(), token);
      CHECK(s == want_seed);
      // The membership PRF input is LE64(seed) || LE32(token), recomputed here from
      // the library's sub-key with the byte-string SipHash.
      uint8_t msg[12];
      for (int b = 0; b < 8; ++b) msg[b] = static_cast<uint8_t>(want_seed >> (8 * b));
      for (int b = 0; b < 4; ++b)
        msg[8 + b] = static_cast<uint8_t>(static_cast<uint32_t>(token) >> (8 * b));
      CHECK(tracemark::detail::siphash24({k.green_k0, k.green_k1}, msg, sizeof msg) == want_prf);
      CHECK(sch.green(want_seed, token) == want_green);
      CHECK(sch.is_green(ctx, token) == want_green);
      ++cases;
      ++n_cases;
    }
    CHECK(n_cases >= 40);

    // Green fraction over tokens 0..n-1 after one fixed context.
    const json& f = c.at("fraction");
    const auto fctx = f.at("context").get<std::vector<int32_t>>();
    REQUIRE(fctx.size() == static_cast<size_t>(cfg.context_width));
    const int32_t n = f.at("tokens").get<int32_t>();
    int64_t green = 0;
    for (int32_t v = 0; v < n; ++v) green += sch.is_green(fctx, v) ? 1 : 0;
    CHECK(green == f.at("green_count").get<int64_t>());
  }
  MESSAGE("schemes.json: " << configs.n << " configurations, " << cases.n << " cases");
  REQUIRE(configs.n >= 12);
  REQUIRE(cases.n >= 500);

  // Every scheme and the three kinds of account are covered.
  std::vector<std::string> kinds;
  bool empty_acc = false, ascii_acc = false, utf8_acc = false;
  for (const auto& c : j.at("configs")) {
    kinds.push_back(c.at("scheme").get<std::string>());
    const std::string a = c.at("account").get<std::string>();
    if (a.empty()) empty_acc = true;
    bool high = false;
    for (char ch : a) high = high || (static_cast<unsigned char>(ch) & 0x80) != 0;
    if (!a.empty() && !high) ascii_acc = true;
    if (high) utf8_acc = true;
  }
  for (const char* s : {"kgw-lefthash", "kgw-selfhash", "kgw-minhash", "unigram"})
    CHECK(std::find(kinds.begin(), kinds.end(), s) != kinds.end());
  CHECK(empty_acc);
  CHECK(ascii_acc);
  CHECK(utf8_acc);
}

// ---------------------------------------------------------------------------
// §1 key-file grammar, §6.2 exact tails and the worked examples of §9.
//
// The library calls these tests make go through the few adapters below, so that a
// change of the library's API touches them in one place.

namespace {

tracemark::scheme_config make_config(const std::string& scheme, int32_t h, double gamma, int32_t vocab,
                                     const std::string& account) {
  tracemark::scheme_config cfg;
  cfg.name = (scheme);
  cfg.context_width = h;
  cfg.gamma = gamma;
  cfg.vocab_size = vocab;
  cfg.account = account;
  return cfg;
}

double lib_log10_tail(int64_t n_green, int64_t n_scored, double gamma) {
  return tracemark::binomial_log10_sf(n_green, n_scored, gamma);
}

double lib_z(int64_t n_green, int64_t n_scored, double gamma) {
  return tracemark::null_distribution::binomial(gamma).test({n_scored, static_cast<double>(n_green)}).z;
}

struct lib_detection {
  int64_t n_scored, n_green, n_repeat, n_prompt, n_no_context;
  double gamma, z, log10_p;
  std::vector<std::string> marks;  // "green", "red", "repeat", "prompt", "no_context"
};

lib_detection lib_detect(const tracemark::scheme& sch, const std::vector<int32_t>& tokens, int64_t n_prompt) {
  tracemark::detect_options opt;
  opt.dedup = true;
  opt.keep_trace = true;
  opt.min_window = 0;
  const tracemark::detection d = tracemark::detector(sch, opt).score(tokens, n_prompt);
  lib_detection r{d.n_scored(), d.n_green(), d.n_repeat, d.n_prompt, d.n_no_context, sch.null().p(), d.test.z,
                  d.test.log10_p, {}};
  for (const tracemark::token_mark m : d.trace) {
    switch (m) {
      case tracemark::token_mark::green: r.marks.emplace_back("green"); break;
      case tracemark::token_mark::red: r.marks.emplace_back("red"); break;
      case tracemark::token_mark::repeat: r.marks.emplace_back("repeat"); break;
      case tracemark::token_mark::prompt: r.marks.emplace_back("prompt"); break;
      case tracemark::token_mark::no_context: r.marks.emplace_back("no_context"); break;
    }
  }
  return r;
}

// The accuracy SPEC §6.2 states for tracemark's log10 p: within 1e-10 * max(1, |log10 p|)
// of the exact value (a conforming re-implementation: 1e-9 * max(1, |log10 p|)).
constexpr double lib_log10_p_tolerance = 1e-10;

bool log10_p_close(double got, double exact, double tolerance) {
  return std::fabs(got - exact) <= tolerance * std::max(1.0, std::fabs(exact));
}

uint64_t hex16(const json& j) {
  const std::string s = j.get<std::string>();
  REQUIRE_MESSAGE(s.size() == 16, "not 16 hex digits: " << s);
  uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  REQUIRE((ec == std::errc{} && p == s.data() + s.size()));
  return v;
}

std::string hex16_of(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

double decimal(const json& j) {
  const std::string s = j.get<std::string>();
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  REQUIRE_MESSAGE(end == s.c_str() + s.size(), "not a decimal number: " << s);
  return d;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("spec vectors: key files accepted and refused by the grammar (SPEC §1)") {
  const json j = load_vectors("key_files.json");
  const auto secret = secret_of(j.at("secret"));
  char tmpl[] = "/tmp/tracemark-spec-keys-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  size_t n_accept = 0, n_refuse = 0, i = 0;
  for (const auto& c : j.at("cases")) {
    const std::string name = c.at("name").get<std::string>();
    CAPTURE(name);
    const auto content = bytes(c.at("bytes").get<std::string>());
    const std::string path = dir + "/case-" + std::to_string(i++) + ".key";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
    ::close(fd);
    if (c.at("accept").get<bool>()) {
      try {
        CHECK(tracemark::key::load(path).secret() == secret);
      } catch (const tracemark::error& e) {
        FAIL_CHECK("refused: " << e.what());
      }
      ++n_accept;
    } else {
      try {
        (void)tracemark::key::load(path);
        FAIL_CHECK("accepted");
      } catch (const tracemark::error& e) {
        CHECK(e.code() == tracemark::errc::key_corrupt);
        const std::string msg = e.what();
        CHECK_MESSAGE(msg.find(path) != std::string::npos, msg);
        if (!c.at("error_line").is_null()) {
          const std::string at = "line " + std::to_string(c.at("error_line").get<int>());
          const size_t p = msg.find(at);
          CHECK_MESSAGE((p != std::string::npos && (p + at.size() == msg.size() || !std::isdigit(static_cast<unsigned char>(msg[p + at.size()])))),
                        "expected '" << at << "' in: " << msg);
        }
      }
      ++n_refuse;
    }
    ::unlink(path.c_str());
  }
  ::rmdir(dir.c_str());
  REQUIRE(n_accept >= 10);
  REQUIRE(n_refuse >= 40);
}

TEST_CASE("spec vectors: exact binomial tails and z (SPEC §6.2)") {
  const json j = load_vectors("tails.json");
  counter checks;
  for (const auto& c : j.at("cases")) {
    const int64_t n = c.at("n_scored").get<int64_t>(), g = c.at("n_green").get<int64_t>();
    // The decimal gamma becomes the nearest double (strtod), as SPEC §4 says.
    const double gamma = decimal(c.at("gamma"));
    REQUIRE(gamma == parse_hex_double(c.at("gamma_hex").get<std::string>()));
    const uint64_t t = tracemark::green_threshold_for(gamma);
    REQUIRE(t == u64(c.at("T")));
    const double gamma_eff = std::ldexp(static_cast<double>(t), -64);
    REQUIRE(static_cast<long double>(gamma_eff) == std::ldexp(static_cast<long double>(t), -64));  // exact
    CAPTURE(n);
    CAPTURE(g);
    CAPTURE(c.at("gamma").get<std::string>());
    const double exact = decimal(c.at("log10_p"));
    const double got = lib_log10_tail(g, n, gamma_eff);
    CHECK_MESSAGE(log10_p_close(got, exact, lib_log10_p_tolerance),
                  "log10 p " << got << " vs exact " << c.at("log10_p").get<std::string>());
    const double z = c.at("z").get<double>();
    CHECK(lib_z(g, n, gamma_eff) == doctest::Approx(z).epsilon(1e-12).scale(1.0));
    ++checks;
  }
  REQUIRE(checks.n >= 25);
}

TEST_CASE("spec vectors: the worked examples of SPEC §9, recomputed, and printed in the spec") {
  const json j = load_vectors("worked_examples.json");
  const std::string spec = read_text(std::string(TRACEMARK_SOURCE_DIR) + "/docs/SPEC.md");
  // Every number shown in the spec must be there verbatim.
  const auto in_spec = [&](const std::string& s) {
    CHECK_MESSAGE(spec.find(s) != std::string::npos, "docs/SPEC.md does not show " << s);
  };
  std::vector<std::string> families;
  for (const auto& e : j.at("examples")) {
    const std::string scheme_name = e.at("scheme").get<std::string>();
    CAPTURE(scheme_name);
    families.push_back(scheme_name);
    const double gamma = decimal(e.at("gamma"));
    REQUIRE(gamma == parse_hex_double(e.at("gamma_hex").get<std::string>()));
    const auto account = bytes(e.at("account_hex").get<std::string>());
    const auto cfg = make_config(scheme_name, e.at("h").get<int32_t>(), gamma, e.at("vocab").get<int32_t>(),
                                 std::string(account.begin(), account.end()));
    const auto master = tracemark::key::from_secret(secret_of(e.at("secret")));
    const tracemark::scheme sch(master, cfg);

    // secret -> T -> info -> OKM -> sub-keys.
    const uint64_t t = sch.green_threshold();
    CHECK(t == u64(e.at("T")));
    CHECK(hex16_of(t) == e.at("T_hex16").get<std::string>());
    CHECK(sch.derivation_info() == e.at("info").get<std::string>());
    uint8_t okm[32];
    tracemark::detail::hkdf_sha256(master.secret().data(), master.secret().size(), "tracemark/v1",
                                   sch.derivation_info(), okm, sizeof okm);
    CHECK(hex(okm, sizeof okm) == e.at("okm").get<std::string>());
    const auto& k = sch.keys();
    CHECK(k.context_k0 == hex16(e.at("k_ctx_hex16").at(0)));
    CHECK(k.context_k1 == hex16(e.at("k_ctx_hex16").at(1)));
    CHECK(k.green_k0 == hex16(e.at("k_green_hex16").at(0)));
    CHECK(k.green_k1 == hex16(e.at("k_green_hex16").at(1)));
    const tracemark::detail::siphash_key k_ctx{k.context_k0, k.context_k1}, k_green{k.green_k0, k.green_k1};

    // Per position: seed, PRF, green bit or skip reason.
    const auto tokens = e.at("tokens").get<std::vector<int32_t>>();
    const int64_t n_prompt = e.at("n_prompt").get<int64_t>();
    const lib_detection d = lib_detect(sch, tokens, n_prompt);
    REQUIRE(d.marks.size() == tokens.size());
    REQUIRE(e.at("positions").size() == tokens.size());
    for (const auto& p : e.at("positions")) {
      const auto i = p.at("i").get<size_t>();
      CAPTURE(i);
      const int32_t token = p.at("token").get<int32_t>();
      CHECK(token == tokens[i]);
      const std::string mark = p.at("mark").get<std::string>();
      CHECK(d.marks[i] == mark);
      if (!p.contains("seed_hex16")) continue;
      const auto ctx = p.at("context").get<std::vector<int32_t>>();
      REQUIRE(ctx.size() == static_cast<size_t>(cfg.context_width));
      CHECK(std::equal(ctx.begin(), ctx.end(), tokens.begin() + static_cast<std::ptrdiff_t>(i - ctx.size())));
      const uint64_t seed = hex16(p.at("seed_hex16"));
      CHECK(sch.seed(ctx.data(), token) == seed);
      in_spec(p.at("seed_hex16").get<std::string>());
      if (p.contains("context_hashes_hex16")) {
        for (size_t c = 0; c < ctx.size(); ++c) {
          const auto w = static_cast<uint32_t>(ctx[c]);
          CHECK(tracemark::detail::siphash24_words(k_ctx, &w, 1) == hex16(p.at("context_hashes_hex16").at(c)));
          in_spec(p.at("context_hashes_hex16").at(c).get<std::string>());
        }
      }
      if (p.contains("prf_hex16")) {
        uint8_t msg[12];
        for (int b = 0; b < 8; ++b) msg[b] = static_cast<uint8_t>(seed >> (8 * b));
        for (int b = 0; b < 4; ++b) msg[8 + b] = static_cast<uint8_t>(static_cast<uint32_t>(token) >> (8 * b));
        const uint64_t prf = tracemark::detail::siphash24(k_green, msg, sizeof msg);
        CHECK(prf == hex16(p.at("prf_hex16")));
        CHECK((prf < t) == (mark == "green"));
        CHECK(sch.green(seed, token) == (mark == "green"));
        in_spec(p.at("prf_hex16").get<std::string>());
      } else {
        CHECK(mark == "repeat");
      }
    }

    // The SipHash inputs of the first scored position, as bytes.
    const json& fi = e.at("first_inputs");
    const auto fi_pos = fi.at("i").get<size_t>();
    if (!fi.at("seed_input").is_null()) {
      const auto in = bytes(fi.at("seed_input").get<std::string>());
      CHECK(tracemark::detail::siphash24(k_ctx, in.data(), in.size()) ==
            hex16(e.at("positions").at(fi_pos).at("seed_hex16")));
      in_spec(fi.at("seed_input").get<std::string>());
    }
    const auto prf_in = bytes(fi.at("prf_input").get<std::string>());
    CHECK(tracemark::detail::siphash24(k_green, prf_in.data(), prf_in.size()) ==
          hex16(e.at("positions").at(fi_pos).at("prf_hex16")));
    in_spec(fi.at("prf_input").get<std::string>());

    // N, G, gamma_eff, z, log10 p.
    CHECK(d.n_scored == e.at("n_scored").get<int64_t>());
    CHECK(d.n_green == e.at("n_green").get<int64_t>());
    CHECK(d.n_repeat == e.at("n_repeat").get<int64_t>());
    CHECK(d.n_no_context == e.at("n_no_context").get<int64_t>());
    CHECK(d.n_prompt == n_prompt);
    CHECK(d.gamma == std::ldexp(static_cast<double>(t), -64));
    CHECK(d.gamma == doctest::Approx(decimal(e.at("gamma_eff"))).epsilon(1e-15));
    CHECK(d.z == doctest::Approx(e.at("z").get<double>()).epsilon(1e-12).scale(1.0));
    CHECK(d.z == doctest::Approx(decimal(e.at("z_text"))).epsilon(1e-11).scale(1.0));
    const double exact = decimal(e.at("log10_p"));
    CHECK(log10_p_close(d.log10_p, exact, lib_log10_p_tolerance));
    CHECK(log10_p_close(decimal(e.at("log10_p_text")), exact, 1e-11));
    CHECK(std::pow(10.0, d.log10_p) == doctest::Approx(decimal(e.at("p_text"))).epsilon(1e-9));

    // What the spec prints.
    in_spec(e.at("secret").get<std::string>());
    in_spec("\"" + e.at("info").get<std::string>() + "\"");
    in_spec(e.at("T").get<std::string>() + " = 0x" + e.at("T_hex16").get<std::string>());
    const std::string okm_hex = e.at("okm").get<std::string>();
    in_spec(okm_hex.substr(0, 32));
    in_spec(okm_hex.substr(32));
    for (const char* f : {"k_ctx_hex16", "k_green_hex16"})
      for (const auto& v : e.at(f)) in_spec("0x" + v.get<std::string>());
    for (const char* f : {"gamma_eff", "z_text", "log10_p_text", "p_text"})
      in_spec("= " + e.at(f).get<std::string>() + "\n");
  }
  for (const char* s : {"kgw-lefthash", "kgw-selfhash", "kgw-minhash", "unigram"})
    CHECK(std::find(families.begin(), families.end(), s) != families.end());
}
