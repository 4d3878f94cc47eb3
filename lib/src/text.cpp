// The text rules of the front door (text.h).
#include "tracemark/text.h"

#include <algorithm>
#include <cstring>

namespace tracemark {

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 if it is invalid there
// (Unicode 15, table 3-7: well-formed byte sequences).
size_t utf8_sequence(std::string_view s, size_t i) noexcept {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  const size_t n = s.size() - i;
  const auto cont = [&](size_t k, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return k < n && b(i + k) >= lo && b(i + k) <= hi;
  };
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

// Length of the maximal invalid subpart at s[i] (W3C / Unicode "substitution of
// maximal subparts"): the longest prefix of a valid sequence, at least one byte.
size_t invalid_subpart(std::string_view s, size_t i) noexcept {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  size_t need = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) need = 1;
  else if (c == 0xE0) need = 2, lo = 0xA0;
  else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) need = 2;
  else if (c == 0xED) need = 2, hi = 0x9F;
  else if (c == 0xF0) need = 3, lo = 0x90;
  else if (c >= 0xF1 && c <= 0xF3) need = 3;
  else if (c == 0xF4) need = 3, hi = 0x8F;
  else return 1;
  size_t k = 1;
  if (i + k < s.size() && b(i + k) >= lo && b(i + k) <= hi) {
    ++k;
    while (k <= need && i + k < s.size() && b(i + k) >= 0x80 && b(i + k) <= 0xBF) ++k;
  }
  return k;
}

}  // namespace

bool is_blank(std::string_view s) noexcept {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '\f' && c != '\v') return false;
  return true;
}

text_check check_text(std::string_view text, uint64_t offset, std::string_view what) {
  const auto where = [&](size_t i) {
    return " at byte " + std::to_string(offset + i) + " of the " + std::string(what);
  };
  text_check c;
  // find, not memchr: an empty view may have a null data() (memchr's argument must not be null).
  if (const size_t nul = text.find('\0'); nul != std::string_view::npos) {
    c.issue = text_issue::nul_byte;
    c.at = nul;
    c.message = "NUL byte" + where(c.at) + ": binary data or UTF-16 text, not UTF-8 text";
  } else if (offset == 0 && text.size() >= 2 &&
             ((text[0] == '\xFF' && text[1] == '\xFE') || (text[0] == '\xFE' && text[1] == '\xFF'))) {
    c.issue = text_issue::utf16_bom;
    c.message = "the " + std::string(what) +
                " starts with a UTF-16 byte-order mark: convert it to UTF-8 (e.g. iconv -f UTF-16 -t UTF-8)";
  } else if (const size_t bad = first_invalid_utf8(text); bad != std::string_view::npos) {
    c.issue = text_issue::invalid_utf8;
    c.at = bad;
    c.message = "invalid UTF-8" + where(bad);
  }
  return c;
}

size_t first_invalid_utf8(std::string_view s) noexcept {
  size_t i = 0;
  while (i < s.size()) {
    // Fast path over ASCII, 8 bytes at a time.
    while (i + 8 <= s.size()) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if ((w & 0x8080808080808080ULL) != 0) break;
      i += 8;
    }
    if (i >= s.size()) break;
    const size_t n = utf8_sequence(s, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

int64_t replace_invalid_utf8(std::string& s) {
  size_t bad = first_invalid_utf8(s);
  if (bad == std::string::npos) return 0;
  std::string out;
  out.reserve(s.size() + 16);
  out.append(s, 0, bad);
  int64_t n = 0;
  size_t i = bad;
  while (i < s.size()) {
    const size_t k = utf8_sequence(s, i);
    if (k > 0) {
      out.append(s, i, k);
      i += k;
    } else {
      out += "\xEF\xBF\xBD";
      ++n;
      i += invalid_subpart(s, i);
    }
  }
  s = std::move(out);
  return n;
}

size_t piece_cut(std::string_view s, size_t limit) noexcept {
  if (limit == 0) return 0;
  limit = std::min(limit, s.size());
  const std::string_view w = s.substr(0, limit);
  // After the last run of newlines inside the window (not splitting CR LF).
  if (const size_t nl = w.rfind('\n'); nl != std::string_view::npos) return nl + 1;
  // After the last run of spaces / tabs.
  if (const size_t sp = w.find_last_of(" \t"); sp != std::string_view::npos) return sp + 1;
  // At a character boundary: never before a continuation byte (at most 3 back).
  size_t cut = limit;
  for (int k = 0; k < 3 && cut > 1 && cut < s.size() && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80; ++k)
    --cut;
  // Never between CR and LF.
  if (cut > 1 && cut < s.size() && s[cut - 1] == '\r' && s[cut] == '\n') --cut;
  return cut;
}


}  // namespace tracemark
