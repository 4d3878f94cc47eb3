// Evidence files: a scored corpus (or shard of one) saved to disk with everything needed to
// merge it exactly with other shards: the sufficient statistics of every document, and the
// set of scored tuples (seed, token) with the document that scored each first and its
// score. Merging shards in corpus order gives exactly the corpus verdict of one pass over
// the whole corpus (docs/EVIDENCE.md "Evidence files", format below). No key is needed to
// merge: the files hold PRF inputs and scores, never the key.
//
// Thread safety: free functions on distinct files may run concurrently.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tracemark/corpus.h"
#include "tracemark/export.h"
#include "tracemark/scheme.h"
#include "tracemark/statistics.h"
#include "tracemark/tokenizer.h"

namespace tracemark {

// What identifies one test: shards merge only when they agree on all of it.
struct evidence_metadata {
  std::string key_fingerprint;                  // public fingerprint of the master key
  scheme_config scheme;                         // name, h, gamma, vocabulary, account
  std::string derivation_info;                  // §2 info string of the scheme's sub-keys
  null_distribution null = null_distribution::binomial(0.25);
  bool dedup = true;
  std::optional<tokenizer_identity> tokenizer;  // for text input; none for token ids
  size_t piece_bytes = default_piece_bytes;     // text input: where long documents were cut

  // The metadata of a scheme under a key.
  static evidence_metadata of(const tracemark::scheme& s, std::string key_fingerprint, bool dedup,
                              std::optional<tokenizer_identity> tokenizer, size_t piece_bytes = default_piece_bytes);
};

// A corpus read back from evidence files: its entries (documents) in corpus order.
struct corpus_evidence {
  evidence_metadata metadata;
  std::vector<corpus_entry> entries;
  std::vector<std::string> ids;
  int64_t n_errors = 0;
  int64_t n_documents_numbered = 0;  // documents numbered, scored or failed
  int64_t n_tuples = 0;              // distinct tuples (with dedup)
  int64_t n_shards = 1;
  bool continues_document = false;   // begins inside a document of an earlier shard

  corpus_verdict verdict(const corpus_options& options) const {
    return corpus_verdict_of(entries, ids, n_errors, metadata.null, options);
  }
};

// Writes `acc` to `path` (atomically: a temporary file renamed over it). The accumulator's
// deduplication set is sorted in place to write it, so no document can be added after this
// (errc::invalid_argument). errc::io when the file cannot be written.
TRACEMARK_EXPORT void save_evidence(corpus_accumulator& acc, const evidence_metadata& metadata,
                                    const std::string& path);

// Reads evidence files (shards in corpus order), checks each completely (format, checksums,
// order) and that all describe the same test, and merges them: a tuple scored in several
// shards counts once, for the first shard that has it. With `out_path`, also writes the
// merged evidence file there. Errors (error{invalid_argument}: not an evidence file, corrupt,
// truncated, or a shard that does not match the first; errc::io: unreadable) name the file.
// Memory: the entries of all shards and a read buffer per shard, not the tuples.
TRACEMARK_EXPORT corpus_evidence merge_evidence(std::span<const std::string> paths, const std::string& out_path = {});

}  // namespace tracemark
