#include "leaves/html/bookmarks.h"

#include <gumbo.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <memory>
#include <string>
#include <vector>

#include "leaves/base/separated.h"
#include "leaves/html/text.h"

namespace leaves::html {
namespace {

constexpr size_t kMaxDepth = 256;

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  }
  return true;
}

// A tag's name, lower case, from just after its '<' (or "</").
std::string tag_name(std::string_view s) {
  std::string name;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != ':') break;
    if (name.size() == 32) break;
    name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return name;
}

// An upper bound of the depth gumbo's tree will have, counted on the tags
// alone (without building a tree), to refuse what gumbo would parse in
// quadratic time and free with one stack frame per level. Every element that
// can nest counts from its start tag; an end tag uncounts only the element
// counted last, and only when it names it: an unmatched or misnested end tag
// never lowers the count (the parser may ignore it).
size_t max_depth(std::string_view html) {
  // Elements the format leaves open (DT, P, DD) close themselves, and void
  // elements never open: neither counts.
  static constexpr std::string_view kFlat[] = {"dt",   "dd", "p",   "meta", "hr",   "br",     "img",  "input",
                                               "link", "wbr", "col", "area", "base", "source", "embed", "track"};
  std::vector<std::string> open;
  size_t most = 0;
  for (size_t i = 0; i + 1 < html.size(); ++i) {
    if (html[i] != '<') continue;
    const bool closing = html[i + 1] == '/';
    const std::string_view rest = html.substr(i + (closing ? 2 : 1));
    if (rest.empty() || !std::isalpha(static_cast<unsigned char>(rest.front()))) continue;
    std::string name = tag_name(rest);
    if (std::find(std::begin(kFlat), std::end(kFlat), name) != std::end(kFlat)) continue;
    if (closing) {
      if (!open.empty() && open.back() == name) open.pop_back();
    } else {
      open.push_back(std::move(name));
      most = std::max(most, open.size());
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

// The text under a node, in document order, without recursion.
void text_of(const GumboNode* top, std::string& out) {
  std::vector<const GumboNode*> stack{top};
  while (!stack.empty()) {
    const GumboNode* n = stack.back();
    stack.pop_back();
    if (n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_WHITESPACE || n->type == GUMBO_NODE_CDATA) {
      out += n->v.text.text;
    } else if (n->type == GUMBO_NODE_ELEMENT) {
      const GumboVector& kids = n->v.element.children;
      for (unsigned i = kids.length; i-- > 0;) stack.push_back(static_cast<const GumboNode*>(kids.data[i]));
    }
  }
}

std::vector<std::string> split_tags(const char* v) { return v ? split_escaped(v, ',') : std::vector<std::string>{}; }

// Walks the tree in document order without recursion.
void collect(const GumboNode* root, std::vector<bookmark>& out) {
  std::vector<std::pair<const GumboNode*, unsigned>> stack{{root, 0}};
  bool in_archive = false;  // Pocket's file: links under <h1>Read Archive</h1> are archived
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
    if (e.tag == GUMBO_TAG_H1) {
      std::string heading;
      text_of(kid, heading);
      in_archive = heading.find("Read Archive") != std::string::npos;
      continue;
    }
    if (e.tag == GUMBO_TAG_A) {
      const char* href = attr(e, "href");
      if (!href || !*href) continue;
      bookmark b;
      b.url = href;
      text_of(kid, b.title);
      b.title = collapsed_prefix(b.title, 4096);
      b.tags = split_tags(attr(e, "tags"));
      b.added_s = seconds(attr(e, "add_date"));
      if (!b.added_s) b.added_s = seconds(attr(e, "time_added"));  // Pocket
      b.modified_s = seconds(attr(e, "last_modified"));
      b.is_private = flag(attr(e, "private"));
      b.starred = flag(attr(e, "starred"));
      b.archived = flag(attr(e, "archived"));
      if (!b.archived && in_archive) b.archived = true;
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
  if (iequals_prefix(head, "<!DOCTYPE NETSCAPE-Bookmark-file")) return true;
  // Pocket's export is plain HTML of the same shape: <a href time_added tags>.
  return head.find("<title>Pocket Export</title>") != std::string_view::npos;
}

result<std::vector<bookmark>> parse_bookmarks(std::string_view html) {
  if (max_depth(html) > kMaxDepth) {
    return make_error(errc::invalid_argument,
                      "the bookmark file nests folders deeper than " + std::to_string(kMaxDepth) + " levels");
  }
  GumboOptions opts = kGumboDefaultOptions;
  // No error list: gumbo copies the stack of open elements into each error,
  // which takes memory quadratic in the nesting (20,000 levels: 3 GB).
  opts.max_errors = 0;
  std::unique_ptr<GumboOutput, void (*)(GumboOutput*)> doc(gumbo_parse_with_options(&opts, html.data(), html.size()),
      [](GumboOutput* o) { gumbo_destroy_output(&kGumboDefaultOptions, o); });
  if (!doc || !doc->root) return make_error(errc::invalid_argument, "not an HTML document");
  std::vector<bookmark> out;
  collect(doc->root, out);
  return out;
}

}  // namespace leaves::html
