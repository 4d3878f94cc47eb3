#include "detect/input_reader.h"

#include "common/json_messages.h"
#include "tracemark/text.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tracemark::cli {

using nlohmann::json;

namespace {

constexpr std::string_view bom = "\xEF\xBB\xBF";

// The library's text rules (text.h) with the reader's repair option: in replace mode,
// invalid UTF-8 is repaired instead of refused. Returns the error or "".
std::string check_text(std::string& text, uint64_t offset, bool replace, int64_t& replaced, const char* what) {
  const text_check c = tracemark::check_text(text, offset, what);
  if (c.issue == text_issue::none) return {};
  if (c.issue != text_issue::invalid_utf8) return c.message;
  if (!replace) return c.message + " (convert the text to UTF-8, or pass --invalid-utf8 replace to substitute U+FFFD)";
  replaced += replace_invalid_utf8(text);
  return {};
}

}  // namespace

// ---------------------------------------------------------------------------
// document_reader

document_reader::document_reader(byte_source& source, reader_config config) : src_(source), cfg_(std::move(config)) {
  cfg_.piece_bytes = std::max<size_t>(cfg_.piece_bytes, 16);
  cfg_.read_bytes = std::max<size_t>(cfg_.read_bytes, 1);
  cfg_.max_line_bytes = std::max<size_t>(cfg_.max_line_bytes, 1);
}

void document_reader::compact() {
  if (begin_ == 0) return;
  std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
  end_ -= begin_;
  begin_ = 0;
  // Give back the memory of a huge line once it is consumed.
  const size_t keep = std::max<size_t>(2 * cfg_.read_bytes, size_t{1} << 16);
  if (buf_.size() > 4 * keep && end_ < keep) {
    buf_.resize(keep);
    buf_.shrink_to_fit();
  }
}

bool document_reader::fill() {
  if (eof_) return false;
  if (begin_ > 0 && begin_ >= end_ / 2) compact();
  // resize() only writes the bytes asked for (the string's own capacity growth is
  // geometric but untouched pages stay unallocated), so a huge line costs its size.
  if (buf_.size() < end_ + cfg_.read_bytes) buf_.resize(end_ + cfg_.read_bytes);
  const size_t got = src_.read(buf_.data() + end_, cfg_.read_bytes);
  end_ += got;
  if (got == 0) eof_ = true;
  return got > 0;
}

std::string_view document_reader::peek(size_t max, size_t lines) {
  while (!eof_ && end_ - begin_ < max &&
         static_cast<size_t>(std::count(buf_.data() + begin_, buf_.data() + end_, '\n')) < lines)
    fill();
  return std::string_view(buf_.data() + begin_, std::min(max, end_ - begin_));
}

bool document_reader::peeked_all() const noexcept { return eof_; }

bool document_reader::unit_ready() const {
  if (eof_ || piece_ready_) return true;
  if (pending_pos_ < pending_text_.size()) return true;
  const size_t avail = end_ - begin_;
  if (cfg_.mode == reader_mode::plain && avail >= cfg_.piece_bytes + 2) return true;
  if (cfg_.mode == reader_mode::plain && cfg_.split == split_mode::document) return false;
  return std::memchr(buf_.data() + begin_, '\n', avail) != nullptr;
}

// The next line, cut at `limit` bytes of content. Strips a BOM at the start of a line
// and the CR of a CRLF end. On return [b, e) is the content; `complete` tells whether
// the line ended (with '\n' or at the end of input), `newline` whether a '\n' ended it.
bool document_reader::next_line_span(size_t limit, size_t& b, size_t& e, bool& complete) {
  // Make sure the buffer holds a newline within limit + 1 bytes (+ BOM), or enough
  // bytes to cut, or everything up to the end of input.
  const size_t want = limit + 1 + (in_line_ ? 0 : bom.size());
  size_t scanned = 0;
  const char* nl = nullptr;
  for (;;) {
    const size_t avail = end_ - begin_;
    const size_t upto = std::min(avail, want);
    if (upto > scanned) {
      nl = static_cast<const char*>(std::memchr(buf_.data() + begin_ + scanned, '\n', upto - scanned));
      if (nl != nullptr) break;
      scanned = upto;
    }
    if (avail >= want || eof_) break;
    fill();  // may move the unconsumed bytes to the front: offsets relative to begin_ stay valid
  }
  if (begin_ == end_ && nl == nullptr) {
    if (in_line_) {  // the input ended right after a cut: the line is complete (and empty)
      in_line_ = false;
      b = e = begin_;
      complete = true;
      return true;
    }
    return false;
  }
  const size_t start = begin_;
  if (!in_line_) {
    ++line_no_;
    if (end_ - begin_ >= bom.size() && buf_.compare(begin_, bom.size(), bom) == 0) begin_ += bom.size();
  }
  b = begin_;
  if (nl != nullptr) {
    const size_t pos = static_cast<size_t>(nl - buf_.data());
    e = pos;
    if (e > b && buf_[e - 1] == '\r') --e;
    if (e - b <= limit) {
      begin_ = pos + 1;
      consumed_ += begin_ - start;
      in_line_ = false;
      complete = true;
      return true;
    }
    // content of limit + 1 bytes before "\r\n" or '\n': cut below
  }
  const size_t avail = end_ - b;
  if (eof_ && avail <= limit && nl == nullptr) {  // the last line, without '\n'
    e = end_;
    if (e > b && buf_[e - 1] == '\r') --e;  // a lone CR at the very end: treat like CRLF
    begin_ = end_;
    consumed_ += begin_ - start;
    in_line_ = false;
    complete = true;
    return true;
  }
  // Longer than the limit: cut inside the line.
  const std::string_view rest(buf_.data() + b, std::min(avail, limit + 1));
  size_t cut = piece_cut(rest, limit);
  if (cut == 0) cut = std::min(avail, limit);
  e = b + cut;
  begin_ = e;
  consumed_ += begin_ - start;
  in_line_ = true;
  complete = false;
  return true;
}

bool document_reader::next(unit& out) {
  out.id = nullptr;
  out.text.clear();
  out.prompt.clear();
  out.has_prompt = false;
  out.error.clear();
  out.too_long = false;
  out.replaced = 0;
  out.first_piece = out.last_piece = true;
  out.input_bytes = 0;
  bool got = false;
  switch (cfg_.mode) {
    case reader_mode::lines: got = next_lines_unit(out); break;
    case reader_mode::jsonl_text: got = next_jsonl_unit(out); break;
    case reader_mode::plain: got = next_plain_unit(out); break;
  }
  if (got) {
    out.input_bytes = consumed_;
    consumed_ = 0;
  }
  return got;
}

// lines: whole raw lines; a line over max_line_bytes is consumed and flagged.
bool document_reader::next_lines_unit(unit& out) {
  if (!queued_.empty()) return emit_queued(out);
  size_t b = 0, e = 0;
  bool complete = false;
  if (!next_line_span(cfg_.max_line_bytes, b, e, complete)) return false;
  out.document = ++document_;
  out.line = line_no_;
  if (complete) {
    const std::string_view line(buf_.data() + b, e - b);
    // Token records are parsed by the workers; only a line that may be a completion
    // response (it names "choices") is parsed here, to expand it into its choices.
    if (line.find("\"choices\"") != std::string_view::npos) {
      json doc;
      try {
        doc = json::parse(line);
      } catch (const json::exception&) {
      }
      if (doc.is_object() && !doc.contains("tokens") && queue_response_choices(doc)) {
        --document_;
        return emit_queued(out);
      }
    }
    out.text.assign(line);
    return true;
  }
  out.too_long = true;
  while (!complete) next_line_span(cfg_.max_line_bytes, b, e, complete);
  return true;
}

bool document_reader::emit_pending_piece(unit& out) {
  const size_t left = pending_text_.size() - pending_pos_;
  const std::string_view rest = std::string_view(pending_text_).substr(pending_pos_);
  size_t take = left;
  if (left > cfg_.piece_bytes) {
    take = piece_cut(rest, cfg_.piece_bytes);
    if (take == 0) take = cfg_.piece_bytes;
  }
  out.document = pending_doc_;
  out.line = pending_line_;
  out.first_piece = pending_pos_ == 0;
  out.text.assign(rest.substr(0, take));
  const uint64_t offset = pending_pos_;
  pending_pos_ += take;
  out.last_piece = pending_pos_ >= pending_text_.size();
  if (out.last_piece) {
    pending_text_.clear();
    pending_text_.shrink_to_fit();
    pending_pos_ = 0;
  }
  out.error = check_text(out.text, offset, cfg_.replace_invalid_utf8, out.replaced, "document");
  return true;
}

bool document_reader::queue_response_choices(const json& doc) {
  const auto choices = doc.find("choices");
  if (choices == doc.end() || !choices->is_array() || choices->empty()) return false;
  const bool text_mode = cfg_.mode == reader_mode::jsonl_text;
  if (text_mode && doc.contains(cfg_.field)) return false;
  const std::string base = doc.contains("id") && doc["id"].is_string() ? doc["id"].get<std::string>()
                                                                      : cfg_.source_name + ":" + std::to_string(line_no_);
  size_t k = 0;
  for (const json& c : *choices) {
    queued_choice q;
    const size_t index = c.is_object() && c.contains("index") && c["index"].is_number_unsigned()
                             ? c["index"].get<size_t>()
                             : k;
    q.id = base + "/" + std::to_string(index);
    ++k;
    if (!c.is_object()) {
      q.error = "choice " + std::to_string(index) + " of the response is not an object";
    } else if (text_mode) {
      const json* t = c.contains("text") ? &c["text"]
                      : c.contains("message") && c["message"].is_object() && c["message"].contains("content")
                          ? &c["message"]["content"]
                          : nullptr;
      if (t == nullptr || !t->is_string())
        q.error = "choice " + std::to_string(index) + " of the response has no \"text\" or \"message\".\"content\" string";
      else
        q.text = t->get<std::string>();
    } else {
      const char* ids = c.contains("tokens") ? "tokens" : c.contains("token_ids") ? "token_ids" : nullptr;
      const char* prompt = c.contains("prompt_tokens") ? "prompt_tokens"
                           : c.contains("prompt_token_ids") ? "prompt_token_ids"
                                                            : nullptr;
      if (ids == nullptr) {
        q.error = "choice " + std::to_string(index) +
                  " of the response has no token ids (ask the server for them with \"return_tokens\": true, or "
                  "detect its text with --vocab)";
      } else {
        json rec;
        rec["id"] = q.id;
        rec["tokens"] = c[ids];
        if (prompt != nullptr) rec["prompt_tokens"] = c[prompt];
        q.text = rec.dump(-1, ' ', false, json::error_handler_t::replace);
      }
    }
    queued_.push_back(std::move(q));
  }
  queued_line_ = line_no_;
  return true;
}

bool document_reader::emit_queued(unit& out) {
  queued_choice q = std::move(queued_.front());
  queued_.pop_front();
  out.document = ++document_;
  out.line = queued_line_;
  out.id = q.id;
  if (!q.error.empty()) {
    if (cfg_.mode == reader_mode::lines) {  // a token record the workers turn into an error record
      json rec;
      rec["id"] = q.id;
      rec["error"] = q.error;
      out.text = rec.dump();
    } else {
      out.error = q.error;
    }
    return true;
  }
  if (cfg_.mode == reader_mode::lines) {
    out.text = std::move(q.text);
    return true;
  }
  return start_text_document(out, q.text, nullptr);
}

// jsonl_text: one JSON object per line.
bool document_reader::next_jsonl_unit(unit& out) {
  if (pending_pos_ < pending_text_.size()) return emit_pending_piece(out);
  if (!queued_.empty()) return emit_queued(out);

  size_t b = 0, e = 0;
  bool complete = false;
  if (!next_line_span(cfg_.max_line_bytes, b, e, complete)) return false;
  out.document = ++document_;
  out.line = line_no_;
  const json generated_id = cfg_.source_name + ":" + std::to_string(line_no_);
  out.id = generated_id;
  if (!complete) {
    while (!complete) next_line_span(cfg_.max_line_bytes, b, e, complete);
    out.error = "the line is longer than the limit of " + std::to_string(cfg_.max_line_bytes >> 20) +
                " MiB; skipped";
    return true;
  }
  const std::string_view line(buf_.data() + b, e - b);
  const std::string expected = "expected {\"id\": ..., \"" + cfg_.field + "\": \"text\"" +
                               (cfg_.prompt_field.empty() ? "" : ", \"" + cfg_.prompt_field + "\": \"text\"") + "}";
  if (is_blank(line)) {
    out.error = "empty line: " + expected;
    return true;
  }
  json doc;
  try {
    doc = json::parse(line);
  } catch (const json::parse_error& ex) {
    out.error = json_error_message(ex, true);
    return true;
  } catch (const json::exception& ex) {
    out.error = json_error_message(ex, false);
    return true;
  }
  if (!doc.is_object()) {
    out.error = "the line is " + with_article(doc) + ", not a JSON object; " + expected;
    return true;
  }
  if (const auto id = doc.find("id"); id != doc.end() && id->is_primitive() && !id->is_null()) out.id = *id;
  const auto text = doc.find(cfg_.field);
  if (text == doc.end() && queue_response_choices(doc)) {
    --document_;
    return emit_queued(out);
  }
  if (text == doc.end()) {
    out.error = "missing \"" + cfg_.field + "\" (set the field name with --field); " + expected;
    return true;
  }
  if (!text->is_string()) {
    out.error = "\"" + cfg_.field + "\" is " + with_article(*text) + ", expected a string";
    return true;
  }
  const json* prompt_value = nullptr;
  if (!cfg_.prompt_field.empty()) {
    const auto p = doc.find(cfg_.prompt_field);
    if (p != doc.end()) prompt_value = &*p;
  }
  return start_text_document(out, text->get_ref<std::string&>(), prompt_value);
}

bool document_reader::start_text_document(unit& out, std::string& s, const json* prompt) {
  if (prompt != nullptr) {
    if (!prompt->is_null()) {
      if (!prompt->is_string()) {
        out.error = "\"" + cfg_.prompt_field + "\" is " + with_article(*prompt) + ", expected a string (or null)";
        return true;
      }
      out.has_prompt = true;
      out.prompt = prompt->get_ref<const std::string&>();
      int64_t replaced = 0;
      out.error = check_text(out.prompt, 0, cfg_.replace_invalid_utf8, replaced, "prompt");
      out.replaced += replaced;
      if (!out.error.empty()) {
        out.error = "\"" + cfg_.prompt_field + "\": " + out.error;
        return true;
      }
    }
  }
  if (is_blank(s)) {
    out.error = s.empty() ? "empty document: \"" + cfg_.field + "\" is an empty string"
                          : "empty document: \"" + cfg_.field + "\" holds only whitespace";
    return true;
  }
  if (s.size() <= cfg_.piece_bytes) {
    out.text = std::move(s);
    int64_t replaced = 0;
    out.error = check_text(out.text, 0, cfg_.replace_invalid_utf8, replaced, "document");
    out.replaced += replaced;
    return true;
  }
  // A long text: hand it out in pieces.
  pending_text_ = std::move(s);
  pending_pos_ = 0;
  pending_doc_ = out.document;
  pending_line_ = out.line;
  return emit_pending_piece(out);  // keeps out.id and out.prompt
}

// plain: documents assembled from lines (see the header for the three split modes).
bool document_reader::next_plain_unit(unit& out) {
  const auto open_doc = [&] {
    doc_open_ = true;
    doc_emitted_piece_ = false;
    doc_line_ = cfg_.split == split_mode::document ? 1 : line_no_;
    piece_.clear();
    piece_ready_ = false;
    ++document_;
  };
  // Emits piece_ as a unit of the current document.
  const auto emit = [&](bool last) {
    out.document = document_;
    out.line = doc_line_;
    out.first_piece = !doc_emitted_piece_;
    out.last_piece = last;
    if (out.first_piece) out.id = cfg_.source_name + ":" + std::to_string(doc_line_);
    const uint64_t offset = doc_offset_;
    doc_offset_ += piece_.size();
    out.text.swap(piece_);
    piece_.clear();
    piece_ready_ = false;
    if (out.first_piece && last && is_blank(out.text)) {
      out.error = out.text.empty() ? "empty document" : "empty document: only whitespace";
    } else {
      out.error = check_text(out.text, offset, cfg_.replace_invalid_utf8, out.replaced, "document");
    }
    doc_emitted_piece_ = true;
    if (last) {
      doc_open_ = false;
      doc_offset_ = 0;
    }
    return true;
  };
  // Adds a line segment (and the newline that ended it) to the piece being assembled.
  const auto append = [&](std::string_view seg, bool newline) {
    piece_.append(seg);
    if (newline) piece_ += '\n';
    if (piece_.size() >= cfg_.piece_bytes) piece_ready_ = true;
  };
  // Emits the ready piece; the segment starts the next one (seg views buf_, not piece_).
  const auto emit_then_start = [&](std::string_view seg, bool newline) {
    emit(false);
    append(seg, newline);
    return true;
  };

  if (cfg_.split == split_mode::document && !doc_open_ && document_ < 0) open_doc();

  for (;;) {
    const bool line_start = !in_line_;
    size_t b = 0, e = 0;
    bool complete = false;
    if (!next_line_span(cfg_.piece_bytes, b, e, complete)) {
      // End of input: close the open document.
      if (doc_open_) {
        if (cfg_.split == split_mode::paragraph && !piece_.empty() && piece_.back() == '\n') piece_.pop_back();
        return emit(true);
      }
      return false;
    }
    const std::string_view seg(buf_.data() + b, e - b);
    // Whether this segment ended its line with '\n' (as opposed to the end of input).
    const bool newline = complete && begin_ > 0 && buf_[begin_ - 1] == '\n' && begin_ - 1 >= e;

    switch (cfg_.split) {
      case split_mode::line: {
        if (line_start) open_doc();
        piece_.assign(seg);
        return emit(complete);
      }
      case split_mode::document: {
        // A ready piece waits for the end of a run of empty lines (so that "\n\n" is not
        // split between pieces), but grows to at most twice the piece size.
        const bool blank_line = line_start && complete && seg.empty();
        if (piece_ready_ && (!blank_line || piece_.size() >= 2 * cfg_.piece_bytes)) return emit_then_start(seg, newline);
        append(seg, newline);
        break;
      }
      case split_mode::paragraph: {
        const bool blank_line = line_start && complete && is_blank(seg);
        if (blank_line) {
          if (doc_open_) {
            if (!piece_.empty() && piece_.back() == '\n') piece_.pop_back();
            return emit(true);
          }
          break;
        }
        if (!doc_open_) open_doc();
        if (piece_ready_) return emit_then_start(seg, newline);
        append(seg, newline);
        break;
      }
    }
  }
}

}  // namespace tracemark::cli
