#include "serve/server_logprobs.h"

#include <cstdio>

#include "tracemark/text.h"

namespace tracemark::cli {

using nlohmann::ordered_json;

std::string token_string(std::string_view piece) {
  if (first_invalid_utf8(piece) == std::string_view::npos) return std::string(piece);
  std::string s = "bytes:";
  for (char c : piece) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned>(static_cast<unsigned char>(c)));
    s += hex;
  }
  return s;
}

namespace {

int64_t characters(std::string_view piece) {
  int64_t n = 0;
  for (char c : piece) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

ordered_json byte_list(std::string_view piece) {
  ordered_json b = ordered_json::array();
  for (char c : piece) b.push_back(static_cast<unsigned>(static_cast<unsigned char>(c)));
  return b;
}

}  // namespace

ordered_json completion_logprobs(const llama_tokenizer& tok, std::span<const position_logprobs> lps, int64_t& offset,
                                 bool with_ids) {
  ordered_json tokens = ordered_json::array(), token_logprobs = ordered_json::array(),
               top = ordered_json::array(), text_offset = ordered_json::array(), ids = ordered_json::array(),
               top_ids = ordered_json::array();
  for (const position_logprobs& lp : lps) {
    tokens.push_back(token_string(tok.token_text(lp.sampled.token)));
    token_logprobs.push_back(lp.sampled.logprob);
    text_offset.push_back(offset);
    offset += characters(tok.token_to_piece(lp.sampled.token));  // as in "text"
    ordered_json dict = ordered_json::object(), by_id = ordered_json::array();
    bool sampled_listed = false;
    auto add = [&](const token_logprob& t) {
      const std::string key = token_string(tok.token_text(t.token));
      if (!dict.contains(key)) dict[key] = t.logprob;
      by_id.push_back({{"id", t.token}, {"logprob", t.logprob}});
    };
    for (const token_logprob& t : lp.top) {
      add(t);
      sampled_listed = sampled_listed || t.token == lp.sampled.token;
    }
    if (!sampled_listed) add(lp.sampled);
    top.push_back(std::move(dict));
    if (with_ids) {
      ids.push_back(lp.sampled.token);
      top_ids.push_back(std::move(by_id));
    }
  }
  ordered_json j;
  j["tokens"] = std::move(tokens);
  j["token_logprobs"] = std::move(token_logprobs);
  j["top_logprobs"] = std::move(top);
  j["text_offset"] = std::move(text_offset);
  if (with_ids) {
    j["token_ids"] = std::move(ids);
    j["top_logprobs_ids"] = std::move(top_ids);
  }
  return j;
}

ordered_json chat_logprobs(const llama_tokenizer& tok, std::span<const position_logprobs> lps, bool with_ids) {
  auto entry = [&](const token_logprob& t) {
    const std::string piece = tok.token_text(t.token);
    ordered_json e;
    e["token"] = token_string(piece);
    if (with_ids) e["id"] = t.token;
    e["logprob"] = t.logprob;
    e["bytes"] = byte_list(piece);
    return e;
  };
  ordered_json content = ordered_json::array();
  for (const position_logprobs& lp : lps) {
    ordered_json e = entry(lp.sampled);
    ordered_json top = ordered_json::array();
    for (const token_logprob& t : lp.top) top.push_back(entry(t));
    e["top_logprobs"] = std::move(top);
    content.push_back(std::move(e));
  }
  ordered_json j;
  j["content"] = std::move(content);
  j["refusal"] = nullptr;
  return j;
}

}  // namespace tracemark::cli
