// `tracemark audit --report` (issue 5, item 6): the HTML page is self-contained, states
// the verdict and the numbers of the evidence record, and renders in headless Chromium
// (Debian's `chromium`, installed by scripts/setup.sh test): the screenshot must show the
// verdict banner's colour and highlighted tokens, more green than red for marked text
// and the reverse for unmarked text. A missing Chromium fails the test.
#include <doctest/doctest.h>
#include <png.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>

#include "audit/audit_report.h"
#include "process_helpers.h"
#include "shared_files.h"

using testing_util::read_file;
using testing_util::run_program;
using testing_util::run_result;
using testing_util::temp_dir;
using tracemark::cli::odds_in_words;

namespace {

// Colours fixed in audit_report.cpp's style sheet.
constexpr std::array<uint8_t, 3> banner_detected{0xb7, 0x1c, 0x1c};
constexpr std::array<uint8_t, 3> banner_not_detected{0x45, 0x5a, 0x64};
constexpr std::array<uint8_t, 3> token_green{0xa5, 0xd6, 0xa7};
constexpr std::array<uint8_t, 3> token_red{0xef, 0x9a, 0x9a};

std::string chromium_path() {
  if (const char* env = std::getenv("TRACEMARK_CHROMIUM")) return env;
  return TRACEMARK_CHROMIUM_PATH;
}

// Pixel counts of the exact colours above in a PNG screenshot.
std::map<std::array<uint8_t, 3>, int64_t> colour_counts(const std::string& png_path) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  REQUIRE_MESSAGE(png_image_begin_read_from_file(&image, png_path.c_str()) != 0, "not a PNG: " << png_path);
  image.format = PNG_FORMAT_RGB;
  std::vector<uint8_t> pixels(PNG_IMAGE_SIZE(image));
  REQUIRE(png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr) != 0);
  MESSAGE(png_path << ": " << image.width << "x" << image.height);
  std::map<std::array<uint8_t, 3>, int64_t> counts;
  for (const auto& c : {banner_detected, banner_not_detected, token_green, token_red}) counts[c] = 0;
  for (size_t i = 0; i + 2 < pixels.size(); i += 3) {
    const std::array<uint8_t, 3> c{pixels[i], pixels[i + 1], pixels[i + 2]};
    if (auto it = counts.find(c); it != counts.end()) ++it->second;
  }
  return counts;
}

std::string screenshot(const temp_dir& dir, const std::string& html_path, const std::string& name) {
  const std::string chromium = chromium_path();
  REQUIRE_MESSAGE(std::filesystem::exists(chromium),
                  "Chromium not found at " << chromium << ": scripts/setup.sh test installs Debian's chromium "
                                           << "(or set TRACEMARK_CHROMIUM)");
  const std::string png = dir.file(name + ".png");
  const run_result r = run_program("/usr/bin/timeout", dir,
                                   {"120", chromium, "--headless", "--no-sandbox", "--disable-gpu",
                                    "--hide-scrollbars", "--force-color-profile=srgb",
                                    "--user-data-dir=" + dir.file("chromium-profile-" + name),
                                    "--window-size=1000,2400", "--screenshot=" + png, "file://" + html_path});
  REQUIRE_MESSAGE(r.exit_code == 0, "chromium failed (" << r.exit_code << "): " << r.err);
  REQUIRE_MESSAGE(std::filesystem::exists(png), "chromium wrote no screenshot: " << r.err);
  return png;
}

// No external resource: a report must open offline and leak nothing when opened.
void check_self_contained(const std::string& html) {
  for (const char* forbidden : {"<script", "src=", "href=", "url(", "@import", "<link", "<iframe", "https://"})
    CHECK_MESSAGE(html.find(forbidden) == std::string::npos, "report contains " << forbidden);
  size_t http = 0, n_http = 0;
  while ((http = html.find("http://", http)) != std::string::npos) {
    CHECK_MESSAGE(html.compare(http, 26, "http://www.w3.org/2000/svg") == 0, "external reference at " << http);
    ++http;
    ++n_http;
  }
  CHECK(n_http == 2);  // the xmlns of the two charts
}

// The page's text without tags (the samples put every token in its own span).
std::string text_of(const std::string& html) {
  std::string out;
  bool in_tag = false;
  for (char c : html) {
    if (c == '<') in_tag = true;
    else if (c == '>') in_tag = false;
    else if (!in_tag) out += c;
  }
  return out;
}

std::string grouped(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

TEST_CASE("odds in words") {
  CHECK(odds_in_words(-0.1) == "more often than not");
  CHECK(odds_in_words(0.0) == "more often than not");
  CHECK(odds_in_words(-1.0) == "about 1 time in 10");
  CHECK(odds_in_words(std::log10(1.0 / 3)) == "about 1 time in 3");
  CHECK(odds_in_words(-6.0) == "about 1 time in 1 million");
  CHECK(odds_in_words(std::log10(2.4e-14)) == "about 1 time in 41.7 trillion");
  CHECK(odds_in_words(-21.0) == "less than 1 time in 10^21");
  CHECK(odds_in_words(-1234.5) == "less than 1 time in 10^1234");
}

TEST_CASE("the page escapes what it shows and survives broken UTF-8") {
  tracemark::audit_evidence e;
  e.suspect = "<script>alert(1)</script>\"&'";
  e.key_fingerprint = "tmk1:0123456789abcdef";
  e.scheme.vocab_size = 512;
  e.test.stat.scored = 100;
  e.test.stat.score = 40;
  e.null = tracemark::null_distribution::binomial(0.25);
  e.test.log10_p = -3.5;
  e.alpha = 1e-6;
  e.curve = {{16, 6, -0.5}, {100, 40, -3.5}};
  tracemark::audit_sample s;
  s.id = "doc <1>";
  s.tokens = {1, 2, 3};
  s.marks = {tracemark::audit_mark::prompt, tracemark::audit_mark::green, tracemark::audit_mark::red};
  e.samples.push_back(s);
  const std::string html = tracemark::cli::render_audit_report(
      e,
      [](int32_t t) -> std::string {
        if (t == 2) return "\xE2\x82";  // half of a euro sign
        if (t == 3) return "a<b>&c";
        return "x";
      },
      "now");
  CHECK(html.find("<script>") == std::string::npos);
  CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;&#39;") != std::string::npos);
  CHECK(html.find("doc &lt;1&gt;") != std::string::npos);
  CHECK(html.find(">\xEF\xBF\xBD\xEF\xBF\xBD</span>") != std::string::npos);  // two bad bytes, two U+FFFD
  CHECK(html.find(">a&lt;b&gt;&amp;c</span>") != std::string::npos);
  CHECK(html.find("Not detected") != std::string::npos);
  CHECK(html.find("<span class=\"g\"") != std::string::npos);
  CHECK(html.find("<span class=\"r\"") != std::string::npos);
  check_self_contained(html);
}

TEST_CASE("audit --report: the page states the evidence and renders in headless Chromium") {
  const std::string model = testing_util::verified_shared_file("models/stories260K.gguf").string();
  temp_dir dir("tracemark-report");
  auto cli = [&](const std::vector<std::string>& args) {
    const run_result r = run_program(TRACEMARK_CLI_PATH, dir, args);
    REQUIRE_MESSAGE(r.exit_code == 0, "tracemark " << args.front() << " failed: " << r.err);
    return r;
  };
  const std::string key = dir.file("provider.key");
  cli({"keygen", "--out", key});
  // The provider's own marked outputs stand in for a radioactive suspect's dump; the
  // unwatermarked model's outputs for an innocent one.
  const std::vector<std::string> gen = {"generate", "-m", model, "-p", "Once upon a time", "-p", "The little dog",
                                        "--n", "6", "--max-tokens", "120", "--seed", "7"};
  auto with = [](std::vector<std::string> a, const std::vector<std::string>& more) {
    a.insert(a.end(), more.begin(), more.end());
    return a;
  };
  cli(with(gen, {"-k", key, "-H", "2", "--delta", "3", "-o", dir.file("marked.jsonl")}));
  cli(with(gen, {"--no-watermark", "-o", dir.file("clean.jsonl")}));

  struct expectation {
    std::string name;
    bool detected;
    std::array<uint8_t, 3> banner, other_banner;
  };
  for (const expectation& x : {expectation{"marked", true, banner_detected, banner_not_detected},
                               expectation{"clean", false, banner_not_detected, banner_detected}}) {
    CAPTURE(x.name);
    const std::string html_path = dir.file(x.name + ".html");
    const run_result r = cli({"audit", "-k", key, "-H", "2", "--vocab", model, "--suspect-outputs",
                              dir.file(x.name + ".jsonl"), "--json", dir.file(x.name + ".json"), "--report",
                              html_path});
    CHECK(r.out.find("report: " + html_path) != std::string::npos);
    const nlohmann::json ev = nlohmann::json::parse(read_file(dir.file(x.name + ".json")));
    REQUIRE(ev["detected"].get<bool>() == x.detected);
    const std::string html = read_file(html_path);
    REQUIRE(html.rfind("<!DOCTYPE html>", 0) == 0);
    check_self_contained(html);
    // The verdict and the numbers of the evidence record.
    CHECK(html.find(x.detected ? "Radioactive: trained on our watermarked text" : "Not detected") !=
          std::string::npos);
    CHECK(html.find(x.detected ? "class=\"verdict yes\"" : "class=\"verdict no\"") != std::string::npos);
    CHECK(html.find("<b>" + grouped(ev["scored"].get<int64_t>()) + "</b>token choices scored") != std::string::npos);
    CHECK(html.find(grouped(ev["green"].get<int64_t>()) + " of " + grouped(ev["scored"].get<int64_t>())) !=
          std::string::npos);
    std::string odds = odds_in_words(ev["log10_p"].get<double>());  // "10^N" is "10<sup>N</sup>" on the page
    if (const size_t caret = odds.find('^'); caret != std::string::npos) odds.erase(caret, 1);
    CHECK(text_of(html).find(odds) != std::string::npos);
    CHECK(html.find(ev["key_fingerprint"].get<std::string>()) != std::string::npos);
    CHECK(html.find("<svg class=\"chart\"") != std::string::npos);
    CHECK(html.find("chance level: 25.0%") != std::string::npos);
    CHECK(text_of(html).find("Once upon a time") != std::string::npos);  // sample text, detokenized

    const auto counts = colour_counts(screenshot(dir, html_path, x.name));
    const int64_t green = counts.at(token_green), red = counts.at(token_red);
    MESSAGE(x.name << ": banner " << counts.at(x.banner) << " px, green tokens " << green << " px, red " << red
                   << " px");
    CHECK(counts.at(x.banner) > 20000);  // the banner spans the page width, ~100 px high
    CHECK(counts.at(x.other_banner) == 0);
    CHECK(green > 2000);
    CHECK(red > 2000);
    if (x.detected)
      CHECK(green > red);  // about 60% of the marked text's scored tokens are green
    else
      CHECK(red > 2 * green);  // about 25% green by chance
  }
}
