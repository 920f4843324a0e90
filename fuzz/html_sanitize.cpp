// The stored-HTML sanitiser (html/sanitize.h). Input: any bytes, as a leaf's
// content. Beyond not crashing, the output must hold only the allowlist: every
// tag one of the kept elements, every attribute one the element may carry,
// every href/src a safe URL, and nothing of the input's markup left over
// (the writer's format is simple enough to re-read here).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "leaves/html/sanitize.h"

namespace {

const std::set<std::string_view> kTags = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd", "blockquote", "pre",
    "code", "em", "strong", "b", "i", "u", "s", "sub", "sup", "small", "mark", "a", "img", "figure", "figcaption",
    "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "span", "div", "section", "article", "header",
    "footer", "abbr", "cite", "q", "kbd", "samp", "var", "del", "ins", "time"};
const std::set<std::string_view> kAttributes = {"title", "href", "rel", "target", "src", "alt", "width", "height",
                                                 "loading", "referrerpolicy", "colspan", "rowspan", "start", "datetime"};

void check(std::string_view out) {
  size_t i = 0;
  while ((i = out.find('<', i)) != std::string_view::npos) {
    ++i;
    if (i < out.size() && out[i] == '/') ++i;
    size_t end = out.find_first_of(" >", i);
    if (end == std::string_view::npos) std::abort();  // a '<' in text is always escaped
    if (!kTags.contains(out.substr(i, end - i))) std::abort();
    i = end;
    while (i < out.size() && out[i] == ' ') {
      const size_t eq = out.find("=\"", i);
      if (eq == std::string_view::npos) std::abort();
      const std::string_view name = out.substr(i + 1, eq - i - 1);
      if (!kAttributes.contains(name)) std::abort();
      const size_t close = out.find('"', eq + 2);
      if (close == std::string_view::npos) std::abort();
      const std::string_view value = out.substr(eq + 2, close - eq - 2);
      if (value.find_first_of("<>") != std::string_view::npos) std::abort();
      if ((name == "href" || name == "src") && !leaves::html::safe_url(value, name == "href")) std::abort();
      i = close + 1;
    }
    if (i >= out.size() || out[i] != '>') std::abort();
  }
  if (out.find('>') != std::string_view::npos) {
    // Every '>' closes a tag: count them against the '<'.
    size_t lt = 0, gt = 0;
    for (char c : out) lt += c == '<', gt += c == '>';
    if (lt != gt) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  check(leaves::html::sanitize(in));
  return 0;
}
