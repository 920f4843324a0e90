#include "leaves/html/text.h"

#include <cctype>
#include <utility>

namespace leaves::html {

std::string visible_text(std::string_view html) {
  std::string out;
  out.reserve(html.size() / 2);
  size_t i = 0;
  auto skip_until = [&](std::string_view end_tag) {
    auto at = html.find(end_tag, i);
    i = at == std::string_view::npos ? html.size() : at + end_tag.size();
  };
  while (i < html.size()) {
    const char c = html[i];
    if (c == '<') {
      auto close = html.find('>', i);
      if (close == std::string_view::npos) break;
      std::string name;
      for (size_t k = i + 1; k < close && name.size() < 8 && std::isalpha(static_cast<unsigned char>(html[k])); ++k)
        name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(html[k]))));
      i = close + 1;
      if (name == "script") skip_until("</script>");
      if (name == "style") skip_until("</style>");
      out.push_back(' ');
    } else if (c == '&') {
      static const std::pair<std::string_view, char> entities[] = {
          {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&#39;", '\''}, {"&nbsp;", ' '}};
      bool done = false;
      for (const auto& [e, ch] : entities) {
        if (html.substr(i, e.size()) == e) {
          out.push_back(ch);
          i += e.size();
          done = true;
          break;
        }
      }
      if (!done) out.push_back(html[i++]);
    } else {
      out.push_back(c);
      ++i;
    }
  }
  return out;
}

std::string escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 16);
  for (unsigned char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') continue;
        out += static_cast<char>(c);
    }
  }
  return out;
}

std::string collapsed_prefix(std::string_view text, size_t max_bytes) {
  std::string out;
  for (unsigned char c : text) {
    const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
    if (space) {
      if (!out.empty() && out.back() != ' ') out.push_back(' ');
    } else {
      out.push_back(static_cast<char>(c));
    }
    if (out.size() > max_bytes) break;
  }
  if (out.size() > max_bytes) {
    out.resize(max_bytes);
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace leaves::html
