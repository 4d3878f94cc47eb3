// The pipeline of `tracemark detect`: reads units in batches, scores them on worker threads
// (detect_units.cpp), then, in input order, assembles documents read in pieces, feeds the
// corpus test, and writes one record per document; at the end the corpus record, the
// evidence file, the report and the signature.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <numeric>
#include <optional>
#include <system_error>
#include <thread>

#include "common/cli.h"
#include "common/output.h"
#include "common/progress.h"
#include "common/sign_output.h"
#include "detect/detect_report.h"
#include "detect/detect_run.h"
#include "detect/detect_units.h"
#include "detect/table.h"
#include "tracemark/corpus_evidence.h"
#include "tracemark/error.h"
#include "tracemark/stream_detector.h"

namespace tracemark::cli {

int open_detect_input(const input_file& in, std::string& error);  // cmd_detect.cpp

namespace {

constexpr size_t batch_max_units = 4096;
constexpr size_t token_batch_max_bytes = size_t{64} << 20;
constexpr size_t text_batch_min_bytes = size_t{16} << 20;
constexpr size_t keep_capacity = size_t{1} << 16;  // larger buffers are freed after each batch

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

// Guesses the input format from the first bytes (see the --help footer). Input whose
// first non-blank byte is '{' is JSON Lines when any of its first lines (within `head`) is
// a JSON object: a bad line is then one error record, never a reason to read the whole
// file as text. When none is, the input cannot be told apart: input_error asks for
// --input-format instead of guessing.
constexpr size_t guess_max_lines = 64;

// `whole`: `head` is all of the input (its last line may lack a newline).
input_format guess_format(std::string_view head, const std::string& field, bool whole) {
  size_t i = 0;
  if (head.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
  while (i < head.size() && (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n')) ++i;
  if (i >= head.size() || head[i] != '{') return input_format::text;
  size_t tried = 0;
  for (size_t begin = i; begin < head.size() && tried < guess_max_lines;) {
    size_t nl = head.find('\n', begin);
    if (nl == std::string_view::npos) {
      if (whole) nl = head.size();
      else if (tried == 0) return input_format::jsonl;  // a first line longer than we peek
      else break;  // a line cut by the peek: not evidence either way
    }
    const std::string_view line = head.substr(begin, nl - begin);
    begin = nl + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    ++tried;
    const nlohmann::json first = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!first.is_object()) continue;
    if (first.contains("tokens") && !first.contains(field)) return input_format::tokens;
    return input_format::jsonl;
  }
  throw input_error(std::string("cannot tell the input format: it starts with '{' but ") +
                    (tried == 1 ? std::string("its first line is not") :
                                  "none of its first " + std::to_string(tried) + " lines is") +
                    " a JSON object; give --input-format text (plain text) or --input-format jsonl "
                    "(JSON Lines, a bad line becoming an error record)");
}

// The documents of a run in input order: records, the corpus, the report.
class document_sink {
 public:
  document_sink(const detect_run& run, output& out) : run_(run), out_(out) {
    if (run.corpus) corpus_.emplace(*run.sch, corpus_options{run.options.dedup, static_cast<size_t>(run.flags->top)});
    if (run.corpus && run.accounts) corpus_accounts_.emplace(*run.accounts, corpus_options{run.options.dedup, 0});
  }

  // A token-id line, scored by a worker.
  void token_unit(unit_result& r) {
    const int64_t number = next_document_++;
    if (!r.text.empty()) {
      pending_ += r.text;
      count(r.kind);
    } else if (r.kind != outcome::error) {
      summary_.records += 1;  // --corpus-only
    }
    if (r.kind == outcome::error) {
      corpus_error();
    } else if (corpus_) {
      corpus_add(r.tokens, r.n_prompt, display_id(r.id));
    }
    keep(r, number);
  }

  // A text unit (a document, or a piece of one), tokenized (and maybe scored) by a worker.
  void text_unit(const unit& u, unit_result& r, const std::string& file);

  std::string& pending() { return pending_; }
  const table_summary& summary() const { return summary_; }
  int64_t documents() const { return next_document_; }
  bool any_error() const { return summary_.errors > 0 || corpus_errors_ > 0; }

  // The corpus record, the evidence file; then the report.
  void finish();
  std::vector<document_result>& kept() { return kept_; }

 private:
  void count(outcome k) {
    summary_.records += 1;
    switch (k) {
      case outcome::watermarked: ++summary_.watermarked; break;
      case outcome::not_watermarked: ++summary_.not_watermarked; break;
      case outcome::error: ++summary_.errors; break;
    }
  }
  void emit_error(const nlohmann::json& id, const std::string& file, int64_t line, const std::string& msg) {
    document_result r;
    r.id = id;
    r.file = file;
    r.line = line;
    r.error = msg;
    pending_ += render(run_, r);
    count(outcome::error);
  }
  void corpus_add(std::span<const int32_t> tokens, int64_t n_prompt, const std::string& id) {
    corpus_->add(tokens, n_prompt, id);
    if (corpus_accounts_) corpus_accounts_->add(tokens, n_prompt, id);
  }
  void corpus_error() {
    ++corpus_errors_;
    if (corpus_) corpus_->add_error();
    if (corpus_accounts_) corpus_accounts_->add_error();
  }
  void keep(unit_result& r, int64_t number) {
    if (r.kept && number < run_.flags->report_documents) kept_.push_back(std::move(*r.kept));
  }

  const detect_run& run_;
  output& out_;
  std::string pending_;
  table_summary summary_;
  int64_t next_document_ = 0, corpus_errors_ = 0;
  std::optional<corpus_accumulator> corpus_;
  std::optional<corpus_attribution> corpus_accounts_;
  std::vector<document_result> kept_;

  // The document being assembled from pieces (text input).
  struct document_state {
    bool failed = false, multi = false;
    std::string error;
    document_result result;
    int64_t number = -1;
    std::vector<int32_t> context;  // the last h tokens so far
    std::optional<stream_detector> scorer;
    std::vector<stream_detector> account_scorers;  // --accounts: one per account
  } doc_;
};

void document_sink::text_unit(const unit& u, unit_result& r, const std::string& file) {
  const size_t h = static_cast<size_t>(run_.sch->context_width());
  if (u.first_piece) {
    doc_.failed = false;
    doc_.error.clear();
    doc_.result = document_result{};
    doc_.result.id = u.id;
    doc_.result.file = run_.multi_file ? file : std::string();
    doc_.result.line = u.line;
    doc_.result.bytes = 0;
    doc_.result.pieces = 0;
    doc_.multi = !u.last_piece;
    doc_.number = next_document_++;
    doc_.context.clear();
    if (doc_.multi && run_.per_document) {
      if (!doc_.scorer) doc_.scorer.emplace(*run_.sch, run_.options);
      doc_.scorer->reset();
      doc_.account_scorers.clear();
      if (run_.accounts)
        for (const scheme& s : run_.accounts->schemes()) doc_.account_scorers.emplace_back(s, run_.options);
    }
  }
  document_result& d = doc_.result;
  d.bytes += static_cast<int64_t>(u.text.size());
  d.replaced += u.replaced;
  d.pieces += 1;
  if (!doc_.failed && (!u.error.empty() || !r.error.empty())) {
    doc_.failed = true;
    doc_.error = !u.error.empty() ? u.error : r.error;
    if (doc_.multi && d.pieces > 1) doc_.error += " (in piece " + std::to_string(d.pieces) + ")";
  }
  if (!doc_.failed) {
    const std::span<const int32_t> all(r.tokens);
    if (!doc_.multi) {
      if (run_.per_document) {
        pending_ += r.text;
        count(r.kind);
      }
      if (corpus_) corpus_add(all, r.n_prompt, display_id(d.id));
      keep(r, doc_.number);
    } else {
      const auto prompt = all.first(static_cast<size_t>(r.n_prompt));
      const auto body = all.subspan(static_cast<size_t>(r.n_prompt));
      if (run_.per_document) {
        doc_.scorer->add_prompt(prompt);
        doc_.scorer->add(body);
        for (stream_detector& s : doc_.account_scorers) {
          s.add_prompt(prompt);
          s.add(body);
        }
      }
      if (corpus_) {
        // One corpus entry per document: later pieces extend it, with the previous h
        // tokens as context, so the corpus test counts exactly the whole document's tuples.
        if (d.pieces == 1) {
          corpus_add(all, r.n_prompt, display_id(d.id));
        } else {
          std::vector<int32_t> with_context = doc_.context;
          with_context.insert(with_context.end(), all.begin(), all.end());
          const int64_t n_context = static_cast<int64_t>(doc_.context.size()) + r.n_prompt;
          corpus_->extend(with_context, n_context);
          if (corpus_accounts_) corpus_accounts_->extend(with_context, n_context);
        }
      }
      doc_.context.insert(doc_.context.end(), all.begin(), all.end());
      if (doc_.context.size() > h) doc_.context.erase(doc_.context.begin(), doc_.context.end() - static_cast<ptrdiff_t>(h));
      d.n_prompt += r.n_prompt;
    }
  }
  if (!u.last_piece) return;
  if (doc_.failed) {
    emit_error(d.id, d.file, d.line, doc_.error);
    corpus_error();
    return;
  }
  if (doc_.multi && run_.per_document) {
    d.det = doc_.scorer->finish();
    if (run_.accounts) {
      std::vector<account_test> tests;
      for (size_t i = 0; i < doc_.account_scorers.size(); ++i)
        tests.push_back({run_.accounts->accounts()[i], doc_.account_scorers[i].finish()});
      d.attribution = run_.accounts->combine(std::move(tests), run_.params.alpha);
    }
    pending_ += render(run_, d);
    count(d.kind(run_.params.alpha));
  }
}

void document_sink::finish() {
  if (!corpus_) return;
  const std::optional<attribution_result> attribution =
      corpus_accounts_ ? std::optional<attribution_result>(corpus_accounts_->result(run_.params.alpha)) : std::nullopt;
  if (run_.flags->corpus) {
    const corpus_verdict v = corpus_->verdict();
    if (run_.table) {
      out_.write(corpus_table(v, run_.params.alpha, attribution ? &*attribution : nullptr));
    } else {
      out_.write(corpus_record_json(v, run_.params, attribution ? &*attribution : nullptr) + "\n");
    }
  }
  if (!run_.flags->save_evidence.empty()) {
    try {
      save_evidence(*corpus_,
                    evidence_metadata::of(*run_.sch, run_.params.key_fingerprint, run_.options.dedup,
                                          run_.params.tokenizer, run_.params.piece_bytes),
                    run_.flags->save_evidence);
    } catch (const tracemark::error& e) {
      throw io_error(std::string("--save-evidence: ") + e.what());
    }
  }
}

}  // namespace

int run_detect_pipeline(const detect_run& run) {
  const detect_flags& f = *run.flags;
  output out(f.output);
  std::vector<worker_scratch> scratch(run.n_threads);
  progress_meter progress(!f.no_progress && ::isatty(STDERR_FILENO) == 1, run.total_bytes);
  uint64_t bytes_done = 0;
  document_sink sink(run, out);

  const size_t batch_max_bytes = std::max(text_batch_min_bytes, 2 * run.n_threads * static_cast<size_t>(f.chunk_size));
  // Pending units of the current batch (buffers reused across batches).
  std::vector<unit> units;
  std::vector<uint32_t> unit_file;
  std::vector<unit_result> results;
  std::vector<uint32_t> order;
  size_t n_pending = 0, pending_bytes = 0;
  std::optional<input_format> format = run.format;
  input_format fmt = input_format::tokens;
  const auto label = [&](size_t i) { return run.multi_file ? run.inputs[unit_file[i]].label : std::string(); };

  const auto dispatch = [&] {
    if (n_pending == 0) return;
    if (results.size() < n_pending) results.resize(n_pending);
    if (fmt == input_format::tokens) {
      parallel_for(run.n_threads, n_pending, nullptr,
                   [&](size_t i, size_t w) { process_token_line(run, units[i], label(i), scratch[w], results[i]); });
    } else {
      order.resize(n_pending);
      std::iota(order.begin(), order.end(), 0u);
      std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
        return units[a].text.size() + units[a].prompt.size() > units[b].text.size() + units[b].prompt.size();
      });
      parallel_for(run.n_threads, n_pending, &order,
                   [&](size_t i, size_t w) { process_text_unit(run, units[i], label(i), scratch[w], results[i]); });
    }
    sink.pending().clear();
    for (size_t i = 0; i < n_pending; ++i) {
      unit& u = units[i];
      unit_result& r = results[i];
      bytes_done += u.input_bytes;
      if (fmt == input_format::tokens) sink.token_unit(r);
      else sink.text_unit(u, r, run.inputs[unit_file[i]].label);
      // Free large buffers: a slot that once held a huge record must not keep it.
      if (u.text.capacity() > keep_capacity) std::string().swap(u.text);
      if (u.prompt.capacity() > keep_capacity) std::string().swap(u.prompt);
      if (r.tokens.capacity() > keep_capacity) std::vector<int32_t>().swap(r.tokens);
      if (r.text.capacity() > keep_capacity) std::string().swap(r.text);
    }
    progress.clear();
    out.write(sink.pending());
    out.flush();
    if (sink.pending().capacity() > (size_t{4} << 20)) std::string().swap(sink.pending());
    progress.update(sink.documents(), bytes_done);
    n_pending = 0;
    pending_bytes = 0;
  };

  std::string read_error;  // reading failed: records so far are written, then exit 4
  if (run.table && run.per_document) out.write(table_header());
  for (size_t k = 0; k < run.inputs.size() && read_error.empty(); ++k) {
    const input_file& in = run.inputs[k];
    const int fd = open_detect_input(in, read_error);
    if (fd < 0) break;
    struct fd_closer {
      int fd;
      ~fd_closer() {
        if (fd != STDIN_FILENO) ::close(fd);
      }
    } guard{fd};
    fd_source src(fd, in.name);
    reader_config rc = run.reader;
    rc.source_name = in.label;
    document_reader reader(src, rc);
    if (!format) {
      constexpr size_t peek_bytes = size_t{1} << 20;
      std::string_view head;
      try {
        head = reader.peek(peek_bytes, guess_max_lines);
      } catch (const input_error& e) {
        read_error = e.what();
        break;
      }
      try {
        format = guess_format(head, f.field, reader.peeked_all() && head.size() < peek_bytes);
      } catch (const input_error& e) {
        read_error = in.name + ": " + e.what();
        break;
      }
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
  if (run.table && run.per_document) out.write(table_footer(sink.summary(), f.alpha));
  sink.finish();
  out.close();
  if (!f.report.empty())
    write_detect_report(f.report, sink.kept(), run, sink.documents());
  if (!read_error.empty())
    throw io_error(read_error + " (after " + std::to_string(sink.summary().records) + " records)");
  if (run.signer) sign_record_file(f.output, *run.signer);
  return sink.any_error() ? exit_record_error : exit_ok;
}

}  // namespace tracemark::cli
