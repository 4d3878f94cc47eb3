#include "scheme_options.h"

#include <CLI/CLI.hpp>
#include <cmath>
#include <limits>
#include <sstream>

#include "cli.h"
#include "tracemark/error.h"

namespace tracemark::cli {

void scheme_options::add_to(CLI::App& app, bool with_vocab) {
  app.add_option("--scheme", scheme,
                 "Green-list scheme: kgw-lefthash, kgw-selfhash, kgw-minhash or unigram")
      ->capture_default_str()
      ->type_name("NAME")
      ->group("Scheme (must match the watermarking side)");
  app.add_option("--context-width,-H", context_width,
                 "Context width h: tokens hashed into the seed, 1..16 for the kgw-* schemes "
                 "(default 1), 0 for unigram (default 0)")
      ->type_name("H")
      ->group("Scheme (must match the watermarking side)");
  app.add_option("--gamma", gamma, "Green fraction, strictly between 0 and 1")
      ->capture_default_str()
      ->type_name("G")
      ->group("Scheme (must match the watermarking side)");
  if (with_vocab)
    app.add_option("--vocab-size", vocab_size,
                   "Vocabulary size V of the tokenizer (required: it is part of the key derivation, "
                   "a wrong V gives unrelated green lists); token ids must lie in [0, V)")
        ->type_name("V")
        ->group("Scheme (must match the watermarking side)");
  app.add_option("--account", account,
                 "API account id whose sub-key marked the text (default: empty, the master sub-key)")
      ->type_name("ID")
      ->group("Scheme (must match the watermarking side)");
}

scheme_config scheme_options::to_config(int32_t fixed_vocab) const {
  scheme_config c;
  try {
    c.kind = parse_scheme_kind(scheme);
  } catch (const tracemark::error& e) {
    throw usage_error(std::string("--scheme: ") + e.what());
  }

  const bool unigram = c.kind == scheme_kind::unigram;
  if (context_width) {
    const int64_t h = *context_width;
    if (unigram && h != 0)
      throw usage_error("--context-width: the unigram scheme has context width 0 (got " + std::to_string(h) + ")");
    if (!unigram && (h < 1 || h > scheme::max_context_width))
      throw usage_error("--context-width: " + scheme + " needs a width between 1 and " +
                        std::to_string(scheme::max_context_width) + " (got " + std::to_string(h) + ")");
    c.context_width = static_cast<int32_t>(h);
  } else {
    c.context_width = unigram ? 0 : 1;
  }

  if (!(gamma > 0.0 && gamma < 1.0)) {
    std::ostringstream g;
    g << gamma;
    throw usage_error("--gamma: must lie strictly between 0 and 1 (got " + g.str() + ")");
  }
  c.gamma = gamma;

  if (fixed_vocab > 0) {
    c.vocab_size = fixed_vocab;
  } else {
    if (!vocab_size)
      throw usage_error(
          "--vocab-size is required: pass the vocabulary size of the tokenizer that produced the token "
          "ids (e.g. --vocab-size 32000 for Llama 2); it selects the green lists");
    if (*vocab_size <= 0 || *vocab_size > std::numeric_limits<int32_t>::max())
      throw usage_error("--vocab-size: must be between 1 and " +
                        std::to_string(std::numeric_limits<int32_t>::max()) + " (got " +
                        std::to_string(*vocab_size) + ")");
    c.vocab_size = static_cast<int32_t>(*vocab_size);
  }
  c.account = account;
  return c;
}

std::string describe(const scheme_config& c) {
  std::ostringstream out;
  out << scheme_kind_name(c.kind) << " h=" << c.context_width << " gamma=" << c.gamma << " vocab=" << c.vocab_size;
  if (!c.account.empty()) out << " account=" << c.account;
  return out.str();
}

}  // namespace tracemark::cli
