// The source model's tokenizer for text input: a llama.cpp GGUF vocabulary through
// tracemark::llama (vocab_llama.cpp) or, in builds without llama.cpp, an error that says so
// (vocab_none.cpp). Every command that reads text tokenizes through tracemark::tokenize_text.
#pragma once
#include <memory>
#include <string>

#include "tracemark/tokenizer.h"

namespace tracemark::cli {

// Loads the tokenizer of a GGUF file (a vocabulary-only file or a full model: only the
// vocabulary is read). Throws cli_error naming `flag` and the path: exit_io when the file
// cannot be read, exit_usage when it is not a usable GGUF vocabulary.
std::unique_ptr<tokenizer> open_vocab(const std::string& path, const std::string& flag = "--vocab");

// "SPM vocabulary of 32000 tokens" (for messages).
std::string describe_vocab(const tokenizer& tok);

// Whether this build can read vocabularies at all.
bool built_with_llama() noexcept;

}  // namespace tracemark::cli
