// `tracemark detect --report` (the real demo): the real CLI generates stories with the tiny
// model (marked for account "alice", and unmarked), detects them from their text with
// --accounts, and writes the HTML report. The page must be self-contained, escape what it
// shows (hostile ids, broken UTF-8 from byte tokens), name alice for the marked stories and
// state each verdict with its p-value in words; rendered in headless Chromium (same flags
// as the audit report's test; a missing browser fails the test), the marked stories' page
// must show the "watermarked" banner colour and more green than red tokens, the unmarked
// ones' the other banner and mostly red tokens.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "llama/report_render.h"
#include "process_helpers.h"
#include "report/html_report.h"
#include "shared_files.h"

using testing_util::check_self_contained;
using testing_util::colour_counts;
using testing_util::concat;
using testing_util::odds_in_page_text;
using testing_util::read_file;
using testing_util::rgb;
using testing_util::screenshot;
using testing_util::temp_dir;
using testing_util::text_of;

namespace {

constexpr rgb banner_yes = testing_util::banner_positive, banner_no = testing_util::banner_negative;
constexpr rgb green = testing_util::token_green, red = testing_util::token_red;
constexpr rgb window_blue{0x15, 0x65, 0xc0};  // the outline of the most marked stretch

const char* const hostile_id = "<script>alert(1)</script>\"&'";

// Whether `s` is valid UTF-8 (the page must be, whatever the tokens hold): every lead byte
// is followed by as many continuation bytes as it announces.
bool valid_utf8(const std::string& s) {
  int continuations = 0;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (continuations > 0) {
      if ((c & 0xC0) != 0x80) return false;
      --continuations;
    } else if ((c & 0xE0) == 0xC0) {
      continuations = 1;
    } else if ((c & 0xF0) == 0xE0) {
      continuations = 2;
    } else if ((c & 0xF8) == 0xF0) {
      continuations = 3;
    } else if (c >= 0x80) {
      return false;
    }
  }
  return continuations == 0;
}

size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

// The generated records as text records: id, prompt and the text only (what detection from
// text sees). `ids` replace the generated ids in order.
std::vector<nlohmann::json> as_text_records(const std::string& jsonl, const std::vector<std::string>& ids) {
  std::vector<nlohmann::json> out;
  std::ifstream in(jsonl);
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json r = nlohmann::json::parse(line);
    REQUIRE_MESSAGE(!r.contains("error"), "generation failed: " << line);
    REQUIRE(out.size() < ids.size());
    out.push_back({{"id", ids[out.size()]}, {"prompt", r["prompt"]}, {"text", r["text"]}});
  }
  REQUIRE(out.size() == ids.size());
  return out;
}

void write_jsonl(const std::string& path, const std::vector<nlohmann::json>& records) {
  std::string text;
  for (const nlohmann::json& r : records) text += r.dump() + "\n";
  testing_util::write_file(path, text);
}

}  // namespace

TEST_CASE("the shared HTML pieces escape markup and broken UTF-8") {
  using namespace tracemark::cli;
  CHECK(html_escape("a<b>&\"'") == "a&lt;b&gt;&amp;&quot;&#39;");
  CHECK(html_escape("\xE2\x82") == "\xEF\xBF\xBD\xEF\xBF\xBD");  // half of a euro sign: two U+FFFD
  CHECK(html_escape("\xE2\x82\xAC") == "\xE2\x82\xAC");           // the whole sign stays
  CHECK(html_escape(std::string("a\0b\x1b", 4)) == "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");
  CHECK(token_span(token_style::green, "why \"so\"", "<x>") ==
        "<span class=\"g\" title=\"why &quot;so&quot;\">&lt;x&gt;</span>");
  CHECK(odds_in_words(std::log10(2.4e-14)) == "about 1 time in 41.7 trillion");
  CHECK(p_html(-13.62) == "2.4 &times; 10<sup>&minus;14</sup>");
  CHECK(p_html(-400.0) == "1.0 &times; 10<sup>&minus;400</sup>");
}

TEST_CASE("detect --report: the page names the account and renders in headless Chromium") {
  const std::string model = testing_util::stories260K_path();
  temp_dir dir("tracemark-detect-report");
  auto cli = [&](const std::vector<std::string>& args) { return testing_util::run_cli(dir, args); };
  const std::string key = dir.file("provider.key");
  cli({"keygen", "--out", key});
  const std::vector<std::string> gen = {"generate", "-m", model, "-p", "Once upon a time", "-p", "The little dog",
                                        "--n", "2", "--max-tokens", "200", "--no-stop-at-bos", "--seed", "11"};
  cli(concat(gen, {"-k", key, "-H", "2", "--delta", "3", "--account", "alice", "-o", dir.file("alice.jsonl")}));
  cli(concat(gen, {"--no-watermark", "-o", dir.file("clean.jsonl")}));
  testing_util::write_file(dir.file("accounts.txt"), "alice\nbob\n");

  // The stories as text, one marked story under a hostile id, and a text whose accented
  // letters become byte tokens (each a piece of a UTF-8 character).
  const std::vector<nlohmann::json> marked =
      as_text_records(dir.file("alice.jsonl"), {"alice-1", hostile_id, "alice-3", "alice-4"});
  const std::vector<nlohmann::json> clean =
      as_text_records(dir.file("clean.jsonl"), {"clean-1", "clean-2", "clean-3", "clean-4"});
  write_jsonl(dir.file("marked.jsonl"), marked);
  write_jsonl(dir.file("clean-text.jsonl"), clean);
  std::vector<nlohmann::json> all = marked;
  all.insert(all.end(), clean.begin(), clean.end());
  all.push_back({{"id", "accents"},
                 {"prompt", "One day"},
                 {"text", ", Zo\xC3\xAB ate cr\xC3\xA8me br\xC3\xBBl\xC3\xA9\x65 at the caf\xC3\xA9."}});
  write_jsonl(dir.file("all.jsonl"), all);

  const auto detect = [&](const std::string& input, const std::string& name) {
    cli({"detect", "-k", key, "-H", "2", "--vocab", model, "--input-format", "jsonl", "--field", "text",
         "--prompt-field", "prompt", "--accounts", dir.file("accounts.txt"), "--report", dir.file(name + ".html"),
         "-o", dir.file(name + ".results.jsonl"), dir.file(input)});
    std::vector<nlohmann::json> results;
    std::ifstream in(dir.file(name + ".results.jsonl"));
    for (std::string line; std::getline(in, line);) results.push_back(nlohmann::json::parse(line));
    const std::string html = read_file(dir.file(name + ".html"));
    REQUIRE(html.rfind("<!DOCTYPE html>", 0) == 0);
    check_self_contained(html, 0);
    CHECK(valid_utf8(html));
    return std::make_pair(results, html);
  };

  {  // The page as text: verdicts, accounts, p-values in words, escaping.
    const auto [results, html] = detect("all.jsonl", "all");
    REQUIRE(results.size() == 9);
    const std::string text = text_of(html);
    // The records say what the page must say: the marked stories attributed to alice.
    for (size_t i = 0; i < 4; ++i) {
      CAPTURE(i);
      const nlohmann::json& a = results[i]["attribution"];
      REQUIRE(a["verdict"] == "watermarked");
      REQUIRE(a["best"] == "alice");
      CHECK(text.find(odds_in_page_text(a["log10_p_corrected"].get<double>())) != std::string::npos);
    }
    for (size_t i = 4; i < 9; ++i) REQUIRE(results[i]["attribution"]["verdict"] == "not_watermarked");
    CHECK(count(html, "Watermarked: written for account <b>alice</b>") == 4);
    CHECK(count(html, "<p class=\"big\">Not watermarked</p>") == 5);
    CHECK(count(html, "class=\"verdict yes\"") == 4);
    CHECK(count(html, "class=\"verdict no\"") == 5);
    CHECK(text.find("4 of the 9 documents shown carry the watermark") != std::string::npos);
    // The summary: key, scheme, tokenizer, accounts.
    CHECK(html.find(results[0]["params"]["key_fingerprint"].get<std::string>()) != std::string::npos);
    CHECK(html.find("kgw-lefthash h=2 gamma=0.25 vocab=512") != std::string::npos);
    CHECK(html.find("stories260K.gguf") != std::string::npos);
    CHECK(html.find("<code>alice</code>, <code>bob</code> and the master key") != std::string::npos);
    // Every token coloured, with why in its title, and the best window labelled.
    CHECK(html.find("<span class=\"g\" title=\"counted: green") != std::string::npos);
    CHECK(html.find("<span class=\"r\" title=\"counted: red") != std::string::npos);
    CHECK(html.find("<span class=\"p\" title=\"prompt:") != std::string::npos);
    CHECK(count(html, "<span class=\"win\">") == 8);  // not in the short "accents" text
    CHECK(text.find("No stretch was searched") != std::string::npos);
    CHECK(text.find("after correction for the") != std::string::npos);
    CHECK(text.find("Once upon a time") != std::string::npos);
    // Escaping: the hostile id only as text; byte tokens as U+FFFD.
    CHECK(html.find("<script") == std::string::npos);
    CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;&#39;") != std::string::npos);
    CHECK(results[8]["id"] == "accents");
    CHECK(html.find("\xEF\xBF\xBD") != std::string::npos);
  }

  {  // Rendered: the banner and token colours, marked and unmarked stories on separate pages.
    struct expectation {
      std::string input, name;
      bool marked;
    };
    for (const expectation& x : {expectation{"marked.jsonl", "marked", true},
                                 expectation{"clean-text.jsonl", "clean", false}}) {
      CAPTURE(x.name);
      const auto [results, html] = detect(x.input, x.name);
      REQUIRE(results.size() == 4);
      for (const nlohmann::json& r : results)
        REQUIRE(r["attribution"]["verdict"] == (x.marked ? "watermarked" : "not_watermarked"));
      const auto counts = colour_counts(screenshot(dir, dir.file(x.name + ".html"), x.name),
                                        {banner_yes, banner_no, green, red, window_blue});
      const int64_t g = counts.at(green), r = counts.at(red);
      MESSAGE(x.name << ": banner yes " << counts.at(banner_yes) << " px, banner no " << counts.at(banner_no)
                     << " px, green tokens " << g << " px, red " << r << " px, window " << counts.at(window_blue)
                     << " px");
      CHECK(counts.at(x.marked ? banner_yes : banner_no) > 20000);  // the first story's banner, page wide
      CHECK(counts.at(x.marked ? banner_no : banner_yes) == 0);
      CHECK(counts.at(window_blue) > 500);
      CHECK(g > 2000);
      CHECK(r > 1000);
      if (x.marked)
        CHECK(g > r);  // about 55-60% of the marked stories' counted tokens are green under alice's sub-key
      else
        CHECK(2 * r > 3 * g);  // about 25% green by chance: three red tokens to one green, less pixel noise
    }
  }
}
