// libFuzzer target for the document reader of `tracemark detect`
// (tools/tracemark/input_reader.{h,cpp}): plain-text splitting, JSON Lines field
// extraction, byte-order marks, CRLF, UTF-8 checks, pieces of long documents.
//
// The first two bytes choose the configuration (mode, split, piece size, read size,
// UTF-8 replacement); the rest is the input. Besides the sanitizers, it checks:
//   * every document yields units with exactly one first and one last piece, numbered
//     0, 1, 2, ... in order, and every piece is at most 2 x piece_bytes + 1 bytes;
//   * plain text: the pieces of each document concatenate to what a simple reference
//     splitter gives (BOM removed at line starts, CR of CRLF removed, documents per
//     split mode);
//   * lines / JSON Lines: one document per input line, with its line number;
//   * text handed out without an error is valid UTF-8 without NUL bytes;
//   * the units do not depend on how the source hands out its bytes (1 byte at a time
//     versus large reads).
// Built with -fsanitize=fuzzer,address,undefined by tests/fuzz.cmake (TRACEMARK_FUZZ=ON,
// clang); tests/fuzz/replay_main.cpp replays the seed corpus in any build.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "detect/input_reader.h"
#include "tracemark/text.h"

using namespace tracemark::cli;
using tracemark::first_invalid_utf8;
using tracemark::replace_invalid_utf8;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_input_reader: invariant violated: %s\n", what);
  std::abort();
}
#define CHECK_OR_FAIL(cond) \
  do {                      \
    if (!(cond)) fail(#cond); \
  } while (0)

struct doc {
  std::string text;
  int64_t line = 0;
  bool error = false;
};

std::vector<unit> read_all(std::string_view input, const reader_config& cfg, size_t max_read) {
  memory_source src(input, max_read);
  document_reader reader(src, cfg);
  std::vector<unit> out;
  unit u;
  while (reader.next(u)) {
    out.push_back(u);
    if (out.size() > input.size() + 2) fail("more units than input bytes");
  }
  return out;
}

bool is_ws(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '\f' && c != '\v') return false;
  return true;
}

// Lines of the input after normalisation: BOM at the start removed, final CR removed.
std::vector<std::string> reference_lines(std::string_view in, bool& ends_with_newline) {
  std::vector<std::string> lines;
  size_t pos = 0;
  ends_with_newline = false;
  while (pos < in.size()) {
    const size_t nl = in.find('\n', pos);
    std::string line(in.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    if (line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
    if (pos == in.size()) ends_with_newline = true;
  }
  return lines;
}

std::vector<doc> reference_plain(std::string_view in, split_mode split, size_t piece_bytes) {
  bool ends_nl = false;
  const std::vector<std::string> lines = reference_lines(in, ends_nl);
  std::vector<doc> docs;
  switch (split) {
    case split_mode::document: {
      doc d;
      d.line = 1;
      for (size_t i = 0; i < lines.size(); ++i) {
        d.text += lines[i];
        if (i + 1 < lines.size() || ends_nl) d.text += '\n';
      }
      docs.push_back(d);
      break;
    }
    case split_mode::line:
      for (size_t i = 0; i < lines.size(); ++i) docs.push_back({lines[i], static_cast<int64_t>(i + 1), false});
      break;
    case split_mode::paragraph: {
      bool open = false;
      for (size_t i = 0; i < lines.size(); ++i) {
        const bool blank = lines[i].size() <= piece_bytes && is_ws(lines[i]);
        if (blank) {
          open = false;
          continue;
        }
        if (!open) {
          docs.push_back({"", static_cast<int64_t>(i + 1), false});
          open = true;
        } else {
          docs.back().text += '\n';
        }
        docs.back().text += lines[i];
      }
      break;
    }
  }
  return docs;
}

bool same_units(const std::vector<unit>& a, const std::vector<unit>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const unit& x = a[i];
    const unit& y = b[i];
    if (x.document != y.document || x.line != y.line || x.id != y.id || x.first_piece != y.first_piece ||
        x.last_piece != y.last_piece || x.text != y.text || x.has_prompt != y.has_prompt || x.prompt != y.prompt ||
        x.error != y.error || x.too_long != y.too_long || x.replaced != y.replaced)
      return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t c0 = data[0], c1 = data[1];
  const std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);

  reader_config cfg;
  cfg.mode = static_cast<reader_mode>(c0 % 3);
  cfg.split = static_cast<split_mode>((c0 / 3) % 3);
  cfg.replace_invalid_utf8 = (c0 & 0x80) != 0;
  cfg.piece_bytes = size_t{16} << ((c1 & 0x7) % 5);  // 16 .. 256
  cfg.max_line_bytes = (c1 & 0x8) != 0 ? 64 : 4096;
  cfg.prompt_field = (c1 & 0x10) != 0 ? "prompt" : "";
  cfg.source_name = "fuzz";
  const size_t big_read = (c1 & 0x20) != 0 ? 7 : 4096;
  cfg.read_bytes = (c1 & 0x40) != 0 ? 3 : 4096;  // bytes asked per read

  const std::vector<unit> units = read_all(input, cfg, big_read);

  // Structure: documents numbered in order, one first and one last piece each.
  int64_t expect_doc = 0;
  bool in_doc = false;
  std::vector<doc> docs;
  for (const unit& u : units) {
    CHECK_OR_FAIL(u.first_piece == !in_doc);
    CHECK_OR_FAIL(u.document == expect_doc);
    if (u.first_piece) docs.push_back({"", u.line, false});
    CHECK_OR_FAIL(u.line == docs.back().line);
    docs.back().text += u.text;
    docs.back().error = docs.back().error || !u.error.empty();
    // (U+FFFD replacement turns one byte into three)
    if (cfg.mode != reader_mode::lines)
      CHECK_OR_FAIL(u.text.size() <= (cfg.replace_invalid_utf8 ? 3 : 1) * (2 * cfg.piece_bytes + 1));
    if (cfg.mode != reader_mode::lines && u.error.empty()) {
      CHECK_OR_FAIL(first_invalid_utf8(u.text) == std::string_view::npos);
      CHECK_OR_FAIL(u.text.find('\0') == std::string::npos);
      CHECK_OR_FAIL(u.replaced == 0 || cfg.replace_invalid_utf8);
    }
    if (!u.first_piece) CHECK_OR_FAIL(!u.has_prompt);
    in_doc = !u.last_piece;
    if (u.last_piece) ++expect_doc;
  }
  CHECK_OR_FAIL(!in_doc);

  if (cfg.mode == reader_mode::plain && !cfg.replace_invalid_utf8) {
    const std::vector<doc> ref = reference_plain(input, cfg.split, cfg.piece_bytes);
    CHECK_OR_FAIL(ref.size() == docs.size());
    for (size_t i = 0; i < ref.size(); ++i) {
      CHECK_OR_FAIL(ref[i].text == docs[i].text);
      CHECK_OR_FAIL(ref[i].line == docs[i].line);
    }
  } else if (cfg.mode != reader_mode::plain) {
    bool ends_nl = false;
    const std::vector<std::string> lines = reference_lines(input, ends_nl);
    CHECK_OR_FAIL(lines.size() == docs.size());
    for (size_t i = 0; i < docs.size(); ++i) CHECK_OR_FAIL(docs[i].line == static_cast<int64_t>(i + 1));
    if (cfg.mode == reader_mode::lines)
      for (size_t i = 0; i < units.size(); ++i)
        CHECK_OR_FAIL(units[i].too_long || units[i].text == lines[i]);
  }

  // The same units whatever the read sizes.
  CHECK_OR_FAIL(same_units(units, read_all(input, cfg, 1)));

  // The UTF-8 helpers agree with each other.
  std::string copy(input);
  const bool valid = first_invalid_utf8(copy) == std::string_view::npos;
  const int64_t n = replace_invalid_utf8(copy);
  CHECK_OR_FAIL(valid == (n == 0));
  CHECK_OR_FAIL(first_invalid_utf8(copy) == std::string_view::npos);
  if (valid) CHECK_OR_FAIL(copy == input);
  return 0;
}
