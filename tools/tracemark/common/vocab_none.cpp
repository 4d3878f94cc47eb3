// open_vocab of a tool built without llama.cpp (TRACEMARK_WITH_LLAMA=OFF).
#include "common/cli.h"
#include "common/vocab.h"

namespace tracemark::cli {

std::unique_ptr<tokenizer> open_vocab(const std::string& path, const std::string& flag) {
  throw usage_error(flag + " " + path +
                    ": this tracemark was built without llama.cpp, so it cannot read a vocabulary or tokenize "
                    "text; rebuild with -DTRACEMARK_WITH_LLAMA=ON (scripts/setup.sh does), or pass token ids "
                    "(JSON Lines with \"tokens\") and --vocab-size");
}

std::string describe_vocab(const tokenizer& tok) { return "vocabulary of " + std::to_string(tok.n_vocab()) + " tokens"; }

bool built_with_llama() noexcept { return false; }

}  // namespace tracemark::cli
