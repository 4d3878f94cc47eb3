#include "audit/audit_inputs.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/cli.h"
#include "common/records.h"
#include "tracemark/error.h"
#include "tracemark/llama/tokenizer.h"
#include "tracemark/text.h"
#include "tracemark/tokenizer.h"

namespace tracemark::cli {

audit_document tokenize_document(const llama_tokenizer& vocab, std::string_view prompt, std::string_view text,
                                 std::string id) {
  audit_document d;
  d.id = std::move(id);
  d.prompt = std::string(prompt);
  // The text rules and tokenization of every door (text.h, tokenizer.h).
  if (is_blank(text)) throw tracemark::error(errc::invalid_argument, "empty document: \"text\" holds no text");
  for (const auto& [value, what] : {std::pair{text, "document"}, std::pair{prompt, "prompt"}})
    if (const text_check c = check_text(value, 0, what); c.issue != text_issue::none)
      throw tracemark::error(errc::invalid_argument, c.message);
  tokenized_text t = tokenize_document(vocab, text, prompt);
  d.tokens = std::move(t.tokens);
  d.n_prompt = t.n_prompt;
  return d;
}

std::vector<audit_document> read_documents(const std::string& path, const llama_tokenizer* vocab,
                                           int32_t vocab_size, read_stats& stats) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw audit_input_error(true, "cannot open " + path);
  std::vector<audit_document> docs;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) {
      ++stats.blank_lines;
      continue;
    }
    const std::string where = path + ":" + std::to_string(line_no);
    nlohmann::json rec;
    try {
      rec = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw audit_input_error(false, where + ": not valid JSON (" + e.what() + ")");
    }
    if (!rec.is_object()) throw audit_input_error(false, where + ": each line must be a JSON object");
    if (rec.contains("error")) {
      ++stats.error_records;
      continue;
    }
    std::string id = where;
    if (rec.contains("id")) id = rec["id"].is_string() ? rec["id"].get<std::string>() : rec["id"].dump();
    std::string prompt;
    if (rec.contains("prompt") && rec["prompt"].is_string()) prompt = rec["prompt"].get<std::string>();

    audit_document d;
    if (rec.contains("tokens")) {  // the token-record schema (common/records.h)
      token_record tr;
      read_token_record(rec, vocab_size, tr, /*allow_empty=*/true);
      if (!tr.error.empty()) throw audit_input_error(false, where + ": " + tr.error);
      if (static_cast<int64_t>(tr.tokens.size()) == tr.n_prompt) ++stats.empty_answers;
      d.tokens = std::move(tr.tokens);
      d.n_prompt = tr.n_prompt;
      d.token_ids = true;
      d.id = std::move(id);
      d.prompt = std::move(prompt);
    } else if (rec.contains("text")) {
      if (!rec["text"].is_string()) throw audit_input_error(false, where + ": \"text\" must be a string");
      if (!vocab)
        throw audit_input_error(false, where + ": a text record needs the provider's tokenizer: pass --vocab GGUF");
      if (is_blank(rec["text"].get<std::string>())) {  // an empty answer: no completion tokens
        ++stats.empty_answers;
        continue;
      }
      try {
        d = tokenize_document(*vocab, prompt, rec["text"].get<std::string>(), std::move(id));
      } catch (const tracemark::error& e) {
        throw audit_input_error(false, where + ": " + e.what());
      }
    } else {
      throw audit_input_error(false, where + ": a record needs \"tokens\" (token ids) or \"text\"");
    }
    if (rec.contains("watermarked") && rec["watermarked"].is_boolean()) d.watermarked = rec["watermarked"].get<bool>();
    if (rec.contains("logprobs") && rec["logprobs"].is_object()) d.logprobs = std::move(rec["logprobs"]);
    if (rec.contains("key_fingerprint") && rec["key_fingerprint"].is_string())
      d.key_fingerprint = rec["key_fingerprint"].get<std::string>();
    docs.push_back(std::move(d));
    ++stats.records;
  }
  if (in.bad()) throw audit_input_error(true, "reading " + path + " failed");
  return docs;
}

std::vector<std::string> read_prompts(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw audit_input_error(true, "cannot open the prompts file " + path);
  std::vector<std::string> prompts;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line[0] == '{') {
      const std::string where = path + ":" + std::to_string(line_no);
      try {
        const nlohmann::json rec = nlohmann::json::parse(line);
        if (!rec.contains("prompt") || !rec["prompt"].is_string())
          throw audit_input_error(false, where + ": a JSON prompt line needs a \"prompt\" string");
        prompts.push_back(rec["prompt"].get<std::string>());
      } catch (const nlohmann::json::exception& e) {
        throw audit_input_error(false, where + ": not valid JSON (" + e.what() + ")");
      }
    } else {
      prompts.push_back(line);
    }
  }
  if (in.bad()) throw audit_input_error(true, "reading " + path + " failed");
  if (prompts.empty()) throw audit_input_error(false, "the prompts file " + path + " holds no prompt");
  return prompts;
}

provider_scheme load_provider_scheme(const key& master, const std::string& vocab_path, const scheme_options& flags) {
  provider_scheme out;
  if (!vocab_path.empty()) out.tokenizer = std::make_unique<llama_tokenizer>(vocab_path);
  if (flags.vocab_size) {
    out.config = flags.to_config();
    if (out.tokenizer && out.tokenizer->n_vocab() != out.config.vocab_size)
      throw usage_error("--vocab-size " + std::to_string(out.config.vocab_size) + " differs from the " +
                        std::to_string(out.tokenizer->n_vocab()) + " tokens of " + vocab_path);
  } else {
    if (!out.tokenizer) throw usage_error("give --vocab GGUF (the provider's tokenizer) or --vocab-size V");
    out.config = flags.to_config(out.tokenizer->n_vocab());
  }
  try {
    out.scheme.emplace(master, out.config);
  } catch (const tracemark::error& e) {
    throw usage_error(e.what());
  }
  return out;
}

}  // namespace tracemark::cli
