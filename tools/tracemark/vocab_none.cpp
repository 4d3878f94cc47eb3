// open_vocab of a tool built without llama.cpp (TRACEMARK_WITH_LLAMA=OFF).
#include "text_tokenizer.h"

namespace tracemark::cli {

std::unique_ptr<text_tokenizer> open_vocab(const std::string& path) {
  throw vocab_error{false, "--vocab " + path +
                               ": this tracemark was built without llama.cpp, so it cannot read a vocabulary or "
                               "tokenize text; rebuild with -DTRACEMARK_WITH_LLAMA=ON (scripts/setup.sh does), or "
                               "pass token ids (JSON Lines with \"tokens\") and --vocab-size"};
}

bool built_with_llama() noexcept { return false; }

}  // namespace tracemark::cli
