#include "common/scheme_options.h"

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "common/cli.h"
#include "tracemark/error.h"

namespace tracemark::cli {

void scheme_options::add_to(CLI::App& app, bool with_vocab) {
  app.add_option("--scheme", scheme, "Scheme (docs/SPEC.md §3): " + scheme_name_list())
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
  const scheme_info* info = find_scheme(scheme);
  if (info == nullptr)
    throw usage_error("--scheme: unknown scheme '" + scheme + "'; valid schemes: " + scheme_name_list());
  c.name = scheme;

  const bool fixed_width = info->default_context_width == 0;  // unigram: no context
  if (context_width) {
    const int64_t h = *context_width;
    if (fixed_width && h != 0)
      throw usage_error("--context-width: the " + scheme + " scheme has context width 0 (got " + std::to_string(h) + ")");
    if (!fixed_width && (h < 1 || h > tracemark::scheme::max_context_width))
      throw usage_error("--context-width: " + scheme + " needs a width between 1 and " +
                        std::to_string(tracemark::scheme::max_context_width) + " (got " + std::to_string(h) + ")");
    c.context_width = static_cast<int32_t>(h);
  } else {
    c.context_width = info->default_context_width;
  }

  errno = 0;
  char* end = nullptr;
  const double g = std::strtod(gamma.c_str(), &end);
  if (gamma.empty() || end != gamma.c_str() + gamma.size() || errno == ERANGE)
    throw usage_error("--gamma: '" + gamma + "' is not a number");
  if (!(g > 0.0 && g < 1.0)) throw usage_error("--gamma: must lie strictly between 0 and 1 (got " + gamma + ")");
  c.gamma = g;

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

}  // namespace tracemark::cli
