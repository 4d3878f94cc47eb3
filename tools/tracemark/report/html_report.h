// What the HTML reports of `tracemark audit --report` and `tracemark detect --report` share:
// escaping, numbers and p-values for people, the fixed colours and style sheet, token
// highlighting, the verdict banner and the page frame. Both pages are self-contained (CSS
// inline, no scripts, nothing fetched) and use the same colour language, so a reader of one
// can read the other, and the screenshot tests can find the colours.
//
// No llama.cpp in here: `detect --report` is part of every build of the tool.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace tracemark::cli {

// The text of one token id (the tokenizer's piece), for highlighted text.
using token_text_fn = std::function<std::string(int32_t token)>;

// ------------------------------------------------------------------ text and numbers

// HTML-escapes `s` (for element text and attribute values). Bytes that are not valid UTF-8
// (a token can hold part of a character) and control characters other than tab and
// newline become U+FFFD, so the page stays valid whatever the input.
std::string html_escape(std::string_view s);

// `v` with `decimals` decimals ("0.250").
std::string fixed(double v, int decimals);
// `v` with `digits` significant digits, as printf's %g ("0.25", "1e-06", "3.2e-15").
std::string significant(double v, int digits = 3);
// 1234567 -> "1,234,567".
std::string grouped(int64_t n);
// 0.2513 -> "25.1%".
std::string percent(double fraction, int decimals = 1);

// "about 1 time in 41.7 trillion", "about 1 time in 3", "less than 1 time in 10^412",
// "more often than not".
std::string odds_in_words(double log10_p);
// odds_in_words with "10^N" as a superscript (HTML).
std::string odds_html(double log10_p);
// p in HTML: "0.31", "0.0042", "2.4 &times; 10<sup>&minus;14</sup>" (also past double range).
std::string p_html(double log10_p);
// A threshold with its odds: "1e-06 (about 1 time in 1 million)" (HTML).
std::string alpha_words(double alpha);

// ------------------------------------------------------------------ page pieces

// How a token is shown; each has a fixed colour (green and red backgrounds, greys for
// tokens that were not scored) defined in the shared style sheet.
enum class token_style : uint8_t {
  green,    // scored, in the green list
  red,      // scored, not in it
  repeat,   // not counted: the same (context, token) pair was already scored
  prompt,   // context given to the model, never scored
  skipped,  // not scored for another reason (too little context, filtered out)
};
// The CSS class of a style ("g", "r", "d", "p", "n").
const char* token_class(token_style s);
// One token: <span class="g" title="why">text</span>, both escaped here.
std::string token_span(token_style s, std::string_view title, std::string_view text);
// One legend entry in the token's own colours: <span class="g">label</span>.
std::string legend_entry(token_style s, std::string_view label_html);

// The verdict banner: dark red when `positive` (watermark found), slate grey otherwise.
// `explanation_html` is one paragraph in plain words.
std::string verdict_banner(bool positive, std::string_view headline_html, std::string_view explanation_html,
                           std::string_view id = "verdict");

// A key number in a box: the value large, the label under it (both HTML).
std::string fact_box(std::string_view value_html, std::string_view label_html);

// The page up to and including <body>: `title` is plain text (escaped here); `extra_css`
// follows the shared style sheet.
std::string page_begin(std::string_view title, std::string_view extra_css = {});
// The closing note (HTML) and the end of the page.
std::string page_end(std::string_view note_html);

}  // namespace tracemark::cli
