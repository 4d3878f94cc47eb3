// The detection report (detect_report.h).
#include "detect/detect_report.h"

#include <cmath>
#include <cstdio>

#include "common/cli.h"
#include "common/output.h"
#include "common/records.h"

namespace tracemark::cli {
namespace {

std::string escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string p_text(double log10_p) {
  char buf[64];
  if (log10_p > -300) std::snprintf(buf, sizeof buf, "%.3g", std::pow(10.0, log10_p));
  else std::snprintf(buf, sizeof buf, "10^%.1f", log10_p);
  return buf;
}

const char* mark_class(token_mark m) {
  switch (m) {
    case token_mark::green: return "g";
    case token_mark::red: return "r";
    case token_mark::prompt: return "p";
    default: return "s";
  }
}

}  // namespace

void write_detect_report(const std::string& path, const std::vector<document_result>& docs, const detect_run& run) {
  std::string html =
      "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>tracemark detection report</title><style>"
      ".g{background:#a5d6a7}.r{background:#ef9a9a}.p{color:#777}.s{color:#999}.w{outline:2px solid #1565c0}"
      "</style></head><body><h1>tracemark detection report</h1>";
  for (const document_result& d : docs) {
    const bool marked = d.det.test.significant(run.params.alpha);
    html += "<h2>" + escape(display_id(d.id)) + ": " + (marked ? "watermarked" : "not watermarked") + "</h2>";
    html += "<p>p = " + p_text(d.det.test.log10_p) + " over " + std::to_string(d.det.test.stat.scored) + " scored tokens</p><p>";
    for (size_t i = 0; i < d.tokens.size() && i < d.det.trace.size(); ++i) {
      const bool in_window = d.det.window.found && static_cast<int64_t>(i) >= d.det.window.begin &&
                             static_cast<int64_t>(i) < d.det.window.end;
      const std::string text = run.tok ? run.tok->token_text(d.tokens[i]) : "[" + std::to_string(d.tokens[i]) + "]";
      html += std::string("<span class=\"") + mark_class(d.det.trace[i]) + (in_window ? " w" : "") + "\">" + escape(text) + "</span>";
    }
    html += "</p>";
  }
  html += "</body></html>\n";
  write_file(path, html);
}

}  // namespace tracemark::cli
