// What the tests of the HTML reports (test_audit_report.cpp, test_detect_report.cpp) share:
// running the real CLI, rendering a page in headless Chromium (Debian's `chromium`,
// installed by scripts/setup.sh test; a missing browser fails the test), counting exact
// colours in the screenshot, checking that a page fetches nothing, the page's text
// without tags, and the odds in words as that text shows them.
#pragma once
#include <doctest/doctest.h>
#include <png.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "process_helpers.h"
#include "report/html_report.h"

namespace testing_util {

using rgb = std::array<uint8_t, 3>;

// Colours fixed in the reports' shared style sheet (tools/tracemark/report/html_report.cpp).
inline constexpr rgb banner_positive{0xb7, 0x1c, 0x1c};  // verdict: watermark found
inline constexpr rgb banner_negative{0x45, 0x5a, 0x64};  // verdict: not found
inline constexpr rgb token_green{0xa5, 0xd6, 0xa7};
inline constexpr rgb token_red{0xef, 0x9a, 0x9a};

// Runs the tracemark CLI (TRACEMARK_CLI_PATH) in `dir`; the test stops when it fails.
inline run_result run_cli(const temp_dir& dir, const std::vector<std::string>& args) {
  const run_result r = run_program(TRACEMARK_CLI_PATH, dir, args);
  REQUIRE_MESSAGE(r.exit_code == 0, "tracemark " << args.front() << " failed: " << r.err);
  return r;
}

inline std::string chromium_path() {
  if (const char* env = std::getenv("TRACEMARK_CHROMIUM")) return env;
  return TRACEMARK_CHROMIUM_PATH;
}

// Pixel counts of exactly these colours in a PNG screenshot.
inline std::map<rgb, int64_t> colour_counts(const std::string& png_path, const std::vector<rgb>& colours) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  REQUIRE_MESSAGE(png_image_begin_read_from_file(&image, png_path.c_str()) != 0, "not a PNG: " << png_path);
  image.format = PNG_FORMAT_RGB;
  std::vector<uint8_t> pixels(PNG_IMAGE_SIZE(image));
  REQUIRE(png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr) != 0);
  MESSAGE(png_path << ": " << image.width << "x" << image.height);
  std::map<rgb, int64_t> counts;
  for (const rgb& c : colours) counts[c] = 0;
  for (size_t i = 0; i + 2 < pixels.size(); i += 3) {
    const rgb c{pixels[i], pixels[i + 1], pixels[i + 2]};
    if (auto it = counts.find(c); it != counts.end()) ++it->second;
  }
  return counts;
}

// Renders `html_path` into dir/<name>.png (1000 x 2400 CSS pixels, sRGB) and returns its path.
inline std::string screenshot(const temp_dir& dir, const std::string& html_path, const std::string& name) {
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

// No external resource: a report must open offline and leak nothing when opened. The only
// URL allowed is the SVG namespace, expected `svg_namespaces` times.
inline void check_self_contained(const std::string& html, size_t svg_namespaces) {
  for (const char* forbidden : {"<script", "src=", "href=", "url(", "@import", "<link", "<iframe", "https://"})
    CHECK_MESSAGE(html.find(forbidden) == std::string::npos, "report contains " << forbidden);
  size_t http = 0, n_http = 0;
  while ((http = html.find("http://", http)) != std::string::npos) {
    CHECK_MESSAGE(html.compare(http, 26, "http://www.w3.org/2000/svg") == 0, "external reference at " << http);
    ++http;
    ++n_http;
  }
  CHECK(n_http == svg_namespaces);
}

// The page's text without tags (the reports put every token in its own span).
inline std::string text_of(const std::string& html) {
  std::string out;
  bool in_tag = false;
  for (char c : html) {
    if (c == '<') in_tag = true;
    else if (c == '>') in_tag = false;
    else if (!in_tag) out += c;
  }
  return out;
}

// odds_in_words(log10_p) as text_of() finds it on a page: "10^N" is "10<sup>N</sup>" there.
inline std::string odds_in_page_text(double log10_p) {
  std::string odds = tracemark::cli::odds_in_words(log10_p);
  if (const size_t caret = odds.find('^'); caret != std::string::npos) odds.erase(caret, 1);
  return odds;
}

}  // namespace testing_util
