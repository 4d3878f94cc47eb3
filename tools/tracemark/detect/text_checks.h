// Checks of document text shared by the modes of the document reader (input_reader.cpp).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace tracemark::cli {

inline constexpr std::string_view bom = "\xEF\xBB\xBF";

// Only spaces, tabs and line breaks (or nothing).
bool is_blank(std::string_view s) noexcept;

// Checks (and in replace mode repairs) one piece of text; returns the error or "".
// `offset` is where the piece starts in its document, for messages; `what` names it
// ("document", "prompt"). Counts replacements in `replaced`.
std::string check_text(std::string& text, uint64_t offset, bool replace, int64_t& replaced, const char* what);

}  // namespace tracemark::cli
