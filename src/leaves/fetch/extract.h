// What a fetched HTML page says about itself, for a leaf (docs/fetch.md):
// its metadata (title, description, picture, language, canonical URL,
// favicon, author and date) and its main article, found the way Mozilla's
// Readability finds it: paragraphs of prose score their parent and
// grandparent, class and id names that say "comment", "nav" or "sidebar"
// count against an element and "article", "content" or "post" for it, and
// an element mostly made of links loses what it scored. The article's HTML
// has its links and pictures made absolute and is then sanitised
// (html/sanitize.h). Parsed by gumbo, an HTML5 parser; never by patterns.
#pragma once

#include <string>
#include <string_view>

namespace leaves::fetch {

struct page {
  std::string title;
  std::string excerpt;          // the page's description, else the article's start (at most 300 bytes)
  std::string content;          // the main article, sanitised HTML
  std::string content_text;     // its text
  std::string preview_picture;  // absolute http(s) URL: og:image, twitter:image, else the article's first picture
  std::string language;         // as the page declares it (<html lang>, Content-Language), lower-cased
  std::string canonical_url;    // <link rel=canonical> or og:url, absolute
  std::string favicon;          // <link rel=icon>, else /favicon.ico of the page's origin
  std::string published_at;     // as stated (article:published_time, <time datetime>)
  std::string published_by;     // author
  int reading_time = 0;         // minutes at 200 words a minute; 0 without text
};

// `html` is UTF-8 (fetch.h's to_utf8); `page_url` is where it was fetched
// from (after redirects), the base of its relative URLs unless it names a
// <base href>. A document is cut at its 50,000th tag, or where its elements
// nest deeper than 1,000 (the parser is quadratic in the depth).
page extract_html(std::string_view html, std::string_view page_url);

// Minutes to read `text` at 200 words a minute, rounded up; 0 without words.
int reading_minutes(std::string_view text);

// `ref` resolved against `base` (RFC 3986), or empty when either is not a
// usable URL or the result is not http(s).
std::string resolve_url(std::string_view base, std::string_view ref);

}  // namespace leaves::fetch
