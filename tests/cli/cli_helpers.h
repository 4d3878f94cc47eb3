// Helpers of the tests that run the `tracemark` executable (TRACEMARK_CLI_PATH) as a user
// would: running it in a test's private directory, its JSON Lines output, and a key made by
// `tracemark keygen`. The directory, file I/O, concat and contains are process_helpers.h's.
#pragma once
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "process_helpers.h"

namespace cli_test {

inline const std::string cli_path = TRACEMARK_CLI_PATH;

// Runs the CLI with `args` in `dir`; stdin from `stdin_path` (or /dev/null); stdout captured;
// stderr captured, or sent to `stderr_fd` when it is >= 0 (a pseudo-terminal).
inline testing_util::run_result run(const testing_util::temp_dir& dir, const std::vector<std::string>& args,
                                    const std::string& stdin_path = "", int stderr_fd = -1) {
  return testing_util::run_program(cli_path, dir, args, stdin_path, stderr_fd);
}

inline std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// One JSON value per line; every line must parse (an empty line too).
inline std::vector<nlohmann::json> parse_records(const std::string& text) {
  std::vector<nlohmann::json> records;
  for (const std::string& line : split_lines(text)) records.push_back(nlohmann::json::parse(line));
  return records;
}

// A key made by `tracemark keygen` in `dir`.
inline std::string make_key(const testing_util::temp_dir& dir, const std::string& name = "master.key") {
  const std::string path = dir.file(name);
  const testing_util::run_result r = run(dir, {"keygen", "--out", path});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  return path;
}

}  // namespace cli_test
