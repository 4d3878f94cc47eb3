#include "jsonl.h"

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

constexpr const char* expected_shape = "expected {\"id\": ..., \"tokens\": [token ids], \"prompt\": [token ids] (optional)}";

std::string with_article(const json& v) {
  if (v.is_null()) return "null";
  const std::string t = v.type_name();
  const bool vowel = !t.empty() && std::strchr("aeiou", t[0]) != nullptr;
  return (vowel ? "an " : "a ") + t;
}

std::string parse_error_message(const json::parse_error& e) {
  // "[json.exception.parse_error.101] parse error at line 1, column 7: syntax error ..."
  std::string what = e.what();
  std::string detail = what;
  if (const size_t col = what.find("column "); col != std::string::npos) {
    if (const size_t colon = what.find(": ", col); colon != std::string::npos) detail = what.substr(colon + 2);
  } else if (const size_t bracket = what.find("] "); bracket != std::string::npos) {
    detail = what.substr(bracket + 2);
  }
  constexpr size_t max_detail = 200;
  if (detail.size() > max_detail) detail = detail.substr(0, max_detail) + "...";
  return "malformed JSON at character " + std::to_string(e.byte) + ": " + detail;
}

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

nlohmann::json finite_or_null(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }

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
    out.error = parse_error_message(e);
    return;
  } catch (const json::exception& e) {  // e.g. out_of_range: "number overflow parsing '1e400'"
    std::string what = e.what();
    if (const size_t bracket = what.find("] "); bracket != std::string::npos) what = what.substr(bracket + 2);
    if (what.size() > 200) what = what.substr(0, 200) + "...";
    out.error = "malformed JSON: " + what;
    return;
  }
  if (!doc.is_object()) {
    out.error = "the line is " + with_article(doc) + ", not a JSON object; " + expected_shape;
    return;
  }
  if (const auto id = doc.find("id"); id != doc.end() && id->is_primitive()) out.id = *id;

  const auto tokens = doc.find("tokens");
  if (tokens == doc.end()) {
    out.error = std::string("missing \"tokens\"; ") + expected_shape;
    return;
  }
  if (!tokens->is_array()) {
    out.error = "\"tokens\" is " + with_article(*tokens) + ", expected an array of integer token ids";
    return;
  }
  if (tokens->empty()) {
    out.error = "empty sequence: \"tokens\" is an empty array, there is nothing to score";
    return;
  }

  const auto prompt = doc.find("prompt");
  const bool has_prompt = prompt != doc.end() && !prompt->is_null();
  if (has_prompt && !prompt->is_array()) {
    out.error = "\"prompt\" is " + with_article(*prompt) + ", expected an array of integer token ids";
    return;
  }
  out.tokens.reserve((has_prompt ? prompt->size() : 0) + tokens->size());
  if (has_prompt) {
    if (!append_token_ids(*prompt, "prompt", vocab_size, out.tokens, out.error)) return;
    out.n_prompt = static_cast<int64_t>(out.tokens.size());
  }
  append_token_ids(*tokens, "tokens", vocab_size, out.tokens, out.error);
}

void put_detection_fields(nlohmann::ordered_json& j, const detection& d, int64_t n_tokens, int64_t n_prompt,
                          bool watermarked, double alpha) {
  j["tokens"] = n_tokens;
  j["prompt_tokens"] = n_prompt;
  j["scored"] = d.n_scored;
  j["green"] = d.n_green;
  j["gamma"] = d.gamma;
  j["z"] = finite_or_null(d.z);
  j["log10_p"] = finite_or_null(d.log10_p);
  j["p"] = finite_or_null(std::pow(10.0, d.log10_p));
  j["verdict"] = watermarked ? "watermarked" : "not_watermarked";
  j["alpha"] = alpha;
  j["repeats_skipped"] = d.n_repeat;
  if (d.window.found) {
    nlohmann::ordered_json w;
    w["begin"] = d.window.begin - n_prompt;  // indices into "tokens"
    w["end"] = d.window.end - n_prompt;
    w["scored"] = d.window.n_scored;
    w["green"] = d.window.n_green;
    w["log10_p"] = finite_or_null(d.window.log10_p);
    w["log10_p_corrected"] = finite_or_null(d.window.log10_p_corrected);
    w["n_windows"] = d.window.n_windows;
    j["window"] = std::move(w);
  } else {
    j["window"] = nullptr;
  }
}

std::string to_json_line(const record_result& r, double alpha, bool with_trace) {
  nlohmann::ordered_json j;
  j["id"] = r.id;
  if (!r.file.empty()) j["file"] = r.file;
  j["line"] = r.line;
  if (!r.error.empty()) {
    j["error"] = r.error;
  } else {
    if (r.bytes >= 0) j["bytes"] = r.bytes;
    if (r.pieces > 1) j["pieces"] = r.pieces;
    if (r.replaced > 0) j["invalid_utf8_replaced"] = r.replaced;
    put_detection_fields(j, r.det, r.n_tokens, r.n_prompt, r.watermarked, alpha);
    if (with_trace) j["trace"] = r.trace;
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string display_id(const json& id) {
  std::string s = id.is_string() ? id.get<std::string>() : id.is_null() ? "-" : id.dump();
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  return s;
}

}  // namespace tracemark::cli
