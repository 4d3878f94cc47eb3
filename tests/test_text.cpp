// The text rules of the front door (tracemark/text.h): which texts can be scored and where
// long documents are cut. Every command that takes text (detect, /v1/detect, audit) uses
// these, so a wrong answer here is wrong everywhere.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "tracemark/text.h"

using namespace tracemark;

TEST_CASE("first_invalid_utf8: valid text, and the first bad byte of every kind of invalid sequence") {
  CHECK(first_invalid_utf8("") == std::string_view::npos);
  CHECK(first_invalid_utf8("plain ASCII, and \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") == std::string_view::npos);
  CHECK(first_invalid_utf8("ab\x80") == 2);                // lone continuation byte
  CHECK(first_invalid_utf8("a\xC0\xAF") == 1);             // overlong '/'
  CHECK(first_invalid_utf8("xy\xED\xA0\x80") == 2);        // surrogate U+D800
  CHECK(first_invalid_utf8("\xF4\x90\x80\x80") == 0);      // above U+10FFFF
  CHECK(first_invalid_utf8("abc\xE2\x82") == 3);           // truncated at the end
  CHECK(first_invalid_utf8(std::string(20, 'a') + "\xFF") == 20);  // past the 8-byte fast path
}

TEST_CASE("replace_invalid_utf8: one U+FFFD per maximal invalid subpart, valid text untouched") {
  std::string ok = "caf\xC3\xA9";
  CHECK(replace_invalid_utf8(ok) == 0);
  CHECK(ok == "caf\xC3\xA9");
  std::string bad = "a\xE2\x82z\xFF";  // a truncated 3-byte sequence (one subpart), then 0xFF
  CHECK(replace_invalid_utf8(bad) == 2);
  CHECK(bad == "a\xEF\xBF\xBDz\xEF\xBF\xBD");
  CHECK(first_invalid_utf8(bad) == std::string_view::npos);
}

TEST_CASE("check_text: NUL, UTF-16 byte-order marks and invalid UTF-8 are named with their byte") {
  // An empty view with a null data pointer (what a default std::string_view is): must be
  // handled without passing null to the C library (UBSan caught memchr(nullptr, ...)).
  const text_check empty = check_text(std::string_view(), 0, "prompt");
  CHECK(empty.issue == text_issue::none);
  CHECK(empty.message.empty());

  const text_check nul = check_text(std::string_view("ab\0c", 4));
  CHECK(nul.issue == text_issue::nul_byte);
  CHECK(nul.at == 2);
  CHECK(nul.message.find("NUL byte at byte 2 of the document") != std::string::npos);

  const text_check shifted = check_text(std::string_view("ab\0c", 4), 1000, "prompt");
  CHECK(shifted.message.find("at byte 1002 of the prompt") != std::string::npos);

  const text_check bom = check_text(std::string_view("\xFF\xFEh\0i", 5));
  CHECK(bom.issue == text_issue::nul_byte);  // UTF-16 text holds NULs: caught as such first
  const text_check bom_only = check_text("\xFF\xFEhi");
  CHECK(bom_only.issue == text_issue::utf16_bom);
  CHECK(bom_only.message.find("UTF-16") != std::string::npos);
  CHECK(check_text("\xFF\xFEhi", 10).issue == text_issue::invalid_utf8);  // not at the start: just bad bytes

  const text_check utf8 = check_text("ok \xC3(");
  CHECK(utf8.issue == text_issue::invalid_utf8);
  CHECK(utf8.at == 3);
  CHECK(check_text("fine text\n").issue == text_issue::none);
}

TEST_CASE("is_blank: spaces, tabs and line breaks only") {
  CHECK(is_blank(""));
  CHECK(is_blank(std::string_view()));
  CHECK(is_blank(" \t\r\n\f\v"));
  CHECK_FALSE(is_blank(" a "));
  CHECK_FALSE(is_blank("\xC2\xA0"));  // a no-break space is text
}

TEST_CASE("piece_cut: after newlines, else after blanks, else at a character boundary; never inside CR LF") {
  CHECK(piece_cut("one two\n\nthree four", 12) == 9);  // after the run of newlines
  CHECK(piece_cut("one two three", 10) == 8);          // after the space
  CHECK(piece_cut("abcdefghij", 4) == 4);              // no break: at the limit
  // "é" is two bytes: a cut at 2 would split it, so the cut moves back to 1.
  CHECK(piece_cut("a\xC3\xA9zz", 2) == 1);
  // A limit between CR and LF moves the cut before the CR.
  CHECK(piece_cut("abc\r\ndef", 4) == 3);
  for (size_t limit = 1; limit < 20; ++limit) {
    const std::string s = "line one\r\nline two \xE2\x82\xAC tail";
    const size_t cut = piece_cut(s, limit);
    CHECK(cut > 0);
    CHECK(cut <= limit);
    CHECK(first_invalid_utf8(std::string_view(s).substr(0, cut)) == std::string_view::npos);
    CHECK_FALSE((s[cut - 1] == '\r' && s[cut] == '\n'));
  }
}
