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

namespace detail {

output_file::output_file(std::string path) : path_(std::move(path)), temp_(path_ + ".tmp") {
  f_ = std::fopen(temp_.c_str(), "wb");
  if (f_ == nullptr) throw error(errc::io, "cannot create " + temp_ + ": " + std::strerror(errno));
}

output_file::~output_file() {
  if (f_ != nullptr) {
    std::fclose(f_);
    std::remove(temp_.c_str());
  }
}

void output_file::write(const void* p, size_t n) {
  if (n > 0 && std::fwrite(p, 1, n, f_) != n) throw error(errc::io, "cannot write " + temp_ + ": " + std::strerror(errno));
  offset_ += n;
}

void output_file::commit() {
  FILE* f = f_;
  f_ = nullptr;
  const bool ok = std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  const int err = errno;
  if (std::fclose(f) != 0 || !ok) {
    std::remove(temp_.c_str());
    throw error(errc::io, "cannot write " + temp_ + ": " + std::strerror(ok ? errno : err));
  }
  if (std::rename(temp_.c_str(), path_.c_str()) != 0) {
    const int e = errno;
    std::remove(temp_.c_str());
    throw error(errc::io, "cannot rename " + temp_ + " to " + path_ + ": " + std::strerror(e));
  }
}

}  // namespace detail

namespace {

using detail::get_le;
using detail::put_le;

std::string hex_bits(double x) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(std::bit_cast<uint64_t>(x)));
  return buf;
}

bool green_bit_encoding(const null_distribution& null) {
  return null.kind() == null_distribution::family::binomial && null.trials_per_tuple() == 1;
}

ordered_json metadata_json(const evidence_metadata& m) {
  ordered_json j;
  j["key_fingerprint"] = m.key_fingerprint;
  const auto* acc = reinterpret_cast<const uint8_t*>(m.scheme.account.data());
  j["scheme"] = {{"name", m.scheme.name},
                 {"context_width", m.scheme.context_width},
                 {"gamma_bits", hex_bits(m.scheme.gamma)},
                 {"vocab_size", m.scheme.vocab_size},
                 {"account_hex", detail::to_hex(acc, m.scheme.account.size())}};
  j["derivation_info_hex"] =
      detail::to_hex(reinterpret_cast<const uint8_t*>(m.derivation_info.data()), m.derivation_info.size());
  j["null"] = {{"family", m.null.name()}, {"p_bits", hex_bits(m.null.p())}, {"trials_per_tuple", m.null.trials_per_tuple()}};
  j["dedup"] = m.dedup;
  if (m.tokenizer) {
    j["tokenizer"] = {{"name", m.tokenizer->name},
                      {"kind", m.tokenizer->kind},
                      {"n_vocab", m.tokenizer->n_vocab},
                      {"sha256", m.tokenizer->sha256}};
  } else {
    j["tokenizer"] = nullptr;
  }
  return j;
}

[[noreturn]] void corrupt(const std::string& path, const std::string& what) {
  throw error(errc::invalid_argument, "evidence file " + path + " is corrupt: " + what);
}

std::string from_hex_string(const std::string& path, const std::string& hex) {
  std::string out(hex.size() / 2, '\0');
  if (hex.size() % 2 != 0 || !detail::from_hex(hex, reinterpret_cast<uint8_t*>(out.data()), out.size()))
    corrupt(path, "bad hexadecimal in its header");
  return out;
}

double double_from_bits(const std::string& path, const std::string& hex) {
  const std::string b = from_hex_string(path, hex);
  if (b.size() != 8) corrupt(path, "bad number in its header");
  uint64_t v = 0;
  for (const char c : b) v = (v << 8) | static_cast<uint8_t>(c);  // written most significant digit first
  return std::bit_cast<double>(v);
}

evidence_metadata metadata_from_json(const std::string& path, const nlohmann::json& j) {
  try {
    evidence_metadata m;
    m.key_fingerprint = j.at("key_fingerprint").get<std::string>();
    const auto& s = j.at("scheme");
    m.scheme.name = s.at("name").get<std::string>();
    m.scheme.context_width = s.at("context_width").get<int32_t>();
    m.scheme.gamma = double_from_bits(path, s.at("gamma_bits").get<std::string>());
    m.scheme.vocab_size = s.at("vocab_size").get<int32_t>();
    m.scheme.account = from_hex_string(path, s.at("account_hex").get<std::string>());
    m.derivation_info = from_hex_string(path, j.at("derivation_info_hex").get<std::string>());
    const auto& n = j.at("null");
    const std::string family = n.at("family").get<std::string>();
    if (family == "binomial")
      m.null = null_distribution::binomial(double_from_bits(path, n.at("p_bits").get<std::string>()),
                                           n.at("trials_per_tuple").get<int32_t>());
    else if (family == "gamma")
      m.null = null_distribution::exponential_sum();
    else
      corrupt(path, "unknown null distribution '" + family + "'");
    m.dedup = j.at("dedup").get<bool>();
    if (const auto& t = j.at("tokenizer"); !t.is_null())
      m.tokenizer = tokenizer_identity{t.at("name").get<std::string>(), t.at("kind").get<std::string>(),
                                       t.at("n_vocab").get<int32_t>(), t.at("sha256").get<std::string>()};
    return m;
  } catch (const nlohmann::json::exception& e) {
    corrupt(path, std::string("its header lacks a field (") + e.what() + ")");
  }
}

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

std::string encode_entry(const corpus_entry& e, const std::string& id) {
  std::string out;
  put_le(out, static_cast<uint64_t>(e.document), 8);
  put_le(out, static_cast<uint64_t>(e.n_tokens), 8);
  put_le(out, static_cast<uint64_t>(e.stat.scored), 8);
  put_le(out, std::bit_cast<uint64_t>(e.stat.score), 8);
  put_le(out, id.size(), 4);
  out += id;
  return out;
}

// Writes the parts of an evidence file in order and the footer; the caller commits.
class evidence_writer {
 public:
  evidence_writer(const std::string& path, const ordered_json& header, bool green_bits)
      : out_(path), green_bits_(green_bits) {
    std::string head(detail::evidence_magic);
    const std::string json = header.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
    put_le(head, json.size(), 8);
    head += json;
    out_.write(head);
    meta_sha_.update(head);
  }
  void tuple(uint64_t seed, uint32_t token, uint32_t owner, double score) {
    std::string& b = buffer_;
    put_le(b, seed, 8);
    put_le(b, token, 4);
    if (green_bits_) {
      put_le(b, owner | (score != 0.0 ? detail::green_bit : 0u), 4);
    } else {
      put_le(b, owner, 4);
      put_le(b, std::bit_cast<uint64_t>(score), 8);
    }
    ++n_tuples_;
    if (b.size() >= (size_t{1} << 20)) flush_tuples();
  }
  void finish(std::span<const corpus_entry> entries, std::span<const std::string> ids) {
    flush_tuples();
    const uint64_t entries_offset = out_.offset();
    std::string block;
    for (size_t i = 0; i < entries.size(); ++i) {
      block += encode_entry(entries[i], ids[i]);
      if (block.size() >= (size_t{1} << 20) || i + 1 == entries.size()) {
        out_.write(block);
        meta_sha_.update(block);
        block.clear();
      }
    }
    std::string foot;
    put_le(foot, n_tuples_, 8);
    put_le(foot, green_bits_ ? 16 : 24, 8);
    put_le(foot, entries_offset, 8);
    put_le(foot, out_.offset() - entries_offset, 8);
    put_le(foot, entries.size(), 8);
    foot += tuple_sha_.finish();
    meta_sha_.update(foot);
    foot += meta_sha_.finish();
    foot += detail::evidence_footer_magic;
    out_.write(foot);
    out_.commit();
  }

 private:
  void flush_tuples() {
    out_.write(buffer_);
    tuple_sha_.update(buffer_);
    buffer_.clear();
  }
  detail::output_file out_;
  bool green_bits_;
  std::string buffer_;
  uint64_t n_tuples_ = 0;
  detail::sha256_stream tuple_sha_, meta_sha_;
};

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
  for (auto& [k, v] : metadata_json(m).items()) h[k] = v;
  h["score_encoding"] = green_bit_encoding(m.null) ? "green-bit" : "f64";
  h["documents"] = documents;
  h["errors"] = errors;
  h["shard_ids"] = shard_ids;
  h["continues_document"] = continues;
  return h;
}

// One shard being read: header and entries up front, tuples streamed in order.
class shard_reader {
 public:
  explicit shard_reader(std::string path) : path_(std::move(path)) {
    f_ = std::fopen(path_.c_str(), "rb");
    if (f_ == nullptr) throw error(errc::io, "cannot open evidence file " + path_ + ": " + std::strerror(errno));
    std::fseek(f_, 0, SEEK_END);
    const long size = std::ftell(f_);
    if (size < 0) throw error(errc::io, "cannot read evidence file " + path_);
    size_ = static_cast<uint64_t>(size);
    std::string magic = read_at(0, std::min<uint64_t>(size_, detail::evidence_magic.size()));
    if (magic != detail::evidence_magic)
      throw error(errc::invalid_argument, path_ + " is not a tracemark evidence file (it does not start with \"" +
                                              std::string(detail::evidence_magic.substr(0, 20)) + "\")");
    if (size_ < detail::evidence_magic.size() + 8 + detail::evidence_footer_bytes) corrupt(path_, "truncated");
    read_footer();
    read_header_and_entries();
    std::fseek(f_, static_cast<long>(tuples_offset_), SEEK_SET);
  }
  ~shard_reader() {
    if (f_ != nullptr) std::fclose(f_);
  }
  shard_reader(const shard_reader&) = delete;
  shard_reader& operator=(const shard_reader&) = delete;

  const std::string& path() const { return path_; }
  const evidence_metadata& metadata() const { return metadata_; }
  const nlohmann::json& header() const { return header_; }
  std::vector<corpus_entry>& entries() { return entries_; }
  std::vector<std::string>& ids() { return ids_; }
  uint64_t n_tuples() const { return n_tuples_; }

  // The next tuple, in (seed, token) order; false at the end (after checking its checksum).
  bool next(uint64_t& seed, uint32_t& token, uint32_t& owner, double& score) {
    if (read_tuples_ == n_tuples_) {
      if (!checked_) {
        checked_ = true;
        if (tuple_sha_.finish() != tuple_sha_expected_) corrupt(path_, "the checksum of its tuples does not match");
      }
      return false;
    }
    if (pos_ == buf_.size()) refill();
    const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
    seed = get_le(p, 8);
    token = static_cast<uint32_t>(get_le(p + 8, 4));
    const auto word = static_cast<uint32_t>(get_le(p + 12, 4));
    if (record_bytes_ == 16) {
      owner = word & ~detail::green_bit;
      score = (word & detail::green_bit) != 0 ? 1.0 : 0.0;
    } else {
      owner = word;
      score = std::bit_cast<double>(get_le(p + 16, 8));
    }
    pos_ += record_bytes_;
    if (owner >= n_entries_)
      corrupt(path_, "a tuple belongs to document entry " + std::to_string(owner) + " of " + std::to_string(n_entries_));
    if (read_tuples_ > 0 && !(last_seed_ < seed || (last_seed_ == seed && last_token_ < token)))
      corrupt(path_, "its tuples are not in increasing order");
    last_seed_ = seed;
    last_token_ = token;
    ++read_tuples_;
    return true;
  }

 private:
  std::string read_at(uint64_t offset, uint64_t n) {
    std::string s(n, '\0');
    if (std::fseek(f_, static_cast<long>(offset), SEEK_SET) != 0 || std::fread(s.data(), 1, n, f_) != n)
      throw error(errc::io, "cannot read evidence file " + path_);
    return s;
  }

  void read_footer() {
    const std::string f = read_at(size_ - detail::evidence_footer_bytes, detail::evidence_footer_bytes);
    if (f.substr(f.size() - 8) != detail::evidence_footer_magic) corrupt(path_, "truncated (no footer)");
    const auto* p = reinterpret_cast<const unsigned char*>(f.data());
    n_tuples_ = get_le(p, 8);
    record_bytes_ = get_le(p + 8, 8);
    entries_offset_ = get_le(p + 16, 8);
    entries_bytes_ = get_le(p + 24, 8);
    n_entries_ = get_le(p + 32, 8);
    tuple_sha_expected_ = f.substr(40, 32);
    meta_sha_expected_ = f.substr(72, 32);
    footer_hashed_ = f.substr(0, 72);
    if (record_bytes_ != 16 && record_bytes_ != 24) corrupt(path_, "unknown tuple record size");
    if (entries_offset_ + entries_bytes_ + detail::evidence_footer_bytes != size_ || entries_offset_ > size_)
      corrupt(path_, "its sections do not add up to its size (truncated or appended to)");
  }

  void read_header_and_entries() {
    detail::sha256_stream meta;
    const std::string len_bytes = read_at(detail::evidence_magic.size(), 8);
    const uint64_t header_len = get_le(reinterpret_cast<const unsigned char*>(len_bytes.data()), 8);
    tuples_offset_ = detail::evidence_magic.size() + 8 + header_len;
    if (header_len > (uint64_t{1} << 24) || tuples_offset_ + n_tuples_ * record_bytes_ != entries_offset_)
      corrupt(path_, "its sections do not add up to its size");
    const std::string json_text = read_at(detail::evidence_magic.size() + 8, header_len);
    meta.update(detail::evidence_magic);
    meta.update(len_bytes);
    meta.update(json_text);
    const std::string block = read_at(entries_offset_, entries_bytes_);
    meta.update(block);
    meta.update(footer_hashed_);
    if (meta.finish() != meta_sha_expected_) corrupt(path_, "the checksum of its header and documents does not match");
    try {
      header_ = nlohmann::json::parse(json_text);
    } catch (const nlohmann::json::exception&) {
      corrupt(path_, "its header is not JSON");
    }
    if (header_.value("format", "") != "tracemark-evidence" || header_.value("version", 0) != 1)
      throw error(errc::invalid_argument, path_ + " has an evidence format this version does not read");
    metadata_ = metadata_from_json(path_, header_);
    if ((record_bytes_ == 16) != green_bit_encoding(metadata_.null)) corrupt(path_, "its tuple records do not fit its null distribution");
    const auto* p = reinterpret_cast<const unsigned char*>(block.data());
    size_t at = 0;
    for (uint64_t i = 0; i < n_entries_; ++i) {
      if (at + 36 > block.size()) corrupt(path_, "its document list is cut short");
      corpus_entry e;
      e.document = static_cast<int64_t>(get_le(p + at, 8));
      e.n_tokens = static_cast<int64_t>(get_le(p + at + 8, 8));
      e.stat.scored = static_cast<int64_t>(get_le(p + at + 16, 8));
      e.stat.score = std::bit_cast<double>(get_le(p + at + 24, 8));
      const auto id_len = static_cast<size_t>(get_le(p + at + 32, 4));
      at += 36;
      if (at + id_len > block.size()) corrupt(path_, "its document list is cut short");
      entries_.push_back(e);
      ids_.emplace_back(block.data() + at, id_len);
      at += id_len;
    }
    if (at != block.size()) corrupt(path_, "its document list has trailing bytes");
  }

  void refill() {
    const uint64_t left = (n_tuples_ - read_tuples_) * record_bytes_;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(left, (uint64_t{1} << 20) / record_bytes_ * record_bytes_));
    buf_.resize(n);
    if (std::fread(buf_.data(), 1, n, f_) != n) throw error(errc::io, "cannot read evidence file " + path_);
    tuple_sha_.update(buf_);
    pos_ = 0;
  }

  std::string path_;
  FILE* f_ = nullptr;
  uint64_t size_ = 0, n_tuples_ = 0, record_bytes_ = 16, entries_offset_ = 0, entries_bytes_ = 0, n_entries_ = 0;
  uint64_t tuples_offset_ = 0;
  std::string tuple_sha_expected_, meta_sha_expected_, footer_hashed_;
  nlohmann::json header_;
  evidence_metadata metadata_;
  std::vector<corpus_entry> entries_;
  std::vector<std::string> ids_;
  std::string buf_;
  size_t pos_ = 0;
  uint64_t read_tuples_ = 0, last_seed_ = 0;
  uint32_t last_token_ = 0;
  bool checked_ = false;
  detail::sha256_stream tuple_sha_;
};

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
                    green_bit_encoding(metadata.null));
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
  std::vector<std::unique_ptr<shard_reader>> shards;
  for (const std::string& p : paths) {
    shards.push_back(std::make_unique<shard_reader>(p));
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
    shard_reader& s = *shards[k];
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
      corrupt(s.path(), "its header has no list of shard ids");
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
                   green_bit_encoding(out.metadata.null));

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
