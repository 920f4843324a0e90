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

}  // namespace leaves::html
