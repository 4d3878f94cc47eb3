#include "audit/audit_logprobs.h"

#include <cmath>
#include <cstdlib>

#include "audit/audit_inputs.h"
#include "tracemark/error.h"

namespace tracemark::cli {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& where, const std::string& problem) {
  throw audit_input_error(false, where + ": " + problem);
}

// The printable form of a token string in messages (control bytes as \xNN).
std::string shown(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '"' || c == '\\') {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned>(u));
      out += hex;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

double probability(const json& logprob, const std::string& where) {
  if (logprob.is_null()) return 0.0;  // OpenAI writes null where it has no value (e.g. an echoed first token)
  if (!logprob.is_number()) bad(where, "a log-probability must be a number");
  const double l = logprob.get<double>();
  if (std::isnan(l) || l > 1e-6) bad(where, "a log-probability must be <= 0");
  return std::exp(std::min(l, 0.0));
}

int32_t checked_id(const json& v, int32_t vocab_size, const std::string& where) {
  if (!v.is_number_integer()) bad(where, "a token id must be an integer");
  const int64_t id = v.get<int64_t>();
  if (id < 0 || id >= vocab_size)
    bad(where, "token id " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(vocab_size) + ")");
  return static_cast<int32_t>(id);
}

// A token string's id: vLLM's "token_id:N", else the vocabulary's mapping.
int32_t string_id(const std::string& bytes, const token_string_map* vocab, int32_t vocab_size,
                  const std::string& where) {
  constexpr std::string_view prefix = "token_id:";
  if (bytes.rfind(prefix, 0) == 0) {
    const std::string digits = bytes.substr(prefix.size());
    char* end = nullptr;
    const long long id = std::strtoll(digits.c_str(), &end, 10);
    if (!digits.empty() && end == digits.c_str() + digits.size()) return checked_id(json(id), vocab_size, where);
  }
  if (!vocab)
    bad(where, "the suspect returned token strings without ids; pass --vocab GGUF to map them, or ask for ids "
               "(tracemark serve: return_tokens, which audit sends unless --no-token-ids)");
  return vocab->id(bytes, where);
}

returned_distributions read_completion_shape(const json& lp, const token_string_map* vocab, int32_t vocab_size,
                                             const std::string& where) {
  for (const char* f : {"tokens", "token_logprobs", "top_logprobs"})
    if (!lp.contains(f) || !lp[f].is_array()) bad(where, std::string("\"logprobs\" needs an array \"") + f + "\"");
  const json& tokens = lp["tokens"];
  const json& top = lp["top_logprobs"];
  const bool ids = lp.contains("token_ids") && lp.contains("top_logprobs_ids");
  if (top.size() != tokens.size() || (ids && (lp["token_ids"].size() != tokens.size() ||
                                              lp["top_logprobs_ids"].size() != tokens.size())))
    bad(where, "\"logprobs\": its arrays differ in length");
  returned_distributions d;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string at = where + ": position " + std::to_string(i);
    std::vector<token_probability> dist;
    if (ids) {
      d.tokens.push_back(checked_id(lp["token_ids"][i], vocab_size, at));
      const json& entries = lp["top_logprobs_ids"][i];
      if (!entries.is_array()) bad(at, "\"top_logprobs_ids\" entries must be arrays");
      for (const json& e : entries) {
        if (!e.is_object() || !e.contains("id") || !e.contains("logprob"))
          bad(at, "a \"top_logprobs_ids\" entry must be {\"id\", \"logprob\"}");
        dist.push_back({checked_id(e["id"], vocab_size, at), probability(e["logprob"], at)});
      }
    } else {
      if (!tokens[i].is_string()) bad(at, "\"tokens\" must hold strings");
      d.tokens.push_back(string_id(token_string_bytes(tokens[i].get<std::string>()), vocab, vocab_size, at));
      if (top[i].is_object()) {
        for (const auto& [text, logprob] : top[i].items())
          dist.push_back({string_id(token_string_bytes(text), vocab, vocab_size, at), probability(logprob, at)});
      } else if (!top[i].is_null()) {
        bad(at, "\"top_logprobs\" entries must be objects {token: logprob}");
      }
    }
    d.top.push_back(std::move(dist));
  }
  return d;
}

// A chat entry's id: "id" (tracemark serve), a "token_id:N" token (vLLM), else its "bytes"
// (exact) or its token string, mapped.
int32_t chat_id(const json& e, const token_string_map* vocab, int32_t vocab_size, const std::string& where) {
  if (!e.is_object() || !e.contains("logprob")) bad(where, "a \"content\" entry must be {\"token\", \"logprob\", ...}");
  if (e.contains("id")) return checked_id(e["id"], vocab_size, where);
  const bool has_token = e.contains("token") && e["token"].is_string();
  if (has_token && e["token"].get<std::string>().rfind("token_id:", 0) == 0)
    return string_id(e["token"].get<std::string>(), vocab, vocab_size, where);
  std::string bytes;
  if (e.contains("bytes") && e["bytes"].is_array()) {
    for (const json& b : e["bytes"]) {
      if (!b.is_number_integer() || b.get<int64_t>() < 0 || b.get<int64_t>() > 255)
        bad(where, "\"bytes\" must hold integers in [0, 255]");
      bytes += static_cast<char>(b.get<int>());
    }
  } else if (has_token) {
    bytes = token_string_bytes(e["token"].get<std::string>());
  } else {
    bad(where, "a \"content\" entry needs \"token\", \"bytes\" or \"id\"");
  }
  return string_id(bytes, vocab, vocab_size, where);
}

returned_distributions read_chat_shape(const json& lp, const token_string_map* vocab, int32_t vocab_size,
                                       const std::string& where) {
  const json& content = lp["content"];
  if (!content.is_array()) bad(where, "\"logprobs\": \"content\" must be an array");
  returned_distributions d;
  for (size_t i = 0; i < content.size(); ++i) {
    const std::string at = where + ": position " + std::to_string(i);
    const json& e = content[i];
    d.tokens.push_back(chat_id(e, vocab, vocab_size, at));
    std::vector<token_probability> dist;
    if (e.contains("top_logprobs") && e["top_logprobs"].is_array())
      for (const json& t : e["top_logprobs"])
        dist.push_back({chat_id(t, vocab, vocab_size, at), probability(t["logprob"], at)});
    d.top.push_back(std::move(dist));
  }
  return d;
}

}  // namespace

token_string_map::token_string_map(const llama_tokenizer& vocab) {
  for (int32_t t = 0; t < vocab.n_vocab(); ++t) {
    const std::string text = vocab.token_text(t);
    std::vector<int32_t>& ids = ids_[text];
    if (vocab.is_byte_token(t)) {
      ids.push_back(t);
    } else {
      ids.insert(ids.begin() + static_cast<std::ptrdiff_t>(normal_[text]), t);
      ++normal_[text];
    }
  }
}

int32_t token_string_map::id(const std::string& bytes, const std::string& where) const {
  const auto it = ids_.find(bytes);
  if (it == ids_.end())
    bad(where, "the suspect returned the token " + shown(bytes) + ", which is no token of --vocab: is it the "
               "provider's tokenizer?");
  const auto n = normal_.find(bytes);
  const size_t normal = n == normal_.end() ? 0 : n->second;
  if (it->second.size() == 1 || normal == 1) return it->second.front();
  std::string list;
  for (int32_t t : it->second) list += (list.empty() ? "" : ", ") + std::to_string(t);
  bad(where, "the suspect returned the token " + shown(bytes) + " without its id, and " +
                 std::to_string(it->second.size()) + " tokens of --vocab have that text (ids " + list +
                 "): the green lists need the id. Use a server that returns token ids (tracemark serve does "
                 "unless --no-token-ids; vLLM: return_tokens_as_token_ids)");
}

std::string token_string_bytes(std::string_view s) {
  constexpr std::string_view prefix = "bytes:";
  if (s.rfind(prefix, 0) != 0 || s.size() == prefix.size()) return std::string(s);
  std::string out;
  for (size_t i = prefix.size(); i < s.size(); i += 4) {
    if (i + 4 > s.size() || s[i] != '\\' || s[i + 1] != 'x') return std::string(s);  // not the escaped form
    const std::string hex(s.substr(i + 2, 2));
    char* end = nullptr;
    const long v = std::strtol(hex.c_str(), &end, 16);
    if (end != hex.c_str() + 2) return std::string(s);
    out += static_cast<char>(v);
  }
  return out;
}

returned_distributions read_returned_distributions(const json& logprobs, const token_string_map* vocab,
                                                   int32_t vocab_size, const std::string& where) {
  if (!logprobs.is_object()) bad(where, "\"logprobs\" must be an object");
  if (logprobs.contains("content")) return read_chat_shape(logprobs, vocab, vocab_size, where);
  return read_completion_shape(logprobs, vocab, vocab_size, where);
}

distribution_document distribution_document_of(std::vector<int32_t> prompt_tokens, const json& logprobs,
                                               const token_string_map* vocab, int32_t vocab_size, std::string id) {
  for (int32_t t : prompt_tokens)
    if (t < 0 || t >= vocab_size)
      bad(id, "prompt token id " + std::to_string(t) + " is outside the vocabulary [0, " + std::to_string(vocab_size) +
                  ")");
  returned_distributions r = read_returned_distributions(logprobs, vocab, vocab_size, id);
  distribution_document d;
  d.id = std::move(id);
  d.n_prompt = static_cast<int64_t>(prompt_tokens.size());
  d.tokens = std::move(prompt_tokens);
  d.tokens.insert(d.tokens.end(), r.tokens.begin(), r.tokens.end());
  d.top = std::move(r.top);
  return d;
}

void add_distribution_documents(audit_accumulator& acc, const std::vector<distribution_document>& docs) {
  for (const distribution_document& d : docs)
    acc.add_prompt(std::span<const int32_t>(d.tokens).first(static_cast<size_t>(d.n_prompt)));
  for (const distribution_document& d : docs) {
    try {
      acc.add_distributions(d.tokens, d.n_prompt, d.top, d.id);
    } catch (const tracemark::error& e) {
      bad(d.id, e.what());  // e.g. a position whose probabilities sum to more than 1
    }
  }
}

}  // namespace tracemark::cli
