// Wording of JSON problems in error records, shared by every reader of JSON Lines.
#pragma once
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

namespace tracemark::cli {

// "an object", "a string", "null": for messages such as "\"tokens\" is a string".
inline std::string with_article(const nlohmann::json& v) {
  if (v.is_null()) return "null";
  const std::string t = v.type_name();
  const bool vowel = !t.empty() && std::strchr("aeiou", t[0]) != nullptr;
  return (vowel ? "an " : "a ") + t;
}

// "malformed JSON at character 7: syntax error ..." without nlohmann's exception prefix,
// cut to 200 characters (the input may be huge).
inline std::string json_error_message(const nlohmann::json::exception& e, bool parse_error) {
  std::string what = e.what();
  std::string detail = what;
  if (const size_t col = what.find("column "); parse_error && col != std::string::npos) {
    if (const size_t colon = what.find(": ", col); colon != std::string::npos) detail = what.substr(colon + 2);
  } else if (const size_t bracket = what.find("] "); bracket != std::string::npos) {
    detail = what.substr(bracket + 2);
  }
  constexpr size_t max_detail = 200;
  if (detail.size() > max_detail) detail = detail.substr(0, max_detail) + "...";
  if (parse_error)
    return "malformed JSON at character " + std::to_string(static_cast<const nlohmann::json::parse_error&>(e).byte) +
           ": " + detail;
  return "malformed JSON: " + detail;
}

}  // namespace tracemark::cli
