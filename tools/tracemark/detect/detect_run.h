// `tracemark detect` between its flags (cmd_detect.cpp) and its pipeline
// (detect_pipeline.cpp): the flags as given, and the validated run they describe.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/scheme_options.h"
#include "detect/input_reader.h"
#include "tracemark/attribution.h"
#include "tracemark/corpus.h"
#include "tracemark/detector.h"
#include "tracemark/evidence.h"
#include "tracemark/scheme.h"
#include "tracemark/signing.h"
#include "tracemark/tokenizer.h"

namespace CLI {
class Option;
}

namespace tracemark::cli {

// The flags exactly as given on the command line.
struct detect_flags {
  scheme_options scheme;
  std::string key_path;
  double alpha = 1e-6;
  bool no_dedup = false;
  int64_t min_window = 50;
  bool trace = false;
  int64_t threads = 1;
  std::string format = "auto";
  std::string output;                     // empty or "-": standard output
  std::vector<std::string> inputs;        // empty: standard input
  // text
  std::string vocab;
  std::string input_format = "auto";
  std::string split = "document";
  std::string field = "text";
  std::string prompt_field;
  std::string invalid_utf8 = "error";
  int64_t chunk_size = int64_t{256} << 10;
  // corpus and evidence
  bool corpus = false;
  bool corpus_only = false;
  int64_t top = 10;
  std::string save_evidence;
  std::string accounts_file;
  // output
  bool no_progress = false;
  std::string report;
  int64_t report_documents = 20;
  std::string sign_key;
  // which text flags were given explicitly
  CLI::Option* split_opt = nullptr;
  CLI::Option* field_opt = nullptr;
  CLI::Option* prompt_field_opt = nullptr;
};

enum class input_format { tokens, text, jsonl };

struct input_file {
  std::string path;   // "-": standard input
  std::string name;   // for messages: "input file x.jsonl", "standard input"
  std::string label;  // for ids and the "file" field: the path, or "stdin"
};

// Everything a run needs, checked and loaded (key, vocabulary, accounts) before any
// output is created.
struct detect_run {
  const detect_flags* flags = nullptr;
  std::optional<scheme> sch;
  std::optional<detector> det;                  // shared by the workers (immutable)
  std::unique_ptr<tokenizer> tok;               // text input only
  evidence_params params;                       // written into every record
  detect_options options;
  std::optional<attributor> accounts;           // --accounts
  std::optional<signing_key> signer;            // --sign: loaded up front, used at the end
  std::vector<input_file> inputs;
  std::optional<input_format> format;           // known up front, or guessed from the first input
  reader_config reader;
  uint64_t total_bytes = 0;                     // 0: unknown (pipes)
  size_t n_threads = 1;
  bool table = false;                           // human-readable table instead of JSON Lines
  bool to_stdout = true;
  bool per_document = true;                     // false with --corpus-only
  bool corpus = false;                          // accumulate the corpus test
  bool multi_file = false;
};

// Checks the flags and loads what they name. Throws cli_error (exit 2 flags, 3 key, 4 files).
detect_run prepare_detect(detect_flags& flags);
// Runs the detection; returns the exit code (0, or 1 when some record was an error).
int run_detect_pipeline(const detect_run& run);

}  // namespace tracemark::cli
