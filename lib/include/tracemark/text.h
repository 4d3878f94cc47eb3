// The text rules of the front door (tokenizer.h), shared by every command that takes text:
// which text can be scored (UTF-8, no NUL, not blank) and where a long document is cut
// into pieces (docs/SPEC.md §7).
//
// Thread safety: pure functions.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tracemark/export.h"

namespace tracemark {

// Offset of the first byte of the first invalid UTF-8 sequence, or npos when valid.
// Overlong forms, surrogates and code points above U+10FFFF are invalid (Unicode 15,
// table 3-7).
TRACEMARK_EXPORT size_t first_invalid_utf8(std::string_view s) noexcept;
// `s` with each maximal invalid subpart replaced by U+FFFD (the W3C/Unicode "substitution
// of maximal subparts"); returns how many.
TRACEMARK_EXPORT int64_t replace_invalid_utf8(std::string& s);
// Only spaces, tabs and line breaks (or nothing).
TRACEMARK_EXPORT bool is_blank(std::string_view s) noexcept;

// What keeps a text (or a piece of it starting at byte `offset`) from being scored.
enum class text_issue : uint8_t {
  none,
  nul_byte,      // binary data, or UTF-16
  utf16_bom,     // a UTF-16 byte-order mark at the start
  invalid_utf8,  // see first_invalid_utf8
};
struct text_check {
  text_issue issue = text_issue::none;
  size_t at = 0;        // byte of the problem within the checked text
  std::string message;  // "NUL byte at byte 3 of the document: ..." ("" for none)
};
// `what` names the text in the message ("document", "prompt").
TRACEMARK_EXPORT text_check check_text(std::string_view text, uint64_t offset = 0, std::string_view what = "document");

// Documents longer than this are tokenized in pieces (docs/SPEC.md §7).
inline constexpr size_t default_piece_bytes = size_t{256} << 10;
// Where to cut `s` to at most `limit` bytes (limit < s.size()): after the last run of
// newlines, else after the last run of spaces/tabs, else at a UTF-8 character boundary.
// Never cuts between CR and LF. Returns a value in (0, limit] unless limit == 0.
TRACEMARK_EXPORT size_t piece_cut(std::string_view s, size_t limit) noexcept;

}  // namespace tracemark
