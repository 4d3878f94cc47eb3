// The text front door (tokenizer.h).
#include "tracemark/tokenizer.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>

#include "hex.h"
#include "tracemark/error.h"
#include "tracemark/text.h"

namespace tracemark {

tokenized_text tokenize_text(const tokenizer& tok, std::string_view text, std::string_view prompt) {
  tokenized_text out;
  if (prompt.empty()) {
    out.tokens = tok.tokenize(text, /*add_special=*/false);
    return out;
  }
  const std::vector<int32_t> p = tok.tokenize(prompt, /*add_special=*/true);
  std::string all(prompt);
  all += text;
  out.tokens = tok.tokenize(all, /*add_special=*/true);
  // The prompt is the common prefix (a merge across the boundary shortens it).
  size_t k = 0;
  while (k < p.size() && k < out.tokens.size() && p[k] == out.tokens[k]) ++k;
  out.n_prompt = static_cast<int64_t>(k);
  return out;
}

std::vector<int32_t> tokenize_piece(const tokenizer& tok, std::string_view piece) {
  return tok.tokenize(piece, /*add_special=*/false);
}

tokenized_text tokenize_document(const tokenizer& tok, std::string_view text, std::string_view prompt,
                                 size_t piece_bytes) {
  if (piece_bytes == 0) throw error(errc::invalid_argument, "tokenize_document: piece_bytes is 0");
  size_t take = text.size();
  if (take > piece_bytes && (take = piece_cut(text, piece_bytes)) == 0) take = piece_bytes;
  tokenized_text out = tokenize_text(tok, text.substr(0, take), prompt);
  for (size_t pos = take; pos < text.size(); pos += take) {
    const std::string_view rest = text.substr(pos);
    take = rest.size();
    if (take > piece_bytes && (take = piece_cut(rest, piece_bytes)) == 0) take = piece_bytes;
    const std::vector<int32_t> t = tokenize_piece(tok, rest.substr(0, take));
    out.tokens.insert(out.tokens.end(), t.begin(), t.end());
  }
  return out;
}

std::string file_sha256_hex(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw error(errc::io, "cannot open " + path + ": " + std::strerror(errno));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    throw error(errc::crypto, "OpenSSL: SHA-256 initialisation failed");
  std::vector<char> buf(size_t{1} << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto got = static_cast<size_t>(in.gcount());
    if (got > 0 && EVP_DigestUpdate(ctx.get(), buf.data(), got) != 1)
      throw error(errc::crypto, "OpenSSL: SHA-256 failed");
  }
  if (in.bad()) throw error(errc::io, "cannot read " + path);
  unsigned char md[32];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), md, &len) != 1 || len != sizeof md)
    throw error(errc::crypto, "OpenSSL: SHA-256 failed");
  return detail::to_hex(md, sizeof md);
}

}  // namespace tracemark
