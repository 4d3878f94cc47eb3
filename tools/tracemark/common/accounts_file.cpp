#include "common/accounts_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>

#include "common/cli.h"

namespace tracemark::cli {

std::vector<std::string> read_accounts_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("--accounts: cannot open " + path + ": " + std::strerror(errno));
  std::vector<std::string> accounts{""};
  std::map<std::string, int64_t> first_line;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const auto [it, inserted] = first_line.emplace(line, line_no);
    if (!inserted)
      throw usage_error("--accounts: " + path + ":" + std::to_string(line_no) + " repeats the account on line " +
                        std::to_string(it->second));
    accounts.push_back(line);
  }
  if (in.bad()) throw io_error("--accounts: cannot read " + path);
  if (accounts.size() == 1) throw usage_error("--accounts: " + path + " lists no account (one id per line)");
  return accounts;
}

}  // namespace tracemark::cli
