// A real `tracemark serve` for the tests that talk to it over HTTP (tests/server/test_server.cpp,
// tests/cli/test_cli_roundtrip.cpp, tests/cli/test_cli_front_door.cpp): the CLI binary
// (TRACEMARK_CLI_PATH) serving the shared stories260K model on 127.0.0.1 with --port 0, its
// port read from the "listening on" line, and requests sent with cpp-httplib as any client
// would.
#pragma once
#include <doctest/doctest.h>
#include <fcntl.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_helpers.h"
#include "process_helpers.h"
#include "shared_files.h"

extern char** environ;

namespace testing_util {

// `tracemark serve --model <stories260K> --config <config> --host 127.0.0.1 --port 0 <extra>`,
// started in the constructor (which returns once the server listens) and killed in the
// destructor. Standard error goes to a log file in `dir` (log()).
class server_process {
 public:
  server_process(const temp_dir& dir, const std::string& config, std::vector<std::string> extra = {}) {
    static int counter = 0;
    log_path_ = dir.file("serve-log." + std::to_string(counter++));
    std::vector<std::string> argv_s{cli_test::cli_path, "serve", "--model", stories260K_path(), "--config", config,
                                    "--host", "127.0.0.1", "--port", "0"};
    argv_s.insert(argv_s.end(), extra.begin(), extra.end());
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
    const int rc = posix_spawn(&pid_, cli_test::cli_path.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    REQUIRE(rc == 0);

    // Read "listening on http://127.0.0.1:PORT\n" (60 s: a sanitized build under load).
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fds[0], POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      char buf[256];
      const ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n <= 0) break;  // the server exited
      line.append(buf, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    const std::string prefix = "listening on http://127.0.0.1:";
    const size_t eol = line.find('\n');
    REQUIRE_MESSAGE((line.rfind(prefix, 0) == 0 && eol != std::string::npos),
                    "no 'listening on' line; stdout: " << line << "\nstderr: " << read_file(log_path_));
    const std::string digits = line.substr(prefix.size(), eol - prefix.size());
    REQUIRE((!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos));
    port_ = std::stoi(digits);
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

  // Sends `sig` and waits for the exit (30 s); returns the exit status (-1: killed by a signal).
  int stop(int sig = SIGTERM) {
    REQUIRE(pid_ > 0);
    REQUIRE(::kill(pid_, sig) == 0);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "the server did not stop after the signal");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_path_;
};

struct reply {
  int status = 0;  // 0: no HTTP answer at all (see error)
  std::string error;
  std::string body;
  std::string content_type;
  nlohmann::json j;  // parsed body when it is JSON
};

// `method` (GET, PUT, anything else: POST) of `path` on 127.0.0.1:`port`, with "Authorization:
// Bearer <bearer>" unless `bearer` is empty. No doctest assertions in here: it runs on
// client threads too.
inline reply request(int port, const std::string& method, const std::string& path, const std::string& body,
                     const std::string& bearer) {
  httplib::Client c("127.0.0.1", port);
  c.set_tcp_nodelay(true);
  c.set_read_timeout(180, 0);
  c.set_write_timeout(30, 0);
  httplib::Headers h;
  if (!bearer.empty()) h.emplace("Authorization", "Bearer " + bearer);
  httplib::Result r = method == "GET"    ? c.Get(path.c_str(), h)
                      : method == "PUT"  ? c.Put(path.c_str(), h, body, "application/json")
                                         : c.Post(path.c_str(), h, body, "application/json");
  reply out;
  if (!r) {
    out.error = httplib::to_string(r.error());
    return out;
  }
  out.status = r->status;
  out.body = r->body;
  out.content_type = r->get_header_value("Content-Type");
  if (out.content_type.rfind("application/json", 0) == 0) out.j = nlohmann::json::parse(out.body, nullptr, false);
  return out;
}

inline reply post(int port, const std::string& path, const nlohmann::json& body, const std::string& bearer) {
  return request(port, "POST", path, body.dump(), bearer);
}

}  // namespace testing_util
