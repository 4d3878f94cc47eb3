// tracemark index: the contexts the provider's watermark consulted, from its generation
// logs, for `tracemark audit --index` (docs/AUDIT_DESIGN.md §5).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <optional>

#include "audit/audit_inputs.h"
#include "common/cli.h"
#include "common/scheme_options.h"
#include "tracemark/audit.h"
#include "tracemark/error.h"
#include "tracemark/key.h"
#include "tracemark/llama/tokenizer.h"
#include "tracemark/scheme.h"

namespace tracemark::cli {

namespace {

struct index_flags {
  std::string key_path;
  scheme_options scheme;
  std::string vocab_path;
  std::vector<std::string> logs;
  std::string out;
  bool quiet = false;
};

const char* const index_footer =
    "Input: JSON Lines generation logs, as written by 'tracemark generate': token ids in \"tokens\" (and\n"
    "\"prompt_tokens\"), or \"text\" (and \"prompt\") with --vocab. Records with \"watermarked\": false or\n"
    "another \"key_fingerprint\" are skipped; error records too.\n"
    "\n"
    "Output: the sorted unique context ids of every generated position, with a header naming the key\n"
    "fingerprint and the scheme; 'tracemark audit --index' refuses an index built for another key or scheme.\n"
    "\n"
    "Example:\n"
    "  tracemark index --key provider.key -H 2 --vocab-size 512 --out provider.idx logs/*.jsonl\n"
    "\n";

int run_index(const index_flags& f) {
  const std::optional<key> master = load_key(f.key_path);
  provider_scheme ps;
  try {
    ps = load_provider_scheme(*master, f.vocab_path, f.scheme);
  } catch (const tracemark::error& e) {
    print_error("index", e.what());
    return e.code() == errc::io ? exit_io : exit_usage;
  }
  const std::unique_ptr<llama_tokenizer>& vocab = ps.tokenizer;
  const scheme_config& config = ps.config;
  const std::optional<scheme>& sch = ps.scheme;

  context_index index(*master, *sch);
  int64_t used = 0, unmarked = 0, other_key = 0, errors = 0, tokens = 0;
  try {
    for (const std::string& path : f.logs) {
      read_stats rs;
      const std::vector<audit_document> docs = read_documents(path, vocab.get(), config.vocab_size, rs);
      errors += rs.error_records;
      for (const audit_document& d : docs) {
        if (d.watermarked == 0) {
          ++unmarked;
          continue;
        }
        if (!d.key_fingerprint.empty() && d.key_fingerprint != master->fingerprint()) {
          ++other_key;
          continue;
        }
        index.add_marked(*sch, d.tokens, d.n_prompt);
        ++used;
        tokens += static_cast<int64_t>(d.tokens.size()) - d.n_prompt;
      }
    }
    index.save(f.out);
  } catch (const audit_input_error& e) {
    print_error("index", e.what());
    return e.io ? exit_io : exit_usage;
  } catch (const tracemark::error& e) {
    print_error("index", e.what());
    return e.code() == errc::io ? exit_io : exit_usage;
  }
  if (!f.quiet) {
    std::cout << "tracemark index: " << index.size() << " distinct contexts from " << used << " marked records ("
              << tokens << " generated tokens) written to " << f.out << "\n"
              << "  key " << master->fingerprint() << ", scheme " << scheme_description(config) << "\n";
    if (unmarked + other_key + errors > 0)
      std::cout << "  skipped: " << unmarked << " unmarked records, " << other_key << " records of another key, "
                << errors << " error records\n";
  }
  if (used == 0) {
    print_error("index", "no marked record in the input: the index is empty");
    return exit_record_error;
  }
  return exit_ok;
}

}  // namespace

command add_index_command(CLI::App& parent) {
  auto f = std::make_shared<index_flags>();
  CLI::App* app = parent.add_subcommand(
      "index", "Index the contexts of the provider's marked outputs (for tracemark audit --index)");
  app->add_option("--key,-k", f->key_path, "Key file the outputs were marked with")->required()->type_name("FILE");
  f->scheme.add_to(*app, /*with_vocab=*/true);
  app->add_option("--vocab", f->vocab_path, "The provider's tokenizer (GGUF), for text records")->type_name("GGUF");
  app->add_option("--out,-o", f->out, "Index file to write")->required()->type_name("FILE");
  app->add_option("logs", f->logs, "Generation logs (JSON Lines)")->required()->type_name("JSONL");
  app->add_flag("--quiet,-q", f->quiet, "No summary");
  app->footer(std::string(index_footer) + exit_codes_help);
  return command{app, [f] { return run_index(*f); }};
}

}  // namespace tracemark::cli
