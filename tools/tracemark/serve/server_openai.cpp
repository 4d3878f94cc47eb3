#include "serve/server_openai.h"

#include <cmath>
#include <limits>
#include <random>
#include <sstream>

#include "serve/server_logprobs.h"

namespace tracemark::cli {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

[[noreturn]] void bad(const std::string& param, const std::string& problem) {
  throw api_error(400, param + ": " + problem, param);
}

// The field, or nullptr when absent or null (OpenAI clients send explicit nulls).
const json* field(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string got(const json& v) {
  if (v.is_number() || v.is_boolean()) return v.dump();
  return std::string("a") + (v.is_array() || v.is_object() ? "n " : " ") + v.type_name();
}

double number_in(const json& obj, const char* name, double lo, double hi, bool lo_open, double fallback) {
  const json* v = field(obj, name);
  if (!v) return fallback;
  if (!v->is_number()) bad(name, "expected a number, got " + got(*v));
  const double x = v->get<double>();
  if (!(lo_open ? x > lo : x >= lo) || !(x <= hi)) {
    std::ostringstream m;
    m << "must lie in " << (lo_open ? "(" : "[") << lo << ", " << hi << "] (got " << v->dump() << ")";
    bad(name, m.str());
  }
  return x;
}

std::optional<int64_t> integer_in(const json& obj, const char* name, int64_t lo, int64_t hi) {
  const json* v = field(obj, name);
  if (!v) return std::nullopt;
  int64_t x = 0;
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      bad(name, "must lie in [" + std::to_string(lo) + ", " + std::to_string(hi) + "] (got " + v->dump() + ")");
    x = static_cast<int64_t>(u);
  } else if (v->is_number_integer()) {
    x = v->get<int64_t>();
  } else if (v->is_number_float()) {
    const double d = v->get<double>();
    if (!(std::floor(d) == d && std::fabs(d) < 9e15)) bad(name, "expected an integer, got " + v->dump());
    x = static_cast<int64_t>(d);
  } else {
    bad(name, "expected an integer, got " + got(*v));
  }
  if (x < lo || x > hi)
    bad(name, "must lie in [" + std::to_string(lo) + ", " + std::to_string(hi) + "] (got " + std::to_string(x) + ")");
  return x;
}

bool boolean(const json& obj, const char* name, bool fallback) {
  const json* v = field(obj, name);
  if (!v) return fallback;
  if (!v->is_boolean()) bad(name, "expected true or false, got " + got(*v));
  return v->get<bool>();
}

// Fields of the OpenAI API this server does not implement: refused unless they ask for
// the default behaviour, so a client never silently gets something else.
void refuse_unsupported(const json& j, bool chat) {
  if (const json* v = field(j, "stop")) {
    if (!(v->is_array() && v->empty())) bad("stop", "stop sequences are not supported by this server");
  }
  if (!chat) {
    if (const json* v = field(j, "echo"))
      if (!(v->is_boolean() && !v->get<bool>())) bad("echo", "echo is not supported by this server");
    if (const json* v = field(j, "suffix"))
      if (!(v->is_string() && v->get_ref<const std::string&>().empty()))
        bad("suffix", "suffix (insertion) is not supported by this server");
    if (const json* v = field(j, "best_of"))
      if (!(v->is_number() && v->get<double>() == 1.0)) bad("best_of", "only best_of = 1 is supported");
  }
  if (const json* v = field(j, "logit_bias"))
    if (!(v->is_object() && v->empty())) bad("logit_bias", "logit_bias is not supported by this server");
  if (const json* v = field(j, "tools"))
    if (!(v->is_array() && v->empty())) bad("tools", "tool calls are not supported by this server");
}

std::string message_content(const json& m, const std::string& where) {
  const json* c = field(m, "content");
  if (!c) return {};  // e.g. an assistant message that only had tool calls
  if (c->is_string()) return c->get<std::string>();
  if (c->is_array()) {  // [{"type": "text", "text": "..."}]
    std::string text;
    for (size_t i = 0; i < c->size(); ++i) {
      const json& part = (*c)[i];
      const std::string pw = where + ".content[" + std::to_string(i) + "]";
      if (!part.is_object()) bad(pw, "expected a content part object, got " + got(part));
      const json* type = field(part, "type");
      if (!type || !type->is_string() || type->get<std::string>() != "text")
        bad(pw + ".type", "only \"text\" content parts are supported");
      const json* t = field(part, "text");
      if (!t || !t->is_string()) bad(pw + ".text", "expected a string");
      text += t->get<std::string>();
    }
    return text;
  }
  bad(where + ".content", "expected a string or an array of text parts, got " + got(*c));
}

// "logprobs" and "top_logprobs" in OpenAI's two forms: an integer k on /v1/completions;
// a boolean plus an integer on /v1/chat/completions (top_logprobs needs logprobs: true).
int32_t parse_logprobs(const json& j, bool chat) {
  const std::string range = "[0, " + std::to_string(max_logprobs) + "]";
  if (!chat) {
    if (const json* t = field(j, "top_logprobs"))
      if (!(t->is_number() && t->get<double>() == 0.0))
        bad("top_logprobs", "is a chat completions field; on /v1/completions send \"logprobs\": k, k in " + range);
    const json* v = field(j, "logprobs");
    if (!v || (v->is_boolean() && !v->get<bool>())) return -1;  // false: none, as before
    if (!v->is_number())
      bad("logprobs", "expected an integer in " + range + " (the most likely tokens returned per position), got " +
                          got(*v));
    return static_cast<int32_t>(*integer_in(j, "logprobs", 0, max_logprobs));
  }
  const bool on = boolean(j, "logprobs", false);
  const std::optional<int64_t> k = integer_in(j, "top_logprobs", 0, max_logprobs);
  if (k && !on) bad("top_logprobs", "needs \"logprobs\": true");
  return on ? static_cast<int32_t>(k.value_or(0)) : -1;
}

}  // namespace

ordered_json error_body(int status, const std::string& message, const std::string& param, const std::string& code) {
  std::string type = "invalid_request_error";
  std::string c = code;
  switch (status) {
    case 401: type = "authentication_error"; if (c.empty()) c = "invalid_api_key"; break;
    case 403: type = "permission_error"; if (c.empty()) c = "forbidden"; break;
    case 404: if (c.empty()) c = "unknown_url"; break;
    case 405: if (c.empty()) c = "method_not_allowed"; break;
    case 413: if (c.empty()) c = "request_too_large"; break;
    case 429: type = "rate_limit_error"; if (c.empty()) c = "rate_limit_exceeded"; break;
    case 501: type = "server_error"; if (c.empty()) c = "not_implemented"; break;
    case 503: type = "server_error"; if (c.empty()) c = "overloaded"; break;
    default:
      if (status >= 500) {
        type = "server_error";
        if (c.empty()) c = "internal_error";
      } else if (c.empty()) {
        c = "invalid_request";
      }
  }
  ordered_json e;
  e["message"] = message;
  e["type"] = type;
  e["param"] = param.empty() ? ordered_json(nullptr) : ordered_json(param);
  e["code"] = c;
  ordered_json body;
  body["error"] = std::move(e);
  return body;
}

completion_request parse_completion_request(const std::string& body, bool chat, int32_t n_ctx) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error& e) {
    throw api_error(400, std::string("the body is not valid JSON: ") + e.what(), "body", "invalid_json");
  }
  if (!j.is_object()) throw api_error(400, "the body must be a JSON object, got " + got(j), "body", "invalid_json");

  completion_request r;
  r.chat = chat;
  if (!chat) {
    const json* p = field(j, "prompt");
    if (!p) bad("prompt", "required: a string or an array of strings");
    if (p->is_string()) {
      r.prompts.push_back(p->get<std::string>());
    } else if (p->is_array()) {
      if (p->empty()) bad("prompt", "the array is empty");
      if (p->size() > max_prompts) bad("prompt", "at most " + std::to_string(max_prompts) + " prompts per request");
      for (size_t i = 0; i < p->size(); ++i) {
        const json& e = (*p)[i];
        if (!e.is_string())
          bad("prompt[" + std::to_string(i) + "]",
              "expected a string, got " + got(e) + " (token-id prompts are not supported)");
        r.prompts.push_back(e.get<std::string>());
      }
    } else {
      bad("prompt", "expected a string or an array of strings, got " + got(*p));
    }
  } else {
    const json* m = field(j, "messages");
    if (!m) bad("messages", "required: an array of {\"role\", \"content\"}");
    if (!m->is_array() || m->empty()) bad("messages", "expected a non-empty array of {\"role\", \"content\"}");
    for (size_t i = 0; i < m->size(); ++i) {
      const json& e = (*m)[i];
      const std::string where = "messages[" + std::to_string(i) + "]";
      if (!e.is_object()) bad(where, "expected an object {\"role\", \"content\"}, got " + got(e));
      const json* role = field(e, "role");
      if (!role || !role->is_string()) bad(where + ".role", "required: a string");
      const std::string rs = role->get<std::string>();
      if (rs != "system" && rs != "developer" && rs != "user" && rs != "assistant")
        bad(where + ".role", "must be \"system\", \"developer\", \"user\" or \"assistant\"");
      r.messages.push_back({rs, message_content(e, where)});
    }
  }
  refuse_unsupported(j, chat);

  const char* max_name = "max_tokens";
  if (chat && field(j, "max_completion_tokens")) max_name = "max_completion_tokens";
  if (auto m = integer_in(j, max_name, 1, n_ctx)) {
    r.gen.max_tokens = static_cast<int32_t>(*m);
    r.max_tokens_given = true;
  } else {
    r.gen.max_tokens = chat ? n_ctx : 16;  // OpenAI: 16 for completions; chat: until the context is full
  }
  r.gen.temperature = static_cast<float>(number_in(j, "temperature", 0.0, 2.0, false, 1.0));
  r.gen.top_p = static_cast<float>(number_in(j, "top_p", 0.0, 1.0, true, 1.0));
  r.gen.top_k = static_cast<int32_t>(integer_in(j, "top_k", 0, 1 << 20).value_or(0));
  if (auto s = integer_in(j, "seed", 0, std::numeric_limits<uint32_t>::max())) {
    r.gen.seed = static_cast<uint32_t>(*s);
    r.seed_given = true;
  }
  r.n = static_cast<int32_t>(integer_in(j, "n", 1, max_n).value_or(1));
  const size_t n_prompts = chat ? 1 : r.prompts.size();
  if (static_cast<int64_t>(n_prompts) * r.n > max_choices)
    bad("n", "at most " + std::to_string(max_choices) + " completions per request (prompts x n)");
  r.stream = boolean(j, "stream", false);
  if (const json* so = field(j, "stream_options")) {
    if (!so->is_object()) bad("stream_options", "expected an object, got " + got(*so));
    if (!r.stream) bad("stream_options", "only allowed when stream is true");
    if (const json* iu = field(*so, "include_usage")) {
      if (!iu->is_boolean()) bad("stream_options.include_usage", "expected true or false, got " + got(*iu));
      r.include_usage = iu->get<bool>();
    }
  }
  r.return_tokens = boolean(j, "return_tokens", false);
  r.logprobs = parse_logprobs(j, chat);
  r.gen.logprobs = r.logprobs;
  if (const json* model = field(j, "model"))
    if (!model->is_string()) bad("model", "expected a string, got " + got(*model));
  return r;
}

// --- chat template -----------------------------------------------------------------

// --- helpers ---------------------------------------------------------------------------

size_t utf8_complete_prefix(std::string_view s) {
  // Look back at most 3 bytes for the lead byte of an unfinished sequence.
  const size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking
    size_t need = 1;
    if ((c & 0xE0) == 0xC0) need = 2;
    else if ((c & 0xF0) == 0xE0) need = 3;
    else if ((c & 0xF8) == 0xF0) need = 4;
    return back < need ? n - back : n;
  }
  return n;  // ASCII end, or stray continuation bytes (invalid anyway: let them through)
}

std::string random_id(const char* prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* digits = "0123456789abcdef";
  std::string id = prefix;
  const uint64_t a = rng(), b = rng();
  for (int i = 0; i < 16; ++i) id += digits[(a >> (4 * i)) & 15];
  for (int i = 0; i < 8; ++i) id += digits[(b >> (4 * i)) & 15];
  return id;
}

}  // namespace tracemark::cli
