#include "common/records.h"

#include "common/json_messages.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <algorithm>
#include <cstring>
#include <limits>

namespace tracemark::cli {

using nlohmann::json;

// ---------------------------------------------------------------------------
// records

namespace {

// The wording of format v1's first records ("prompt" as ids is still read); kept so that
// error records stay byte-identical (tests/golden).
constexpr const char* expected_shape = "expected {\"id\": ..., \"tokens\": [token ids], \"prompt\": [token ids] (optional)}";

// Appends the ids of array `arr` (the field `field`) to `out`; false with `error` set
// at the first element that is not an integer in [0, vocab_size).
bool append_token_ids(const json& arr, const char* field, int32_t vocab_size, std::vector<int32_t>& out,
                      std::string& error) {
  size_t index = 0;
  for (const json& v : arr) {
    const auto where = [&] { return std::string(field) + "[" + std::to_string(index) + "]"; };
    const std::string range = "token ids must lie in [0, " + std::to_string(vocab_size) + ") for --vocab-size " +
                              std::to_string(vocab_size);
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
        error = where() + " = " + std::to_string(u) + " does not fit a 32-bit token id; " + range;
        return false;
      }
      if (u >= static_cast<uint64_t>(vocab_size)) {
        error = where() + " = " + std::to_string(u) + " is outside the vocabulary: " + range;
        return false;
      }
      out.push_back(static_cast<int32_t>(u));
    } else if (v.is_number_integer()) {  // signed: only negative values land here
      const int64_t s = v.get<int64_t>();
      if (s < 0) {
        error = where() + " = " + std::to_string(s) + " is negative; " + range;
        return false;
      }
      if (s >= vocab_size) {
        error = where() + " = " + std::to_string(s) + " is outside the vocabulary: " + range;
        return false;
      }
      out.push_back(static_cast<int32_t>(s));
    } else if (v.is_number_float()) {
      error = where() + " = " + v.dump() + " is not an integer; token ids are integers in [0, " +
              std::to_string(vocab_size) + ")";
      return false;
    } else {
      error = where() + " is " + with_article(v) + ", not an integer token id";
      return false;
    }
    ++index;
  }
  return true;
}

bool blank(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '\f' && c != '\v') return false;
  return true;
}

}  // namespace

void parse_token_record(std::string_view line, int32_t vocab_size, token_record& out) {
  out.id = nullptr;
  out.tokens.clear();
  out.n_prompt = 0;
  out.error.clear();

  if (blank(line)) {
    out.error = std::string("empty line: ") + expected_shape;
    return;
  }
  json doc;
  try {
    doc = json::parse(line);
  } catch (const json::parse_error& e) {
    out.error = json_error_message(e, true);
    return;
  } catch (const json::exception& e) {  // e.g. out_of_range: "number overflow parsing '1e400'"
    out.error = json_error_message(e, false);
    return;
  }
  read_token_record(doc, vocab_size, out);
}

void read_token_record(const json& doc, int32_t vocab_size, token_record& out, bool allow_empty) {
  out.id = nullptr;
  out.tokens.clear();
  out.n_prompt = 0;
  out.error.clear();
  if (!doc.is_object()) {
    out.error = "the line is " + with_article(doc) + ", not a JSON object; " + expected_shape;
    return;
  }
  if (const auto id = doc.find("id"); id != doc.end() && id->is_primitive()) out.id = *id;
  if (const auto err = doc.find("error"); err != doc.end() && !err->is_null()) {
    out.error = "the record is an error record: " + (err->is_string() ? err->get<std::string>() : err->dump());
    return;
  }

  const auto tokens = doc.find("tokens");
  if (tokens == doc.end()) {
    out.error = std::string("missing \"tokens\"; ") + expected_shape;
    return;
  }
  if (!tokens->is_array()) {
    out.error = "\"tokens\" is " + with_article(*tokens) + ", expected an array of integer token ids";
    return;
  }
  if (tokens->empty() && !allow_empty) {
    out.error = "empty sequence: \"tokens\" is an empty array, there is nothing to score";
    return;
  }

  // The prompt's ids: "prompt_tokens", or (older records) "prompt" as an array of ids. A
  // string "prompt" is the prompt's text: ignored when reading ids.
  const auto prompt_tokens = doc.find("prompt_tokens");
  const auto legacy = doc.find("prompt");
  const bool has_ids = prompt_tokens != doc.end() && !prompt_tokens->is_null();
  const bool has_legacy = legacy != doc.end() && !legacy->is_null() && !legacy->is_string();
  if (has_ids && has_legacy) {
    out.error = "both \"prompt_tokens\" and an array \"prompt\": give the prompt's token ids once";
    return;
  }
  const json* prompt = has_ids ? &*prompt_tokens : has_legacy ? &*legacy : nullptr;
  const char* prompt_name = has_ids ? "prompt_tokens" : "prompt";
  if (prompt != nullptr && !prompt->is_array()) {
    out.error = "\"" + std::string(prompt_name) + "\" is " + with_article(*prompt) +
                ", expected an array of integer token ids";
    return;
  }
  out.tokens.reserve((prompt ? prompt->size() : 0) + tokens->size());
  if (prompt) {
    if (!append_token_ids(*prompt, prompt_name, vocab_size, out.tokens, out.error)) return;
    out.n_prompt = static_cast<int64_t>(out.tokens.size());
  }
  append_token_ids(*tokens, "tokens", vocab_size, out.tokens, out.error);
}

std::string display_id(const json& id) {
  std::string s = id.is_string() ? id.get<std::string>() : id.is_null() ? "-" : id.dump();
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  return s;
}

}  // namespace tracemark::cli
