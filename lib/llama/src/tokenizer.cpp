#include "tracemark/llama/tokenizer.h"

#include <llama.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <limits>
#include <mutex>
#include <system_error>
#include <utility>

#include "llama_support.h"
#include "tracemark/error.h"

namespace tracemark {
using namespace llama_support;
namespace {

llama_tokenizer::vocab_kind to_kind(enum llama_vocab_type t) {
  using k = llama_tokenizer::vocab_kind;
  switch (t) {
    case LLAMA_VOCAB_TYPE_NONE: return k::none;
    case LLAMA_VOCAB_TYPE_SPM: return k::spm;
    case LLAMA_VOCAB_TYPE_BPE: return k::bpe;
    case LLAMA_VOCAB_TYPE_WPM: return k::wpm;
    case LLAMA_VOCAB_TYPE_UGM: return k::ugm;
    case LLAMA_VOCAB_TYPE_RWKV: return k::rwkv;
    case LLAMA_VOCAB_TYPE_PLAMO2: return k::plamo2;
  }
  return k::other;
}

}  // namespace

// ---------------------------------------------------------------- impl
struct llama_tokenizer::impl {
  std::filesystem::path path;
  std::unique_ptr<llama_model, model_deleter> model;
  const llama_vocab* vocab = nullptr;  // owned by model
  int32_t n_vocab = 0;
  vocab_kind kind = vocab_kind::none;
  mutable std::once_flag identity_once;
  mutable tokenizer_identity identity;  // set once, under identity_once

  // llama.cpp is C++ inside: a bad vocabulary can surface as a C++ exception
  // from the C API. Report it as ours, naming the file.
  [[noreturn]] void rethrow(const char* what_call) const {
    try {
      throw;
    } catch (const error&) {
      throw;
    } catch (const std::exception& e) {
      throw error(errc::invalid_argument, std::string("llama_tokenizer: ") + what_call +
                                              " failed for " + quoted(path) + ": " + e.what());
    }
  }

  // llama.cpp's buffer protocol: a call returns the count it wrote, or, when `buf` is too
  // small, minus the count it needs (INT32_MIN when that overflows int32). Grows `buf`
  // once and calls again; the second count must be the one asked for, or at most that
  // with `may_shrink` (detokenize cleans up whitespace after its size check).
  // call(data, capacity) -> count; `result` names the count in error messages.
  template <class Buffer, class Call>
  void fill(Buffer& buf, Call&& call, bool may_shrink, const char* result) const {
    int32_t n = call(buf.data(), static_cast<int32_t>(buf.size()));
    if (n == std::numeric_limits<int32_t>::min())
      throw error(errc::invalid_argument,
                  std::string("llama_tokenizer: the ") + result + " overflowed int32 for " + quoted(path));
    if (n < 0) {
      buf.resize(static_cast<std::size_t>(-static_cast<int64_t>(n)));
      const int32_t again = call(buf.data(), static_cast<int32_t>(buf.size()));
      if (may_shrink ? again < 0 || static_cast<std::size_t>(again) > buf.size() : again != -n)
        throw error(errc::invalid_argument,
                    std::string("llama_tokenizer: inconsistent ") + result + " from llama.cpp for " + quoted(path));
      n = again;
    }
    buf.resize(static_cast<std::size_t>(n));
  }

  void check_token(int32_t t) const {
    if (t < 0 || t >= n_vocab) {
      throw error(errc::invalid_argument, "llama_tokenizer: token id " + std::to_string(t) +
                                              " is out of range [0, " + std::to_string(n_vocab) +
                                              ") for " + quoted(path));
    }
  }
};

llama_tokenizer::llama_tokenizer(const std::filesystem::path& gguf_path)
    : impl_(std::make_unique<impl>()) {
  impl_->path = gguf_path;
  check_gguf_file(gguf_path);
  init_llama_once();

  llama_model_params params = llama_model_default_params();
  params.vocab_only = true;  // metadata + tokenizer only, for full models too
  params.progress_callback = nullptr;

  capture_errors errors;
  llama_model* raw = nullptr;
  try {
    raw = llama_model_load_from_file(gguf_path.c_str(), params);
  } catch (...) {
    impl_->rethrow("loading");
  }
  if (raw == nullptr) {
    std::string why = errors.summary();
    throw error(errc::invalid_argument, "llama_tokenizer: llama.cpp could not load the vocabulary from " +
                                            quoted(gguf_path) +
                                            (why.empty() ? std::string() : ": " + why));
  }
  impl_->model.reset(raw);
  impl_->vocab = llama_model_get_vocab(raw);
  if (impl_->vocab == nullptr || llama_vocab_type(impl_->vocab) == LLAMA_VOCAB_TYPE_NONE) {
    throw error(errc::invalid_argument,
                "llama_tokenizer: " + quoted(gguf_path) + " has no tokenizer vocabulary");
  }
  impl_->n_vocab = llama_vocab_n_tokens(impl_->vocab);
  impl_->kind = to_kind(llama_vocab_type(impl_->vocab));
  if (impl_->n_vocab <= 0) {
    throw error(errc::invalid_argument, "llama_tokenizer: " + quoted(gguf_path) + " has an empty vocabulary");
  }
}

llama_tokenizer::~llama_tokenizer() = default;
llama_tokenizer::llama_tokenizer(llama_tokenizer&&) noexcept = default;
llama_tokenizer& llama_tokenizer::operator=(llama_tokenizer&&) noexcept = default;

const llama_tokenizer::impl& llama_tokenizer::get() const {
  if (!impl_) throw error(errc::invalid_argument, "llama_tokenizer: use of a moved-from tokenizer");
  return *impl_;
}

std::vector<int32_t> llama_tokenizer::tokenize(std::string_view text, bool add_special) const {
  return tokenize_with(text, add_special, /*parse_special=*/false);
}

std::vector<int32_t> llama_tokenizer::tokenize_special(std::string_view text, bool add_special) const {
  return tokenize_with(text, add_special, /*parse_special=*/true);
}

std::vector<int32_t> llama_tokenizer::tokenize_with(std::string_view text, bool add_special,
                                               bool parse_special) const {
  const impl& m = get();
  constexpr auto int32_max = static_cast<std::size_t>(std::numeric_limits<int32_t>::max());
  if (text.size() > int32_max - 16) {
    throw error(errc::invalid_argument, "llama_tokenizer: text of " + std::to_string(text.size()) +
                                            " bytes is too long to tokenize in one call");
  }
  const auto text_len = static_cast<int32_t>(text.size());
  // Usually enough: at most one token per byte, plus BOS/EOS/SEP and a space prefix.
  std::vector<int32_t> out(text.size() + 4);
  try {
    m.fill(
        out,
        [&](int32_t* data, int32_t capacity) {
          return llama_tokenize(m.vocab, text.data(), text_len, data, capacity, add_special, parse_special);
        },
        /*may_shrink=*/false, "token count");
  } catch (...) {
    m.rethrow("tokenize");
  }
  return out;
}

std::string llama_tokenizer::detokenize(std::span<const int32_t> tokens, bool remove_special,
                                        bool unparse_special) const {
  const impl& m = get();
  if (tokens.size() > static_cast<std::size_t>(std::numeric_limits<int32_t>::max())) {
    throw error(errc::invalid_argument, "llama_tokenizer: too many tokens to detokenize in one call");
  }
  for (const int32_t t : tokens) m.check_token(t);
  const auto n_tokens = static_cast<int32_t>(tokens.size());
  std::string text(tokens.size() * 4 + 16, '\0');
  try {
    m.fill(
        text,
        [&](char* data, int32_t capacity) {
          return llama_detokenize(m.vocab, tokens.data(), n_tokens, data, capacity, remove_special, unparse_special);
        },
        /*may_shrink=*/true, "text size");
  } catch (...) {
    m.rethrow("detokenize");
  }
  return text;
}

std::string llama_tokenizer::token_to_piece(int32_t token, bool special) const {
  const impl& m = get();
  m.check_token(token);
  std::string piece(32, '\0');
  try {
    m.fill(
        piece,
        [&](char* data, int32_t capacity) {
          return llama_token_to_piece(m.vocab, token, data, capacity, /*lstrip=*/0, special);
        },
        /*may_shrink=*/false, "piece size");
  } catch (...) {
    m.rethrow("token_to_piece");
  }
  return piece;
}

bool llama_tokenizer::is_byte_token(int32_t token) const {
  const impl& m = get();
  m.check_token(token);
  return (llama_vocab_get_attr(m.vocab, token) & LLAMA_TOKEN_ATTR_BYTE) != 0;
}

int32_t llama_tokenizer::n_vocab() const { return get().n_vocab; }
int32_t llama_tokenizer::bos() const { return llama_vocab_bos(get().vocab); }
int32_t llama_tokenizer::eos() const { return llama_vocab_eos(get().vocab); }
bool llama_tokenizer::adds_bos() const { return llama_vocab_get_add_bos(get().vocab); }
llama_tokenizer::vocab_kind llama_tokenizer::kind() const { return get().kind; }

std::string llama_tokenizer::kind_name() const {
  switch (get().kind) {
    case vocab_kind::none: return "none";
    case vocab_kind::spm: return "SPM";
    case vocab_kind::bpe: return "BPE";
    case vocab_kind::wpm: return "WPM";
    case vocab_kind::ugm: return "UGM";
    case vocab_kind::rwkv: return "RWKV";
    case vocab_kind::plamo2: return "PLaMo-2";
    case vocab_kind::other: break;
  }
  return "other";
}

tokenizer_identity llama_tokenizer::identity() const {
  const impl& m = get();
  std::call_once(m.identity_once, [&] {
    m.identity = tokenizer_identity{m.path.filename().string(), kind_name(), m.n_vocab, file_sha256_hex(m.path.string())};
  });
  return m.identity;
}
const std::filesystem::path& llama_tokenizer::path() const { return get().path; }

}  // namespace tracemark
