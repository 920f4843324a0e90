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

}  // namespace leaves::html
