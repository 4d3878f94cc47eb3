// Writing and reading evidence files (evidence_file.h).
#include "evidence_file.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

#include "hex.h"

namespace tracemark::detail {

using nlohmann::ordered_json;

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


bool green_bit_encoding(const null_distribution& null) noexcept {
  return null.kind() == null_distribution::family::binomial && null.trials_per_tuple() == 1;
}

namespace {

std::string hex_bits(double x) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(std::bit_cast<uint64_t>(x)));
  return buf;
}

}  // namespace

ordered_json tokenizer_json(const tokenizer_identity& t) {
  return {{"name", t.name}, {"kind", t.kind}, {"n_vocab", t.n_vocab}, {"sha256", t.sha256}};
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
    j["tokenizer"] = tokenizer_json(*m.tokenizer);
    j["piece_bytes"] = m.piece_bytes;
  } else {
    j["tokenizer"] = nullptr;
  }
  return j;
}

void evidence_corrupt(const std::string& path, const std::string& what) {
  throw error(errc::invalid_argument, "evidence file " + path + " is corrupt: " + what);
}

namespace {

std::string from_hex_string(const std::string& path, const std::string& hex) {
  std::string out(hex.size() / 2, '\0');
  if (hex.size() % 2 != 0 || !detail::from_hex(hex, reinterpret_cast<uint8_t*>(out.data()), out.size()))
    evidence_corrupt(path, "bad hexadecimal in its header");
  return out;
}

double double_from_bits(const std::string& path, const std::string& hex) {
  const std::string b = from_hex_string(path, hex);
  if (b.size() != 8) evidence_corrupt(path, "bad number in its header");
  uint64_t v = 0;
  for (const char c : b) v = (v << 8) | static_cast<uint8_t>(c);  // written most significant digit first
  return std::bit_cast<double>(v);
}

}  // namespace

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
      evidence_corrupt(path, "unknown null distribution '" + family + "'");
    m.dedup = j.at("dedup").get<bool>();
    if (const auto& t = j.at("tokenizer"); !t.is_null()) {
      m.tokenizer = tokenizer_identity{t.at("name").get<std::string>(), t.at("kind").get<std::string>(),
                                       t.at("n_vocab").get<int32_t>(), t.at("sha256").get<std::string>()};
      m.piece_bytes = j.at("piece_bytes").get<size_t>();
    }
    return m;
  } catch (const nlohmann::json::exception& e) {
    evidence_corrupt(path, std::string("its header lacks a field (") + e.what() + ")");
  }
}

namespace {

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

}  // namespace

evidence_writer::evidence_writer(const std::string& path, const ordered_json& header, bool green_bits)
    : out_(path), green_bits_(green_bits) {
  std::string head(evidence_magic);
  const std::string json = header.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  put_le(head, json.size(), 8);
  head += json;
  out_.write(head);
  meta_sha_.update(head);
}

void evidence_writer::tuple(uint64_t seed, uint32_t token, uint32_t owner, double score) {
  std::string& b = buffer_;
  put_le(b, seed, 8);
  put_le(b, token, 4);
  if (green_bits_) {
    put_le(b, owner | (score != 0.0 ? green_bit : 0u), 4);
  } else {
    put_le(b, owner, 4);
    put_le(b, std::bit_cast<uint64_t>(score), 8);
  }
  ++n_tuples_;
  if (b.size() >= (size_t{1} << 20)) flush_tuples();
}

void evidence_writer::finish(std::span<const corpus_entry> entries, std::span<const std::string> ids) {
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
  foot += evidence_footer_magic;
  out_.write(foot);
  out_.commit();
}

void evidence_writer::flush_tuples() {
  out_.write(buffer_);
  tuple_sha_.update(buffer_);
  buffer_.clear();
}

evidence_reader::evidence_reader(std::string path) : path_(std::move(path)) {
  f_ = std::fopen(path_.c_str(), "rb");
  if (f_ == nullptr) throw error(errc::io, "cannot open evidence file " + path_ + ": " + std::strerror(errno));
  std::fseek(f_, 0, SEEK_END);
  const long size = std::ftell(f_);
  if (size < 0) throw error(errc::io, "cannot read evidence file " + path_);
  size_ = static_cast<uint64_t>(size);
  std::string magic = read_at(0, std::min<uint64_t>(size_, evidence_magic.size()));
  if (magic != evidence_magic)
    throw error(errc::invalid_argument, path_ + " is not a tracemark evidence file (it does not start with \"" +
                                            std::string(evidence_magic.substr(0, 20)) + "\")");
  if (size_ < evidence_magic.size() + 8 + evidence_footer_bytes) evidence_corrupt(path_, "truncated");
  read_footer();
  read_header_and_entries();
  std::fseek(f_, static_cast<long>(tuples_offset_), SEEK_SET);
}

evidence_reader::~evidence_reader() {
  if (f_ != nullptr) std::fclose(f_);
}

bool evidence_reader::next(uint64_t& seed, uint32_t& token, uint32_t& owner, double& score) {
  if (read_tuples_ == n_tuples_) {
    if (!checked_) {
      checked_ = true;
      if (tuple_sha_.finish() != tuple_sha_expected_) evidence_corrupt(path_, "the checksum of its tuples does not match");
    }
    return false;
  }
  if (pos_ == buf_.size()) refill();
  const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
  seed = get_le(p, 8);
  token = static_cast<uint32_t>(get_le(p + 8, 4));
  const auto word = static_cast<uint32_t>(get_le(p + 12, 4));
  if (record_bytes_ == 16) {
    owner = word & ~green_bit;
    score = (word & green_bit) != 0 ? 1.0 : 0.0;
  } else {
    owner = word;
    score = std::bit_cast<double>(get_le(p + 16, 8));
  }
  pos_ += record_bytes_;
  if (owner >= n_entries_)
    evidence_corrupt(path_, "a tuple belongs to document entry " + std::to_string(owner) + " of " + std::to_string(n_entries_));
  if (read_tuples_ > 0 && !(last_seed_ < seed || (last_seed_ == seed && last_token_ < token)))
    evidence_corrupt(path_, "its tuples are not in increasing order");
  last_seed_ = seed;
  last_token_ = token;
  ++read_tuples_;
  return true;
}

std::string evidence_reader::read_at(uint64_t offset, uint64_t n) {
  std::string s(n, '\0');
  if (std::fseek(f_, static_cast<long>(offset), SEEK_SET) != 0 || std::fread(s.data(), 1, n, f_) != n)
    throw error(errc::io, "cannot read evidence file " + path_);
  return s;
}

void evidence_reader::read_footer() {
  const std::string f = read_at(size_ - evidence_footer_bytes, evidence_footer_bytes);
  if (f.substr(f.size() - 8) != evidence_footer_magic) evidence_corrupt(path_, "truncated (no footer)");
  const auto* p = reinterpret_cast<const unsigned char*>(f.data());
  n_tuples_ = get_le(p, 8);
  record_bytes_ = get_le(p + 8, 8);
  entries_offset_ = get_le(p + 16, 8);
  entries_bytes_ = get_le(p + 24, 8);
  n_entries_ = get_le(p + 32, 8);
  tuple_sha_expected_ = f.substr(40, 32);
  meta_sha_expected_ = f.substr(72, 32);
  footer_hashed_ = f.substr(0, 72);
  if (record_bytes_ != 16 && record_bytes_ != 24) evidence_corrupt(path_, "unknown tuple record size");
  if (n_tuples_ > size_ / record_bytes_ || n_entries_ > size_) evidence_corrupt(path_, "its counts exceed its size");
  if (entries_offset_ + entries_bytes_ + evidence_footer_bytes != size_ || entries_offset_ > size_)
    evidence_corrupt(path_, "its sections do not add up to its size (truncated or appended to)");
}

void evidence_reader::read_header_and_entries() {
  sha256_stream meta;
  const std::string len_bytes = read_at(evidence_magic.size(), 8);
  const uint64_t header_len = get_le(reinterpret_cast<const unsigned char*>(len_bytes.data()), 8);
  tuples_offset_ = evidence_magic.size() + 8 + header_len;
  if (header_len > (uint64_t{1} << 24) || tuples_offset_ + n_tuples_ * record_bytes_ != entries_offset_)
    evidence_corrupt(path_, "its sections do not add up to its size");
  const std::string json_text = read_at(evidence_magic.size() + 8, header_len);
  meta.update(evidence_magic);
  meta.update(len_bytes);
  meta.update(json_text);
  const std::string block = read_at(entries_offset_, entries_bytes_);
  meta.update(block);
  meta.update(footer_hashed_);
  if (meta.finish() != meta_sha_expected_) evidence_corrupt(path_, "the checksum of its header and documents does not match");
  try {
    header_ = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception&) {
    evidence_corrupt(path_, "its header is not JSON");
  }
  const auto field_is = [&](const char* name, const nlohmann::json& want) {
    const auto it = header_.find(name);
    return it != header_.end() && *it == want;
  };
  if (!header_.is_object()) evidence_corrupt(path_, "its header is not a JSON object");
  if (!field_is("format", "tracemark-evidence") || !field_is("version", 1))
    throw error(errc::invalid_argument, path_ + " has an evidence format this version does not read");
  metadata_ = metadata_from_json(path_, header_);
  if ((record_bytes_ == 16) != green_bit_encoding(metadata_.null)) evidence_corrupt(path_, "its tuple records do not fit its null distribution");
  const auto* p = reinterpret_cast<const unsigned char*>(block.data());
  size_t at = 0;
  for (uint64_t i = 0; i < n_entries_; ++i) {
    if (at + 36 > block.size()) evidence_corrupt(path_, "its document list is cut short");
    corpus_entry e;
    e.document = static_cast<int64_t>(get_le(p + at, 8));
    e.n_tokens = static_cast<int64_t>(get_le(p + at + 8, 8));
    e.stat.scored = static_cast<int64_t>(get_le(p + at + 16, 8));
    e.stat.score = std::bit_cast<double>(get_le(p + at + 24, 8));
    const auto id_len = static_cast<size_t>(get_le(p + at + 32, 4));
    at += 36;
    if (at + id_len > block.size()) evidence_corrupt(path_, "its document list is cut short");
    entries_.push_back(e);
    ids_.emplace_back(block.data() + at, id_len);
    at += id_len;
  }
  if (at != block.size()) evidence_corrupt(path_, "its document list has trailing bytes");
}

void evidence_reader::refill() {
  const uint64_t left = (n_tuples_ - read_tuples_) * record_bytes_;
  const size_t n = static_cast<size_t>(std::min<uint64_t>(left, (uint64_t{1} << 20) / record_bytes_ * record_bytes_));
  buf_.resize(n);
  if (std::fread(buf_.data(), 1, n, f_) != n) throw error(errc::io, "cannot read evidence file " + path_);
  tuple_sha_.update(buf_);
  pos_ = 0;
}

}  // namespace tracemark::detail
