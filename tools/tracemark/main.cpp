// tracemark: watermark LLM outputs with keyed green lists and detect them.
// This file only wires the subcommands; each lives in its own cmd_*.cpp.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <iostream>
#include <vector>

#include "common/cli.h"
#include "tracemark/error.h"

namespace tracemark::cli {

const char* const exit_codes_help =
    "Exit codes:\n"
    "  0  success: every input record was processed\n"
    "  1  at least one input line gave an error record (all other records were still written)\n"
    "  2  usage error: unknown flag, bad or missing flag value, input that does not fit the flags\n"
    "  3  key file problem: missing, truncated, corrupt, or readable by group/others\n"
    "  4  input/output error: input file unreadable, output not writable (or another runtime failure)\n";

void print_error(const std::string& subcommand, const std::string& message) {
  std::fflush(stdout);
  std::cerr << "tracemark" << (subcommand.empty() ? "" : " ") << subcommand << ": " << message << std::endl;
}

key load_key(const std::string& path) {
  try {
    return key::load(path);
  } catch (const tracemark::error& e) {
    throw cli_error(exit_key, e.what());
  }
}

}  // namespace tracemark::cli

int main(int argc, char** argv) {
  using namespace tracemark::cli;
  CLI::App app{"tracemark " TRACEMARK_VERSION
               ": watermark LLM outputs with keyed green lists and detect them", "tracemark"};
  app.set_version_flag("--version", "tracemark " TRACEMARK_VERSION " (watermark format v1)");
  app.require_subcommand(1);
  app.footer(std::string("Run 'tracemark <subcommand> --help' for the flags of a subcommand.\n\n") + exit_codes_help);

  std::vector<command> commands;
  try {
    commands.push_back(add_keygen_command(app));
    commands.push_back(add_detect_command(app));
    commands.push_back(add_merge_command(app));
    commands.push_back(add_verify_command(app));
    commands.push_back(add_demo_command(app));
#ifdef TRACEMARK_WITH_LLAMA
    commands.push_back(add_generate_command(app));
#endif
#ifdef TRACEMARK_WITH_AUDIT
    commands.push_back(add_audit_command(app));
    commands.push_back(add_index_command(app));
#endif
#ifdef TRACEMARK_WITH_SERVE
    commands.push_back(add_serve_command(app));
#endif
  } catch (const std::exception& e) {  // a bug in the option set-up
    print_error("", std::string("internal error: ") + e.what());
    return 70;
  }

  if (argc <= 1) {  // no subcommand: show what there is
    std::cerr << app.help();
    return exit_usage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? exit_ok : exit_usage;
  }

  for (const command& c : commands) {
    if (!c.app->parsed()) continue;
    try {
      return c.run();
    } catch (const cli_error& e) {
      print_error(c.app->get_name(), e.what());
      if (e.exit_code() == exit_usage)
        std::cerr << "Run 'tracemark " << c.app->get_name() << " --help' for the usage." << std::endl;
      return e.exit_code();
    } catch (const std::exception& e) {  // out of memory, or a failure no subcommand anticipated
      print_error(c.app->get_name(), e.what());
      return exit_io;
    }
  }
  return exit_usage;  // unreachable: require_subcommand(1)
}
