#include "leaves/base/separated.h"

namespace leaves {
namespace {

bool escaped_char(char c) { return c == '\\' || c == '|' || c == ','; }

}  // namespace

std::string join_escaped(const std::vector<std::string>& names, char sep) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += sep;
    for (char c : n) {
      if (escaped_char(c)) out += '\\';
      out += c;
    }
  }
  return out;
}

std::vector<std::string> split_escaped(std::string_view text, char sep) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    size_t b = 0, e = cur.size();
    while (b < e && cur[b] == ' ') ++b;
    while (e > b && cur[e - 1] == ' ') --e;
    if (e > b) out.emplace_back(cur.substr(b, e - b));
    cur.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\' && i + 1 < text.size() && escaped_char(text[i + 1])) {
      cur += text[++i];
    } else if (c == sep) {
      flush();
    } else {
      cur += c;
    }
  }
  flush();
  return out;
}

bool has_unescaped(std::string_view text, char sep) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size() && escaped_char(text[i + 1])) {
      ++i;
    } else if (text[i] == sep) {
      return true;
    }
  }
  return false;
}

}  // namespace leaves
