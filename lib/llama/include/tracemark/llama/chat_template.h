// Chat messages -> prompt text for a GGUF model: the model's chat template when llama.cpp
// can apply it (its built-in formats), else the plain fallback of docs/SERVER.md
// ("<Role>: <content>\n" ..., then "Assistant:").
//
// Part of the optional target tracemark::llama; includes no llama.cpp header.
// Thread safety: immutable after construction; render() may be called concurrently.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace tracemark {

struct chat_message {
  std::string role, content;
};

class chat_template {
 public:
  // Reads "tokenizer.chat_template" of the GGUF file (no weights are loaded).
  explicit chat_template(const std::filesystem::path& gguf);
  // The prompt text, and whether it holds special-token text that the tokenizer must parse
  // (template output does; the plain fallback does not).
  std::string render(const std::vector<chat_message>& messages, bool& parse_special) const;
  bool has_template() const { return !template_.empty(); }
  // One line for start-up logs.
  const std::string& describe() const { return description_; }

 private:
  std::string template_;     // the GGUF's tokenizer.chat_template, if llama.cpp can apply it
  std::string description_;
};

}  // namespace tracemark
