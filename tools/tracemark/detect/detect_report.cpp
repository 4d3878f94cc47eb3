// The detection report (detect_report.h): the summary of the run; each document's section
// is in report_document.cpp, the pieces shared with the audit report in report/html_report.
#include "detect/detect_report.h"

#include <ctime>
#include <iomanip>
#include <map>
#include <sstream>

#include "common/output.h"
#include "common/records.h"
#include "detect/report_document.h"
#include "report/html_report.h"

namespace tracemark::cli {

namespace {

const char* const detect_css = R"(
.doc{margin-top:2.6em}.doc .verdict{padding:12px 18px;margin:12px 0}.doc .verdict .big{font-size:1.35em}
svg.bars{width:100%;height:auto;font-size:13px;fill:#333;margin:4px 0}
.win{border:2px solid #1565c0;border-radius:3px;padding:1px 0;-webkit-box-decoration-break:clone;
box-decoration-break:clone}
.winlabel{background:#1565c0;color:#fff;font-family:system-ui,sans-serif;font-size:11px;font-style:normal;
padding:0 4px;margin-right:3px;border-radius:2px}
table.overview th,table.accounts th{width:auto}tr.match td{font-weight:600}
.said-yes{color:#b71c1c;font-weight:600}.said-no{color:#455a64}.lead{font-size:1.1em}
)";

std::string tokenizer_html(const evidence_params& p) {
  if (!p.tokenizer) return "none: the input was token ids, shown as <code>[id]</code>";
  const tokenizer_identity& t = *p.tokenizer;
  return "<code>" + html_escape(t.name) + "</code> (" + html_escape(t.kind) + ", " + grouped(t.n_vocab) +
         " tokens, SHA-256 <code>" + html_escape(t.sha256.substr(0, 16)) + "&hellip;</code>)";
}

std::string accounts_html(const detect_run& run) {
  if (!run.accounts) return "not tested (no <code>--accounts</code>)";
  std::string s;
  for (const std::string& a : run.accounts->accounts()) {
    if (a.empty()) continue;  // the master sub-key, listed first by read_accounts_file
    s += (s.empty() ? "" : ", ") + ("<code>" + html_escape(a) + "</code>");
  }
  return s + " and the master key";
}

std::string how_to_read(const detect_run& run) {
  const evidence_params& p = run.params;
  std::string s =
      "<h2>How to read this</h2><p>When our service writes text, a secret key splits the vocabulary into "
      "&ldquo;green&rdquo; and &ldquo;red&rdquo; tokens at every step (the split depends on the " +
      std::to_string(p.scheme.context_width) +
      " token(s) before), and the model is nudged towards green ones. Text written without the key has about " +
      percent(p.null.p(), 0) +
      " green tokens, by chance. For each document we count its green tokens and compute the exact probability "
      "(the p-value) that text written without our key would be at least this green. A document is called "
      "watermarked when p is at most " +
      alpha_words(p.alpha) +
      ", a threshold fixed before the test. The same token after the same context is counted once, so repeated "
      "text cannot inflate the evidence, and a prompt is only context.";
  if (run.accounts)
    s += " Each API account has its own sub-key of the master key: every document is also tested under each "
         "one, and the account whose test is strongest is named when its p-value, multiplied by the number of "
         "sub-keys tried, is still below the threshold, so trying several accounts cannot create evidence by "
         "chance.";
  return s + "</p>\n";
}

// One sentence for the reader in a hurry: how many documents carry the watermark, and for
// which accounts.
std::string summary_sentence(const std::vector<document_verdict>& verdicts, const detect_run& run) {
  int64_t marked = 0;
  std::map<std::string, int64_t> per_account;
  for (const document_verdict& v : verdicts) {
    marked += v.watermarked;
    if (v.attributed) ++per_account[v.account];
  }
  std::string s = "<p class=\"lead\">" + grouped(marked) + " of the " +
                  grouped(static_cast<int64_t>(verdicts.size())) +
                  " documents shown carry the watermark of key <code>" + html_escape(run.params.key_fingerprint) +
                  "</code>";
  if (!per_account.empty()) {
    std::string list;
    for (const auto& [account, n] : per_account)
      list += (list.empty() ? "" : ", ") + account_html(account) + " (" + grouped(n) + ")";
    s += "; written for " + list;
  }
  return s + ".</p>\n";
}

std::string overview(const std::vector<document_result>& docs, const std::vector<document_verdict>& verdicts,
                     bool with_accounts) {
  std::string s = "<table class=\"overview\"><tr><th>#</th><th>document</th><th>verdict</th>";
  if (with_accounts) s += "<th>account</th>";
  s += "<th>p</th><th>by chance</th></tr>";
  for (size_t i = 0; i < docs.size(); ++i) {
    const document_verdict& v = verdicts[i];
    s += "<tr><td>" + std::to_string(i + 1) + "</td><td><code>" + html_escape(display_id(docs[i].id)) +
         "</code></td><td>" + (v.watermarked ? "<span class=\"said-yes\">watermarked</span>"
                                             : "<span class=\"said-no\">not watermarked</span>") +
         "</td>";
    if (with_accounts) s += "<td>" + (v.attributed ? account_html(v.account) : std::string("&ndash;")) + "</td>";
    s += "<td>" + p_html(v.log10_p) + "</td><td>" + odds_html(v.log10_p) + "</td></tr>";
  }
  return s + "</table>\n";
}

std::string settings(const detect_run& run) {
  const evidence_params& p = run.params;
  return "<h2>Settings of this test</h2><table>"
         "<tr><th>Key fingerprint</th><td><code>" +
         html_escape(p.key_fingerprint) +
         "</code></td></tr>"
         "<tr><th>Watermark scheme</th><td><code>" +
         html_escape(scheme_description(p.scheme)) + "</code></td></tr><tr><th>Tokenizer</th><td>" +
         tokenizer_html(p) + "</td></tr><tr><th>Threshold &alpha;</th><td>" + significant(p.alpha) +
         "</td></tr><tr><th>Repeated (context, token) pairs</th><td>" +
         (p.dedup ? "counted once" : "counted every time (<code>--no-dedup</code>: p-values are not valid on "
                                     "repetitive text)") +
         "</td></tr><tr><th>Smallest stretch searched</th><td>" +
         (p.min_window > 0 ? grouped(p.min_window) + " counted tokens" : std::string("none (windows off)")) +
         "</td></tr><tr><th>Accounts</th><td>" + accounts_html(run) + "</td></tr></table>\n";
}

}  // namespace

std::string render_detect_report(const std::vector<document_result>& docs, const detect_run& run,
                                 int64_t documents_read, std::string_view generated_at) {
  std::vector<document_verdict> verdicts;
  int64_t marked = 0, named = 0;
  for (const document_result& d : docs) {
    verdicts.push_back(verdict_of(d, run.params.alpha));
    marked += verdicts.back().watermarked;
    named += verdicts.back().attributed;
  }
  const int64_t shown = static_cast<int64_t>(docs.size());
  std::string h = page_begin("tracemark detection: " + std::to_string(marked) + " of " + std::to_string(shown) +
                                 " watermarked",
                             detect_css);
  h += "<h1>Watermark detection</h1><p class=\"sub\">" + grouped(documents_read) + " document" +
       (documents_read == 1 ? "" : "s") + " read";
  if (shown < documents_read) h += ", the first " + grouped(shown) + " shown";
  h += " &middot; " + html_escape(generated_at) + "</p>\n<div class=\"facts\">" +
       fact_box(grouped(shown), "documents in this report") +
       fact_box(grouped(marked), "watermarked (p &le; " + significant(run.params.alpha) + ")") +
       fact_box(grouped(shown - marked), "not watermarked");
  if (run.accounts) h += fact_box(grouped(named), "attributed to an account");
  h += "</div>\n";
  if (docs.empty())
    h += "<p class=\"warn\">No document could be scored, so there is nothing to show: see the error records of "
         "the output.</p>\n";
  else
    h += summary_sentence(verdicts, run) + overview(docs, verdicts, run.accounts.has_value());
  h += how_to_read(run) + settings(run);
  for (size_t i = 0; i < docs.size(); ++i) h += document_section(docs[i], verdicts[i], run, i + 1);
  h += page_end(
      "Produced by <code>tracemark detect --report</code>. The same numbers, for every document, are in its JSON "
      "records; the test is specified in docs/SPEC.md &sect;6.");
  return h;
}

void write_detect_report(const std::string& path, const std::vector<document_result>& docs, const detect_run& run,
                         int64_t documents_read) {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::ostringstream stamp;
  stamp << std::put_time(&utc, "%Y-%m-%d %H:%M UTC");
  write_file(path, render_detect_report(docs, run, documents_read, stamp.str()));
}

}  // namespace tracemark::cli
