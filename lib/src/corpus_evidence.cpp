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

}  // namespace

evidence_metadata evidence_metadata::of(const tracemark::scheme& s, std::string key_fingerprint, bool dedup,
                                        std::optional<tokenizer_identity> tokenizer) {
  evidence_metadata m;
  m.key_fingerprint = std::move(key_fingerprint);
  m.scheme = s.config();
  m.derivation_info = s.derivation_info();
  m.null = s.null();
  m.dedup = dedup;
  m.tokenizer = std::move(tokenizer);
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
    const bool continues = h.value("continues_document", false);
    const int64_t doc_offset = out.n_documents_numbered;
    out.n_errors += h.value("errors", int64_t{0});
    out.n_documents_numbered += h.value("documents", int64_t{0});
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
    for (size_t j = 0; j < entries.size(); ++j) {
      corpus_entry e = entries[j];
      if (j == 0 && continues && !out.entries.empty()) {  // joins the previous shard's last document
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