// `tracemark audit --report` (issue 5, item 6): the HTML page is self-contained, states
// the verdict and the numbers of the evidence record, and renders in headless Chromium
// (Debian's `chromium`, installed by scripts/setup.sh test): the screenshot must show the
// verdict banner's colour and highlighted tokens, more green than red for marked text
// and the reverse for unmarked text. A missing Chromium fails the test.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <nlohmann/json.hpp>

#include "audit/audit_report.h"
#include "llama/report_render.h"
#include "process_helpers.h"
#include "shared_files.h"

using testing_util::check_self_contained;
using testing_util::colour_counts;
using testing_util::concat;
using testing_util::odds_in_page_text;
using testing_util::read_file;
using testing_util::run_result;
using testing_util::screenshot;
using testing_util::temp_dir;
using testing_util::text_of;
using tracemark::cli::odds_in_words;

namespace {

// Colours fixed in the reports' shared style sheet (report_render.h).
constexpr testing_util::rgb banner_detected = testing_util::banner_positive;
constexpr testing_util::rgb banner_not_detected = testing_util::banner_negative;
using testing_util::token_green;
using testing_util::token_red;

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
  check_self_contained(html, 2);  // the xmlns of the two charts
}

TEST_CASE("audit --report: the page states the evidence and renders in headless Chromium") {
  const std::string model = testing_util::stories260K_path();
  temp_dir dir("tracemark-report");
  auto cli = [&](const std::vector<std::string>& args) { return testing_util::run_cli(dir, args); };
  const std::string key = dir.file("provider.key");
  cli({"keygen", "--out", key});
  // The provider's own marked outputs stand in for a radioactive suspect's dump; the
  // unwatermarked model's outputs for an innocent one.
  const std::vector<std::string> gen = {"generate", "-m", model, "-p", "Once upon a time", "-p", "The little dog",
                                        "--n", "6", "--max-tokens", "120", "--seed", "7"};
  cli(concat(gen, {"-k", key, "-H", "2", "--delta", "3", "-o", dir.file("marked.jsonl")}));
  cli(concat(gen, {"--no-watermark", "-o", dir.file("clean.jsonl")}));

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
    check_self_contained(html, 2);
    // The verdict and the numbers of the evidence record.
    CHECK(html.find(x.detected ? "Radioactive: trained on our watermarked text" : "Not detected") !=
          std::string::npos);
    CHECK(html.find(x.detected ? "class=\"verdict yes\"" : "class=\"verdict no\"") != std::string::npos);
    CHECK(html.find("<b>" + grouped(ev["scored"].get<int64_t>()) + "</b>token choices scored") != std::string::npos);
    CHECK(html.find(grouped(ev["green"].get<int64_t>()) + " of " + grouped(ev["scored"].get<int64_t>())) !=
          std::string::npos);
    CHECK(text_of(html).find(odds_in_page_text(ev["log10_p"].get<double>())) != std::string::npos);
    CHECK(html.find(ev["key_fingerprint"].get<std::string>()) != std::string::npos);
    CHECK(html.find("<svg class=\"chart\"") != std::string::npos);
    CHECK(html.find("chance level: 25.0%") != std::string::npos);
    CHECK(text_of(html).find("Once upon a time") != std::string::npos);  // sample text, detokenized

    const auto counts = colour_counts(screenshot(dir, html_path, x.name),
                                      {banner_detected, banner_not_detected, token_green, token_red});
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
