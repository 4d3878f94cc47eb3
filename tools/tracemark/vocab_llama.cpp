#include <exception>
#include <string>

#include "text_tokenizer.h"
#include "tracemark/error.h"
#include "tracemark/llama/tokenizer.h"

namespace tracemark::cli {

namespace {

class llama_text_tokenizer final : public text_tokenizer {
 public:
  explicit llama_text_tokenizer(const std::string& path) : tok_(path) {}
  std::vector<int32_t> tokenize(std::string_view text) const override {
    // add_special = false: no BOS/EOS (they are not text the model generated);
    // parse_special = false: "<|endoftext|>" in the text is plain text, as it would be
    // for a model that wrote those characters.
    return tok_.tokenize(text, /*add_special=*/false, /*parse_special=*/false);
  }
  int32_t n_vocab() const override { return tok_.n_vocab(); }
  std::string describe() const override {
    const char* kind = "unknown";
    switch (tok_.kind()) {
      case llama_tokenizer::vocab_kind::spm: kind = "SPM"; break;
      case llama_tokenizer::vocab_kind::bpe: kind = "BPE"; break;
      case llama_tokenizer::vocab_kind::wpm: kind = "WPM"; break;
      case llama_tokenizer::vocab_kind::ugm: kind = "UGM"; break;
      case llama_tokenizer::vocab_kind::rwkv: kind = "RWKV"; break;
      case llama_tokenizer::vocab_kind::plamo2: kind = "PLaMo-2"; break;
      default: break;
    }
    return std::string(kind) + " vocabulary of " + std::to_string(tok_.n_vocab()) + " tokens";
  }

 private:
  llama_tokenizer tok_;
};

}  // namespace

std::unique_ptr<text_tokenizer> open_vocab(const std::string& path) {
  try {
    return std::make_unique<llama_text_tokenizer>(path);
  } catch (const tracemark::error& e) {
    throw vocab_error{e.code() == errc::io, std::string("--vocab: ") + e.what()};
  } catch (const std::exception& e) {
    throw vocab_error{false, "--vocab: cannot load " + path + ": " + e.what()};
  }
}

bool built_with_llama() noexcept { return true; }

}  // namespace tracemark::cli
