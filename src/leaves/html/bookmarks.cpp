#include "leaves/html/bookmarks.h"

#include <gumbo.h>

#include <cctype>
#include <charconv>
#include <memory>

#include "leaves/html/text.h"

namespace leaves::html {
namespace {

constexpr int kMaxDepth = 256;

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  }
  return true;
}

// Nesting depth of the markup, counted on tags alone (without building a
// tree), to refuse what gumbo would free with one stack frame per level.
int max_depth(std::string_view html) {
  int depth = 0, most = 0;
  for (size_t i = 0; i + 1 < html.size(); ++i) {
    if (html[i] != '<') continue;
    const char n = html[i + 1];
    if (n == '/') {
      depth = std::max(0, depth - 1);
    } else if (std::isalpha(static_cast<unsigned char>(n))) {
      // Elements the format leaves open (DT, P, DD) close themselves; count
      // the ones that nest: DL, and anything unknown.
      std::string_view rest = html.substr(i + 1);
      // Void elements never close: not counted either.
      static constexpr std::string_view kFlat[] = {"dt", "p>", "p ", "dd", "meta", "hr", "br", "img", "input",
                                                   "link", "wbr", "col", "area", "base", "source", "embed"};
      bool flat = false;
      for (auto f : kFlat) flat = flat || iequals_prefix(rest, f);
      if (flat) continue;
      most = std::max(most, ++depth);
    }
  }
  return most;
}

const char* attr(const GumboElement& e, const char* name) {
  const GumboAttribute* a = gumbo_get_attribute(&e.attributes, name);
  return a ? a->value : nullptr;
}

std::optional<int64_t> seconds(const char* v) {
  if (!v) return std::nullopt;
  int64_t n = 0;
  std::string_view s(v);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || n <= 0) return std::nullopt;
  // Some tools write microseconds (Firefox's JSON) or milliseconds here.
  while (n > 100000000000LL) n /= 1000;
  return n;
}

std::optional<bool> flag(const char* v) {
  if (!v) return std::nullopt;
  std::string_view s(v);
  return s == "1" || s == "true" || s == "yes";
}

void text_of(const GumboNode* n, std::string& out) {
  if (n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_WHITESPACE || n->type == GUMBO_NODE_CDATA) {
    out += n->v.text.text;
    return;
  }
  if (n->type != GUMBO_NODE_ELEMENT) return;
  const GumboVector& kids = n->v.element.children;
  for (unsigned i = 0; i < kids.length; ++i) text_of(static_cast<const GumboNode*>(kids.data[i]), out);
}

std::vector<std::string> split_tags(const char* v) {
  std::vector<std::string> tags;
  if (!v) return tags;
  std::string_view s(v);
  while (!s.empty()) {
    const auto comma = s.find(',');
    auto t = s.substr(0, comma);
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.remove_prefix(1);
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
    if (!t.empty()) tags.emplace_back(t);
    s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
  }
  return tags;
}

// Walks the tree in document order without recursion.
void collect(const GumboNode* root, std::vector<bookmark>& out) {
  std::vector<std::pair<const GumboNode*, unsigned>> stack{{root, 0}};
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    const GumboVector& kids = node->v.element.children;
    if (next >= kids.length) {
      stack.pop_back();
      continue;
    }
    const auto* kid = static_cast<const GumboNode*>(kids.data[next++]);
    if (kid->type != GUMBO_NODE_ELEMENT) continue;
    const GumboElement& e = kid->v.element;
    if (e.tag == GUMBO_TAG_A) {
      const char* href = attr(e, "href");
      if (!href || !*href) continue;
      bookmark b;
      b.url = href;
      text_of(kid, b.title);
      b.title = collapsed_prefix(b.title, 4096);
      b.tags = split_tags(attr(e, "tags"));
      b.added_s = seconds(attr(e, "add_date"));
      b.modified_s = seconds(attr(e, "last_modified"));
      b.is_private = flag(attr(e, "private"));
      b.starred = flag(attr(e, "starred"));
      b.archived = flag(attr(e, "archived"));
      out.push_back(std::move(b));
      continue;
    }
    if (e.tag == GUMBO_TAG_DD && !out.empty() && out.back().description.empty()) {
      // The description of the bookmark just before; its own text only (a
      // <DD> may swallow the next <DT>s when the file leaves it open).
      std::string d;
      for (unsigned i = 0; i < e.children.length; ++i) {
        const auto* c = static_cast<const GumboNode*>(e.children.data[i]);
        if (c->type == GUMBO_NODE_TEXT || c->type == GUMBO_NODE_WHITESPACE) d += c->v.text.text;
      }
      const auto first = d.find_first_not_of(" \t\r\n");
      const auto last = d.find_last_not_of(" \t\r\n");
      out.back().description = first == std::string::npos ? std::string() : d.substr(first, last - first + 1);
    }
    stack.emplace_back(kid, 0);
  }
}

}  // namespace

bool looks_like_bookmarks(std::string_view head) {
  while (!head.empty() && (std::isspace(static_cast<unsigned char>(head.front())) || head.front() == '\xEF' ||
                           head.front() == '\xBB' || head.front() == '\xBF')) {
    head.remove_prefix(1);  // white space and a UTF-8 byte order mark
  }
  return iequals_prefix(head, "<!DOCTYPE NETSCAPE-Bookmark-file");
}

result<std::vector<bookmark>> parse_bookmarks(std::string_view html) {
  if (max_depth(html) > kMaxDepth) {
    return make_error(errc::invalid_argument,
                      "the bookmark file nests folders deeper than " + std::to_string(kMaxDepth) + " levels");
  }
  std::unique_ptr<GumboOutput, void (*)(GumboOutput*)> doc(
      gumbo_parse_with_options(&kGumboDefaultOptions, html.data(), html.size()),
      [](GumboOutput* o) { gumbo_destroy_output(&kGumboDefaultOptions, o); });
  if (!doc || !doc->root) return make_error(errc::invalid_argument, "not an HTML document");
  std::vector<bookmark> out;
  collect(doc->root, out);
  return out;
}

}  // namespace leaves::html
