// Lists of names in one text field (the tags of a CSV row, the TAGS
// attribute of a bookmark file): joined by a separator, with a backslash
// before any '\', '|' or ',' inside a name, so a tag holding either
// separator comes back whole. Names without those characters are written
// as they are, which is what other tools read and write.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace leaves {

std::string join_escaped(const std::vector<std::string>& names, char sep);

// Splits at each unescaped `sep`, takes the escapes off and trims spaces;
// empty names are dropped. A backslash before any other character stays.
std::vector<std::string> split_escaped(std::string_view text, char sep);

// Whether `text` has `sep` outside an escape.
bool has_unescaped(std::string_view text, char sep);

}  // namespace leaves
