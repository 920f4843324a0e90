// The Netscape bookmark-file reader of `leaves import` (html/bookmarks.h).
// Input: any bytes, as a file someone imports. Beyond not crashing (gumbo
// on hostile markup, the nesting guard), every bookmark it finds has a URL,
// and its tags are trimmed and not empty.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "leaves/html/bookmarks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)leaves::html::looks_like_bookmarks(in.substr(0, 1024));
  auto marks = leaves::html::parse_bookmarks(in);
  if (!marks) return 0;
  for (const auto& b : *marks) {
    if (b.url.empty()) std::abort();
    for (const auto& t : b.tags) {
      if (t.empty() || t.front() == ' ' || t.back() == ' ') std::abort();
    }
  }
  return 0;
}
