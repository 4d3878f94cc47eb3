// tracemark detect: scores JSON Lines of token ids against a key, one result record
// per input line, in input order, on any number of threads.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <system_error>
#include <thread>
#include <vector>

#include "cli.h"
#include "jsonl.h"
#include "scheme_options.h"
#include "table.h"
#include "tracemark/detector.h"
#include "tracemark/error.h"
#include "tracemark/key.h"
#include "tracemark/scheme.h"
#include "tracemark/tuple_set.h"

namespace tracemark::cli {

namespace {

constexpr int64_t max_threads = 256;
constexpr size_t chunk_max_lines = 4096;
constexpr size_t chunk_max_bytes = size_t{64} << 20;

struct detect_flags {
  scheme_options scheme;
  std::string key_path;
  double alpha = 1e-6;
  bool no_dedup = false;
  int64_t min_window = 50;
  bool trace = false;
  int64_t threads = 1;
  std::string format = "auto";
  std::string output;        // empty or "-": standard output
  std::string input = "-";   // "-": standard input
};

const char* const detect_footer =
    "Input (JSON Lines, one record per line):\n"
    "  {\"id\": <any JSON scalar>, \"tokens\": [int, ...], \"prompt\": [int, ...]}\n"
    "  \"tokens\" is required and non-empty; \"id\" is echoed (null when absent); \"prompt\" is optional:\n"
    "  prompt tokens precede the tokens as context and are never scored. Token ids must be\n"
    "  integers in [0, V) for --vocab-size V.\n"
    "\n"
    "Output (JSON Lines): exactly one record per input line, in input order, whatever --threads:\n"
    "  {\"id\", \"line\", \"tokens\", \"prompt_tokens\", \"scored\", \"green\", \"gamma\", \"z\", \"log10_p\", \"p\",\n"
    "   \"verdict\": \"watermarked\" (p <= alpha) | \"not_watermarked\", \"alpha\", \"repeats_skipped\",\n"
    "   \"window\": {\"begin\", \"end\", \"scored\", \"green\", \"log10_p\", \"log10_p_corrected\", \"n_windows\"} | null,\n"
    "   \"trace\" (only with --trace)}\n"
    "  A line that cannot be scored gives {\"id\", \"line\", \"error\": \"<what is wrong>\"} instead.\n"
    "  \"p\" may underflow to 0; \"log10_p\" is exact. --format auto prints a table when standard output\n"
    "  is a terminal, JSON Lines otherwise.\n"
    "\n"
    "Trace letters: G green, r red, = repeated tuple (skipped), . no context yet (skipped).\n"
    "\n"
    "Examples:\n"
    "  tracemark detect --key master.key --vocab-size 32000 texts.jsonl > results.jsonl\n"
    "  tracemark detect --key master.key --vocab-size 128256 --scheme kgw-selfhash -H 4 --threads 4 -o out.jsonl in.jsonl\n"
    "\n";

std::string fmt_double(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

void validate(const detect_flags& f) {
  if (!(f.alpha > 0.0 && f.alpha < 1.0))
    throw usage_error("--alpha: the significance level must lie strictly between 0 and 1 (got " + fmt_double(f.alpha) + ")");
  if (f.min_window < 0)
    throw usage_error("--min-window: must be 0 (no windows) or a positive number of scored tokens (got " +
                      std::to_string(f.min_window) + ")");
  if (f.threads < 0 || f.threads > max_threads)
    throw usage_error("--threads: must be between 1 and " + std::to_string(max_threads) +
                      ", or 0 for one per core (got " + std::to_string(f.threads) + ")");
  if (f.key_path.empty()) throw usage_error("--key: the key file path is empty");
}

// Everything a worker needs; immutable during the run.
struct run_context {
  const detector* det = nullptr;
  int32_t vocab_size = 0;
  double alpha = 0.0;
  double log10_alpha = 0.0;
  bool trace = false;
  bool table = false;
};

// Per-thread scratch: the parsed record and the deduplication set are reused.
struct worker_scratch {
  token_record record;
  tuple_set seen{1024};
};

enum class outcome : uint8_t { not_watermarked, watermarked, error };

struct processed {
  std::string text;  // the output line(s), newline included
  outcome kind = outcome::error;
};

void process_line(const run_context& ctx, const std::string& line, bool too_long, int64_t line_no,
                  worker_scratch& w, processed& out) {
  record_result r;
  r.line = line_no;
  try {
    if (too_long) {
      r.error = "the line is longer than the limit of " +
                std::to_string(line_reader::default_max_line_bytes >> 20) + " MiB; skipped";
    } else {
      parse_token_record(line, ctx.vocab_size, w.record);
      r.id = w.record.id;
      r.error = w.record.error;
    }
    if (r.error.empty()) {
      const std::span<const int32_t> all(w.record.tokens);
      r.n_prompt = w.record.n_prompt;
      r.n_tokens = static_cast<int64_t>(all.size()) - r.n_prompt;
      r.det = ctx.det->score(all, r.n_prompt, w.seen);
      r.watermarked = r.det.log10_p <= ctx.log10_alpha;
      if (ctx.trace) {
        r.trace.reserve(static_cast<size_t>(r.n_tokens));
        for (size_t i = static_cast<size_t>(r.n_prompt); i < r.det.trace.size(); ++i)
          r.trace.push_back(token_mark_letter(r.det.trace[i]));
      }
    }
  } catch (const std::exception& e) {  // out of memory on a huge line, ...
    r = record_result{};
    r.line = line_no;
    r.error = std::string("could not process this line: ") + e.what();
  }
  out.kind = !r.error.empty() ? outcome::error : r.watermarked ? outcome::watermarked : outcome::not_watermarked;
  if (ctx.table) {
    out.text = table_row(r);
  } else {
    out.text = to_json_line(r, ctx.alpha, ctx.trace);
    out.text += '\n';
  }
}

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

// True when reading `fd` would wait for data (nothing buffered, nothing pending).
bool input_would_block(const line_reader& reader, int fd) {
  if (reader.line_ready()) return false;
  pollfd p{fd, POLLIN, 0};
  int rc;
  do {
    rc = ::poll(&p, 1, 0);
  } while (rc < 0 && errno == EINTR);
  return rc == 0;
}

int run_detect(const detect_flags& f) {
  // 1. Flags (exit 2), before touching any file.
  validate(f);
  const scheme_config config = f.scheme.to_config();

  // 2. The key (exit 3).
  std::optional<key> master;
  try {
    master.emplace(key::load(f.key_path));
  } catch (const tracemark::error& e) {
    print_error("detect", e.what());
    return exit_key;
  }
  std::optional<scheme> sch;
  try {
    sch.emplace(*master, config);
  } catch (const tracemark::error& e) {
    throw usage_error(e.what());
  }

  // 3. The input (exit 4).
  const bool from_stdin = f.input == "-";
  const std::string input_name = from_stdin ? "standard input" : "input file " + f.input;
  int in_fd = STDIN_FILENO;
  if (!from_stdin) {
    in_fd = ::open(f.input.c_str(), O_RDONLY | O_CLOEXEC);
    if (in_fd < 0) {
      print_error("detect", "cannot open " + input_name + ": " + std::strerror(errno));
      return exit_io;
    }
  }
  struct fd_closer {
    int fd;
    ~fd_closer() {
      if (fd != STDIN_FILENO) ::close(fd);
    }
  } in_guard{in_fd};
  struct stat in_stat {};
  if (::fstat(in_fd, &in_stat) != 0) {
    print_error("detect", "cannot read " + input_name + ": " + std::strerror(errno));
    return exit_io;
  }
  if (S_ISDIR(in_stat.st_mode)) {
    print_error("detect", "cannot read " + input_name + ": it is a directory");
    return exit_io;
  }

  // 4. The output (exit 4). Created only now, so an up-front error leaves no file behind.
  const bool to_stdout = f.output.empty() || f.output == "-";
  FILE* out_file = stdout;
  if (!to_stdout) {
    struct stat out_stat {};
    if (::stat(f.output.c_str(), &out_stat) == 0 && out_stat.st_dev == in_stat.st_dev &&
        out_stat.st_ino == in_stat.st_ino) {
      print_error("detect", "refusing to write the output file " + f.output + " over the input");
      return exit_usage;
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
  ctx.vocab_size = config.vocab_size;
  ctx.alpha = f.alpha;
  ctx.log10_alpha = std::log10(f.alpha);
  ctx.trace = f.trace;
  ctx.table = f.format == "table" || (f.format == "auto" && to_stdout && ::isatty(STDOUT_FILENO) == 1);

  size_t n_threads = static_cast<size_t>(f.threads);
  if (n_threads == 0) n_threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<worker_scratch> scratch(n_threads);

  line_reader reader(in_fd, input_name);
  std::vector<std::string> lines;  // pending lines; strings are reused across chunks
  std::vector<uint8_t> too_long;   // per pending line: longer than the reader's limit
  std::vector<processed> results;
  size_t n_pending = 0, pending_bytes = 0;
  int64_t next_line_no = 1;  // number of the first pending line
  table_summary summary;

  const auto dispatch = [&] {
    if (n_pending == 0) return;
    if (results.size() < n_pending) results.resize(n_pending);
    const size_t workers = std::min(n_threads, n_pending);
    if (workers <= 1) {
      for (size_t i = 0; i < n_pending; ++i)
        process_line(ctx, lines[i], too_long[i] != 0, next_line_no + static_cast<int64_t>(i), scratch[0], results[i]);
    } else {
      std::atomic<size_t> next{0};
      const auto work = [&](size_t w) {
        for (;;) {
          const size_t i = next.fetch_add(1, std::memory_order_relaxed);
          if (i >= n_pending) break;
          process_line(ctx, lines[i], too_long[i] != 0, next_line_no + static_cast<int64_t>(i), scratch[w], results[i]);
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
    for (size_t i = 0; i < n_pending; ++i) {
      out.write(results[i].text);
      summary.records += 1;
      switch (results[i].kind) {
        case outcome::watermarked: ++summary.watermarked; break;
        case outcome::not_watermarked: ++summary.not_watermarked; break;
        case outcome::error: ++summary.errors; break;
      }
    }
    out.flush();
    next_line_no += static_cast<int64_t>(n_pending);
    n_pending = 0;
    pending_bytes = 0;
  };

  std::string read_error;  // reading failed: records so far are written, then exit 4
  try {
    if (ctx.table) out.write(table_header());
    for (;;) {
      // Before a read that could wait (a pipe or terminal with nothing ready), finish and
      // flush what is pending, so interactive and streaming use sees results promptly.
      if (n_pending > 0 && (n_pending >= chunk_max_lines || pending_bytes >= chunk_max_bytes ||
                            input_would_block(reader, in_fd)))
        dispatch();
      if (lines.size() <= n_pending) {
        lines.emplace_back();
        too_long.push_back(0);
      }
      try {
        bool long_line = false;
        if (!reader.next(lines[n_pending], long_line)) break;
        too_long[n_pending] = long_line;
      } catch (const io_error& e) {
        read_error = e.what();
        break;
      }
      pending_bytes += lines[n_pending].size();
      ++n_pending;
    }
    dispatch();
    if (ctx.table) out.write(table_footer(summary, f.alpha));
    out.close();
  } catch (const io_error& e) {  // writing failed
    print_error("detect", e.what());
    return exit_io;
  }
  if (!read_error.empty()) {
    print_error("detect", read_error + " (after " + std::to_string(summary.records) + " records)");
    return exit_io;
  }
  return summary.errors > 0 ? exit_record_error : exit_ok;
}

}  // namespace

command add_detect_command(CLI::App& parent) {
  auto f = std::make_shared<detect_flags>();
  CLI::App* app = parent.add_subcommand(
      "detect", "Test JSON Lines of token ids for the watermark of a key; one result record per input line");
  app->add_option("input", f->input, "JSON Lines input file; '-' or absent: standard input")
      ->type_name("INPUT");
  app->add_option("--key,-k", f->key_path, "Master key file (from 'tracemark keygen'); must be mode 0600")
      ->required()
      ->type_name("FILE");
  f->scheme.add_to(*app, /*with_vocab=*/true);
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
  app->footer(std::string(detect_footer) + exit_codes_help);
  return {app, [f]() -> int { return run_detect(*f); }};
}

}  // namespace tracemark::cli
