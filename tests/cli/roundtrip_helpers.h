// Helpers of the round-trip and front-door tests (tests/cli/test_cli_roundtrip.cpp,
// tests/cli/test_cli_front_door.cpp): the CLI run as a user would, a `tracemark serve`
// started on 127.0.0.1 with --port 0, HTTP over cpp-httplib, a fixed master key (so every
// run sees the same texts and the checks are deterministic) and the checksum-verified
// shared model (missing or altered: the test FAILS).
#pragma once
#include <doctest/doctest.h>
#include <fcntl.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "process_helpers.h"
#include "shared_files.h"
#include "tracemark/key.h"

extern char** environ;

namespace roundtrip {

using nlohmann::json;
using testing_util::read_file;
using testing_util::run_result;
using testing_util::temp_dir;
using testing_util::write_file;

inline const std::string cli_path = TRACEMARK_CLI_PATH;

inline const std::string alice_key = "sk-rt-alice-0123456789abcdef";
inline const std::string bob_key = "sk-rt-bob-0123456789abcdef00";
inline const std::string admin_key = "sk-rt-admin-0123456789abcdef";

// The shared model, after checking it against SHA256SUMS. Missing or different: FAIL.
inline const std::string& model_path() {
  static const std::string path = testing_util::verified_shared_file("models/stories260K.gguf").string();
  return path;
}

inline run_result run_cli(const temp_dir& dir, const std::vector<std::string>& args, const std::string& stdin_path = "") {
  return testing_util::run_program(cli_path, dir, args, stdin_path);
}

inline std::vector<json> parse_lines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    out.push_back(json::parse(line));
  }
  return out;
}

inline bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

inline std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
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

class server_process {
 public:
  server_process(const temp_dir& dir, const std::string& config) {
    log_path_ = dir.file("serve.log");
    std::vector<std::string> argv_s{cli_path, "serve", "--model", model_path(), "--config", config,
                                    "--host", "127.0.0.1", "--port", "0", "--workers", "2"};
    std::vector<char*> argv;
    for (std::string& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    posix_spawn_file_actions_addopen(&actions, 2, log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int rc = posix_spawn(&pid_, cli_path.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    REQUIRE(rc == 0);
    // "listening on http://127.0.0.1:PORT\n" (60 s: a sanitized build under load).
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fds[0], POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      char buf[256];
      const ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    const std::string prefix = "listening on http://127.0.0.1:";
    const size_t eol = line.find('\n');
    REQUIRE_MESSAGE((line.rfind(prefix, 0) == 0 && eol != std::string::npos),
                    "no 'listening on' line; stdout: " << line << "\nstderr: " << read_file(log_path_));
    port_ = std::stoi(line.substr(prefix.size(), eol - prefix.size()));
    REQUIRE(port_ > 0);
  }
  ~server_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  int port() const { return port_; }
  std::string log() const { return read_file(log_path_); }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_path_;
};

struct reply {
  int status = 0;
  std::string error, body;
  json j;
};

inline reply post(int port, const std::string& path, const json& body, const std::string& bearer) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(180, 0);
  c.set_write_timeout(30, 0);
  httplib::Headers h{{"Authorization", "Bearer " + bearer}};
  httplib::Result r = c.Post(path.c_str(), h, body.dump(), "application/json");
  reply out;
  if (!r) {
    out.error = httplib::to_string(r.error());
    return out;
  }
  out.status = r->status;
  out.body = r->body;
  out.j = json::parse(out.body, nullptr, false);
  return out;
}

}  // namespace roundtrip
