// The one front door for text (docs/SPEC.md "Tokenization"): how a text, and the prompt
// that preceded it, become the token ids that detection scores. `tracemark detect`, the
// server's /v1/detect and `tracemark audit` all call tokenize_text(), so one (prompt, text)
// pair is scored on the same tokens whichever door it comes in by.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tracemark/export.h"
#include "tracemark/text.h"

namespace tracemark {

// Which tokenizer produced a record's token ids: part of every evidence record, so that a
// third party can re-run detection from text with the same vocabulary.
struct tokenizer_identity {
  std::string name;    // the GGUF file's name, without its directory
  std::string kind;    // the vocabulary type: "SPM", "BPE", ...
  int32_t n_vocab = 0;
  std::string sha256;  // SHA-256 of the GGUF file, lowercase hex

  friend bool operator==(const tokenizer_identity&, const tokenizer_identity&) = default;
};

// A source model's tokenizer. Implemented by tracemark::llama_tokenizer (llama.cpp's GGUF
// vocabularies) and by tests. Thread safety: implementations must allow concurrent calls of
// every const member function.
class TRACEMARK_EXPORT tokenizer {
 public:
  virtual ~tokenizer() = default;
  // Text -> token ids. Special-token text ("<|endoftext|>") is never parsed: it is plain
  // text. add_special: add BOS/EOS as the vocabulary's generator does (its add_bos flag).
  virtual std::vector<int32_t> tokenize(std::string_view text, bool add_special) const = 0;
  virtual int32_t n_vocab() const = 0;
  virtual tokenizer_identity identity() const = 0;
  // The bytes of one token as the model writes them (special tokens as their text), for
  // reports that show text token by token. Throws for an id outside [0, n_vocab()).
  virtual std::string token_text(int32_t token) const = 0;
};

// Token ids of a text after its prompt: tokens = prompt tokens, then the text's.
struct tokenized_text {
  std::vector<int32_t> tokens;
  int64_t n_prompt = 0;
};

// The rule. Without a prompt (empty), the text alone, without BOS/EOS. With one, as the
// generator saw it: tokenize(prompt + text) with the vocabulary's BOS; the prompt is the
// longest common prefix of that and tokenize(prompt) (a token that merges across the
// boundary counts as text). Throws what the tokenizer throws.
TRACEMARK_EXPORT tokenized_text tokenize_text(const tokenizer& tok, std::string_view text, std::string_view prompt = {});

// The rule for the later pieces of a document read in pieces: each piece alone, without
// BOS/EOS (the caller carries the last h tokens over as context).
TRACEMARK_EXPORT std::vector<int32_t> tokenize_piece(const tokenizer& tok, std::string_view piece);

// A whole document by the rule, cut into pieces of at most `piece_bytes` as a reader of a
// long document cuts it (text.h piece_cut; the first piece with the prompt, the others by
// tokenize_piece), so that every door gives the same tokens whatever the length.
TRACEMARK_EXPORT tokenized_text tokenize_document(const tokenizer& tok, std::string_view text,
                                                  std::string_view prompt = {},
                                                  size_t piece_bytes = default_piece_bytes);

// SHA-256 of a file's bytes, lowercase hex. Throws error{io} naming the file.
TRACEMARK_EXPORT std::string file_sha256_hex(const std::string& path);

}  // namespace tracemark
