// Stored HTML made safe to show: parsed as a browser would (gumbo, an HTML5
// parser) and written back from an allowlist, so what reaches a page can
// neither run nor submit anything.
//
// - Kept: text, and the elements of prose, lists, tables, quotes, code,
//   links and pictures (kAllowed in sanitize.cpp).
// - Dropped with everything inside: script, style, iframe, object, embed,
//   form and its controls, svg, math, template, noscript, head.
// - Any other element is unwrapped: its children stay, it goes.
// - Attributes: only href (a), src, alt, width, height (img), title,
//   colspan/rowspan (td, th), start (ol), datetime (time). No style, class,
//   id, srcset or event handler survives. A link or picture URL must be
//   absolute http(s) (mailto: for links), with no whitespace or control
//   characters in it: `javascript:`, `data:` and relative URLs are dropped.
// - Links open in a new tab without a referrer (rel="noopener noreferrer
//   nofollow"); pictures load lazily without a referrer.
// - Elements nested deeper than 64 are unwrapped, so the output is at most as
//   deep as that, and the walk's stack is bounded.
// - A document of more than 20,000 tags is shown as its escaped text, without
//   parsing (the worst case of parsing 20,000 nested tags is 0.36 s here).
#pragma once

#include <string>
#include <string_view>

namespace leaves::html {

std::string sanitize(std::string_view html);

// Whether `url` may be a link (mailto allowed) or a picture's source.
bool safe_url(std::string_view url, bool allow_mailto);

}  // namespace leaves::html
