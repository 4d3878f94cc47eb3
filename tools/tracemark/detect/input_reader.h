// The document reader of `tracemark detect`: turns a byte stream into the units the
// detector works on, in input order, with bounded memory. No tokenizer in here (and no
// llama.cpp): it is fuzzed on its own (tests/fuzz/fuzz_input_reader.cpp).
//
//   lines       one unit per input line, raw (token-id JSON Lines; parsed by jsonl.h)
//   jsonl text  one document per JSON line; its text is the string field `field`, an
//               optional prompt from `prompt_field`, the id from "id"
//   plain text  the whole input is one document (split_mode::document), or one per
//               line (split_mode::line), or one per blank-line-separated block
//               (split_mode::paragraph)
//
// An OpenAI-style completion response on one line (an object with a "choices" array and
// no "tokens" / no text field, as `tracemark serve` and other servers answer) holds one
// document per choice: in lines mode each choice becomes a token record line
// {"id": "<response id>/<index>", "tokens": ..., "prompt_tokens": ...} (from "tokens" /
// "prompt_tokens", or "token_ids" / "prompt_token_ids"), in jsonl_text mode a document
// whose text is the choice's "text" (completions) or "message"."content" (chat). A choice
// without what the mode needs becomes an error record naming it.
//
// A document whose text is longer than `piece_bytes` comes in several pieces (units with
// first_piece / last_piece), cut at the end of a run of newlines when there is one, else
// after a run of spaces/tabs, else at a UTF-8 character boundary. Every document yields
// at least one unit, and exactly one unit carries its last_piece: the caller emits one
// record per document.
//
// Normalisation (text modes): a UTF-8 byte-order mark at the start of any line is
// removed, and so is the CR of a CRLF line end (plain text; in JSON Lines the CR before
// the line's LF). Text that is not valid UTF-8 is an error record unless
// replace_invalid_utf8, which substitutes U+FFFD for each maximal invalid subpart; a NUL
// byte is always an error record (binary data, or UTF-16); a document that is empty or
// only whitespace (and fits in one piece) is an error record "empty document".
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tracemark::cli {

// Reading the input failed (not: a record was malformed). Exit code 4.
class input_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Where bytes come from.
class byte_source {
 public:
  virtual ~byte_source() = default;
  // Up to `n` bytes into `buf`; 0 at end of input. Throws input_error.
  virtual size_t read(char* buf, size_t n) = 0;
  // True when read() would wait (a pipe or terminal with nothing ready).
  virtual bool would_block() const { return false; }
};

// A file descriptor (not owned).
class fd_source final : public byte_source {
 public:
  fd_source(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  size_t read(char* buf, size_t n) override;
  bool would_block() const override;

 private:
  int fd_;
  std::string name_;
};

// Bytes in memory, handed out at most `max_read` at a time (tests and the fuzzer use
// small reads to exercise every buffer boundary).
class memory_source final : public byte_source {
 public:
  explicit memory_source(std::string_view data, size_t max_read = size_t{1} << 20)
      : data_(data), max_read_(max_read == 0 ? 1 : max_read) {}
  size_t read(char* buf, size_t n) override;

 private:
  std::string_view data_;
  size_t pos_ = 0, max_read_;
};

enum class reader_mode : uint8_t { lines, jsonl_text, plain };
enum class split_mode : uint8_t { document, line, paragraph };

struct reader_config {
  reader_mode mode = reader_mode::plain;
  split_mode split = split_mode::document;  // plain only
  std::string field = "text";               // jsonl_text: the document's text
  std::string prompt_field;                 // jsonl_text: optional prompt text; empty: none
  std::string source_name = "stdin";        // for generated ids "<source_name>:<line>"
  size_t piece_bytes = size_t{256} << 10;   // text longer than this is cut into pieces (>= 16)
  size_t max_line_bytes = size_t{256} << 20;  // lines / jsonl_text: longer lines are error records
  size_t read_bytes = size_t{1} << 20;      // bytes asked of the source per read
  bool replace_invalid_utf8 = false;
};

// One unit of work, in input order.
struct unit {
  int64_t document = 0;     // 0-based document number within this reader
  int64_t line = 0;         // 1-based line where the document starts
  nlohmann::json id;        // first piece: "id" of the JSON line, or "<source>:<line>"; lines mode: null
  bool first_piece = true;  // the document starts with this unit
  bool last_piece = true;   // the document ends with this unit
  std::string text;         // lines: the raw line; text modes: this piece of the document text
  bool has_prompt = false;  // jsonl_text, first piece only
  std::string prompt;
  std::string error;        // non-empty: the document is an error record with this message
  bool too_long = false;    // lines mode: the line exceeded max_line_bytes (text is empty)
  int64_t replaced = 0;     // invalid UTF-8 subparts replaced by U+FFFD in this unit
  uint64_t input_bytes = 0; // input bytes consumed for this unit (progress)
};

class document_reader {
 public:
  document_reader(byte_source& source, reader_config config);

  // The next unit, or false at end of input. Throws input_error when reading fails.
  bool next(unit& out);
  // True when next() will not wait on the source (a unit is complete in the buffer,
  // or the input has ended). Callers flush their output before a read that may wait.
  bool unit_ready() const;
  // The first bytes of the input (up to `max`, or the first `lines` lines if shorter),
  // without consuming them; used to guess the input format.
  std::string_view peek(size_t max, size_t lines = 1);
  // After peek(): whether the input ended within what peek() could buffer (then a view of
  // at most `max` bytes shorter than `max` is all of it).
  bool peeked_all() const noexcept;

  const reader_config& config() const noexcept { return cfg_; }
  // Changing the configuration is allowed before the first next() (after peek()).
  reader_config& mutable_config() noexcept { return cfg_; }

 private:
  bool fill();  // reads more; false at end of input
  void compact();
  // The next line: [begin, end) into buf_ and whether it ended with '\n'; the line may
  // be cut at `limit` bytes (then complete == false). False at end of input.
  bool next_line_span(size_t limit, size_t& begin, size_t& end, bool& complete);
  bool next_lines_unit(unit& out);
  bool next_jsonl_unit(unit& out);
  bool next_plain_unit(unit& out);
  bool emit_pending_piece(unit& out);
  // jsonl_text: the checks and piece logic of one document whose JSON text is `text`.
  bool start_text_document(unit& out, std::string& text, const nlohmann::json* prompt);
  // Queues the choices of a completion response (see above); false when `doc` is not one.
  bool queue_response_choices(const nlohmann::json& doc);
  bool emit_queued(unit& out);

  byte_source& src_;
  reader_config cfg_;
  std::string buf_;    // [begin_, end_) holds unconsumed input; buf_.size() is the capacity
  size_t begin_ = 0, end_ = 0;
  bool eof_ = false;
  int64_t line_no_ = 0;       // lines started so far
  int64_t document_ = -1;     // current document number
  bool in_line_ = false;      // a line is partially consumed (plain text, long line)
  uint64_t consumed_ = 0;     // bytes consumed since the last emitted unit

  // jsonl_text: the rest of a long document text still to be cut into pieces.
  std::string pending_text_;
  size_t pending_pos_ = 0;
  int64_t pending_doc_ = 0, pending_line_ = 0;

  // The remaining choices of a completion response, in order.
  struct queued_choice {
    nlohmann::json id;
    std::string text;   // lines: a token record line; jsonl_text: the choice's text
    std::string error;  // the choice lacks what the mode needs
  };
  std::deque<queued_choice> queued_;
  int64_t queued_line_ = 0;

  // plain: the document being assembled.
  bool doc_open_ = false;
  bool doc_emitted_piece_ = false;
  int64_t doc_line_ = 0;
  std::string piece_;
  bool piece_ready_ = false;  // piece_ is big enough; emit before the next non-blank line
  uint64_t doc_offset_ = 0;   // bytes of the current document handed out so far
};

}  // namespace tracemark::cli
