// The context index of the provider's marked outputs (audit.h, docs/AUDIT_DESIGN.md §5).
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "hex.h"
#include "tracemark/audit.h"
#include "tracemark/error.h"

namespace tracemark {

namespace {

constexpr std::string_view k_magic = "tracemark-index 1";
constexpr size_t k_max_header = 1 << 16;

std::string to_hex(std::string_view bytes) {
  return detail::to_hex(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

std::string quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

// The description goes on one header line: newlines (possible in an account id) become spaces.
std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

}  // namespace

context_index::context_index(const key& k, const scheme& s)
    : fingerprint_(k.fingerprint()), derivation_(s.derivation_info()), description_(tracemark::scheme_description(s.config())) {}

void context_index::add_marked(const scheme& s, std::span<const int32_t> tokens, int64_t n_prompt) {
  if (s.derivation_info() != derivation_)
    throw error(errc::invalid_argument, "context_index::add_marked: the scheme differs from the index's");
  const int64_t h = s.context_width();
  const int64_t n = static_cast<int64_t>(tokens.size());
  for (int64_t i = std::max<int64_t>(n_prompt, h); i < n; ++i) add_id(s.context_id(tokens.data() + (i - h)));
}

void context_index::finalize() {
  if (sorted_) return;
  std::sort(ids_.begin(), ids_.end());
  ids_.erase(std::unique(ids_.begin(), ids_.end()), ids_.end());
  sorted_ = true;
}

bool context_index::contains(uint64_t id) const {
  if (!sorted_) throw error(errc::invalid_argument, "context_index::contains before finalize()");
  return std::binary_search(ids_.begin(), ids_.end(), id);
}

size_t context_index::size() const {
  if (!sorted_) throw error(errc::invalid_argument, "context_index::size before finalize()");
  return ids_.size();
}

void context_index::save(const std::filesystem::path& path) {
  finalize();
  std::string header;
  header += k_magic;
  header += "\nfingerprint " + fingerprint_ + "\nscheme " + one_line(description_) + "\nderivation " +
            to_hex(derivation_) + "\ncount " + std::to_string(ids_.size()) + "\n\n";
  header.append((8 - header.size() % 8) % 8, '\0');
  std::string body(ids_.size() * 8, '\0');
  for (size_t i = 0; i < ids_.size(); ++i)
    for (size_t b = 0; b < 8; ++b) body[8 * i + b] = static_cast<char>((ids_[i] >> (8 * b)) & 0xff);

  std::filesystem::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw error(errc::io, "cannot write the index " + quoted(tmp) + ": " + std::strerror(errno));
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(body.data(), static_cast<std::streamsize>(body.size()));
    out.flush();
    if (!out) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw error(errc::io, "writing the index " + quoted(tmp) + " failed");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw error(errc::io, "cannot move the index into place at " + quoted(path) + ": " + ec.message());
  }
}

context_index context_index::load(const std::filesystem::path& path, const key& k, const scheme& s) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw error(errc::io, "the index " + quoted(path) + " is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw error(errc::io, "cannot open the index " + quoted(path) + ": " + std::strerror(errno));
  auto malformed = [&](const std::string& why) {
    return error(errc::invalid_argument, "the index " + quoted(path) + " is not a valid tracemark index: " + why);
  };

  // Header lines up to the blank line.
  std::string header;
  std::vector<std::string> lines;
  std::string line;
  for (;;) {
    const int c = in.get();
    if (c == EOF) throw malformed("the header ends early");
    header += static_cast<char>(c);
    if (header.size() > k_max_header) throw malformed("the header is too long");
    if (c == '\n') {
      if (line.empty()) break;
      lines.push_back(line);
      line.clear();
    } else {
      line += static_cast<char>(c);
    }
  }
  if (lines.empty() || lines[0] != k_magic) throw malformed("the first line is not '" + std::string(k_magic) + "'");
  context_index idx;
  uint64_t count = 0;
  bool have_fp = false, have_derivation = false, have_count = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    const size_t sp = l.find(' ');
    const std::string name = l.substr(0, sp), value = sp == std::string::npos ? "" : l.substr(sp + 1);
    if (name == "fingerprint") {
      idx.fingerprint_ = value;
      have_fp = true;
    } else if (name == "scheme") {
      idx.description_ = value;
    } else if (name == "derivation") {
      idx.derivation_ = value;  // hex for now
      have_derivation = true;
    } else if (name == "count") {
      char* end = nullptr;
      errno = 0;
      count = std::strtoull(value.c_str(), &end, 10);
      if (value.empty() || errno != 0 || *end != '\0' || value[0] == '-') throw malformed("bad count line");
      have_count = true;
    }  // other lines: ignored (forward compatibility of the header)
  }
  if (!have_fp || !have_derivation || !have_count)
    throw malformed("the header needs fingerprint, derivation and count lines");
  if (idx.fingerprint_ != k.fingerprint())
    throw error(errc::invalid_argument, "the index " + quoted(path) + " was built for key " + idx.fingerprint_ +
                                            ", but this audit uses key " + k.fingerprint());
  if (idx.derivation_ != to_hex(s.derivation_info()))
    throw error(errc::invalid_argument, "the index " + quoted(path) + " was built for the scheme '" +
                                            idx.description_ + "', but this audit uses '" +
                                            tracemark::scheme_description(s.config()) + "'");
  idx.derivation_ = s.derivation_info();

  const size_t pad = (8 - header.size() % 8) % 8;
  char zeros[8];
  in.read(zeros, static_cast<std::streamsize>(pad));
  if (static_cast<size_t>(in.gcount()) != pad) throw malformed("the file ends early");
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw error(errc::io, "cannot stat the index " + quoted(path) + ": " + ec.message());
  if (count > (size / 8) || size != header.size() + pad + 8 * count)
    throw malformed("the size does not match the count of " + std::to_string(count));
  std::string body(static_cast<size_t>(8 * count), '\0');
  in.read(body.data(), static_cast<std::streamsize>(body.size()));
  if (static_cast<size_t>(in.gcount()) != body.size()) throw malformed("the file ends early");
  idx.ids_.resize(static_cast<size_t>(count));
  for (size_t i = 0; i < idx.ids_.size(); ++i) {
    uint64_t v = 0;
    for (size_t b = 0; b < 8; ++b) v |= static_cast<uint64_t>(static_cast<unsigned char>(body[8 * i + b])) << (8 * b);
    if (i > 0 && v <= idx.ids_[i - 1]) throw malformed("the ids are not strictly increasing");
    idx.ids_[i] = v;
  }
  idx.sorted_ = true;
  return idx;
}

}  // namespace tracemark
