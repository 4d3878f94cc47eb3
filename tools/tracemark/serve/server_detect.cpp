// POST /v1/detect of `tracemark serve` (docs/SERVER.md): the same front door
// (tracemark::tokenize_text), detector, attribution and record writer as `tracemark detect`.
#include <cmath>

#include "serve/server.h"
#include "tracemark/evidence.h"
#include "tracemark/text.h"
#include "tracemark/tokenizer.h"

namespace tracemark::cli {

using nlohmann::json;

namespace {

// The ids of `arr` (the field `name`), each in [0, vocab). Throws api_error{400}.
void read_ids(const json& arr, const std::string& name, int32_t vocab, std::vector<int32_t>& out) {
  if (!arr.is_array()) throw api_error(400, name + ": expected an array of token ids", name);
  for (size_t i = 0; i < arr.size(); ++i) {
    const json& v = arr[i];
    const std::string where = name + "[" + std::to_string(i) + "]";
    if (!v.is_number_integer())
      throw api_error(400, where + ": expected an integer token id, got " + std::string(v.type_name()), where);
    const int64_t t = v.get<int64_t>();
    if (t < 0 || t >= vocab)
      throw api_error(400, where + ": " + std::to_string(t) + " is outside the vocabulary [0, " + std::to_string(vocab) + ")",
                      where);
    out.push_back(static_cast<int32_t>(t));
  }
}

}  // namespace

void server::detect(const httplib::Request& req, httplib::Response& res) {
  const principal who = authenticate(req);
  if (!who.admin) throw api_error(403, "/v1/detect needs an admin key (admin_keys in the server config)");
  if (!master_) throw api_error(501, "this server has no master key (key_file is not configured)");

  json j;
  try {
    j = json::parse(req.body);
  } catch (const json::parse_error& e) {
    throw api_error(400, std::string("the body is not valid JSON: ") + e.what(), "body", "invalid_json");
  }
  if (!j.is_object()) throw api_error(400, "the body must be a JSON object", "body", "invalid_json");
  auto get = [&](const char* name) -> const json* {
    auto it = j.find(name);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  };
  const json* text = get("text");
  const json* tokens = get("tokens");
  if ((text != nullptr) == (tokens != nullptr))
    throw api_error(400, "text: give exactly one of \"text\" (a string) and \"tokens\" (token ids)", "text");

  // The token-record schema (docs/CLI.md): ids in "tokens", the prompt's in "prompt_tokens"
  // (or, as before, an array "prompt"); with "text", "prompt" is the prompt's text.
  tokenized_text seq;
  const json* prompt = get("prompt");
  const json* prompt_ids = get("prompt_tokens");
  if (text) {
    if (!text->is_string()) throw api_error(400, "text: expected a string", "text");
    if (prompt_ids) throw api_error(400, "prompt_tokens: goes with \"tokens\"; with \"text\" give \"prompt\" as text", "prompt_tokens");
    if (prompt && !prompt->is_string()) throw api_error(400, "prompt: expected a string (as \"text\" is)", "prompt");
    // The text rules and tokenization of every door (text.h, tokenizer.h).
    const std::string& t = text->get_ref<const std::string&>();
    const std::string_view p = prompt ? std::string_view(prompt->get_ref<const std::string&>()) : std::string_view();
    if (is_blank(t)) throw api_error(400, std::string("text: empty document") + (t.empty() ? "" : ": only whitespace"), "text");
    for (const auto& [value, name] : {std::pair{std::string_view(t), "text"}, std::pair{p, "prompt"}})
      if (const text_check c = check_text(value, 0, name == std::string_view("text") ? "document" : "prompt");
          c.issue != text_issue::none)
        throw api_error(400, std::string(name) + ": " + c.message, name);
    seq = tokenize_document(engine_.tokenizer(), t, p);
  } else {
    if (prompt && prompt_ids) throw api_error(400, "prompt: give the prompt's ids once (\"prompt_tokens\")", "prompt");
    if (const json* p = prompt_ids ? prompt_ids : prompt) {
      read_ids(*p, prompt_ids ? "prompt_tokens" : "prompt", vocab_, seq.tokens);
      seq.n_prompt = static_cast<int64_t>(seq.tokens.size());
    }
    read_ids(*tokens, "tokens", vocab_, seq.tokens);
  }
  if (static_cast<int64_t>(seq.tokens.size()) == seq.n_prompt)
    throw api_error(400, std::string(text ? "text" : "tokens") + ": nothing to score (no tokens)",
                    text ? "text" : "tokens");

  double alpha = 1e-6;
  if (const json* a = get("alpha")) {
    if (!a->is_number() || !(a->get<double>() > 0.0 && a->get<double>() < 1.0))
      throw api_error(400, "alpha: must be a number strictly between 0 and 1", "alpha");
    alpha = a->get<double>();
  }
  detect_options opt;
  opt.keep_trace = false;
  if (const json* m = get("min_window")) {
    if (!m->is_number_integer() || m->get<int64_t>() < 0)
      throw api_error(400, "min_window: must be an integer >= 0 (0: no windows)", "min_window");
    opt.min_window = m->get<int64_t>();
  }
  set_request_tokens(static_cast<int64_t>(seq.tokens.size()));
  const std::optional<tokenizer_identity> tokenizer =
      text ? std::optional<tokenizer_identity>(engine_.tokenizer().identity()) : std::nullopt;

  if (const json* a = get("account")) {
    if (!a->is_string()) throw api_error(400, "account: expected a string", "account");
    const std::string& account = a->get_ref<const std::string&>();
    std::optional<scheme> own;
    const scheme* s = nullptr;
    const auto& names = detectors_->accounts();
    if (const auto it = std::find(names.begin(), names.end(), account); it != names.end()) {
      s = &detectors_->schemes()[static_cast<size_t>(it - names.begin())];
    } else {  // not configured (e.g. removed since): derive it for this request
      own.emplace(*master_, cfg_.scheme_for(account, vocab_));
      s = &*own;
    }
    const detection d = detector(*s, opt).score(seq.tokens, seq.n_prompt);
    const evidence_params p =
        evidence_params::of(*s, master_->fingerprint(), alpha, opt.dedup, opt.min_window, tokenizer);
    res.status = 200;
    res.set_content(detection_response_json(d, seq.n_prompt, p, /*with_account=*/true), "application/json");
    return;
  }

  // No account: the master sub-key and every configured account; the best one is
  // reported with a Bonferroni correction over the accounts tried (attribution.h).
  const attribution_result a = detectors_->attribute(seq.tokens, seq.n_prompt, alpha, opt);
  const evidence_params p = evidence_params::of(detectors_->schemes().front(), master_->fingerprint(), alpha,
                                                opt.dedup, opt.min_window, tokenizer);
  res.status = 200;
  res.set_content(attribution_response_json(a, static_cast<int64_t>(seq.tokens.size()) - seq.n_prompt, seq.n_prompt, p),
                  "application/json");
}

}  // namespace tracemark::cli
