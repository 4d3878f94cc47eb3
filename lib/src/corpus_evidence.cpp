// Evidence files: saving a corpus accumulator and merging shards (corpus_evidence.h; the
// layout is in evidence_file.h).
#include "tracemark/corpus_evidence.h"

#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <queue>
#include <utility>
#include <vector>

#include "evidence_file.h"
#include "hex.h"
#include "scheme_impl.h"
#include "tuple_owner_table.h"

namespace tracemark {

using nlohmann::ordered_json;

namespace {

using detail::evidence_reader;
using detail::evidence_writer;

// Why two shards' metadata differ, or "" when they agree.
std::string mismatch(const evidence_metadata& a, const evidence_metadata& b) {
  if (a.key_fingerprint != b.key_fingerprint) return "key " + b.key_fingerprint + " instead of " + a.key_fingerprint;
  if (a.derivation_info != b.derivation_info || a.scheme.name != b.scheme.name)
    return "scheme " + scheme_description(b.scheme) + " instead of " + scheme_description(a.scheme);
  if (!(a.null == b.null)) return "another null distribution";
  if (a.dedup != b.dedup) return std::string("deduplication ") + (b.dedup ? "on" : "off") + " instead of " + (a.dedup ? "on" : "off");
  if (a.tokenizer != b.tokenizer) {
    auto name = [](const std::optional<tokenizer_identity>& t) {
      return t ? t->name + " (sha256 " + t->sha256.substr(0, 16) + "...)" : std::string("token ids (no tokenizer)");
    };
    return "tokenizer " + name(b.tokenizer) + " instead of " + name(a.tokenizer);
  }
  if (a.tokenizer && a.piece_bytes != b.piece_bytes)
    return "long documents cut into pieces of " + std::to_string(b.piece_bytes) + " bytes instead of " +
           std::to_string(a.piece_bytes) + " (--chunk-size)";
  return {};
}

// A random identity for a new shard: merging refuses a shard twice.
std::string new_shard_id() {
  uint8_t b[16];
  if (RAND_bytes(b, sizeof b) != 1) throw error(errc::crypto, "OpenSSL: RAND_bytes failed");
  return detail::to_hex(b, sizeof b);
}

ordered_json file_header(const evidence_metadata& m, int64_t documents, int64_t errors,
                         const std::vector<std::string>& shard_ids, bool continues) {
  ordered_json h;
  h["format"] = "tracemark-evidence";
  h["version"] = 1;
  h["writer"] = "tracemark " TRACEMARK_VERSION_STRING;
  const ordered_json meta = detail::metadata_json(m);
  for (const auto& [k, v] : meta.items()) h[k] = v;
  h["score_encoding"] = detail::green_bit_encoding(m.null) ? "green-bit" : "f64";
  h["documents"] = documents;
  h["errors"] = errors;
  h["shard_ids"] = shard_ids;
  h["continues_document"] = continues;
  return h;
}

// The header fields and entries that merging relies on, checked: a file with valid
// checksums can still have been made by another program, and a malformed one must be
// refused as corrupt (naming it), not throw a JSON exception or number documents wrongly.
struct shard_counts {
  int64_t documents = 0, errors = 0;
  bool continues = false;
};
shard_counts checked_counts(evidence_reader& s) {
  const nlohmann::json& h = s.header();
  shard_counts c;
  for (const auto& [name, out] : {std::pair<const char*, int64_t*>{"documents", &c.documents}, {"errors", &c.errors}}) {
    const auto it = h.find(name);
    if (it == h.end() || !it->is_number_integer() || it->get<int64_t>() < 0)
      detail::evidence_corrupt(s.path(), std::string("its header has no valid \"") + name + "\" count");
    *out = it->get<int64_t>();
  }
  const auto it = h.find("continues_document");
  if (it == h.end() || !it->is_boolean()) detail::evidence_corrupt(s.path(), "its header has no valid \"continues_document\"");
  c.continues = it->get<bool>();
  const auto ids = h.find("shard_ids");
  if (ids == h.end() || !ids->is_array() || ids->empty()) detail::evidence_corrupt(s.path(), "its header has no list of shard ids");
  // Documents are numbered in order, failed ones included: every entry but a leading
  // continuation (-1) has a number below `documents`, increasing, and the numbered entries
  // and the errors account for all of them.
  const std::vector<corpus_entry>& entries = s.entries();
  int64_t numbered = 0, last = -1;
  bool ok = !c.continues || (!entries.empty() && entries.front().document == -1);
  for (size_t j = c.continues ? 1 : 0; ok && j < entries.size(); ++j) {
    const corpus_entry& e = entries[j];
    ok = e.document > last && e.document < c.documents && e.n_tokens >= 0 && e.stat.scored >= 0;
    last = e.document;
    ++numbered;
  }
  if (!ok || numbered + c.errors != c.documents)
    detail::evidence_corrupt(s.path(), "its document numbers do not fit its counts of documents and errors");
  return c;
}

}  // namespace

evidence_metadata evidence_metadata::of(const tracemark::scheme& s, std::string key_fingerprint, bool dedup,
                                        std::optional<tokenizer_identity> tokenizer, size_t piece_bytes) {
  evidence_metadata m;
  m.key_fingerprint = std::move(key_fingerprint);
  m.scheme = s.config();
  m.derivation_info = s.derivation_info();
  m.null = s.null();
  m.dedup = dedup;
  m.tokenizer = std::move(tokenizer);
  m.piece_bytes = piece_bytes;
  return m;
}

void save_evidence(corpus_accumulator& acc, const evidence_metadata& metadata, const std::string& path) {
  if (metadata.derivation_info != acc.get_scheme().derivation_info() || !(metadata.null == acc.get_scheme().null()) ||
      metadata.dedup != acc.options().dedup)
    throw error(errc::invalid_argument, "save_evidence: the metadata does not describe this accumulator");
  evidence_writer w(path,
                    file_header(metadata, acc.n_documents_numbered(), acc.n_errors(), {new_shard_id()},
                                acc.continues_document()),
                    detail::green_bit_encoding(metadata.null));
  if (acc.seen_) {
    const std::span<detail::owned_tuple> tuples = acc.seen_->sort_in_place();
    const detail::scheme_impl& impl = acc.get_scheme().impl();
    for (const detail::owned_tuple& t : tuples)
      w.tuple(t.seed, t.token, t.owner, impl.score(t.seed, static_cast<int32_t>(t.token)));
  }
  w.finish(acc.entries(), acc.ids());
}

corpus_evidence merge_evidence(std::span<const std::string> paths, const std::string& out_path) {
  if (paths.empty()) throw error(errc::invalid_argument, "merge_evidence: no evidence file");
  std::vector<std::unique_ptr<evidence_reader>> shards;
  for (const std::string& p : paths) {
    shards.push_back(std::make_unique<evidence_reader>(p));
    if (shards.size() > 1) {
      const std::string why = mismatch(shards.front()->metadata(), shards.back()->metadata());
      if (!why.empty())
        throw error(errc::invalid_argument, "evidence file " + p + " does not belong to the same test as " +
                                                paths.front() + ": it has " + why);
    }
  }

  corpus_evidence out;
  out.metadata = shards.front()->metadata();
  std::vector<std::string> shard_ids;
  std::vector<size_t> shard_file;  // which input each shard id came from
  // Local entry -> merged entry, per shard; document numbers shift by the documents before.
  std::vector<std::vector<uint32_t>> remap(shards.size());
  for (size_t k = 0; k < shards.size(); ++k) {
    evidence_reader& s = *shards[k];
    const nlohmann::json& h = s.header();
    const shard_counts counts = checked_counts(s);
    const bool continues = counts.continues;
    const int64_t doc_offset = out.n_documents_numbered;
    out.n_errors += counts.errors;
    out.n_documents_numbered += counts.documents;
    try {
      for (const auto& id : h.at("shard_ids")) {
        const std::string sid = id.get<std::string>();
        for (size_t i = 0; i < shard_ids.size(); ++i)
          if (shard_ids[i] == sid)
            throw error(errc::invalid_argument, "evidence file " + s.path() + " repeats a shard already in " +
                                                    paths[shard_file[i]] + ": a shard can be merged only once");
        shard_ids.push_back(sid);
        shard_file.push_back(k);
      }
    } catch (const nlohmann::json::exception&) {
      detail::evidence_corrupt(s.path(), "its header has no list of shard ids");
    }
    if (k == 0) out.continues_document = continues;
    std::vector<corpus_entry>& entries = s.entries();
    if (k > 0 && continues && !entries.empty()) {
      // It continues the previous shard's last document: that must be the last document
      // numbered so far (not a failed one) and have the same id, else the shards are out of
      // order and joining would add this piece to another document.
      const std::string& id = s.ids().front();
      if (out.entries.empty() || out.entries.back().document != doc_offset - 1 || out.ids.back() != id)
        throw error(errc::invalid_argument,
                    "evidence file " + s.path() + " begins inside document \"" + id + "\", but the evidence before it (" +
                        paths[k - 1] + ") does not end with that document: give the shards in corpus order");
    }
    for (size_t j = 0; j < entries.size(); ++j) {
      corpus_entry e = entries[j];
      if (j == 0 && continues && k > 0) {  // joins the previous shard's last document (checked above)
        corpus_entry& last = out.entries.back();
        last.n_tokens += e.n_tokens;
        last.stat += e.stat;
        remap[k].push_back(static_cast<uint32_t>(out.entries.size() - 1));
        continue;
      }
      if (e.document >= 0) e.document += doc_offset;
      if (out.entries.size() > detail::tuple_owner_table::max_owner)
        throw error(errc::invalid_argument, "merge_evidence: more than 2^32 - 2 documents");
      remap[k].push_back(static_cast<uint32_t>(out.entries.size()));
      out.entries.push_back(e);
      out.ids.push_back(std::move(s.ids()[j]));
    }
    entries.clear();
    s.ids().clear();
  }

  std::optional<evidence_writer> writer;
  if (!out_path.empty())
    writer.emplace(out_path,
                   file_header(out.metadata, out.n_documents_numbered, out.n_errors, shard_ids, out.continues_document),
                   detail::green_bit_encoding(out.metadata.null));

  // k-way merge by (seed, token); equal tuples: the earliest shard keeps it.
  struct head {
    uint64_t seed;
    uint32_t token, owner;
    double score;
    size_t shard;
    bool operator>(const head& o) const {
      if (seed != o.seed) return seed > o.seed;
      if (token != o.token) return token > o.token;
      return shard > o.shard;
    }
  };
  std::priority_queue<head, std::vector<head>, std::greater<head>> heap;
  auto advance = [&](size_t k) {
    head h{};
    h.shard = k;
    if (shards[k]->next(h.seed, h.token, h.owner, h.score)) {
      h.owner = remap[k][h.owner];
      heap.push(h);
    }
  };
  for (size_t k = 0; k < shards.size(); ++k) advance(k);
  bool have_last = false;
  uint64_t last_seed = 0;
  uint32_t last_token = 0;
  while (!heap.empty()) {
    const head h = heap.top();
    heap.pop();
    advance(h.shard);
    if (have_last && h.seed == last_seed && h.token == last_token) {
      corpus_entry& e = out.entries[h.owner];  // scored again by a later shard: it counts once
      e.stat.scored -= 1;
      e.stat.score -= h.score;
      continue;
    }
    have_last = true;
    last_seed = h.seed;
    last_token = h.token;
    ++out.n_tuples;
    if (writer) writer->tuple(h.seed, h.token, h.owner, h.score);
  }
  if (writer) writer->finish(out.entries, out.ids);
  out.n_shards = static_cast<int64_t>(shard_ids.size());
  return out;
}

}  // namespace tracemark