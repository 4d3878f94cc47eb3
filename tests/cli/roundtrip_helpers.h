// Helpers of the round-trip and front-door tests (tests/cli/test_cli_roundtrip.cpp,
// tests/cli/test_cli_front_door.cpp): a fixed master key (so every run sees the same texts
// and the checks are deterministic), the server's config with the test accounts, and JSON
// Lines output. Running the CLI is cli_helpers.h's; the `tracemark serve` on 127.0.0.1 with
// --port 0 and HTTP over cpp-httplib are http_test_client.h's, with the checksum-verified
// shared model (missing or altered: the test FAILS).
#pragma once
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_helpers.h"
#include "http_test_client.h"
#include "process_helpers.h"
#include "shared_files.h"
#include "tracemark/key.h"

namespace roundtrip {

using cli_test::run;
using nlohmann::json;
using testing_util::concat;
using testing_util::contains;
using testing_util::post;
using testing_util::read_file;
using testing_util::reply;
using testing_util::run_result;
using testing_util::server_process;
using testing_util::stories260K_path;
using testing_util::temp_dir;
using testing_util::write_file;

inline const std::string alice_key = "sk-rt-alice-0123456789abcdef";
inline const std::string bob_key = "sk-rt-bob-0123456789abcdef00";
inline const std::string admin_key = "sk-rt-admin-0123456789abcdef";

inline std::vector<json> parse_lines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    out.push_back(json::parse(line));
  }
  return out;
}

// A fixed master key written to dir/master.key (mode 0600).
inline std::string write_master_key(const temp_dir& dir) {
  const std::string path = dir.file("master.key");
  if (!std::filesystem::exists(path)) {
    tracemark::key::secret_bytes s{};
    for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(0x3C ^ (i * 37 + 11));
    tracemark::key::from_secret(s).save(path);
  }
  return path;
}

// server.json next to master.key: kgw-lefthash h = 2, gamma 0.25, delta 3 (the setting that
// tests/server/test_server.cpp measured to detect 40 of 40 completions of this model), API
// keys of alice, bob and ops, and an admin key for /v1/detect.
inline std::string write_server_config(const temp_dir& dir, bool watermark = true) {
  write_master_key(dir);
  json cfg;
  cfg["key_file"] = "master.key";
  cfg["watermark"] = watermark;
  cfg["scheme"] = "kgw-lefthash";
  cfg["context_width"] = 2;
  cfg["gamma"] = 0.25;
  cfg["delta"] = 3.0;
  cfg["api_keys"] = json::array({{{"account", "alice"}, {"key", alice_key}},
                                 {{"account", "bob"}, {"key", bob_key}},
                                 {{"account", "ops"}, {"key", admin_key}}});
  cfg["admin_keys"] = json::array({{{"name", "ops"}, {"key_sha256", testing_util::sha256_hex(admin_key)}}});
  const std::string path = dir.file("server.json");
  write_file(path, cfg.dump(2));
  REQUIRE(::chmod(path.c_str(), 0600) == 0);
  return path;
}

}  // namespace roundtrip
