#include "detect/detect_units.h"

#include "detect/table.h"
#include "tracemark/evidence.h"

namespace tracemark::cli {

std::string render(const detect_run& run, const document_result& r) {
  if (run.table) return table_row(r, run.params.alpha);
  detection_record rec;
  rec.id_json = r.id.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  rec.file = r.file;
  rec.line = r.line;
  rec.error = r.error;
  rec.bytes = r.bytes;
  rec.pieces = r.pieces;
  rec.invalid_utf8_replaced = r.replaced;
  rec.n_prompt = r.n_prompt;
  rec.det = &r.det;
  rec.with_trace = run.flags->trace;
  rec.attribution = r.attribution ? &*r.attribution : nullptr;
  std::string s = detection_record_json(rec, run.params);
  s += '\n';
  return s;
}

void finish_document(const detect_run& run, std::span<const int32_t> tokens, document_result& r) {
  if (run.accounts) r.attribution = run.accounts->attribute(tokens, r.n_prompt, run.params.alpha, run.options);
}

namespace {

// The first --report-documents documents are kept whole for the report.
bool keep_for_report(const detect_run& run, int64_t document) {
  return !run.flags->report.empty() && document < run.flags->report_documents;
}

}  // namespace

void process_token_line(const detect_run& run, const unit& u, const std::string& file, worker_scratch& w,
                        unit_result& out) {
  document_result r;
  r.line = u.line;
  r.file = file;
  out.tokens.clear();
  out.n_prompt = 0;
  out.id = nullptr;
  out.kept.reset();
  try {
    if (u.too_long) {
      r.error = "the line is longer than the limit of 256 MiB; skipped";
    } else {
      parse_token_record(u.text, run.sch->config().vocab_size, w.record);
      r.id = w.record.id;
      r.error = w.record.error;
    }
    if (r.error.empty()) {
      const std::span<const int32_t> all(w.record.tokens);
      r.n_prompt = w.record.n_prompt;
      if (run.per_document || keep_for_report(run, u.document)) {
        r.det = run.det->score(all, r.n_prompt, w.seen);
        finish_document(run, all, r);
      }
      if (run.corpus || keep_for_report(run, u.document)) {
        out.tokens.assign(all.begin(), all.end());
        out.n_prompt = r.n_prompt;
        out.id = r.id;
      }
    }
  } catch (const std::exception& e) {  // out of memory on a huge line, ...
    r = document_result{};
    r.line = u.line;
    r.file = file;
    r.error = std::string("could not process this line: ") + e.what();
  }
  out.kind = r.kind(run.params.alpha);
  out.text = run.per_document || out.kind == outcome::error ? render(run, r) : std::string();
  if (keep_for_report(run, u.document) && out.kind != outcome::error) {
    r.tokens = w.record.tokens;
    out.kept = std::move(r);
  }
}

void process_text_unit(const detect_run& run, const unit& u, const std::string& file, worker_scratch& w,
                       unit_result& out) {
  out.text.clear();
  out.error.clear();
  out.tokens.clear();
  out.n_prompt = 0;
  out.kind = outcome::error;
  out.kept.reset();
  if (!u.error.empty()) return;
  try {
    if (u.first_piece) {
      tokenized_text t = tokenize_text(*run.tok, u.text, u.has_prompt ? std::string_view(u.prompt) : std::string_view());
      out.tokens = std::move(t.tokens);
      out.n_prompt = t.n_prompt;
    } else {
      out.tokens = tokenize_piece(*run.tok, u.text);
    }
  } catch (const std::exception& e) {
    out.error = std::string("could not tokenize the document: ") + e.what();
    out.tokens.clear();
    return;
  }
  const bool report = keep_for_report(run, u.document);
  if (!(u.first_piece && u.last_piece) || !(run.per_document || report)) return;
  document_result r;
  r.id = u.id;
  r.line = u.line;
  r.file = file;
  r.bytes = static_cast<int64_t>(u.text.size());
  r.replaced = u.replaced;
  r.n_prompt = out.n_prompt;
  try {
    r.det = run.det->score(out.tokens, out.n_prompt, w.seen);
    finish_document(run, out.tokens, r);
  } catch (const std::exception& e) {
    out.error = std::string("could not score the document: ") + e.what();
    return;
  }
  out.kind = r.kind(run.params.alpha);
  if (run.per_document) out.text = render(run, r);
  if (report) {
    r.tokens = out.tokens;
    out.kept = std::move(r);
  }
}

}  // namespace tracemark::cli
