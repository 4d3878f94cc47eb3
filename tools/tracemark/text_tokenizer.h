// The source model's tokenizer as `tracemark detect` sees it. Implemented by
// vocab_llama.cpp (llama.cpp's tokenizer through tracemark::llama) when the tool is
// built with TRACEMARK_WITH_LLAMA=ON, else by vocab_none.cpp, whose open_vocab fails
// with "built without llama.cpp".
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tracemark::cli {

class text_tokenizer {
 public:
  virtual ~text_tokenizer() = default;
  // Text -> token ids, without BOS/EOS and without parsing special-token text: detection
  // scores the tokens the model produced for this text. Thread-safe. Throws on failure.
  virtual std::vector<int32_t> tokenize(std::string_view text) const = 0;
  virtual int32_t n_vocab() const = 0;
  // "SPM vocabulary of 32000 tokens" (for messages).
  virtual std::string describe() const = 0;
};

// The vocabulary could not be loaded; `io` tells a missing/unreadable file (exit 4) from a
// file that is not a usable GGUF vocabulary (exit 2). The message names the path.
struct vocab_error {
  bool io = false;
  std::string message;
};

// Loads the tokenizer of a GGUF file (a vocabulary-only file or a full model: only the
// vocabulary is read). Throws vocab_error.
std::unique_ptr<text_tokenizer> open_vocab(const std::string& path);

// Whether this build can read vocabularies at all.
bool built_with_llama() noexcept;

}  // namespace tracemark::cli
