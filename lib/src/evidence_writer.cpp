// The record writer (evidence.h). Field names and order are documented in
// docs/EVIDENCE.md and checked against data/evidence.schema.json by the tests; older
// fields never move, new ones are appended.
#include "tracemark/evidence.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "evidence_file.h"
#include "hex.h"
#include "scheme_impl.h"

namespace tracemark {
namespace {

using json = nlohmann::ordered_json;

// JSON has no NaN or infinity: such numbers are written as null.
json number(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }

bool is_green_list(const null_distribution& null) {
  return null.kind() == null_distribution::family::binomial && null.trials_per_tuple() == 1;
}

std::string dump(const json& j, int indent = -1) {
  // Ids, paths and accounts are bytes from outside: invalid UTF-8 becomes U+FFFD, never an exception.
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

json params_json(const evidence_params& p, bool windows = true) {
  json j;
  j["format"] = "tracemark-v1";
  j["key_fingerprint"] = p.key_fingerprint;
  j["scheme"] = p.scheme.name;
  j["family"] = p.family;
  j["context_width"] = p.scheme.context_width;
  j["gamma"] = p.scheme.gamma;
  if (p.green_threshold) {
    char t[17];
    std::snprintf(t, sizeof t, "%016llx", static_cast<unsigned long long>(*p.green_threshold));
    j["green_threshold"] = t;
  }
  j["vocab_size"] = p.scheme.vocab_size;
  j["account"] = p.scheme.account;  // invalid UTF-8 becomes U+FFFD here; account_hex is exact
  j["account_hex"] = detail::to_hex(reinterpret_cast<const uint8_t*>(p.scheme.account.data()), p.scheme.account.size());
  j["null"] = p.null.name();
  if (p.null.kind() == null_distribution::family::binomial) {
    j["null_p"] = p.null.p();
    j["trials_per_tuple"] = p.null.trials_per_tuple();
  }
  j["dedup"] = p.dedup;
  if (windows) j["min_window"] = p.min_window;
  j["alpha"] = p.alpha;
  if (p.tokenizer) {
    j["tokenizer"] = detail::tokenizer_json(*p.tokenizer);
    j["piece_bytes"] = p.piece_bytes;  // where long texts were cut (docs/SPEC.md §7)
  } else {
    j["tokenizer"] = nullptr;
  }
  return j;
}

// "scored", the score sum ("green" for green lists, else "score") and "gamma".
void put_sums(json& j, const test_statistic& s, const null_distribution& null, bool with_gamma) {
  j["scored"] = s.scored;
  if (is_green_list(null)) {
    j["green"] = static_cast<int64_t>(s.score);
    if (with_gamma) j["gamma"] = null.p();
  } else {
    j["score"] = number(s.score);
  }
}

void put_test(json& j, const test_result& t, const null_distribution& null) {
  put_sums(j, t.stat, null, true);
  j["z"] = number(t.z);
  j["log10_p"] = number(t.log10_p);
  j["p"] = number(std::pow(10.0, t.log10_p));
}

// The statistics fields of a detection, from "tokens" to "window" (positions relative to
// the tokens after the prompt).
void put_detection(json& j, const detection& d, int64_t n_prompt, const evidence_params& p) {
  j["tokens"] = d.n_tokens - n_prompt;
  j["prompt_tokens"] = n_prompt;
  put_test(j, d.test, p.null);
  j["verdict"] = d.test.significant(p.alpha) ? "watermarked" : "not_watermarked";
  j["alpha"] = p.alpha;
  j["repeats_skipped"] = d.n_repeat;
  if (d.window.found) {
    json w;
    w["begin"] = d.window.begin - n_prompt;
    w["end"] = d.window.end - n_prompt;
    put_sums(w, d.window.test.stat, p.null, false);
    w["log10_p"] = number(d.window.test.log10_p);
    w["log10_p_corrected"] = number(d.window.log10_p_corrected);
    w["n_windows"] = d.window.n_windows;
    j["window"] = std::move(w);
  } else {
    j["window"] = nullptr;
  }
}

json attribution_json(const attribution_result& a, double alpha) {
  json j;
  j["accounts_tried"] = a.n_tried();
  if (a.accounts.empty()) return j;
  const account_test& best = a.accounts[a.best];
  j["best"] = best.account;
  j["log10_p"] = number(best.det.test.log10_p);
  j["log10_p_corrected"] = number(a.log10_p_corrected);
  j["verdict"] = a.significant(alpha) ? "watermarked" : "not_watermarked";
  json matches = json::array();
  for (size_t i : a.matches)
    matches.push_back({{"account", a.accounts[i].account},
                       {"scored", a.accounts[i].det.test.stat.scored},
                       {"log10_p", number(a.accounts[i].det.test.log10_p)},
                       {"log10_p_corrected", number(a.corrected_log10_p(i))}});
  j["matches"] = std::move(matches);
  return j;
}

}  // namespace

evidence_params evidence_params::of(const tracemark::scheme& s, std::string key_fingerprint, double alpha, bool dedup,
                                    int64_t min_window, std::optional<tokenizer_identity> tokenizer) {
  evidence_params p;
  p.key_fingerprint = std::move(key_fingerprint);
  p.scheme = s.config();
  p.family = std::string(s.family());
  p.null = s.null();
  if (const auto* g = s.impl().green_list()) p.green_threshold = g->threshold;
  p.dedup = dedup;
  p.min_window = min_window;
  p.alpha = alpha;
  p.tokenizer = std::move(tokenizer);
  return p;
}

evidence_params evidence_params::of(const evidence_metadata& m, double alpha) {
  evidence_params p;
  p.key_fingerprint = m.key_fingerprint;
  p.scheme = m.scheme;
  const scheme_info* info = find_scheme(m.scheme.name);
  p.family = info ? std::string(info->family) : std::string();
  p.null = m.null;
  // Every registered family of format v1 is a green list: T follows from gamma (§4).
  if (info != nullptr && m.null.kind() == null_distribution::family::binomial)
    p.green_threshold = green_threshold_for(m.scheme.gamma);
  p.dedup = m.dedup;
  p.alpha = alpha;
  p.tokenizer = m.tokenizer;
  p.piece_bytes = m.piece_bytes;
  return p;
}

std::string detection_record_json(const detection_record& r, const evidence_params& p) {
  json j;
  j["id"] = json::parse(r.id_json);
  if (!r.file.empty()) j["file"] = r.file;
  j["line"] = r.line;
  if (!r.error.empty()) {
    j["error"] = r.error;
    return dump(j);
  }
  if (r.bytes >= 0) j["bytes"] = r.bytes;
  if (r.pieces > 1) j["pieces"] = r.pieces;
  if (r.invalid_utf8_replaced > 0) j["invalid_utf8_replaced"] = r.invalid_utf8_replaced;
  put_detection(j, *r.det, r.n_prompt, p);
  if (r.with_trace) {
    std::string letters;
    letters.reserve(r.det->trace.size());
    for (size_t i = static_cast<size_t>(r.n_prompt); i < r.det->trace.size(); ++i)
      letters.push_back(token_mark_letter(r.det->trace[i]));
    j["trace"] = std::move(letters);
  }
  if (r.attribution) j["attribution"] = attribution_json(*r.attribution, p.alpha);
  j["params"] = params_json(p);
  return dump(j);
}

std::string corpus_record_json(const corpus_verdict& v, const evidence_params& p, const attribution_result* attribution) {
  json j;
  j["documents"] = v.n_documents;
  j["errors"] = v.n_errors;
  j["tokens"] = v.n_tokens;
  put_test(j, v.test, p.null);
  j["verdict"] = v.test.significant(p.alpha) ? "watermarked" : "not_watermarked";
  j["alpha"] = p.alpha;
  j["marked_fraction"] = number(v.marked_fraction);
  j["marked_green_rate"] = number(v.marked_green_rate);
  json top = json::array();
  for (const document_contribution& c : v.top_documents) {
    json t;
    t["index"] = c.index;
    t["id"] = c.id;
    put_sums(t, c.test.stat, p.null, false);
    t["log10_p"] = number(c.test.log10_p);
    top.push_back(std::move(t));
  }
  j["top_documents"] = std::move(top);
  if (attribution) j["attribution"] = attribution_json(*attribution, p.alpha);
  j["params"] = params_json(p, false);
  json wrap;
  wrap["corpus"] = std::move(j);
  return dump(wrap);
}

std::string audit_record_json(const audit_evidence& e, const evidence_params& p, int indent) {
  json j;
  j["format"] = "tracemark-audit 1";
  j["mode"] = audit_mode_name(e.mode);
  j["suspect"] = e.suspect;
  j["key_fingerprint"] = e.key_fingerprint;
  j["scheme"] = {{"name", e.scheme.name},
                 {"context_width", e.scheme.context_width},
                 {"gamma", e.scheme.gamma},
                 {"vocab_size", e.scheme.vocab_size},
                 {"account", e.scheme.account},
                 {"description", scheme_description(e.scheme)}};
  // The green-mass statistic writes its sum as "score" (a probability mass, not a count),
  // its green share of the mass as "green_rate", and no interval.
  const bool by_mass = e.statistic == audit_statistic::green_mass;
  auto sums = [&](json& into, const test_statistic& stat, bool with_gamma) {
    if (!by_mass) return put_sums(into, stat, e.null, with_gamma);
    into["scored"] = stat.scored;
    into["score"] = number(stat.score);
    if (with_gamma) into["gamma"] = e.null.p();
  };
  sums(j, e.test.stat, true);
  if (by_mass)
    j["green_rate"] = number(e.green_mass.mass > 0 ? e.green_mass.green_mass / e.green_mass.mass : 0.0);
  else
    j["green_rate"] =
        number(e.test.stat.scored > 0 ? e.test.stat.score / static_cast<double>(e.test.stat.scored) : 0.0);
  j["confidence"] = number(e.confidence);
  j["ci_low"] = by_mass ? json(nullptr) : number(e.interval.low);
  j["ci_high"] = by_mass ? json(nullptr) : number(e.interval.high);
  j["z"] = number(e.test.z);
  j["log10_p"] = number(e.test.log10_p);
  j["p_value"] = number(std::pow(10.0, e.test.log10_p));
  j["alpha"] = number(e.alpha);
  j["verdict"] = e.detected() ? "radioactive" : "not_detected";
  j["detected"] = e.detected();
  j["filters"] = {{"no_context", e.filters.no_context},
                  {"not_first_occurrence", e.filters.not_first_occurrence},
                  {"prompt_context", e.filters.prompt_context},
                  {"not_in_index", e.filters.not_in_index},
                  {"dedup_repeats", e.filters.dedup_repeats}};
  j["index"] = e.index_path.empty() ? json(nullptr) : json{{"path", e.index_path}, {"contexts", e.index_contexts}};
  j["usage"] = {{"documents", e.usage.documents},   {"tokens", e.usage.tokens},
                {"positions", e.usage.positions},   {"queries", e.usage.queries},
                {"cache_hits", e.usage.cache_hits}, {"retries", e.usage.retries},
                {"completion_tokens", e.usage.completion_tokens}};
  json curve = json::array();
  for (const audit_curve_point& c : e.curve) {
    json point;
    sums(point, test_statistic{c.scored, c.score}, false);
    point["log10_p"] = number(c.log10_p);
    if (by_mass) point["mass"] = number(c.mass);
    curve.push_back(std::move(point));
  }
  j["curve"] = std::move(curve);
  json samples = json::array();
  for (const audit_sample& s : e.samples) {
    json one = {{"id", s.id}, {"n_prompt", s.n_prompt}, {"tokens", s.tokens}};
    if (!s.scored_tokens.empty()) one["scored_tokens"] = s.scored_tokens;
    std::string letters;
    letters.reserve(s.marks.size());
    for (audit_mark m : s.marks) letters += audit_mark_letter(m);
    one["marks"] = std::move(letters);
    samples.push_back(std::move(one));
  }
  j["samples"] = std::move(samples);
  j["params"] = params_json(p, false);
  j["statistic"] = audit_statistic_name(e.statistic);
  if (by_mass) {
    const green_mass_result& g = e.green_mass;
    j["green_mass"] = {{"top_logprobs", e.top_logprobs}, {"contexts", g.contexts},
                       {"terms", g.terms},               {"mass", number(g.mass)},
                       {"green_mass", number(g.green_mass)}, {"expected", number(g.expected)},
                       {"variance", number(g.variance)}, {"z", number(g.z)},
                       {"log10_p", number(g.log10_p)},   {"bound", "chernoff"},
                       {"lambda", number(g.lambda)}};
  } else {
    j["green_mass"] = nullptr;
  }
  return dump(j, indent);
}

std::string detection_response_json(const detection& d, int64_t n_prompt, const evidence_params& p,
                                    bool with_account) {
  json j;
  j["object"] = "tracemark.detection";
  j["key_fingerprint"] = p.key_fingerprint;
  if (with_account) j["account"] = p.scheme.account;
  j["scheme"] = scheme_description(p.scheme);
  put_detection(j, d, n_prompt, p);
  j["params"] = params_json(p);
  return dump(j);
}

std::string attribution_response_json(const attribution_result& a, int64_t n_tokens, int64_t n_prompt,
                                      const evidence_params& p) {
  json j;
  j["object"] = "tracemark.detection";
  j["key_fingerprint"] = p.key_fingerprint;
  j["scheme"] = scheme_description(p.scheme);
  j["tokens"] = n_tokens;
  j["prompt_tokens"] = n_prompt;
  json list = json::array();
  for (const account_test& t : a.accounts) {
    json one;
    one["account"] = t.account;
    put_detection(one, t.det, n_prompt, p);
    list.push_back(std::move(one));
  }
  j["accounts"] = std::move(list);
  json best;
  if (!a.accounts.empty()) {
    best["account"] = a.accounts[a.best].account;
    best["log10_p"] = number(a.accounts[a.best].det.test.log10_p);
  }
  best["log10_p_corrected"] = number(a.log10_p_corrected);
  best["accounts_tried"] = a.n_tried();
  best["verdict"] = a.significant(p.alpha) ? "watermarked" : "not_watermarked";
  best["alpha"] = p.alpha;
  json matches = json::array();
  for (size_t i : a.matches) matches.push_back(a.accounts[i].account);
  best["matches"] = std::move(matches);
  j["best"] = std::move(best);
  j["params"] = params_json(p);
  return dump(j);
}

}  // namespace tracemark
