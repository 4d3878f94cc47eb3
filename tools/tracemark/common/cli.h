// Shared declarations of the tracemark command-line tool: exit codes, the one error type
// (it carries its exit code), and the constructors of the subcommands (one per cmd_*.cpp).
#pragma once
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include "tracemark/key.h"

namespace CLI {
class App;
}

namespace tracemark::cli {

// Process exit codes; documented in every --help footer and in docs/CLI.md.
enum exit_code : int {
  exit_ok = 0,            // every input record was processed
  exit_record_error = 1,  // at least one record was an error record (all others were written)
  exit_usage = 2,         // bad flags or flag values, or input that does not fit them
  exit_key = 3,           // key file missing, unreadable, corrupt, or readable by group/others
  exit_io = 4,            // input unreadable or output not writable
};

// The exit-code table, as printed in the --help footers.
extern const char* const exit_codes_help;

// Every error a subcommand reports: the message (it names the flag, file or record and the
// problem; never a secret) and the exit code. main() prints "tracemark <sub>: <message>".
class cli_error : public std::runtime_error {
 public:
  cli_error(int exit_code, const std::string& message) : std::runtime_error(message), code_(exit_code) {}
  int exit_code() const noexcept { return code_; }

 private:
  int code_;
};

// Shorthands for the two most common codes.
inline cli_error usage_error(const std::string& message) { return cli_error(exit_usage, message); }
inline cli_error io_error(const std::string& message) { return cli_error(exit_io, message); }

// A subcommand: its CLI11 sub-app and what to run once it was selected and parsed.
struct command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

command add_keygen_command(CLI::App& parent);
command add_verify_command(CLI::App& parent);
command add_detect_command(CLI::App& parent);
command add_merge_command(CLI::App& parent);
command add_demo_command(CLI::App& parent);
// Only when built with llama.cpp (TRACEMARK_WITH_LLAMA).
command add_generate_command(CLI::App& parent);
// Only when built with llama.cpp and cpp-httplib (TRACEMARK_WITH_AUDIT): docs/AUDIT_DESIGN.md.
command add_audit_command(CLI::App& parent);
command add_index_command(CLI::App& parent);
// Only when built with llama.cpp and cpp-httplib (TRACEMARK_WITH_SERVE).
command add_serve_command(CLI::App& parent);

// Prints "tracemark <sub>: <message>" on stderr.
void print_error(const std::string& subcommand, const std::string& message);

// Loads a key file; throws cli_error(exit_key) with the library's message (it names the
// file and the problem, never the secret).
key load_key(const std::string& path);

}  // namespace tracemark::cli
