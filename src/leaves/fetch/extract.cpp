#include "leaves/fetch/extract.h"

#include <gumbo.h>

#include <algorithm>
#include <boost/url.hpp>
#include <cctype>
#include <memory>
#include <unordered_map>
#include <vector>

#include "leaves/html/sanitize.h"
#include "leaves/html/text.h"

namespace leaves::fetch {
namespace {

constexpr size_t kMaxTags = 50000;
constexpr size_t kMaxDepth = 1000;
constexpr size_t kMaxCopiedBytes = 1024 * 1024;
constexpr size_t kExcerptBytes = 300;
constexpr size_t kMinParagraph = 25;  // characters of text for a paragraph to score

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string collapse(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

const char* attr(const GumboNode* n, const char* name) {
  if (n->type != GUMBO_NODE_ELEMENT) return nullptr;
  const GumboAttribute* a = gumbo_get_attribute(&n->v.element.attributes, name);
  return a ? a->value : nullptr;
}

bool is_element(const GumboNode* n, GumboTag t) { return n->type == GUMBO_NODE_ELEMENT && n->v.element.tag == t; }

// Elements a parser closes by itself (void ones, and those the next sibling
// closes): they do not deepen the tree.
bool closes_itself(std::string_view name) {
  static constexpr std::string_view kNames[] = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
                                                "meta", "param", "source", "track", "wbr", "p", "li", "dt", "dd",
                                                "option", "tr", "td", "th", "thead", "tbody"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

// Formatting elements: the HTML parser re-opens those left open inside each
// new block (with their attributes), so a few left open before many blocks
// make it build many copies.
bool formatting(std::string_view name) {
  static constexpr std::string_view kNames[] = {"a", "b", "big", "code", "em", "font", "i", "nobr",
                                                "s", "small", "strike", "strong", "tt", "u"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

bool raw_text(std::string_view name) { return name == "script" || name == "style" || name == "textarea"; }

size_t find_ci(std::string_view hay, std::string_view needle, size_t from) {
  for (size_t i = from; i + needle.size() <= hay.size(); ++i) {
    size_t k = 0;
    while (k < needle.size() && std::tolower(static_cast<unsigned char>(hay[i + k])) == needle[k]) ++k;
    if (k == needle.size()) return i;
  }
  return std::string_view::npos;
}

// The document cut where parsing it would cost too much (gumbo closes what
// is left open at the cut), judged from the tags as written:
// - at its kMaxTags-th tag;
// - where elements nest deeper than kMaxDepth (gumbo's time grows with the
//   square of the depth: 50,000 nested elements took 6 s): an element opens,
//   and its end tag closes it and what was opened inside it; end tags that
//   close nothing open are ignored, as the parser does;
// - where formatting elements left open would be copied into more than
//   kMaxCopiedBytes in all (each tag met while they are open counts their
//   start tags' bytes once more).
// Comments and the text of script, style and textarea are skipped.
std::string_view bounded(std::string_view html) {
  size_t tags = 0;
  std::vector<std::pair<std::string, size_t>> open;  // name, bytes of its start tag
  size_t open_formatting_bytes = 0;
  size_t copied = 0;
  size_t i = 0;
  while ((i = html.find('<', i)) != std::string_view::npos) {
    const size_t at = i;
    if (html.substr(at, 4) == "<!--") {
      const size_t end = html.find("-->", at + 4);
      if (end == std::string_view::npos) break;
      i = end + 3;
      continue;
    }
    size_t j = at + 1;
    const bool closing = j < html.size() && html[j] == '/';
    if (closing) ++j;
    if (j >= html.size() || !std::isalpha(static_cast<unsigned char>(html[j]))) {
      ++i;  // "<" in text, "<!doctype", "<?xml": not an element
      continue;
    }
    std::string name;
    while (j < html.size() && (std::isalnum(static_cast<unsigned char>(html[j])) || html[j] == '-')) {
      if (name.size() < 32) name += static_cast<char>(std::tolower(static_cast<unsigned char>(html[j])));
      ++j;
    }
    const size_t gt = html.find('>', j);
    const size_t tag_end = gt == std::string_view::npos ? html.size() : gt + 1;
    if (++tags == kMaxTags) return html.substr(0, at);
    copied += open_formatting_bytes;
    if (copied > kMaxCopiedBytes) return html.substr(0, at);
    if (closing) {
      for (size_t k = open.size(); k-- > 0;) {
        if (open[k].first != name) continue;
        for (size_t m = k; m < open.size(); ++m) {
          if (formatting(open[m].first)) open_formatting_bytes -= open[m].second;
        }
        open.resize(k);
        break;
      }
    } else if (!closes_itself(name)) {  // ("<b/>" opens a b in HTML: no exception for "/>")
      const size_t bytes = tag_end - at;
      open.emplace_back(name, bytes);
      if (formatting(name)) open_formatting_bytes += bytes;
      if (open.size() > kMaxDepth) return html.substr(0, at);
      if (raw_text(name)) {  // its text is not markup: on to its end tag
        const size_t end = find_ci(html, "</" + name, tag_end);
        if (end == std::string_view::npos) break;
        open.pop_back();
        i = end;
        continue;
      }
    }
    i = tag_end;
  }
  return html;
}

// Children of an element (or the document) in order.
const GumboVector* children_of(const GumboNode* n) {
  if (n->type == GUMBO_NODE_ELEMENT || n->type == GUMBO_NODE_TEMPLATE) return &n->v.element.children;
  if (n->type == GUMBO_NODE_DOCUMENT) return &n->v.document.children;
  return nullptr;
}

// Elements whose content is never the article's.
bool skipped(GumboTag t) {
  switch (t) {
    case GUMBO_TAG_SCRIPT:
    case GUMBO_TAG_STYLE:
    case GUMBO_TAG_NOSCRIPT:
    case GUMBO_TAG_TEMPLATE:
    case GUMBO_TAG_NAV:
    case GUMBO_TAG_FOOTER:
    case GUMBO_TAG_ASIDE:
    case GUMBO_TAG_FORM:
    case GUMBO_TAG_IFRAME:
    case GUMBO_TAG_SVG:
    case GUMBO_TAG_HEAD:
      return true;
    default:
      return false;
  }
}

bool contains_any(const std::string& s, std::initializer_list<const char*> words) {
  return std::any_of(words.begin(), words.end(), [&](const char* w) { return s.find(w) != std::string::npos; });
}

// What an element's class and id say about it: -25, 0 or +25.
int class_weight(const GumboNode* n) {
  std::string names;
  if (const char* c = attr(n, "class")) names += lower(c);
  names += ' ';
  if (const char* i = attr(n, "id")) names += lower(i);
  if (names.size() <= 1) return 0;
  int w = 0;
  if (contains_any(names, {"comment", "footer", "footnote", "masthead", "sidebar", "sponsor", "advert", "promo",
                           "related", "share", "social", "cookie", "banner", "popup", "subscribe", "newsletter",
                           "menu", "nav", "breadcrumb", "widget", "outbrain", "taboola"}))
    w -= 25;
  if (contains_any(names, {"article", "content", "main", "post", "entry", "story", "body", "text", "blog"})) w += 25;
  return w;
}

int tag_weight(GumboTag t) {
  switch (t) {
    case GUMBO_TAG_ARTICLE: return 10;
    case GUMBO_TAG_MAIN:
    case GUMBO_TAG_DIV:
    case GUMBO_TAG_SECTION: return 5;
    case GUMBO_TAG_PRE:
    case GUMBO_TAG_TD:
    case GUMBO_TAG_BLOCKQUOTE: return 3;
    case GUMBO_TAG_OL:
    case GUMBO_TAG_UL:
    case GUMBO_TAG_DL:
    case GUMBO_TAG_LI:
    case GUMBO_TAG_ADDRESS: return -3;
    case GUMBO_TAG_H1:
    case GUMBO_TAG_H2:
    case GUMBO_TAG_H3:
    case GUMBO_TAG_H4:
    case GUMBO_TAG_H5:
    case GUMBO_TAG_H6:
    case GUMBO_TAG_TH: return -5;
    default: return 0;
  }
}

struct lengths {
  size_t text = 0;   // characters of text (bytes of collapsed text, near enough)
  size_t links = 0;  // of it, inside links
  size_t commas = 0;
};

bool void_element(GumboTag t) {
  switch (t) {
    case GUMBO_TAG_AREA:
    case GUMBO_TAG_BASE:
    case GUMBO_TAG_BR:
    case GUMBO_TAG_COL:
    case GUMBO_TAG_EMBED:
    case GUMBO_TAG_HR:
    case GUMBO_TAG_IMG:
    case GUMBO_TAG_INPUT:
    case GUMBO_TAG_LINK:
    case GUMBO_TAG_META:
    case GUMBO_TAG_PARAM:
    case GUMBO_TAG_SOURCE:
    case GUMBO_TAG_TRACK:
    case GUMBO_TAG_WBR: return true;
    default: return false;
  }
}

class extractor {
 public:
  extractor(std::string_view page_url) : base_(page_url) {}

  page run(const GumboOutput* doc) {
    walk(doc->document);
    page p;
    p.title = collapse(!og_title_.empty() ? og_title_ : title_);
    p.language = lower(collapse(language_));
    if (p.language.empty() && doc->root) {
      if (const char* l = attr(doc->root, "lang")) p.language = lower(collapse(l));
    }
    if (p.language.size() > 35) p.language.clear();  // not a language tag
    p.canonical_url = resolve_url(base_, !canonical_.empty() ? canonical_ : og_url_);
    p.favicon = resolve_url(base_, favicon_.empty() ? "/favicon.ico" : favicon_);
    p.published_at = collapse(published_at_);
    p.published_by = collapse(author_);
    if (const GumboNode* best = best_candidate()) {
      std::string html;
      serialize(best, html);
      p.content = html::sanitize(html);
      p.content_text = collapse(html::visible_text(p.content));
      if (p.published_at.empty()) p.published_at = first_time_;
    }
    for (const auto& pic : {og_image_, twitter_image_, first_image_}) {
      if (pic.empty()) continue;
      auto abs = resolve_url(base_, pic);
      if (!abs.empty() && html::safe_url(abs, false)) {
        p.preview_picture = abs;
        break;
      }
    }
    p.excerpt = html::collapsed_prefix(collapse(!description_.empty() ? description_ : p.content_text), kExcerptBytes);
    p.reading_time = reading_minutes(p.content_text);
    return p;
  }

 private:
  // One pass over the tree, iteratively (pages nest deeply): metadata from
  // <head>, and the text lengths of every element (after its children).
  void walk(const GumboNode* root) {
    struct frame {
      const GumboNode* n;
      bool done;
    };
    std::vector<frame> stack{{root, false}};
    std::vector<const GumboNode*> paragraphs;
    while (!stack.empty()) {
      auto [n, done] = stack.back();
      stack.pop_back();
      if (n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_WHITESPACE || n->type == GUMBO_NODE_CDATA) {
        continue;  // counted by their parent
      }
      if (n->type == GUMBO_NODE_ELEMENT) {
        const GumboTag t = n->v.element.tag;
        if (!done) {
          look_at(n);
          if (skipped(t) && t != GUMBO_TAG_HEAD) continue;
          if (t == GUMBO_TAG_HEAD) {  // its metadata is read by look_at on each element
            push_children(n, stack);
            continue;
          }
          if (class_weight(n) < 0 && t != GUMBO_TAG_BODY && t != GUMBO_TAG_HTML) continue;  // boilerplate
          stack.push_back({n, true});
          push_children(n, stack);
          continue;
        }
        // After the children: this element's lengths.
        lengths len;
        for (unsigned i = 0; i < n->v.element.children.length; ++i) {
          const auto* c = static_cast<const GumboNode*>(n->v.element.children.data[i]);
          if (c->type == GUMBO_NODE_TEXT || c->type == GUMBO_NODE_CDATA) {
            const std::string_view s(c->v.text.text);
            len.text += s.size();
            len.commas += static_cast<size_t>(std::count(s.begin(), s.end(), ','));
          } else if (c->type == GUMBO_NODE_ELEMENT) {
            auto it = lengths_.find(c);
            if (it == lengths_.end()) continue;
            len.text += it->second.text;
            len.commas += it->second.commas;
            len.links += c->v.element.tag == GUMBO_TAG_A ? it->second.text : it->second.links;
          }
        }
        lengths_[n] = len;
        if ((t == GUMBO_TAG_P || t == GUMBO_TAG_PRE || t == GUMBO_TAG_BLOCKQUOTE) && len.text >= kMinParagraph)
          paragraphs.push_back(n);
        continue;
      }
      push_children(n, stack);  // the document
    }
    // Each paragraph scores its parent fully and its grandparent by half.
    for (const GumboNode* p : paragraphs) {
      const auto& len = lengths_[p];
      const double s = 1.0 + static_cast<double>(len.commas) + std::min(static_cast<double>(len.text) / 100.0, 3.0);
      const GumboNode* up = p->parent;
      for (int level = 0; level < 2 && up && up->type == GUMBO_NODE_ELEMENT; ++level, up = up->parent) {
        auto [it, fresh] = scores_.try_emplace(up, 0.0);
        if (fresh) it->second = tag_weight(up->v.element.tag) + class_weight(up);
        it->second += level == 0 ? s : s / 2;
      }
    }
  }

  template <class Stack>
  static void push_children(const GumboNode* n, Stack& stack) {
    const GumboVector* kids = children_of(n);
    if (!kids) return;
    for (unsigned i = kids->length; i-- > 0;) stack.push_back({static_cast<const GumboNode*>(kids->data[i]), false});
  }

  void look_at(const GumboNode* n) {
    const GumboTag t = n->v.element.tag;
    if (t == GUMBO_TAG_TITLE && title_.empty() && n->v.element.children.length > 0) {
      const auto* c = static_cast<const GumboNode*>(n->v.element.children.data[0]);
      if (c->type == GUMBO_NODE_TEXT) title_ = c->v.text.text;
    } else if (t == GUMBO_TAG_META) {
      const char* content = attr(n, "content");
      if (!content) return;
      std::string key = lower(attr(n, "property") ? attr(n, "property") : attr(n, "name") ? attr(n, "name") : "");
      if (key.empty() && attr(n, "http-equiv")) key = "http-equiv:" + lower(attr(n, "http-equiv"));
      auto set = [&](std::string& field) {
        if (field.empty()) field = content;
      };
      if (key == "og:title") set(og_title_);
      else if (key == "og:image" || key == "og:image:url" || key == "og:image:secure_url") set(og_image_);
      else if (key == "twitter:image" || key == "twitter:image:src") set(twitter_image_);
      else if (key == "description" || key == "og:description" || key == "twitter:description") set(description_);
      else if (key == "author" || key == "article:author" || key == "dc.creator") set(author_);
      else if (key == "article:published_time" || key == "date" || key == "dc.date" || key == "pubdate") set(published_at_);
      else if (key == "og:url") set(og_url_);
      else if (key == "http-equiv:content-language") set(language_);
    } else if (t == GUMBO_TAG_LINK) {
      const char* rel = attr(n, "rel");
      const char* href = attr(n, "href");
      if (!rel || !href) return;
      const std::string r = lower(rel);
      if (r == "canonical" && canonical_.empty()) canonical_ = href;
      if (favicon_.empty() && (r == "icon" || r == "shortcut icon" || r == "apple-touch-icon")) favicon_ = href;
    } else if (t == GUMBO_TAG_BASE) {
      if (const char* href = attr(n, "href"); href && !based_) {
        auto b = resolve_url(base_, href);
        if (!b.empty()) base_ = b;
        based_ = true;
      }
    } else if (t == GUMBO_TAG_TIME && first_time_.empty()) {
      if (const char* d = attr(n, "datetime")) first_time_ = d;
    }
  }

  // The element that scored most, after its link density; the body when
  // nothing scored (a page of no prose keeps its text).
  const GumboNode* best_candidate() {
    const GumboNode* best = nullptr;
    double top = 0;
    for (const auto& [n, score] : scores_) {
      const auto& len = lengths_[n];
      const double density = len.text ? static_cast<double>(len.links) / static_cast<double>(len.text) : 1.0;
      const double s = score * (1.0 - density);
      if (!best || s > top) {
        best = n;
        top = s;
      }
    }
    if (best) return best;
    return body_;
  }

  // The subtree as HTML, iteratively, with its links and pictures absolute
  // (a lazy picture's data-src taken for its src); the sanitiser decides
  // what of it stays.
  void serialize(const GumboNode* root, std::string& out) {
    struct frame {
      const GumboNode* n;
      bool close;
    };
    std::vector<frame> stack{{root, false}};
    while (!stack.empty()) {
      auto [n, close] = stack.back();
      stack.pop_back();
      if (n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_WHITESPACE || n->type == GUMBO_NODE_CDATA) {
        out += html::escape(n->v.text.text);
        continue;
      }
      if (n->type != GUMBO_NODE_ELEMENT) continue;
      const GumboTag t = n->v.element.tag;
      const char* name = gumbo_normalized_tagname(t);
      if (t == GUMBO_TAG_UNKNOWN || !*name) {
        // An unknown element: its children only.
        if (!close) push_children(n, stack);
        continue;
      }
      if (close) {
        out += "</";
        out += name;
        out += '>';
        continue;
      }
      if (skipped(t)) continue;
      if (n != root && class_weight(n) < 0) continue;
      out += '<';
      out += name;
      auto put = [&](const char* key, const std::string& value) {
        out += ' ';
        out += key;
        out += "=\"";
        out += html::escape(value);
        out += '"';
      };
      for (const char* key : {"alt", "title", "width", "height", "colspan", "rowspan", "start", "datetime"}) {
        if (const char* v = attr(n, key)) put(key, v);
      }
      if (t == GUMBO_TAG_A) {
        if (const char* h = attr(n, "href")) {
          const std::string abs = std::string_view(h).starts_with("mailto:") ? std::string(h) : resolve_url(base_, h);
          if (!abs.empty()) put("href", abs);
        }
      }
      if (t == GUMBO_TAG_IMG) {
        const char* src = attr(n, "src");
        const char* lazy = attr(n, "data-src");
        if (lazy && (!src || std::string_view(src).starts_with("data:"))) src = lazy;
        if (src) {
          const std::string abs = resolve_url(base_, src);
          if (!abs.empty()) {
            put("src", abs);
            if (first_image_.empty()) first_image_ = abs;
          }
        }
      }
      out += '>';
      if (void_element(t)) continue;
      stack.push_back({n, true});
      push_children(n, stack);
    }
  }

 public:
  void set_body(const GumboNode* b) { body_ = b; }

 private:
  std::string base_;
  bool based_ = false;
  std::string title_, og_title_, og_image_, twitter_image_, description_, author_, published_at_, og_url_,
      language_, canonical_, favicon_, first_time_, first_image_;
  const GumboNode* body_ = nullptr;
  std::unordered_map<const GumboNode*, lengths> lengths_;
  std::unordered_map<const GumboNode*, double> scores_;
};

const GumboNode* find_body(const GumboOutput* doc) {
  if (!doc->root) return nullptr;
  const GumboVector& kids = doc->root->v.element.children;
  for (unsigned i = 0; i < kids.length; ++i) {
    const auto* c = static_cast<const GumboNode*>(kids.data[i]);
    if (is_element(c, GUMBO_TAG_BODY)) return c;
  }
  return nullptr;
}

}  // namespace

int reading_minutes(std::string_view text) {
  size_t words = 0;
  bool in_word = false;
  for (char c : text) {
    const bool space = std::isspace(static_cast<unsigned char>(c));
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return static_cast<int>((words + 199) / 200);
}

std::string resolve_url(std::string_view base, std::string_view ref) {
  std::string r = collapse(ref);
  if (r.empty() || r.size() > 4096) return {};
  auto b = boost::urls::parse_uri(base);
  if (!b) return {};
  auto rr = boost::urls::parse_uri_reference(r);
  if (!rr) return {};
  boost::urls::url dest;
  if (!boost::urls::resolve(*b, *rr, dest)) return {};
  dest.remove_fragment();
  dest.normalize_scheme();
  const auto scheme = dest.scheme();
  if (scheme != "http" && scheme != "https") return {};
  if (dest.encoded_host().empty()) return {};
  return std::string(dest.buffer());
}

page extract_html(std::string_view html, std::string_view page_url) {
  const std::string_view doc_text = bounded(html);
  GumboOptions opts = kGumboDefaultOptions;
  opts.max_errors = 0;  // errors are not kept: a broken page costs no memory for them
  std::unique_ptr<GumboOutput, void (*)(GumboOutput*)> doc(
      gumbo_parse_with_options(&opts, doc_text.data(), doc_text.size()),
      [](GumboOutput* o) { gumbo_destroy_output(&kGumboDefaultOptions, o); });
  extractor x(page_url);
  x.set_body(find_body(doc.get()));
  return x.run(doc.get());
}

}  // namespace leaves::fetch
