#include "serve/server_config.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "tracemark/error.h"

namespace tracemark::cli {

namespace {

using nlohmann::json;

constexpr size_t max_config_bytes = size_t{1} << 20;
constexpr size_t min_key_length = 16;
constexpr size_t max_key_length = 512;
constexpr size_t max_account_length = 256;

std::string octal_mode(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

std::string read_private_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    throw config_error(4, "cannot open the config file " + path.string() + ": " + std::strerror(e));
  }
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } guard{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    throw config_error(4, "the config file " + path.string() + " is not a regular file");
  if ((st.st_mode & 077) != 0)
    throw config_error(3, "the config file " + path.string() + " is accessible by group/others (mode " +
                              octal_mode(st.st_mode) + "); it lists API keys: chmod 600 " + path.string());
  if (static_cast<uint64_t>(st.st_size) > max_config_bytes)
    throw config_error(2, "the config file " + path.string() + " is larger than 1 MiB");
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw config_error(4, "reading the config file " + path.string() + " failed");
    got += static_cast<size_t>(n);
  }
  return text;
}

[[noreturn]] void bad(const std::string& field, const std::string& problem) {
  throw config_error(2, "config: " + field + ": " + problem);
}

std::string type_name(const json& v) { return v.type_name(); }

const json* find(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<sha256_digest> parse_hex_digest(const std::string& hex) {
  if (hex.size() != 64) return std::nullopt;
  sha256_digest d{};
  for (size_t i = 0; i < 32; ++i) {
    int v = 0;
    for (size_t k = 0; k < 2; ++k) {
      const char c = hex[2 * i + k];
      int x;
      if (c >= '0' && c <= '9') x = c - '0';
      else if (c >= 'a' && c <= 'f') x = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') x = c - 'A' + 10;
      else return std::nullopt;
      v = v * 16 + x;
    }
    d[i] = static_cast<uint8_t>(v);
  }
  return d;
}

// {"key": "..."} or {"key_sha256": "<64 hex>"}; never echoes the key.
sha256_digest read_key(const json& entry, const std::string& where) {
  const json* plain = find(entry, "key");
  const json* hashed = find(entry, "key_sha256");
  if ((plain != nullptr) == (hashed != nullptr)) bad(where, "give exactly one of \"key\" and \"key_sha256\"");
  if (plain) {
    if (!plain->is_string()) bad(where + ".key", "expected a string, got " + type_name(*plain));
    const std::string& k = plain->get_ref<const std::string&>();
    if (k.size() < min_key_length || k.size() > max_key_length)
      bad(where + ".key", "must be " + std::to_string(min_key_length) + " to " + std::to_string(max_key_length) +
                              " characters long (got " + std::to_string(k.size()) + ")");
    for (char c : k)
      if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
        bad(where + ".key", "may only contain printable ASCII characters without spaces");
    return sha256(k);
  }
  if (!hashed->is_string()) bad(where + ".key_sha256", "expected a string, got " + type_name(*hashed));
  const auto d = parse_hex_digest(hashed->get<std::string>());
  if (!d) bad(where + ".key_sha256", "expected 64 hexadecimal digits (the SHA-256 of the key)");
  return *d;
}

void check_fields(const json& obj, const std::string& where, std::initializer_list<const char*> allowed) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || it.key() == a;
    if (!ok) bad(where, "unknown field \"" + it.key() + "\"");
  }
}

}  // namespace

sha256_digest sha256(std::string_view data) {
  sha256_digest d{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), d.data(), &len, EVP_sha256(), nullptr) != 1 || len != d.size())
    throw tracemark::error(errc::crypto, "SHA-256 failed");
  return d;
}

std::string to_hex(const sha256_digest& d) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (uint8_t b : d) {
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}

server_config server_config::load(const std::filesystem::path& path) {
  server_config c;
  c.path = path;
  const std::string text = read_private_file(path);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw config_error(2, "config: " + path.string() + " is not valid JSON: " + e.what());
  }
  if (!j.is_object()) bad("(top level)", "expected a JSON object, got " + type_name(j));
  check_fields(j, "(top level)",
               {"key_file", "watermark", "scheme", "context_width", "gamma", "delta", "model_name", "api_keys",
                "admin_keys"});

  if (const json* w = find(j, "watermark")) {
    if (!w->is_boolean()) bad("watermark", "expected true or false, got " + type_name(*w));
    c.watermark = w->get<bool>();
  }
  if (const json* k = find(j, "key_file")) {
    if (!k->is_string() || k->get_ref<const std::string&>().empty())
      bad("key_file", "expected a non-empty path string");
    std::filesystem::path p = k->get<std::string>();
    if (p.is_relative()) p = path.parent_path() / p;
    c.key_file = p;
  } else if (c.watermark) {
    bad("key_file", "required when \"watermark\" is true (the master key from 'tracemark keygen')");
  }

  if (const json* s = find(j, "scheme")) {
    if (!s->is_string()) bad("scheme", "expected a string, got " + type_name(*s));
    c.scheme = s->get<std::string>();
    if (find_scheme(c.scheme) == nullptr)
      bad("scheme", "unknown scheme '" + c.scheme + "'; valid schemes: " + scheme_name_list());
  }
  const bool unigram = find_scheme(c.scheme)->default_context_width == 0;
  c.context_width = unigram ? 0 : 1;
  if (const json* h = find(j, "context_width")) {
    if (!h->is_number_integer()) bad("context_width", "expected an integer, got " + type_name(*h));
    const int64_t v = h->get<int64_t>();
    if (unigram ? v != 0 : (v < 1 || v > scheme::max_context_width))
      bad("context_width", unigram ? "must be 0 for the unigram scheme"
                                   : "must lie in 1.." + std::to_string(scheme::max_context_width));
    c.context_width = static_cast<int32_t>(v);
  }
  if (const json* g = find(j, "gamma")) {
    if (!g->is_number()) bad("gamma", "expected a number, got " + type_name(*g));
    c.gamma = g->get<double>();
    if (!(c.gamma > 0.0 && c.gamma < 1.0)) bad("gamma", "must lie strictly between 0 and 1");
  }
  if (const json* d = find(j, "delta")) {
    if (!d->is_number()) bad("delta", "expected a number, got " + type_name(*d));
    const double v = d->get<double>();
    if (!(v > 0.0 && v <= 64.0)) bad("delta", "must lie in (0, 64]");
    c.delta = static_cast<float>(v);
  }
  if (const json* m = find(j, "model_name")) {
    if (!m->is_string()) bad("model_name", "expected a string, got " + type_name(*m));
    c.model_name = m->get<std::string>();
  }

  std::set<std::string> seen_accounts;
  auto add_key = [&](const sha256_digest& d, const std::string& where, const principal& who) {
    for (key_entry& e : c.keys) {
      if (e.digest != d) continue;
      // The same key in api_keys and admin_keys: one principal with both rights.
      if (who.admin && !e.who.admin) {
        e.who.admin = true;
        return;
      }
      bad(where, "the same key is listed twice");
    }
    c.keys.push_back({d, who});
  };

  if (const json* list = find(j, "api_keys")) {
    if (!list->is_array()) bad("api_keys", "expected an array, got " + type_name(*list));
    for (size_t i = 0; i < list->size(); ++i) {
      const std::string where = "api_keys[" + std::to_string(i) + "]";
      const json& e = (*list)[i];
      if (!e.is_object()) bad(where, "expected an object {\"account\": ..., \"key\" | \"key_sha256\": ...}");
      check_fields(e, where, {"account", "key", "key_sha256"});
      const json* a = find(e, "account");
      if (!a || !a->is_string()) bad(where + ".account", "required: the account id (a string)");
      const std::string account = a->get<std::string>();
      if (account.empty() || account.size() > max_account_length)
        bad(where + ".account", "must be 1 to " + std::to_string(max_account_length) + " bytes long");
      principal who;
      who.account = account;
      who.label = account;
      add_key(read_key(e, where), where, who);
      if (seen_accounts.insert(account).second) c.accounts.push_back(account);
    }
  }
  if (const json* list = find(j, "admin_keys")) {
    if (!list->is_array()) bad("admin_keys", "expected an array, got " + type_name(*list));
    for (size_t i = 0; i < list->size(); ++i) {
      const std::string where = "admin_keys[" + std::to_string(i) + "]";
      const json& e = (*list)[i];
      if (!e.is_object()) bad(where, "expected an object {\"name\": ..., \"key\" | \"key_sha256\": ...}");
      check_fields(e, where, {"name", "key", "key_sha256"});
      principal who;
      who.admin = true;
      who.label = "admin";
      if (const json* n = find(e, "name")) {
        if (!n->is_string()) bad(where + ".name", "expected a string, got " + type_name(*n));
        who.label = "admin:" + n->get<std::string>();
      }
      add_key(read_key(e, where), where, who);
    }
  }
  if (c.keys.empty()) bad("api_keys", "no API or admin key configured: nobody could call the server");
  return c;
}

std::optional<principal> server_config::authenticate(std::string_view bearer) const {
  const sha256_digest d = sha256(bearer);
  size_t found = keys.size();
  for (size_t i = 0; i < keys.size(); ++i) {
    // Every entry is compared, whatever matched before; CRYPTO_memcmp is constant time.
    const size_t match = static_cast<size_t>(CRYPTO_memcmp(d.data(), keys[i].digest.data(), d.size()) == 0);
    found = match * i + (1 - match) * found;
  }
  if (found == keys.size()) return std::nullopt;
  return keys[found].who;
}

scheme_config server_config::scheme_for(const std::string& account, int32_t vocab_size) const {
  scheme_config s;
  s.name = scheme;
  s.context_width = context_width;
  s.gamma = gamma;
  s.vocab_size = vocab_size;
  s.account = account;
  return s;
}

}  // namespace tracemark::cli
