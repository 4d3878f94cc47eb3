// Unit tests of the pieces of `tracemark detect` that need no tokenizer: the document
// reader (tools/tracemark/input_reader.h).
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "detect/input_reader.h"
#include "tracemark/text.h"
#include "tracemark/tracemark.hpp"

using namespace tracemark;
using namespace tracemark::cli;

namespace {

std::vector<unit> read_all(const std::string& input, reader_config cfg, size_t max_read = 4096) {
  memory_source src(input, max_read);
  document_reader reader(src, std::move(cfg));
  std::vector<unit> out;
  unit u;
  while (reader.next(u)) out.push_back(u);
  return out;
}

reader_config plain(split_mode split, size_t piece = 1024) {
  reader_config c;
  c.mode = reader_mode::plain;
  c.split = split;
  c.piece_bytes = piece;
  c.source_name = "f.txt";
  return c;
}

reader_config jsonl(const std::string& prompt_field = "") {
  reader_config c;
  c.mode = reader_mode::jsonl_text;
  c.prompt_field = prompt_field;
  c.source_name = "in.jsonl";
  return c;
}

// The documents: concatenated pieces, with the first piece's metadata.
struct doc {
  std::string text, error;
  int64_t line = 0, pieces = 0;
  nlohmann::json id;
};
std::vector<doc> documents(const std::vector<unit>& units) {
  std::vector<doc> docs;
  for (const unit& u : units) {
    if (u.first_piece) docs.push_back({"", "", u.line, 0, u.id});
    docs.back().text += u.text;
    if (docs.back().error.empty()) docs.back().error = u.error;
    ++docs.back().pieces;
  }
  return docs;
}

}  // namespace

TEST_CASE("reader: split modes, line numbers and generated ids") {
  const std::string text = "first line\nsecond line\n\n\nthird, after blanks\n  \t\nlast";
  SUBCASE("document: the whole input is one document") {
    const auto d = documents(read_all(text, plain(split_mode::document)));
    REQUIRE(d.size() == 1);
    CHECK(d[0].text == text);
    CHECK(d[0].line == 1);
    CHECK(d[0].id == "f.txt:1");
    CHECK(d[0].error.empty());
  }
  SUBCASE("line: every line, blank ones as error records") {
    const auto d = documents(read_all(text, plain(split_mode::line)));
    REQUIRE(d.size() == 7);
    CHECK(d[0].text == "first line");
    CHECK(d[1].text == "second line");
    CHECK(d[2].error == "empty document");
    CHECK(d[3].error == "empty document");
    CHECK(d[4].text == "third, after blanks");
    CHECK(d[5].error == "empty document: only whitespace");
    CHECK(d[6].text == "last");
    for (size_t i = 0; i < d.size(); ++i) {
      CHECK(d[i].line == static_cast<int64_t>(i + 1));
      CHECK(d[i].id == "f.txt:" + std::to_string(i + 1));
    }
  }
  SUBCASE("paragraph: blocks between blank lines, numbered by their first line") {
    const auto d = documents(read_all("\n\n" + text + "\n\n", plain(split_mode::paragraph)));
    REQUIRE(d.size() == 3);
    CHECK(d[0].text == "first line\nsecond line");
    CHECK(d[0].line == 3);
    CHECK(d[1].text == "third, after blanks");
    CHECK(d[1].line == 7);
    CHECK(d[2].text == "last");
    CHECK(d[2].line == 9);
  }
  SUBCASE("an empty input") {
    CHECK(documents(read_all("", plain(split_mode::document))).at(0).error == "empty document");
    CHECK(read_all("", plain(split_mode::line)).empty());
    CHECK(read_all("\n\n \n", plain(split_mode::paragraph)).empty());
  }
}

TEST_CASE("reader: byte-order marks and CRLF are removed, everything else is kept") {
  const std::string bom = "\xEF\xBB\xBF";
  SUBCASE("plain text") {
    const std::string crlf = bom + "one\r\ntwo\r\n" + bom + "three\r\n\r\nfour\r";
    CHECK(documents(read_all(crlf, plain(split_mode::document))).at(0).text == "one\ntwo\nthree\n\nfour");
    const auto lines = documents(read_all(crlf, plain(split_mode::line)));
    REQUIRE(lines.size() == 5);
    CHECK(lines[0].text == "one");
    CHECK(lines[2].text == "three");
    CHECK(lines[4].text == "four");
    // A CR that does not end a line, and a BOM that does not start one, stay.
    CHECK(documents(read_all("a\rb" + bom + "c\n", plain(split_mode::line))).at(0).text == "a\rb" + bom + "c");
  }
  SUBCASE("JSON Lines") {
    const auto d = documents(read_all(bom + "{\"text\": \"a\\r\\nb\"}\r\n" + bom + "{\"text\": \"c\"}\r\n", jsonl()));
    REQUIRE(d.size() == 2);
    CHECK(d[0].text == "a\r\nb");  // inside a JSON string: the text as given
    CHECK(d[1].text == "c");
    CHECK(d[1].error.empty());
  }
  SUBCASE("the same units whatever the read sizes") {
    const std::string input = bom + "alpha beta\r\n\r\n" + bom + "gamma\r\ndelta\r";
    for (split_mode m : {split_mode::document, split_mode::line, split_mode::paragraph}) {
      const auto a = documents(read_all(input, plain(m, 16), 1));
      const auto b = documents(read_all(input, plain(m, 16), 4096));
      REQUIRE(a.size() == b.size());
      for (size_t i = 0; i < a.size(); ++i) CHECK(a[i].text == b[i].text);
    }
  }
}

TEST_CASE("reader: UTF-8 validation, replacement and NUL bytes") {
  CHECK(first_invalid_utf8("plain ascii") == std::string::npos);
  CHECK(first_invalid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") == std::string::npos);
  CHECK(first_invalid_utf8("ab\xC0\xAF") == 2);          // overlong '/'
  CHECK(first_invalid_utf8("ab\xED\xA0\x80") == 2);      // surrogate U+D800
  CHECK(first_invalid_utf8("ab\xF4\x90\x80\x80") == 2);  // above U+10FFFF
  CHECK(first_invalid_utf8("ab\xE2\x82") == 2);          // truncated
  CHECK(first_invalid_utf8("abcdefghijklmnop\xFF") == 16);

  // Unicode 15 §3.9, table 3-8: U+FFFD for each maximal subpart.
  std::string s = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
  CHECK(replace_invalid_utf8(s) == 6);
  CHECK(s == "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD" "d");

  SUBCASE("error records by default") {
    const std::string with_nul("fine\nbad \xFF here\nnul \0 here\n", 26);
    const auto d = documents(read_all(with_nul, plain(split_mode::line)));
    REQUIRE(d.size() == 3);
    CHECK(d[0].error.empty());
    CHECK(d[1].error.find("invalid UTF-8 at byte 4") == 0);
    CHECK(d[1].error.find("--invalid-utf8 replace") != std::string::npos);
    CHECK(d[2].error.find("NUL byte at byte 4") == 0);
  }
  SUBCASE("replace") {
    reader_config c = plain(split_mode::line);
    c.replace_invalid_utf8 = true;
    const auto u = read_all("bad \xFF\xFE here\n", c);
    REQUIRE(u.size() == 1);
    CHECK(u[0].error.empty());
    CHECK(u[0].replaced == 2);
    CHECK(u[0].text == "bad \xEF\xBF\xBD\xEF\xBF\xBD here");
  }
  SUBCASE("UTF-16 is recognised") {
    const std::string utf16("\xFF\xFEh\0i\0", 6);
    const auto d = documents(read_all(utf16, plain(split_mode::document)));
    REQUIRE(d.size() == 1);
    CHECK(!d[0].error.empty());
  }
}

TEST_CASE("reader: JSON Lines of text") {
  const std::string input =
      "{\"id\": \"a\", \"text\": \"Hello\", \"prompt\": \"Say hi\"}\n"
      "{\"id\": 7, \"text\": \"no prompt\", \"prompt\": null}\n"
      "{\"text\": \"generated id\"}\n"
      "not json\n"
      "{\"id\": 9}\n"
      "{\"id\": 10, \"text\": 5}\n"
      "{\"id\": 11, \"text\": \"x\", \"prompt\": [1]}\n"
      "{\"id\": 12, \"text\": \"\"}\n"
      "[1, 2]\n"
      "\n"
      "{\"id\": {\"not\": \"scalar\"}, \"text\": \"t\"}";
  const auto d = documents(read_all(input, jsonl("prompt")));
  const auto u = read_all(input, jsonl("prompt"));
  REQUIRE(d.size() == 11);
  CHECK(d[0].id == "a");
  CHECK(d[0].text == "Hello");
  CHECK(u[0].has_prompt);
  CHECK(u[0].prompt == "Say hi");
  CHECK(d[1].id == 7);
  CHECK_FALSE(u[1].has_prompt);
  CHECK(d[2].id == "in.jsonl:3");
  CHECK(d[3].error.find("malformed JSON") == 0);
  CHECK(d[3].id == "in.jsonl:4");
  CHECK(d[4].error.find("missing \"text\"") == 0);
  CHECK(d[4].id == 9);
  CHECK(d[5].error == "\"text\" is a number, expected a string");
  CHECK(d[6].error.find("\"prompt\" is an array") == 0);
  CHECK(d[7].error.find("empty document") == 0);
  CHECK(d[8].error.find("not a JSON object") != std::string::npos);
  CHECK(d[9].error.find("empty line") == 0);
  CHECK(d[10].id == "in.jsonl:11");
  for (size_t i = 0; i < d.size(); ++i) CHECK(d[i].line == static_cast<int64_t>(i + 1));

  SUBCASE("another field name") {
    reader_config c = jsonl();
    c.field = "body";
    const auto b = documents(read_all("{\"body\": \"x y\"}\n{\"text\": \"z\"}\n", c));
    REQUIRE(b.size() == 2);
    CHECK(b[0].text == "x y");
    CHECK(b[1].error.find("missing \"body\"") == 0);
  }
  SUBCASE("a line over the limit is one error record, the next line is read") {
    reader_config c = jsonl();
    c.max_line_bytes = 64;
    const auto b = documents(read_all("{\"text\": \"" + std::string(200, 'y') + "\"}\n{\"text\": \"ok\"}\n", c, 7));
    REQUIRE(b.size() == 2);
    CHECK(b[0].error.find("longer than the limit") != std::string::npos);
    CHECK(b[1].text == "ok");
    CHECK(b[1].line == 2);
  }
  SUBCASE("a long text comes in pieces") {
    reader_config c = jsonl("prompt");
    c.piece_bytes = 64;
    std::string body;
    for (int i = 0; i < 40; ++i) body += "line " + std::to_string(i) + "\\n";
    const auto pieces = read_all("{\"id\": \"long\", \"text\": \"" + body + "\", \"prompt\": \"p\"}\n", c);
    REQUIRE(pieces.size() > 3);
    CHECK(pieces[0].has_prompt);
    CHECK(pieces[0].id == "long");
    std::string joined;
    for (const unit& p : pieces) {
      CHECK(p.text.size() <= 64);
      CHECK(p.text.back() == '\n');  // cut at line ends
      joined += p.text;
    }
    CHECK(pieces.back().last_piece);
    CHECK(joined.size() == 10 * 7 + 30 * 8);  // "line 0\n" .. "line 39\n"
  }
}

TEST_CASE("reader: long documents are cut at newline runs, then spaces, then character boundaries") {
  SUBCASE("piece_cut") {
    CHECK(piece_cut("abc\n\ndef ghi", 8) == 5);
    CHECK(piece_cut("abc def ghi", 9) == 8);
    CHECK(piece_cut("abc\xE2\x82\xAC" "def", 5) == 3);  // not inside the euro sign
    CHECK(piece_cut("abcdefgh", 5) == 5);
  }
  SUBCASE("a document over the piece size") {
    std::string text;
    for (int i = 0; i < 200; ++i) text += "Paragraph " + std::to_string(i) + " has some words.\n\n";
    const auto u = read_all(text, plain(split_mode::document, 256), 13);
    REQUIRE(u.size() > 10);
    std::string joined;
    for (size_t i = 0; i < u.size(); ++i) {
      CHECK(u[i].first_piece == (i == 0));
      CHECK(u[i].last_piece == (i + 1 == u.size()));
      CHECK(u[i].text.size() <= 2 * 256 + 1);
      if (i + 1 < u.size()) CHECK(u[i].text.substr(u[i].text.size() - 2) == "\n\n");  // whole newline runs
      joined += u[i].text;
    }
    CHECK(joined == text);
  }
  SUBCASE("one long line, with multibyte characters and no spaces") {
    std::string line;
    for (int i = 0; i < 300; ++i) line += "\xE2\x82\xAC";  // 900 bytes, no space
    const auto u = read_all(line + "\nnext\n", plain(split_mode::line, 64));
    const auto d = documents(u);
    REQUIRE(d.size() == 2);
    CHECK(d[0].text == line);
    CHECK(d[0].pieces > 10);
    CHECK(d[0].error.empty());  // no piece splits a character
    CHECK(d[1].text == "next");
  }
}

TEST_CASE("reader: token-id lines are handed out raw, one per line") {
  reader_config c;
  c.mode = reader_mode::lines;
  c.max_line_bytes = 32;
  const auto u = read_all("{\"tokens\": [1]}\r\n\n" + std::string(100, 'x') + "\nlast", c, 5);
  REQUIRE(u.size() == 4);
  CHECK(u[0].text == "{\"tokens\": [1]}");
  CHECK(u[1].text.empty());
  CHECK(u[2].too_long);
  CHECK(u[3].text == "last");
  CHECK(u[3].line == 4);
}
