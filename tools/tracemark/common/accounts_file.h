// Lists of API account ids for attribution (`detect --accounts FILE`): one account id per
// line, as given to the server's config; blank lines and lines starting with '#' are
// skipped; a trailing CR is removed. The master sub-key ("") is always tried first, as the
// server's /v1/detect does.
#pragma once
#include <string>
#include <vector>

namespace tracemark::cli {

// "" followed by the file's accounts. Throws cli_error: exit_io when the file cannot be
// read, exit_usage for an empty list or a repeated account (naming the line).
std::vector<std::string> read_accounts_file(const std::string& path);

}  // namespace tracemark::cli
