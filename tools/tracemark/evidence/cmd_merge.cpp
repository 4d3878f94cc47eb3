// tracemark merge: evidence files of shards of one corpus -> the corpus record one pass over
// the whole corpus would give (docs/EVIDENCE.md "Evidence files"). No key is needed.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "common/cli.h"
#include "common/output.h"
#include "common/sign_output.h"
#include "tracemark/corpus_evidence.h"
#include "tracemark/error.h"
#include "tracemark/evidence.h"

namespace tracemark::cli {

namespace {

struct merge_flags {
  std::vector<std::string> inputs;
  std::string output;
  std::string save_evidence;
  double alpha = 1e-6;
  int64_t top = 10;
  std::string sign_key;
  bool quiet = false;
};

const char* const merge_footer =
    "Each input is an evidence file written by 'tracemark detect --save-evidence FILE' (or by an earlier\n"
    "merge). Give them in corpus order: a (context, token) tuple scored in several shards counts once, for\n"
    "the first shard that has it, exactly as one pass over the concatenated corpus counts it for its first\n"
    "document; document numbers continue from shard to shard. The record printed is the one\n"
    "'tracemark detect --corpus-only' gives on the whole corpus with the same --alpha and --top.\n"
    "\n"
    "Every shard must come from the same test: the same key (fingerprint), scheme, context width, gamma,\n"
    "vocabulary, account, deduplication and tokenizer. A shard that differs, a corrupt or truncated file,\n"
    "or a shard given twice is refused with a message naming the file.\n"
    "\n"
    "Memory: the per-document statistics of all shards and a 1 MiB read buffer per shard; the tuples\n"
    "themselves are streamed (a k-way merge of files sorted by tuple).\n"
    "\n"
    "Examples:\n"
    "  tracemark detect --key k --vocab m.gguf --corpus-only --save-evidence a.tmev part-a.jsonl\n"
    "  tracemark detect --key k --vocab m.gguf --corpus-only --save-evidence b.tmev part-b.jsonl\n"
    "  tracemark merge a.tmev b.tmev -o corpus.json --save-evidence all.tmev\n"
    "\n";

int run_merge(const merge_flags& f) {
  if (f.inputs.empty()) throw usage_error("give at least one evidence file");
  if (!(f.alpha > 0.0 && f.alpha < 1.0)) throw usage_error("--alpha must lie strictly between 0 and 1");
  if (f.top < 0) throw usage_error("--top must be 0 or more");
  if (!f.sign_key.empty() && (f.output.empty() || f.output == "-"))
    throw usage_error("--sign: give --output FILE; the signature is written next to it as FILE.sig");
  for (const std::string& in : f.inputs)
    if (in == f.save_evidence) throw usage_error("--save-evidence: refusing to write over the input " + in);

  std::optional<signing_key> signer;  // a bad signing key fails before the merge
  if (!f.sign_key.empty()) signer.emplace(load_signing_key(f.sign_key));
  corpus_evidence merged;
  try {
    merged = merge_evidence(f.inputs, f.save_evidence);
  } catch (const tracemark::error& e) {
    throw cli_error(e.code() == errc::io ? exit_io : exit_usage, e.what());
  }
  const evidence_params p = evidence_params::of(merged.metadata, f.alpha);
  const corpus_verdict v = merged.verdict(corpus_options{p.dedup, static_cast<size_t>(f.top)});
  output out(f.output);
  out.write(corpus_record_json(v, p) + "\n");
  out.close();
  if (!f.quiet)
    std::cerr << "tracemark merge: " << merged.n_shards << " shard" << (merged.n_shards == 1 ? "" : "s") << ", "
              << merged.entries.size() << " documents (" << merged.n_errors << " errors), " << merged.n_tuples
              << " distinct tuples" << (f.save_evidence.empty() ? "" : "; wrote " + f.save_evidence) << "\n";
  if (signer) sign_record_file(f.output, *signer);
  return exit_ok;
}

}  // namespace

command add_merge_command(CLI::App& parent) {
  auto f = std::make_shared<merge_flags>();
  CLI::App* app =
      parent.add_subcommand("merge", "Merge the evidence files of a corpus's shards into one exact corpus record");
  app->add_option("evidence", f->inputs, "Evidence files, in corpus order")->required()->type_name("FILE...");
  app->add_option("--output,-o", f->output, "Write the corpus record here (default: standard output)")
      ->type_name("OUT");
  app->add_option("--save-evidence", f->save_evidence, "Also write the merged evidence file (to merge further)")
      ->type_name("FILE");
  app->add_option("--alpha", f->alpha, "Significance level of the verdict")->capture_default_str();
  app->add_option("--top", f->top, "How many documents with most evidence the record lists")->capture_default_str();
  app->add_option("--sign", f->sign_key, "Sign the record: write OUT.sig with this signing key (tracemark keygen --signing)")
      ->type_name("SIGNING_KEY");
  app->add_flag("--quiet,-q", f->quiet, "No summary line on standard error");
  app->footer(std::string(merge_footer) + exit_codes_help);
  return command{app, [f] { return run_merge(*f); }};
}

}  // namespace tracemark::cli
