// The source model's tokenizer, read from a GGUF file by llama.cpp.
//
// Part of the optional target tracemark::llama. This header includes no
// llama.cpp header: the llama.cpp model and vocabulary live behind a pointer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tracemark/tokenizer.h"

namespace tracemark {

// Loads only the vocabulary of a GGUF file (a full model or a vocab-only
// file: llama.cpp is asked for vocab_only, so no weights are read) and turns
// text into token ids and back exactly as llama.cpp does.
//
// Errors (tracemark::error, lib/include/tracemark/error.h), all naming the path:
//   errc::io                a missing or unreadable file, a directory;
//   errc::invalid_argument  a file that is not GGUF (magic checked here before
//                           llama.cpp sees it), a GGUF that llama.cpp cannot
//                           load (its error message is included) or that has
//                           no tokenizer; token ids out of range.
//
// Thread safety: an immutable object once constructed. tokenize, detokenize,
// token_to_piece and the accessors may be called concurrently from any number
// of threads on one instance: llama.cpp documents its tokenization API as
// thread-safe (llama.h, "Tokenization"), and in v0.4.0 these calls only read
// the vocabulary (each call keeps its own tokenizer session; the piece cache
// is built at load time). Constructing and destroying instances concurrently
// is also fine. A moved-from tokenizer may only be destroyed or assigned to;
// its other members throw errc::invalid_argument.
//
// Logging: llama.cpp's global log callback is set once, on the first
// construction, to one that discards everything (keeping error lines for the
// exception message), unless the environment variable TRACEMARK_LLAMA_LOG=1
// is set, in which case llama.cpp's log goes to stderr. llama_backend_init is
// called once per process (std::call_once).
class llama_tokenizer final : public tokenizer {
 public:
  // llama.cpp's tokenizer families (enum llama_vocab_type).
  enum class vocab_kind { none, spm, bpe, wpm, ugm, rwkv, plamo2, other };

  explicit llama_tokenizer(const std::filesystem::path& gguf_path);
  ~llama_tokenizer() override;

  llama_tokenizer(llama_tokenizer&&) noexcept;
  llama_tokenizer& operator=(llama_tokenizer&&) noexcept;
  llama_tokenizer(const llama_tokenizer&) = delete;
  llama_tokenizer& operator=(const llama_tokenizer&) = delete;

  // Text -> token ids (tracemark::tokenizer). add_special: add BOS/EOS if the
  // vocabulary is configured to (llama_vocab_get_add_bos/eos). Special-token text
  // such as "<|endoftext|>" is plain text: detection scores what the model wrote.
  std::vector<int32_t> tokenize(std::string_view text, bool add_special) const override;
  // Same, recognising special/control token text (chat templates write it).
  std::vector<int32_t> tokenize_special(std::string_view text, bool add_special) const;

  // Token ids -> text (llama_detokenize). remove_special drops a leading BOS /
  // trailing EOS if the vocabulary adds them; unparse_special renders special
  // tokens as their text (otherwise they render as nothing). Like Hugging
  // Face's decode, this applies the vocabulary's clean-up rules: with
  // clean_spaces (GPT-2 and others) " ?", " !", " .", " ," and " 's" lose
  // their space, and a SentencePiece space prefix is stripped from the first
  // token only if no BOS precedes it. Concatenating token_to_piece() of every
  // token gives the exact bytes instead.
  std::string detokenize(std::span<const int32_t> tokens, bool remove_special = false,
                         bool unparse_special = false) const;

  // The text of one token (llama_token_to_piece, no leading-space stripping).
  std::string token_to_piece(int32_t token, bool special = false) const;
  // A byte-fallback token (SentencePiece <0xNN>): its piece is one byte, which a normal
  // token may also be.
  bool is_byte_token(int32_t token) const;

  int32_t n_vocab() const override;
  // File name, vocabulary type, size and the SHA-256 of the GGUF file (computed on the
  // first call, thread-safe; reading a large model file takes a few seconds).
  tokenizer_identity identity() const override;
  // token_to_piece(token, /*special=*/true).
  std::string token_text(int32_t token) const override { return token_to_piece(token, true); }
  int32_t bos() const;  // -1 if the vocabulary has none
  int32_t eos() const;  // -1 if the vocabulary has none
  bool adds_bos() const;  // whether tokenize(.., add_special=true) prepends BOS
  vocab_kind kind() const;
  // "SPM", "BPE", ... (for messages and records).
  std::string kind_name() const;
  const std::filesystem::path& path() const;

 private:
  std::vector<int32_t> tokenize_with(std::string_view text, bool add_special, bool parse_special) const;

  struct impl;
  std::unique_ptr<impl> impl_;
  const impl& get() const;
};

}  // namespace tracemark
