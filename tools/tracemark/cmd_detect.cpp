// tracemark detect: scores token ids (JSON Lines) or text (plain text or JSON Lines,
// tokenized with the source model's vocabulary) against a key: one result record per
// input record, in input order, on any number of threads, with bounded memory; and
// optionally one exact test over the whole corpus.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <span>
#include <system_error>
#include <thread>
#include <vector>

#include "cli.h"
#include "input_reader.h"
#include "jsonl.h"
#include "progress.h"
#include "scheme_options.h"
#include "table.h"
#include "text_tokenizer.h"
#include "tracemark/corpus.h"
#include "tracemark/stream_detector.h"
#include "tracemark/detector.h"
#include "tracemark/error.h"
#include "tracemark/key.h"
#include "tracemark/scheme.h"
#include "tracemark/tuple_set.h"

namespace tracemark::cli {

namespace {

constexpr int64_t max_threads = 256;
constexpr size_t batch_max_units = 4096;
constexpr size_t token_batch_max_bytes = size_t{64} << 20;
constexpr size_t text_batch_min_bytes = size_t{16} << 20;
constexpr int64_t min_chunk_size = 64;
constexpr size_t keep_capacity = size_t{1} << 16;  // larger buffers are freed after each batch

enum class input_format { tokens, text, jsonl };

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
  // corpus
  bool corpus = false;
  bool corpus_only = false;
  int64_t top = 10;
  bool no_progress = false;
  // which text flags were given explicitly
  CLI::Option* split_opt = nullptr;
  CLI::Option* field_opt = nullptr;
  CLI::Option* prompt_field_opt = nullptr;
};

const char* const detect_footer =
    "Input: token ids (JSON Lines) or, with --vocab, text:\n"
    "  tokens  {\"id\": <any JSON scalar>, \"tokens\": [int, ...], \"prompt\": [int, ...]} per line; ids in [0, V)\n"
    "  text    plain text: each file is one document (--split document), or each line (--split line),\n"
    "          or each blank-line-separated block (--split paragraph)\n"
    "  jsonl   {\"id\": ..., \"text\": \"...\", \"<prompt field>\": \"...\"} per line (--field, --prompt-field)\n"
    "  --input-format auto: tokens without --vocab; with --vocab, JSON Lines if the first non-blank line is a\n"
    "  JSON object (token ids if it has \"tokens\" and no --field), plain text otherwise.\n"
    "  Text is tokenized without BOS/EOS and without parsing special tokens. Prompt tokens/text are context\n"
    "  only, never scored.\n"
    "\n"
    "Output (JSON Lines): exactly one record per input document (line), in input order, whatever --threads:\n"
    "  {\"id\", \"line\", [\"bytes\"], \"tokens\", \"prompt_tokens\", \"scored\", \"green\", \"gamma\", \"z\", \"log10_p\", \"p\",\n"
    "   \"verdict\": \"watermarked\" (p <= alpha) | \"not_watermarked\", \"alpha\", \"repeats_skipped\",\n"
    "   \"window\": {\"begin\", \"end\", \"scored\", \"green\", \"log10_p\", \"log10_p_corrected\", \"n_windows\"} | null,\n"
    "   \"trace\" (only with --trace)}\n"
    "  A record that cannot be scored gives {\"id\", \"line\", \"error\": \"<what is wrong>\"} instead.\n"
    "  With --corpus, a last line {\"corpus\": {documents, tokens, scored, green, gamma, z, log10_p, verdict,\n"
    "  marked_fraction, marked_green_rate, top_documents: [{index, id, scored, green, log10_p}]}}.\n"
    "  \"p\" may underflow to 0; \"log10_p\" is exact. --format auto prints a table when standard output\n"
    "  is a terminal, JSON Lines otherwise.\n"
    "\n"
    "Trace letters: G green, r red, = repeated tuple (skipped), . no context yet (skipped).\n"
    "\n"
    "Examples:\n"
    "  tracemark detect --key master.key --vocab-size 32000 tokens.jsonl > results.jsonl\n"
    "  tracemark detect --key master.key --vocab llama.gguf --split paragraph -j 2 book.txt\n"
    "  tracemark detect --key master.key --vocab qwen2.gguf --field output --prompt-field input --corpus in.jsonl\n"
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
}

// ---------------------------------------------------------------------------
// per-record work (runs on the worker threads)

// Everything a worker needs; immutable during the run.
struct run_context {
  const detector* det = nullptr;
  const text_tokenizer* tok = nullptr;
  int32_t vocab_size = 0;
  double alpha = 0.0;
  double log10_alpha = 0.0;
  bool trace = false;
  bool table = false;
  bool per_document = true;  // false with --corpus-only: no per-record statistics
  bool keep_tokens = false;  // --corpus: the sequential phase needs the tokens
  bool multi_file = false;
};

struct worker_scratch {
  token_record record;
  tuple_set seen{1024};
};

enum class outcome : uint8_t { not_watermarked, watermarked, error };

struct unit_result {
  std::string text;               // the output record(s), newline included; empty: none yet
  outcome kind = outcome::error;
  std::string error;              // text: tokenization failed
  std::vector<int32_t> tokens;    // prompt tokens, then the unit's tokens (when needed later)
  int64_t n_prompt = 0;
  nlohmann::json id;              // tokens mode: the parsed id (for the corpus)
};

outcome outcome_of(const record_result& r) {
  return !r.error.empty() ? outcome::error : r.watermarked ? outcome::watermarked : outcome::not_watermarked;
}

std::string render(const run_context& ctx, const record_result& r) {
  if (ctx.table) return table_row(r);
  std::string s = to_json_line(r, ctx.alpha, ctx.trace);
  s += '\n';
  return s;
}

void fill_statistics(const run_context& ctx, record_result& r) {
  r.watermarked = r.det.log10_p <= ctx.log10_alpha;
  if (ctx.trace) {
    r.trace.clear();
    r.trace.reserve(static_cast<size_t>(r.n_tokens));
    for (size_t i = static_cast<size_t>(r.n_prompt); i < r.det.trace.size(); ++i)
      r.trace.push_back(token_mark_letter(r.det.trace[i]));
  }
}

// Token-id JSON Lines: parse, validate and score one line.
void process_token_line(const run_context& ctx, const unit& u, const std::string& file, worker_scratch& w,
                        unit_result& out) {
  record_result r;
  r.line = u.line;
  r.file = file;
  out.tokens.clear();
  out.n_prompt = 0;
  out.id = nullptr;
  try {
    if (u.too_long) {
      r.error = "the line is longer than the limit of 256 MiB; skipped";
    } else {
      parse_token_record(u.text, ctx.vocab_size, w.record);
      r.id = w.record.id;
      r.error = w.record.error;
    }
    if (r.error.empty()) {
      const std::span<const int32_t> all(w.record.tokens);
      r.n_prompt = w.record.n_prompt;
      r.n_tokens = static_cast<int64_t>(all.size()) - r.n_prompt;
      if (ctx.per_document) {
        r.det = ctx.det->score(all, r.n_prompt, w.seen);
        fill_statistics(ctx, r);
      }
      if (ctx.keep_tokens) {
        out.tokens.assign(all.begin(), all.end());
        out.n_prompt = r.n_prompt;
        out.id = r.id;
      }
    }
  } catch (const std::exception& e) {  // out of memory on a huge line, ...
    r = record_result{};
    r.line = u.line;
    r.file = file;
    r.error = std::string("could not process this line: ") + e.what();
  }
  out.kind = outcome_of(r);
  out.text = ctx.per_document || out.kind == outcome::error ? render(ctx, r) : std::string();
}

// Text: tokenize one unit (one piece of a document); a document in one piece is also
// scored here, in parallel.
void process_text_unit(const run_context& ctx, const unit& u, const std::string& file, worker_scratch& w,
                       unit_result& out) {
  out.text.clear();
  out.error.clear();
  out.tokens.clear();
  out.n_prompt = 0;
  out.kind = outcome::error;
  if (!u.error.empty()) return;
  try {
    if (u.first_piece && u.has_prompt) {
      out.tokens = ctx.tok->tokenize(u.prompt);
      out.n_prompt = static_cast<int64_t>(out.tokens.size());
    }
    const std::vector<int32_t> t = ctx.tok->tokenize(u.text);
    out.tokens.insert(out.tokens.end(), t.begin(), t.end());
  } catch (const std::exception& e) {
    out.error = std::string("could not tokenize the document: ") + e.what();
    out.tokens.clear();
    return;
  }
  if (!(u.first_piece && u.last_piece) || !ctx.per_document) return;
  record_result r;
  r.id = u.id;
  r.line = u.line;
  r.file = file;
  r.bytes = static_cast<int64_t>(u.text.size());
  r.replaced = u.replaced;
  r.n_prompt = out.n_prompt;
  r.n_tokens = static_cast<int64_t>(out.tokens.size()) - out.n_prompt;
  try {
    r.det = ctx.det->score(out.tokens, out.n_prompt, w.seen);
    fill_statistics(ctx, r);
  } catch (const std::exception& e) {
    out.error = std::string("could not score the document: ") + e.what();
    return;
  }
  out.kind = outcome_of(r);
  out.text = render(ctx, r);
}

// Runs fn(i, worker) for i in [0, n) on up to n_threads threads; `order` (optional)
// lists the indices in the order to start them (largest first balances the load).
template <class Fn>
void parallel_for(size_t n_threads, size_t n, const std::vector<uint32_t>* order, Fn&& fn) {
  const size_t workers = std::min(n_threads, n);
  if (workers <= 1) {
    for (size_t k = 0; k < n; ++k) fn(order != nullptr ? (*order)[k] : k, size_t{0});
    return;
  }
  std::atomic<size_t> next{0};
  const auto work = [&](size_t w) {
    for (;;) {
      const size_t k = next.fetch_add(1, std::memory_order_relaxed);
      if (k >= n) break;
      fn(order != nullptr ? (*order)[k] : k, w);
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  try {
    for (size_t w = 1; w < workers; ++w) pool.emplace_back(work, w);
  } catch (const std::system_error&) {
    // The system refused another thread: the ones started (and this one) do the work.
  }
  work(0);
  for (std::thread& t : pool) t.join();
}

// ---------------------------------------------------------------------------
// output

// Output sink: a FILE* we own (-o) or stdout. Write failures become io_error.
class output {
 public:
  output(FILE* f, std::string name, bool owned) : f_(f), name_(std::move(name)), owned_(owned) {}
  ~output() {
    if (owned_ && f_ != nullptr) std::fclose(f_);
  }
  output(const output&) = delete;
  output& operator=(const output&) = delete;

  void write(const std::string& s) {
    if (std::fwrite(s.data(), 1, s.size(), f_) != s.size()) fail();
  }
  void flush() {
    if (std::fflush(f_) != 0) fail();
  }
  void close() {
    flush();
    if (owned_) {
      FILE* f = f_;
      f_ = nullptr;
      if (std::fclose(f) != 0) fail();
    }
  }

 private:
  [[noreturn]] void fail() { throw io_error("cannot write " + name_ + ": " + std::strerror(errno)); }
  FILE* f_;
  std::string name_;
  bool owned_;
};

// The corpus record: one JSON line, or a block of text for the table.
std::string corpus_record(const corpus_verdict& v, int64_t documents, int64_t errors, int64_t tokens,
                          const std::vector<int64_t>& entry_document, double alpha, bool table) {
  const bool marked = v.log10_p <= std::log10(alpha);
  if (table) {
    char buf[512];
    const double rate = v.n_scored > 0 ? 100.0 * static_cast<double>(v.n_green) / static_cast<double>(v.n_scored) : 0;
    std::snprintf(buf, sizeof buf,
                  "corpus: %lld documents (%lld errors not included), %lld tokens, %lld distinct tuples scored, "
                  "%.1f%% green (gamma %.3g), z %.2f, p %s: %s (alpha %g)\n",
                  static_cast<long long>(documents), static_cast<long long>(errors), static_cast<long long>(tokens),
                  static_cast<long long>(v.n_scored), rate, v.gamma, v.z, format_p_value(v.log10_p).c_str(),
                  marked ? "WATERMARKED" : "not watermarked", alpha);
    std::string s = buf;
    std::snprintf(buf, sizeof buf, "  estimated marked fraction %.1f%% of documents, green rate %.1f%% in them\n",
                  100.0 * v.marked_fraction, 100.0 * v.marked_green_rate);
    s += buf;
    if (!v.top_documents.empty()) {
      s += "  most evidence:";
      for (const document_contribution& c : v.top_documents) {
        const int64_t doc = c.index < static_cast<int64_t>(entry_document.size())
                                ? entry_document[static_cast<size_t>(c.index)]
                                : c.index;
        s += " #" + std::to_string(doc) + " " + c.id + " (" + format_p_value(c.log10_p) + ")";
      }
      s += "\n";
    }
    return s;
  }
  nlohmann::ordered_json j;
  j["documents"] = documents;
  j["errors"] = errors;
  j["tokens"] = tokens;
  j["scored"] = v.n_scored;
  j["green"] = v.n_green;
  j["gamma"] = v.gamma;
  j["z"] = finite_or_null(v.z);
  j["log10_p"] = finite_or_null(v.log10_p);
  j["p"] = finite_or_null(std::pow(10.0, v.log10_p));
  j["verdict"] = marked ? "watermarked" : "not_watermarked";
  j["alpha"] = alpha;
  j["marked_fraction"] = finite_or_null(v.marked_fraction);
  j["marked_green_rate"] = finite_or_null(v.marked_green_rate);
  nlohmann::ordered_json top = nlohmann::ordered_json::array();
  for (const document_contribution& c : v.top_documents) {
    nlohmann::ordered_json t;
    t["index"] = c.index < static_cast<int64_t>(entry_document.size()) ? entry_document[static_cast<size_t>(c.index)]
                                                                        : c.index;
    t["id"] = c.id;
    t["scored"] = c.n_scored;
    t["green"] = c.n_green;
    t["log10_p"] = finite_or_null(c.log10_p);
    top.push_back(std::move(t));
  }
  j["top_documents"] = std::move(top);
  nlohmann::ordered_json wrap;
  wrap["corpus"] = std::move(j);
  return wrap.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// Guesses the input format from the first bytes (see the footer).
input_format guess_format(std::string_view head, const std::string& field, bool field_given) {
  size_t i = 0;
  if (head.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
  while (i < head.size() && (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n')) ++i;
  if (i >= head.size() || head[i] != '{') return input_format::text;
  const size_t nl = head.find('\n', i);
  if (nl == std::string_view::npos) return input_format::jsonl;  // a first line longer than we peek
  nlohmann::json first;
  try {
    first = nlohmann::json::parse(head.substr(i, nl - i));
  } catch (const nlohmann::json::exception&) {
    return input_format::text;
  }
  if (!first.is_object()) return input_format::text;
  if (!field_given && first.contains("tokens") && !first.contains(field)) return input_format::tokens;
  return input_format::jsonl;
}

struct input_file {
  std::string path;  // "-": standard input
  std::string name;  // for messages
  std::string label; // for ids and the "file" field
};

int open_input(const input_file& in, std::string& error) {
  if (in.path == "-") return STDIN_FILENO;
  const int fd = ::open(in.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = "cannot open " + in.name + ": " + std::strerror(errno);
    return -1;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    error = "cannot read " + in.name + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  if (S_ISDIR(st.st_mode)) {
    error = "cannot read " + in.name + ": it is a directory";
    ::close(fd);
    return -1;
  }
  return fd;
}

int run_detect(detect_flags& f) {
  // 1. Flags (exit 2), before touching any file.
  validate(f);
  const bool text_capable = !f.vocab.empty();
  scheme_config config = f.scheme.to_config(text_capable ? 1 : 0);
  if (text_capable && f.scheme.vocab_size &&
      (*f.scheme.vocab_size <= 0 || *f.scheme.vocab_size > std::numeric_limits<int32_t>::max()))
    throw usage_error("--vocab-size: must be between 1 and " + std::to_string(std::numeric_limits<int32_t>::max()) +
                      " (got " + std::to_string(*f.scheme.vocab_size) + ")");

  // 2. The key (exit 3).
  const std::optional<key> master = load_key_or_report(f.key_path, "detect");
  if (!master) return exit_key;

  // 3. The vocabulary (exit 2, or 4 when the file cannot be read).
  std::unique_ptr<text_tokenizer> tok;
  if (text_capable) {
    try {
      tok = open_vocab(f.vocab);
    } catch (const vocab_error& e) {
      print_error("detect", e.message);
      return e.io ? exit_io : exit_usage;
    }
    if (f.scheme.vocab_size && *f.scheme.vocab_size != tok->n_vocab())
      throw usage_error("--vocab-size " + std::to_string(*f.scheme.vocab_size) + " differs from the vocabulary size " +
                        std::to_string(tok->n_vocab()) + " of --vocab " + f.vocab +
                        " (" + tok->describe() + "); omit --vocab-size, or use the vocabulary the text was marked with");
    config.vocab_size = tok->n_vocab();
  }
  std::optional<scheme> sch;
  try {
    sch.emplace(*master, config);
  } catch (const tracemark::error& e) {
    throw usage_error(e.what());
  }

  // 4. The inputs (exit 4): each must be openable now; they are read one after the other.
  std::vector<input_file> inputs;
  if (f.inputs.empty()) f.inputs.push_back("-");
  uint64_t total_bytes = 0;
  bool total_known = true;
  std::vector<std::pair<dev_t, ino_t>> input_ids;
  for (const std::string& p : f.inputs) {
    input_file in;
    in.path = p;
    in.name = p == "-" ? "standard input" : "input file " + p;
    in.label = p == "-" ? "stdin" : p;
    std::string error;
    const int fd = open_input(in, error);
    if (fd < 0) {
      print_error("detect", error);
      return exit_io;
    }
    struct stat st {};
    if (::fstat(fd, &st) == 0) {
      input_ids.emplace_back(st.st_dev, st.st_ino);
      if (S_ISREG(st.st_mode)) total_bytes += static_cast<uint64_t>(st.st_size);
      else total_known = false;
    }
    if (fd != STDIN_FILENO) ::close(fd);
    inputs.push_back(std::move(in));
  }

  // 5. The output (exit 4). Created only now, so an up-front error leaves no file behind.
  const bool to_stdout = f.output.empty() || f.output == "-";
  FILE* out_file = stdout;
  if (!to_stdout) {
    struct stat out_stat {};
    if (::stat(f.output.c_str(), &out_stat) == 0) {
      for (const auto& [dev, ino] : input_ids) {
        if (out_stat.st_dev == dev && out_stat.st_ino == ino) {
          print_error("detect", "refusing to write the output file " + f.output + " over the input");
          return exit_usage;
        }
      }
    }
    out_file = std::fopen(f.output.c_str(), "w");
    if (out_file == nullptr) {
      print_error("detect", "cannot open output file " + f.output + ": " + std::strerror(errno));
      return exit_io;
    }
  }
  output out(out_file, to_stdout ? std::string("standard output") : "output file " + f.output, !to_stdout);
  static std::vector<char> out_buffer(size_t{1} << 20);
  std::setvbuf(out_file, out_buffer.data(), _IOFBF, out_buffer.size());

  detect_options dopt;
  dopt.dedup = !f.no_dedup;
  dopt.keep_trace = f.trace;
  dopt.min_window = f.min_window;
  const detector det(*sch, dopt);

  run_context ctx;
  ctx.det = &det;
  ctx.tok = tok.get();
  ctx.vocab_size = config.vocab_size;
  ctx.alpha = f.alpha;
  ctx.log10_alpha = std::log10(f.alpha);
  ctx.trace = f.trace;
  ctx.table = f.format == "table" || (f.format == "auto" && to_stdout && ::isatty(STDOUT_FILENO) == 1);
  ctx.per_document = !f.corpus_only;
  ctx.keep_tokens = f.corpus;
  ctx.multi_file = inputs.size() > 1;

  size_t n_threads = static_cast<size_t>(f.threads);
  if (n_threads == 0) n_threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<worker_scratch> scratch(n_threads);

  reader_config base;
  base.field = f.field;
  base.prompt_field = f.prompt_field;
  base.split = f.split == "line" ? split_mode::line : f.split == "paragraph" ? split_mode::paragraph : split_mode::document;
  base.piece_bytes = static_cast<size_t>(f.chunk_size);
  base.replace_invalid_utf8 = f.invalid_utf8 == "replace";
  std::optional<input_format> format;
  if (!text_capable || f.input_format == "tokens") format = input_format::tokens;
  else if (f.input_format == "text") format = input_format::text;
  else if (f.input_format == "jsonl") format = input_format::jsonl;
  else if (f.split_opt->count() > 0) format = input_format::text;
  else if (f.field_opt->count() > 0 || f.prompt_field_opt->count() > 0) format = input_format::jsonl;

  const size_t batch_max_bytes =
      std::max(text_batch_min_bytes, 2 * n_threads * static_cast<size_t>(f.chunk_size));

  // Pending units of the current batch (buffers reused across batches).
  std::vector<unit> units;
  std::vector<uint32_t> unit_file;
  std::vector<unit_result> results;
  std::vector<uint32_t> order;
  size_t n_pending = 0, pending_bytes = 0;

  table_summary summary;
  progress_meter progress(!f.no_progress && ::isatty(STDERR_FILENO) == 1, total_known ? total_bytes : 0);
  uint64_t bytes_done = 0;

  // Corpus.
  const scheme& sref = *sch;
  corpus_options copt;
  copt.dedup = !f.no_dedup;
  copt.n_top_documents = static_cast<size_t>(f.top);
  std::optional<corpus_accumulator> corpus;
  if (f.corpus) corpus.emplace(sref, copt);
  std::vector<int64_t> entry_document;  // corpus entry -> document number
  int64_t corpus_documents = 0, corpus_errors = 0, corpus_tokens = 0;

  // The document being assembled from pieces (text input).
  struct document_state {
    bool failed = false, multi = false;
    std::string error;
    nlohmann::json id;
    std::string file;
    int64_t line = 0, bytes = 0, pieces = 0, replaced = 0, n_tokens = 0, n_prompt = 0, number = -1;
    std::vector<int32_t> context;  // the last h tokens so far (corpus pieces)
  } doc;
  int64_t next_document = 0;
  std::optional<stream_detector> piece_scorer;
  const size_t h = static_cast<size_t>(sref.context_width());

  std::string pending_out;
  const auto count = [&](outcome k) {
    summary.records += 1;
    switch (k) {
      case outcome::watermarked: ++summary.watermarked; break;
      case outcome::not_watermarked: ++summary.not_watermarked; break;
      case outcome::error: ++summary.errors; break;
    }
  };
  const auto emit_error = [&](const nlohmann::json& id, const std::string& file, int64_t line, const std::string& msg) {
    record_result r;
    r.id = id;
    r.file = file;
    r.line = line;
    r.error = msg;
    pending_out += render(ctx, r);
    count(outcome::error);
  };
  const auto corpus_add = [&](std::span<const int32_t> tokens, int64_t n_prompt, const nlohmann::json& id,
                              int64_t document) {
    corpus->add(tokens, n_prompt, display_id(id));
    entry_document.push_back(document);
  };

  // Sequential phase of a text unit, in input order.
  const auto finish_text_unit = [&](unit& u, unit_result& r, const std::string& file) {
    if (u.first_piece) {
      doc = document_state{};
      doc.id = u.id;
      doc.file = ctx.multi_file ? file : std::string();
      doc.line = u.line;
      doc.multi = !u.last_piece;
      doc.number = next_document++;
      if (doc.multi && ctx.per_document) {
        if (!piece_scorer) piece_scorer.emplace(sref, dopt);
        piece_scorer->reset();
      }
    }
    doc.bytes += static_cast<int64_t>(u.text.size());
    doc.replaced += u.replaced;
    doc.pieces += 1;
    if (!doc.failed && (!u.error.empty() || !r.error.empty())) {
      doc.failed = true;
      doc.error = !u.error.empty() ? u.error : r.error;
      if (doc.multi && doc.pieces > 1) doc.error += " (in piece " + std::to_string(doc.pieces) + ")";
    }
    if (!doc.failed) {
      const std::span<const int32_t> all(r.tokens);
      if (!doc.multi) {
        if (ctx.per_document) {
          pending_out += r.text;
          count(r.kind);
        }
        if (corpus) {
          corpus_add(all, r.n_prompt, doc.id, doc.number);
          corpus_tokens += static_cast<int64_t>(all.size()) - r.n_prompt;
        }
      } else {
        const auto prompt = all.first(static_cast<size_t>(r.n_prompt));
        const auto body = all.subspan(static_cast<size_t>(r.n_prompt));
        if (ctx.per_document) {
          piece_scorer->add_prompt(prompt);
          piece_scorer->add(body);
        }
        if (corpus) {
          // One corpus entry per document: later pieces extend it, with the previous h
          // tokens as context, so the corpus test counts exactly the whole document's tuples.
          if (doc.pieces == 1) {
            corpus_add(all, r.n_prompt, doc.id, doc.number);
          } else {
            std::vector<int32_t> with_context = doc.context;
            with_context.insert(with_context.end(), all.begin(), all.end());
            corpus->extend(with_context, static_cast<int64_t>(doc.context.size()) + r.n_prompt);
          }
          corpus_tokens += static_cast<int64_t>(body.size());
        }
        doc.context.insert(doc.context.end(), all.begin(), all.end());
        if (doc.context.size() > h) doc.context.erase(doc.context.begin(), doc.context.end() - static_cast<ptrdiff_t>(h));
        doc.n_tokens += static_cast<int64_t>(body.size());
        doc.n_prompt += r.n_prompt;
      }
    }
    if (!u.last_piece) return;
    if (doc.failed) {
      emit_error(doc.id, doc.file, doc.line, doc.error);
      ++corpus_errors;
      return;
    }
    ++corpus_documents;
    if (doc.multi && ctx.per_document) {
      record_result rec;
      rec.id = doc.id;
      rec.file = doc.file;
      rec.line = doc.line;
      rec.bytes = doc.bytes;
      rec.pieces = doc.pieces;
      rec.replaced = doc.replaced;
      rec.n_prompt = doc.n_prompt;
      rec.n_tokens = doc.n_tokens;
      rec.det = piece_scorer->finish();
      fill_statistics(ctx, rec);
      pending_out += render(ctx, rec);
      count(outcome_of(rec));
    }
  };

  input_format fmt = input_format::tokens;
  const auto dispatch = [&] {
    if (n_pending == 0) return;
    if (results.size() < n_pending) results.resize(n_pending);
    if (fmt == input_format::tokens) {
      parallel_for(n_threads, n_pending, nullptr, [&](size_t i, size_t w) {
        process_token_line(ctx, units[i], ctx.multi_file ? inputs[unit_file[i]].label : std::string(), scratch[w],
                           results[i]);
      });
    } else {
      order.resize(n_pending);
      std::iota(order.begin(), order.end(), 0u);
      std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
        return units[a].text.size() + units[a].prompt.size() > units[b].text.size() + units[b].prompt.size();
      });
      parallel_for(n_threads, n_pending, &order, [&](size_t i, size_t w) {
        process_text_unit(ctx, units[i], ctx.multi_file ? inputs[unit_file[i]].label : std::string(), scratch[w],
                          results[i]);
      });
    }
    pending_out.clear();
    for (size_t i = 0; i < n_pending; ++i) {
      unit& u = units[i];
      unit_result& r = results[i];
      bytes_done += u.input_bytes;
      if (fmt == input_format::tokens) {
        if (!r.text.empty()) {
          pending_out += r.text;
          count(r.kind);
        } else if (r.kind != outcome::error) {
          summary.records += 1;  // --corpus-only
        }
        const int64_t number = next_document++;
        if (r.kind == outcome::error) {
          ++corpus_errors;
        } else if (corpus) {
          corpus_add(r.tokens, r.n_prompt, r.id, number);
          corpus_tokens += static_cast<int64_t>(r.tokens.size()) - r.n_prompt;
          ++corpus_documents;
        }
      } else {
        finish_text_unit(u, r, inputs[unit_file[i]].label);
      }
      // Free large buffers: a slot that once held a huge record must not keep it.
      if (u.text.capacity() > keep_capacity) std::string().swap(u.text);
      if (u.prompt.capacity() > keep_capacity) std::string().swap(u.prompt);
      if (r.tokens.capacity() > keep_capacity) std::vector<int32_t>().swap(r.tokens);
      if (r.text.capacity() > keep_capacity) std::string().swap(r.text);
    }
    progress.clear();
    out.write(pending_out);
    out.flush();
    if (pending_out.capacity() > (size_t{4} << 20)) std::string().swap(pending_out);
    progress.update(next_document, bytes_done);
    n_pending = 0;
    pending_bytes = 0;
  };

  std::string read_error;  // reading failed: records so far are written, then exit 4
  try {
    if (ctx.table && ctx.per_document) out.write(table_header());
    for (size_t k = 0; k < inputs.size() && read_error.empty(); ++k) {
      const input_file& in = inputs[k];
      std::string open_error;
      const int fd = open_input(in, open_error);
      if (fd < 0) {
        read_error = open_error;
        break;
      }
      struct fd_closer {
        int fd;
        ~fd_closer() {
          if (fd != STDIN_FILENO) ::close(fd);
        }
      } guard{fd};
      fd_source src(fd, in.name);
      reader_config rc = base;
      rc.source_name = in.label;
      document_reader reader(src, rc);
      try {
        if (!format) format = guess_format(reader.peek(size_t{1} << 20), f.field, false);
      } catch (const input_error& e) {
        read_error = e.what();
        break;
      }
      fmt = *format;
      reader.mutable_config().mode = fmt == input_format::tokens  ? reader_mode::lines
                                     : fmt == input_format::jsonl ? reader_mode::jsonl_text
                                                                  : reader_mode::plain;
      const size_t max_bytes = fmt == input_format::tokens ? token_batch_max_bytes : batch_max_bytes;
      for (;;) {
        // Before a read that could wait (a pipe or terminal with nothing ready), finish and
        // flush what is pending, so interactive and streaming use sees results promptly.
        if (n_pending > 0 && (n_pending >= batch_max_units || pending_bytes >= max_bytes ||
                              (!reader.unit_ready() && src.would_block())))
          dispatch();
        if (units.size() <= n_pending) {
          units.emplace_back();
          unit_file.push_back(0);
        }
        try {
          if (!reader.next(units[n_pending])) break;
        } catch (const input_error& e) {
          read_error = e.what();
          break;
        }
        unit_file[n_pending] = static_cast<uint32_t>(k);
        pending_bytes += units[n_pending].text.size() + units[n_pending].prompt.size();
        ++n_pending;
      }
    }
    dispatch();
    progress.clear();
    if (ctx.table && ctx.per_document) out.write(table_footer(summary, f.alpha));
    if (corpus)
      out.write(corpus_record(corpus->verdict(), corpus_documents, corpus_errors, corpus_tokens, entry_document,
                              f.alpha, ctx.table));
    out.close();
  } catch (const io_error& e) {  // writing failed
    progress.clear();
    print_error("detect", e.what());
    return exit_io;
  }
  if (!read_error.empty()) {
    print_error("detect", read_error + " (after " + std::to_string(summary.records) + " records)");
    return exit_io;
  }
  return summary.errors > 0 || corpus_errors > 0 ? exit_record_error : exit_ok;
}

}  // namespace

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
  app->add_flag("--corpus", f->corpus,
                "After the records, one exact test over all documents together (tuples deduplicated across "
                "documents), with the estimated marked fraction and the documents with most evidence")
      ->group("Corpus");
  app->add_flag("--corpus-only", f->corpus_only, "Like --corpus, without the per-document records")->group("Corpus");
  app->add_option("--top", f->top, "How many documents with most evidence the corpus record lists")
      ->capture_default_str()
      ->type_name("N")
      ->group("Corpus");
  app->add_flag("--trace", f->trace, "Add a per-token trace string to each record")->group("Output");
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
  app->add_option("--threads,-j", f->threads,
                  "Worker threads (0: one per core); output order and content do not depend on it")
      ->capture_default_str()
      ->type_name("N")
      ->group("Output");
  app->add_flag("--no-progress", f->no_progress,
                "No progress line on standard error (shown only when standard error is a terminal)")
      ->group("Output");
  app->footer(std::string(detect_footer) + exit_codes_help);
  return {app, [f]() -> int { return run_detect(*f); }};
}

}  // namespace tracemark::cli
