#include "leaves/html/sanitize.h"

#include <gumbo.h>

#include <algorithm>
#include <array>
#include <memory>
#include <vector>

namespace leaves::html {
namespace {

constexpr int kMaxDepth = 64;
constexpr int kMaxNesting = 512;
// A document of more tags than this is shown as its text alone, unparsed:
// gumbo frees its tree recursively (a stack frame per level), and parsing
// deeply nested elements is quadratic (20,000 nested <div>: 0.36 s here;
// 40,000: 1.6 s). Articles have hundreds to a few thousand.
constexpr size_t kMaxTags = 20000;

// Elements written back as themselves.
constexpr std::array kAllowed = {
    GUMBO_TAG_P,      GUMBO_TAG_BR,     GUMBO_TAG_HR,      GUMBO_TAG_H1,      GUMBO_TAG_H2,    GUMBO_TAG_H3,
    GUMBO_TAG_H4,     GUMBO_TAG_H5,     GUMBO_TAG_H6,      GUMBO_TAG_UL,      GUMBO_TAG_OL,    GUMBO_TAG_LI,
    GUMBO_TAG_DL,     GUMBO_TAG_DT,     GUMBO_TAG_DD,      GUMBO_TAG_BLOCKQUOTE, GUMBO_TAG_PRE, GUMBO_TAG_CODE,
    GUMBO_TAG_EM,     GUMBO_TAG_STRONG, GUMBO_TAG_B,       GUMBO_TAG_I,       GUMBO_TAG_U,     GUMBO_TAG_S,
    GUMBO_TAG_SUB,    GUMBO_TAG_SUP,    GUMBO_TAG_SMALL,   GUMBO_TAG_MARK,    GUMBO_TAG_A,     GUMBO_TAG_IMG,
    GUMBO_TAG_FIGURE, GUMBO_TAG_FIGCAPTION, GUMBO_TAG_TABLE, GUMBO_TAG_THEAD, GUMBO_TAG_TBODY, GUMBO_TAG_TFOOT,
    GUMBO_TAG_TR,     GUMBO_TAG_TH,     GUMBO_TAG_TD,      GUMBO_TAG_CAPTION, GUMBO_TAG_SPAN,  GUMBO_TAG_DIV,
    GUMBO_TAG_SECTION, GUMBO_TAG_ARTICLE, GUMBO_TAG_HEADER, GUMBO_TAG_FOOTER, GUMBO_TAG_ABBR,  GUMBO_TAG_CITE,
    GUMBO_TAG_Q,      GUMBO_TAG_KBD,    GUMBO_TAG_SAMP,    GUMBO_TAG_VAR,     GUMBO_TAG_DEL,   GUMBO_TAG_INS,
    GUMBO_TAG_TIME,
};

// Elements dropped with all they contain.
constexpr std::array kDropped = {
    GUMBO_TAG_SCRIPT,   GUMBO_TAG_STYLE,  GUMBO_TAG_IFRAME,  GUMBO_TAG_OBJECT,   GUMBO_TAG_EMBED,  GUMBO_TAG_APPLET,
    GUMBO_TAG_FORM,     GUMBO_TAG_INPUT,  GUMBO_TAG_BUTTON,  GUMBO_TAG_SELECT,   GUMBO_TAG_TEXTAREA, GUMBO_TAG_OPTION,
    GUMBO_TAG_SVG,      GUMBO_TAG_MATH,   GUMBO_TAG_TEMPLATE, GUMBO_TAG_NOSCRIPT, GUMBO_TAG_HEAD,  GUMBO_TAG_TITLE,
    GUMBO_TAG_META,     GUMBO_TAG_LINK,   GUMBO_TAG_BASE,    GUMBO_TAG_FRAME,    GUMBO_TAG_FRAMESET, GUMBO_TAG_NOFRAMES,
    GUMBO_TAG_AUDIO,    GUMBO_TAG_VIDEO,  GUMBO_TAG_SOURCE,  GUMBO_TAG_TRACK,    GUMBO_TAG_CANVAS, GUMBO_TAG_MAP,
    GUMBO_TAG_AREA,     GUMBO_TAG_PARAM,  GUMBO_TAG_KEYGEN,  GUMBO_TAG_MENU,   GUMBO_TAG_XMP,
    GUMBO_TAG_PLAINTEXT, GUMBO_TAG_NOEMBED, GUMBO_TAG_FIELDSET, GUMBO_TAG_DATALIST, GUMBO_TAG_OUTPUT,
};

template <size_t N>
bool in(const std::array<GumboTag, N>& set, GumboTag t) {
  return std::find(set.begin(), set.end(), t) != set.end();
}

bool is_void(GumboTag t) { return t == GUMBO_TAG_BR || t == GUMBO_TAG_HR || t == GUMBO_TAG_IMG; }

void escape_text(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\0': break;
      default: out += c;
    }
  }
}

void escape_attr(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\0': break;
      default: out += c;
    }
  }
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

bool digits(std::string_view s, size_t max_len) {
  return !s.empty() && s.size() <= max_len && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

const char* attr(const GumboElement& e, const char* name) {
  const GumboAttribute* a = gumbo_get_attribute(&e.attributes, name);
  return a ? a->value : nullptr;
}

void put_attr(std::string& out, std::string_view name, std::string_view value) {
  out += ' ';
  out += name;
  out += "=\"";
  escape_attr(out, value);
  out += '"';
}

struct writer {
  std::string out;

  // depth: elements written so far around this point (at most kMaxDepth);
  // nesting: elements walked, written or not. Past kMaxNesting only the text
  // is kept, collected without recursion, so the stack stays bounded.
  int nesting = 0;

  void children(const GumboVector& kids, int depth) {
    if (nesting >= kMaxNesting) {
      for (unsigned i = 0; i < kids.length; ++i) text_of(*static_cast<const GumboNode*>(kids.data[i]));
      return;
    }
    ++nesting;
    for (unsigned i = 0; i < kids.length; ++i) node(*static_cast<const GumboNode*>(kids.data[i]), depth);
    --nesting;
  }

  void text_of(const GumboNode& top) {
    std::vector<const GumboNode*> stack{&top};
    while (!stack.empty()) {
      const GumboNode* n = stack.back();
      stack.pop_back();
      if (n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_CDATA || n->type == GUMBO_NODE_WHITESPACE) {
        escape_text(out, n->v.text.text);
      } else if (n->type == GUMBO_NODE_ELEMENT || n->type == GUMBO_NODE_TEMPLATE) {
        if (n->v.element.tag_namespace != GUMBO_NAMESPACE_HTML || in(kDropped, n->v.element.tag)) continue;
        const GumboVector& kids = n->v.element.children;
        for (unsigned i = kids.length; i-- > 0;) stack.push_back(static_cast<const GumboNode*>(kids.data[i]));
      }
    }
  }

  void node(const GumboNode& n, int depth) {
    switch (n.type) {
      case GUMBO_NODE_TEXT:
      case GUMBO_NODE_CDATA:
      case GUMBO_NODE_WHITESPACE:
        escape_text(out, n.v.text.text);
        return;
      case GUMBO_NODE_COMMENT:
        return;
      case GUMBO_NODE_ELEMENT:
      case GUMBO_NODE_TEMPLATE:
        element(n.v.element, depth);
        return;
      case GUMBO_NODE_DOCUMENT:
        children(n.v.document.children, depth);
        return;
    }
  }

  void element(const GumboElement& e, int depth) {
    if (e.tag_namespace != GUMBO_NAMESPACE_HTML || in(kDropped, e.tag)) return;
    if (!in(kAllowed, e.tag) || depth >= kMaxDepth) {
      children(e.children, depth);
      return;
    }
    const char* name = gumbo_normalized_tagname(e.tag);
    if (e.tag == GUMBO_TAG_IMG) {
      const char* src = attr(e, "src");
      if (!src || !safe_url(src, false)) {
        // A picture that cannot be shown safely becomes its description.
        if (const char* alt = attr(e, "alt"); alt && *alt) escape_text(out, alt);
        return;
      }
    }
    out += '<';
    out += name;
    attributes(e);
    out += '>';
    if (is_void(e.tag)) return;
    children(e.children, depth + 1);
    out += "</";
    out += name;
    out += '>';
  }

  void attributes(const GumboElement& e) {
    if (const char* t = attr(e, "title")) put_attr(out, "title", t);
    switch (e.tag) {
      case GUMBO_TAG_A:
        if (const char* href = attr(e, "href"); href && safe_url(href, true)) {
          put_attr(out, "href", href);
          put_attr(out, "rel", "noopener noreferrer nofollow");
          put_attr(out, "target", "_blank");
        }
        break;
      case GUMBO_TAG_IMG:
        put_attr(out, "src", attr(e, "src"));
        if (const char* alt = attr(e, "alt")) put_attr(out, "alt", alt);
        for (const char* dim : {"width", "height"}) {
          if (const char* v = attr(e, dim); v && digits(v, 5)) put_attr(out, dim, v);
        }
        put_attr(out, "loading", "lazy");
        put_attr(out, "referrerpolicy", "no-referrer");
        break;
      case GUMBO_TAG_TD:
      case GUMBO_TAG_TH:
        for (const char* span : {"colspan", "rowspan"}) {
          if (const char* v = attr(e, span); v && digits(v, 3)) put_attr(out, span, v);
        }
        break;
      case GUMBO_TAG_OL:
        if (const char* v = attr(e, "start"); v && digits(v, 9)) put_attr(out, "start", v);
        break;
      case GUMBO_TAG_TIME:
        if (const char* v = attr(e, "datetime")) put_attr(out, "datetime", v);
        break;
      default:
        break;
    }
  }
};

}  // namespace

bool safe_url(std::string_view url, bool allow_mailto) {
  if (url.empty() || url.size() > 8192) return false;
  // Browsers strip tabs and newlines inside a URL ("java\tscript:"), so none
  // is allowed, nor any other control character or space.
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) return false;
  }
  if (starts_with_nocase(url, "https://") || starts_with_nocase(url, "http://")) return true;
  return allow_mailto && starts_with_nocase(url, "mailto:");
}

std::string sanitize(std::string_view html) {
  if (static_cast<size_t>(std::count(html.begin(), html.end(), '<')) > kMaxTags) {
    std::string out = "<p>";
    bool in_tag = false;
    for (char c : html) {
      if (c == '<') in_tag = true;
      if (!in_tag) escape_text(out, std::string_view(&c, 1));
      if (c == '>') in_tag = false;
    }
    return out + "</p>";
  }
  GumboOptions opts = kGumboDefaultOptions;
  opts.max_errors = 0;  // keep no error list: only the tree is used
  opts.fragment_context = GUMBO_TAG_DIV;
  std::unique_ptr<GumboOutput, void (*)(GumboOutput*)> doc(
      gumbo_parse_with_options(&opts, html.data(), html.size()),
      [](GumboOutput* o) { gumbo_destroy_output(&kGumboDefaultOptions, o); });
  writer w;
  w.out.reserve(html.size());
  // Parsed as the content of a <div> (the HTML5 fragment algorithm): gumbo's
  // root is then an <html> element holding the fragment's nodes.
  if (const GumboNode* root = doc->root; root && root->type == GUMBO_NODE_ELEMENT) {
    w.children(root->v.element.children, 0);
  }
  return std::move(w.out);
}

}  // namespace leaves::html
