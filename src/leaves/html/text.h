// The visible text of stored HTML: for the search index and summaries when a
// leaf has content but no content_text.
#pragma once

#include <string>
#include <string_view>

namespace leaves::html {

// Tags and the bodies of script and style are dropped, each tag becomes a
// space, the common entities are decoded. A small state machine, linear in
// the input: good enough for terms and snippets, not a renderer.
std::string visible_text(std::string_view html);

// Text for an HTML or XML attribute or element: & < > " ' as entities,
// control characters other than tab and line breaks dropped (XML forbids
// them).
std::string escape(std::string_view text);

// The first `max_bytes` of `text` with runs of white space collapsed to one
// space, cut at a UTF-8 character boundary, without a trailing space.
std::string collapsed_prefix(std::string_view text, size_t max_bytes);

}  // namespace leaves::html
