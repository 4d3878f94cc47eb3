#include <exception>
#include <string>

#include "common/cli.h"
#include "common/vocab.h"
#include "tracemark/error.h"
#include "tracemark/llama/tokenizer.h"

namespace tracemark::cli {

std::unique_ptr<tokenizer> open_vocab(const std::string& path, const std::string& flag) {
  try {
    return std::make_unique<llama_tokenizer>(path);
  } catch (const tracemark::error& e) {
    throw cli_error(e.code() == errc::io ? exit_io : exit_usage, flag + ": " + e.what());
  } catch (const std::exception& e) {
    throw usage_error(flag + ": cannot load " + path + ": " + e.what());
  }
}

std::string describe_vocab(const tokenizer& tok) {
  const auto* llama = dynamic_cast<const llama_tokenizer*>(&tok);
  return (llama ? llama->kind_name() + " vocabulary" : std::string("vocabulary")) + " of " +
         std::to_string(tok.n_vocab()) + " tokens";
}

bool built_with_llama() noexcept { return true; }

}  // namespace tracemark::cli
