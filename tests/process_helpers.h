// Helpers for tests that run the real `tracemark` binary: a private temporary directory,
// whole-file I/O, running a program with its output captured, command lines built from a
// base and variants, and searching an output.
#pragma once
#include <doctest/doctest.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace testing_util {

// A private directory, removed with its contents at the end of the test.
struct temp_dir {
  std::filesystem::path path;
  explicit temp_dir(const std::string& prefix = "tracemark-test") {
    std::string templ = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    REQUIRE(::mkdtemp(templ.data()) != nullptr);
    path = templ;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::string file(const std::string& name) const { return (path / name).string(); }
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

// `args` followed by `more` (a base command line with variants).
inline std::vector<std::string> concat(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

struct run_result {
  int exit_code = -1;
  std::string out, err;
};

// Runs `program` with `args`; stdin from `stdin_path` (or /dev/null); stdout captured;
// stderr captured, or sent to `stderr_fd` when it is >= 0 (e.g. a pseudo-terminal).
inline run_result run_program(const std::string& program, const temp_dir& dir, const std::vector<std::string>& args,
                              const std::string& stdin_path = "", int stderr_fd = -1) {
  static int counter = 0;
  const std::string out_path = dir.file("stdout." + std::to_string(counter));
  const std::string err_path = dir.file("stderr." + std::to_string(counter));
  ++counter;
  std::vector<std::string> argv_s{program};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, stdin_path.empty() ? "/dev/null" : stdin_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (stderr_fd >= 0)
    posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2);
  else
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(rc == 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  run_result r;
  REQUIRE_MESSAGE(WIFEXITED(status), program << " did not exit normally (crashed?)");
  r.exit_code = WEXITSTATUS(status);
  r.out = read_file(out_path);
  if (stderr_fd < 0) r.err = read_file(err_path);
  return r;
}

}  // namespace testing_util
