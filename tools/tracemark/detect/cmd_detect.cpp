// tracemark detect: the flags and their checks; the work is in detect_pipeline.cpp and in
// the library (detector, corpus, attribution, record writer).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <thread>

#include "common/accounts_file.h"
#include "common/cli.h"
#include "common/sign_output.h"
#include "common/vocab.h"
#include "detect/detect_run.h"
#include "tracemark/error.h"

namespace tracemark::cli {

namespace {

constexpr int64_t max_threads = 256;
constexpr int64_t min_chunk_size = 64;

const char* const detect_footer =
    "Input: token ids (JSON Lines) or, with --vocab, text:\n"
    "  tokens  {\"id\": <any JSON scalar>, \"tokens\": [int, ...], \"prompt_tokens\": [int, ...]} per line; ids in\n"
    "          [0, V). The output of 'tracemark generate' is such a file. An OpenAI completion response (a\n"
    "          line with \"choices\", e.g. from 'tracemark serve' with \"return_tokens\") gives one record per choice.\n"
    "  text    plain text: each file is one document (--split document), or each line (--split line),\n"
    "          or each blank-line-separated block (--split paragraph)\n"
    "  jsonl   {\"id\": ..., \"text\": \"...\", \"<prompt field>\": \"...\"} per line (--field, --prompt-field)\n"
    "  --input-format auto: tokens without --vocab; with --vocab, JSON Lines if the input starts with '{' and\n"
    "  one of its first 64 lines is a JSON object (token ids if that one has \"tokens\" and no --field; a bad\n"
    "  line is then an error record), plain text if it does not start with '{'; otherwise an error asking\n"
    "  for --input-format.\n"
    "  Text is tokenized as the model saw it (docs/SPEC.md \"Tokenization\"): alone without BOS/EOS, or after\n"
    "  its prompt (prompt + text with BOS, the prompt being their common prefix); special-token text is plain\n"
    "  text. Prompt tokens are context only, never scored.\n"
    "\n"
    "Output (JSON Lines): exactly one record per input document, in input order, whatever --threads:\n"
    "  {\"id\", \"line\", [\"bytes\"], \"tokens\", \"prompt_tokens\", \"scored\", \"green\", \"gamma\", \"z\", \"log10_p\", \"p\",\n"
    "   \"verdict\": \"watermarked\" (p <= alpha) | \"not_watermarked\", \"alpha\", \"repeats_skipped\",\n"
    "   \"window\": {...} | null, [\"trace\"], [\"attribution\"], \"params\": {the full parameter set}}\n"
    "  A record that cannot be scored gives {\"id\", \"line\", \"error\": \"<what is wrong>\"} instead.\n"
    "  With --corpus, a last line {\"corpus\": {documents, errors, tokens, scored, green, gamma, z, log10_p, p,\n"
    "  verdict, alpha, marked_fraction, marked_green_rate, top_documents, params}}. Schema: docs/EVIDENCE.md.\n"
    "  \"p\" may underflow to 0; \"log10_p\" is exact. --format auto prints a table when standard output\n"
    "  is a terminal, JSON Lines otherwise.\n"
    "\n"
    "Trace letters: G green, r red, = repeated tuple (skipped), p prompt, . no context yet (skipped).\n"
    "\n"
    "Examples:\n"
    "  tracemark detect --key master.key --vocab-size 32000 tokens.jsonl > results.jsonl\n"
    "  tracemark generate --model m.gguf --key master.key --prompt 'Hi' | tracemark detect --key master.key --vocab-size 512\n"
    "  tracemark detect --key master.key --vocab llama.gguf --split paragraph -j 2 book.txt\n"
    "  tracemark detect --key master.key --vocab qwen2.gguf --field output --prompt-field input --corpus in.jsonl\n"
    "  tracemark detect --key master.key --vocab m.gguf --accounts accounts.txt --report report.html leaked.txt\n"
    "  tracemark detect --key master.key --vocab m.gguf --corpus-only --save-evidence part1.tmev crawl-1.jsonl\n"
    "\n";

std::string fmt_double(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

void validate(detect_flags& f) {
  if (!(f.alpha > 0.0 && f.alpha < 1.0))
    throw usage_error("--alpha: the significance level must lie strictly between 0 and 1 (got " + fmt_double(f.alpha) + ")");
  if (f.min_window < 0)
    throw usage_error("--min-window: must be 0 (no windows) or a positive number of scored tokens (got " +
                      std::to_string(f.min_window) + ")");
  if (f.threads < 0 || f.threads > max_threads)
    throw usage_error("--threads: must be between 1 and " + std::to_string(max_threads) +
                      ", or 0 for one per core (got " + std::to_string(f.threads) + ")");
  if (f.key_path.empty()) throw usage_error("--key: the key file path is empty");
  if (f.chunk_size < min_chunk_size)
    throw usage_error("--chunk-size: must be at least " + std::to_string(min_chunk_size) + " bytes (got " +
                      std::to_string(f.chunk_size) + ")");
  if (f.top < 0) throw usage_error("--top: must be 0 or more (got " + std::to_string(f.top) + ")");
  if (f.report_documents < 1) throw usage_error("--report-documents: must be at least 1");
  if (f.corpus_only) f.corpus = true;
  if (f.field.empty()) throw usage_error("--field: the field name is empty");
  if (f.vocab.empty()) {
    if (f.input_format == "text" || f.input_format == "jsonl")
      throw usage_error("--input-format " + f.input_format +
                        " needs --vocab <gguf>: text is tokenized with the source model's vocabulary");
    for (const CLI::Option* o : {f.split_opt, f.field_opt, f.prompt_field_opt})
      if (o != nullptr && o->count() > 0)
        throw usage_error(o->get_name() + " applies to text input, which needs --vocab <gguf>");
  }
  if (!f.sign_key.empty() && (f.output.empty() || f.output == "-"))
    throw usage_error("--sign: give --output FILE; the signature is written next to it as FILE.sig");
  if (!f.report.empty() && f.report == f.output) throw usage_error("--report: the report and --output are the same file");
}

int open_input(const input_file& in, std::string& error) {
  if (in.path == "-") return STDIN_FILENO;
  const int fd = ::open(in.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = "cannot open " + in.name + ": " + std::strerror(errno);
    return -1;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    error = "cannot read " + in.name + ": " + (S_ISDIR(st.st_mode) ? std::string("it is a directory") : std::strerror(errno));
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int open_detect_input(const input_file& in, std::string& error) { return open_input(in, error); }

detect_run prepare_detect(detect_flags& f) {
  // 1. Flags (exit 2), before touching any file.
  validate(f);
  const bool text_capable = !f.vocab.empty();
  scheme_config config = f.scheme.to_config(text_capable ? 1 : 0);
  if (text_capable && f.scheme.vocab_size &&
      (*f.scheme.vocab_size <= 0 || *f.scheme.vocab_size > std::numeric_limits<int32_t>::max()))
    throw usage_error("--vocab-size: must be between 1 and " + std::to_string(std::numeric_limits<int32_t>::max()) +
                      " (got " + std::to_string(*f.scheme.vocab_size) + ")");
  detect_run run;
  run.flags = &f;

  // 2. The keys (exit 3): a bad signing key fails now, not after the whole run.
  const key master = load_key(f.key_path);
  if (!f.sign_key.empty()) run.signer.emplace(load_signing_key(f.sign_key));

  // 3. The vocabulary (exit 2, or 4 when the file cannot be read).
  if (text_capable) {
    run.tok = open_vocab(f.vocab);
    if (f.scheme.vocab_size && *f.scheme.vocab_size != run.tok->n_vocab())
      throw usage_error("--vocab-size " + std::to_string(*f.scheme.vocab_size) + " differs from the vocabulary size " +
                        std::to_string(run.tok->n_vocab()) + " of --vocab " + f.vocab + " (" +
                        describe_vocab(*run.tok) + "); omit --vocab-size, or use the vocabulary the text was marked with");
    config.vocab_size = run.tok->n_vocab();
  }
  try {
    run.sch.emplace(master, config);
  } catch (const tracemark::error& e) {
    throw usage_error(e.what());
  }
  run.options.dedup = !f.no_dedup;
  run.options.keep_trace = f.trace || !f.report.empty();
  run.options.min_window = f.min_window;
  run.det.emplace(*run.sch, run.options);
  run.params = evidence_params::of(*run.sch, master.fingerprint(), f.alpha, run.options.dedup, f.min_window,
                                   run.tok ? std::optional<tokenizer_identity>(run.tok->identity()) : std::nullopt);
  run.params.piece_bytes = static_cast<size_t>(f.chunk_size);
  if (!f.accounts_file.empty()) {
    try {
      run.accounts.emplace(master, config, read_accounts_file(f.accounts_file));
    } catch (const tracemark::error& e) {
      throw usage_error(std::string("--accounts: ") + e.what());
    }
  }

  // 4. The inputs (exit 4): each must be openable now; they are read one after the other.
  if (f.inputs.empty()) f.inputs.push_back("-");
  bool total_known = true;
  std::vector<std::pair<dev_t, ino_t>> input_ids;
  for (const std::string& p : f.inputs) {
    input_file in{p, p == "-" ? "standard input" : "input file " + p, p == "-" ? "stdin" : p};
    std::string error;
    const int fd = open_input(in, error);
    if (fd < 0) throw io_error(error);
    struct stat st {};
    if (::fstat(fd, &st) == 0) {
      input_ids.emplace_back(st.st_dev, st.st_ino);
      if (S_ISREG(st.st_mode)) run.total_bytes += static_cast<uint64_t>(st.st_size);
      else total_known = false;
    }
    if (fd != STDIN_FILENO) ::close(fd);
    run.inputs.push_back(std::move(in));
  }
  if (!total_known) run.total_bytes = 0;
  run.to_stdout = f.output.empty() || f.output == "-";
  for (const std::string* out : {&f.output, &f.report, &f.save_evidence}) {
    struct stat st {};
    if (out->empty() || *out == "-" || ::stat(out->c_str(), &st) != 0) continue;
    for (const auto& [dev, ino] : input_ids)
      if (st.st_dev == dev && st.st_ino == ino)
        throw usage_error("refusing to write the output file " + *out + " over the input");
  }

  // 5. How to read and what to write.
  run.reader.field = f.field;
  run.reader.prompt_field = f.prompt_field;
  run.reader.split = f.split == "line"        ? split_mode::line
                     : f.split == "paragraph" ? split_mode::paragraph
                                              : split_mode::document;
  run.reader.piece_bytes = static_cast<size_t>(f.chunk_size);
  run.reader.replace_invalid_utf8 = f.invalid_utf8 == "replace";
  if (!text_capable || f.input_format == "tokens") run.format = input_format::tokens;
  else if (f.input_format == "text") run.format = input_format::text;
  else if (f.input_format == "jsonl") run.format = input_format::jsonl;
  else if (f.split_opt->count() > 0) run.format = input_format::text;
  else if (f.field_opt->count() > 0 || f.prompt_field_opt->count() > 0) run.format = input_format::jsonl;

  run.n_threads = static_cast<size_t>(f.threads);
  if (run.n_threads == 0) run.n_threads = std::max(1u, std::thread::hardware_concurrency());
  run.table = f.format == "table" || (f.format == "auto" && run.to_stdout && ::isatty(STDOUT_FILENO) == 1);
  run.per_document = !f.corpus_only;
  run.corpus = f.corpus || !f.save_evidence.empty();
  run.multi_file = run.inputs.size() > 1;
  return run;
}

command add_detect_command(CLI::App& parent) {
  auto f = std::make_shared<detect_flags>();
  CLI::App* app = parent.add_subcommand(
      "detect", "Test token ids or text for the watermark of a key; one result record per input document");
  app->add_option("input", f->inputs,
                  "Input files (JSON Lines of token ids; with --vocab also plain text or JSON Lines of text); "
                  "'-' or none: standard input")
      ->type_name("INPUT...");
  app->add_option("--key,-k", f->key_path, "Master key file (from 'tracemark keygen'); must be mode 0600")
      ->required()
      ->type_name("FILE");
  f->scheme.add_to(*app, /*with_vocab=*/true);
  app->add_option("--vocab", f->vocab,
                  "GGUF file with the source model's tokenizer (a vocabulary-only file or a full model): "
                  "the input is text, tokenized as the model did; --vocab-size then comes from it")
      ->type_name("GGUF")
      ->group("Text input");
  app->add_option("--input-format", f->input_format,
                  "tokens: JSON Lines of token ids; text: plain text; jsonl: JSON Lines with a text field; "
                  "auto: tokens without --vocab, else guessed from the first line")
      ->check(CLI::IsMember({"auto", "tokens", "text", "jsonl"}))
      ->capture_default_str()
      ->type_name("FORMAT")
      ->group("Text input");
  f->split_opt = app->add_option("--split", f->split,
                                 "Plain text: document (each file is one document), line (each line), or paragraph "
                                 "(each block between blank lines)")
                     ->check(CLI::IsMember({"document", "line", "paragraph"}))
                     ->capture_default_str()
                     ->type_name("MODE")
                     ->group("Text input");
  f->field_opt = app->add_option("--field", f->field, "JSON Lines of text: the field holding the document's text")
                     ->capture_default_str()
                     ->type_name("NAME")
                     ->group("Text input");
  f->prompt_field_opt =
      app->add_option("--prompt-field", f->prompt_field,
                      "JSON Lines of text: a field whose text preceded the document (context only, never scored)")
          ->type_name("NAME")
          ->group("Text input");
  app->add_option("--invalid-utf8", f->invalid_utf8,
                  "Text that is not valid UTF-8: error (an error record) or replace (each invalid sequence becomes "
                  "U+FFFD, counted in \"invalid_utf8_replaced\")")
      ->check(CLI::IsMember({"error", "replace"}))
      ->capture_default_str()
      ->type_name("MODE")
      ->group("Text input");
  app->add_option("--chunk-size", f->chunk_size,
                  "A document longer than this is read and tokenized in pieces cut at line ends, with the scoring "
                  "context carried across (suffixes K, M, G: 1024-based)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str()
      ->type_name("BYTES")
      ->group("Text input");
  app->add_option("--alpha", f->alpha,
                  "Significance level: a record is \"watermarked\" when its p-value <= alpha "
                  "(the false-positive rate per unmarked text)")
      ->capture_default_str()
      ->type_name("A")
      ->group("Test");
  app->add_flag("--no-dedup", f->no_dedup,
                "Score repeated (context, token) tuples every time; p-values are then invalid on "
                "repetitive text (docs/SPEC.md §6.1)")
      ->group("Test");
  app->add_option("--min-window", f->min_window,
                  "Smallest window (scored tokens) of the search for partly marked text; 0 disables windows")
      ->capture_default_str()
      ->type_name("M")
      ->group("Test");
  app->add_option("--accounts", f->accounts_file,
                  "Attribution: a file with one API account id per line; every record (and the corpus) is also "
                  "tested under each account's sub-key and the master sub-key, and names the account(s) whose "
                  "corrected p-value is <= alpha (Bonferroni over the accounts tried)")
      ->type_name("FILE")
      ->group("Test");
  app->add_flag("--corpus", f->corpus,
                "After the records, one exact test over all documents together (tuples deduplicated across "
                "documents), with the estimated marked fraction and the documents with most evidence")
      ->group("Corpus");
  app->add_flag("--corpus-only", f->corpus_only, "Like --corpus, without the per-document records")->group("Corpus");
  app->add_option("--top", f->top, "How many documents with most evidence the corpus record lists")
      ->capture_default_str()
      ->type_name("N")
      ->group("Corpus");
  app->add_option("--save-evidence", f->save_evidence,
                  "Write the corpus's evidence file (sufficient statistics and scored tuples) here, to merge with "
                  "other shards later ('tracemark merge'); shards of one corpus must use the same key and flags")
      ->type_name("FILE")
      ->group("Corpus");
  app->add_flag("--trace", f->trace, "Add a per-token trace string to each record")->group("Output");
  app->add_option("--report", f->report,
                  "Write a self-contained HTML report of the detection here: verdicts, p-values in words, "
                  "highlighted tokens and the best window, for people")
      ->type_name("FILE")
      ->group("Output");
  app->add_option("--report-documents", f->report_documents, "Documents shown in --report (the first N)")
      ->capture_default_str()
      ->type_name("N")
      ->group("Output");
  app->add_option("--format", f->format,
                  "json: JSON Lines; table: aligned text for people; auto: table when standard output is a "
                  "terminal, json otherwise")
      ->check(CLI::IsMember({"json", "table", "auto"}))
      ->capture_default_str()
      ->type_name("FORMAT")
      ->group("Output");
  app->add_option("--output,-o", f->output, "Write results to OUT instead of standard output")
      ->type_name("OUT")
      ->group("Output");
  app->add_option("--sign", f->sign_key,
                  "Sign the output: write OUT.sig, a detached Ed25519 signature made with this signing key "
                  "('tracemark keygen --signing'); check it with 'tracemark verify'")
      ->type_name("SIGNING_KEY")
      ->group("Output");
  app->add_option("--threads,-j", f->threads,
                  "Worker threads (0: one per core); output order and content do not depend on it")
      ->capture_default_str()
      ->type_name("N")
      ->group("Output");
  app->add_flag("--no-progress", f->no_progress,
                "No progress line on standard error (shown only when standard error is a terminal)")
      ->group("Output");
  app->footer(std::string(detect_footer) + exit_codes_help);
  return {app, [f]() -> int { return run_detect_pipeline(prepare_detect(*f)); }};
}

}  // namespace tracemark::cli
