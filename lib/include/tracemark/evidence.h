// The one writer of every record tracemark produces: per-document detection records,
// corpus records, audit records, attribution, and the server's detection responses. The
// CLI, the server, the C API and language bindings all call these, so a record means the
// same thing whichever door it came out of. Schema: docs/EVIDENCE.md and
// data/evidence.schema.json. Records are JSON with a fixed field order, numbers as their
// shortest round-trip decimal, invalid UTF-8 in ids replaced by U+FFFD.
//
// Thread safety: pure functions.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "tracemark/attribution.h"
#include "tracemark/audit.h"
#include "tracemark/corpus.h"
#include "tracemark/corpus_evidence.h"
#include "tracemark/detector.h"
#include "tracemark/export.h"
#include "tracemark/scheme.h"
#include "tracemark/tokenizer.h"

namespace tracemark {

// Everything a third party needs to re-run a test (docs/SPEC.md "What a re-run needs"),
// written as "params" in every record.
struct evidence_params {
  std::string key_fingerprint;
  scheme_config scheme;
  std::string family;
  null_distribution null = null_distribution::binomial(0.25);
  std::optional<uint64_t> green_threshold;  // T of green-list schemes
  bool dedup = true;
  int64_t min_window = 50;
  double alpha = 1e-6;
  std::optional<tokenizer_identity> tokenizer;  // text input; none for token ids
  size_t piece_bytes = default_piece_bytes;     // text input: the piece size of long documents

  static evidence_params of(const tracemark::scheme& s, std::string key_fingerprint, double alpha, bool dedup = true,
                            int64_t min_window = 50, std::optional<tokenizer_identity> tokenizer = std::nullopt);
  // The parameters of a corpus read back from evidence files (no key needed).
  static evidence_params of(const evidence_metadata& m, double alpha);
};

// One document's result, or an error in its place (detect's output lines).
struct detection_record {
  std::string id_json = "null";  // the document's id: a JSON scalar, as JSON text
  std::string file;              // written when not empty (several inputs)
  int64_t line = 0;              // 1-based input line or record number
  std::string error;             // not empty: an error record with this message
  int64_t bytes = -1;            // text input: the document's bytes; -1: not written
  int64_t pieces = 1;            // written when > 1
  int64_t invalid_utf8_replaced = 0;  // written when > 0
  int64_t n_prompt = 0;          // prompt tokens (det positions count them)
  const detection* det = nullptr;  // required unless error
  bool with_trace = false;
  const attribution_result* attribution = nullptr;  // written when set
};

TRACEMARK_EXPORT std::string detection_record_json(const detection_record& r, const evidence_params& p);

// The corpus record: {"corpus": {...}}, with per-account results when `attribution` is set.
TRACEMARK_EXPORT std::string corpus_record_json(const corpus_verdict& v, const evidence_params& p,
                                                const attribution_result* attribution = nullptr);

// The audit record (indent < 0: one line).
TRACEMARK_EXPORT std::string audit_record_json(const audit_evidence& e, const evidence_params& p, int indent = 2);

// The server's /v1/detect answer for one scheme: {"object": "tracemark.detection", ...}.
TRACEMARK_EXPORT std::string detection_response_json(const detection& d, int64_t n_prompt, const evidence_params& p,
                                                     bool with_account);
// The server's /v1/detect answer over accounts: every account's detection and the best one.
// `p` describes the master sub-key's scheme.
TRACEMARK_EXPORT std::string attribution_response_json(const attribution_result& a, int64_t n_tokens,
                                                       int64_t n_prompt, const evidence_params& p);

}  // namespace tracemark
