// The Netscape bookmark file (<!DOCTYPE NETSCAPE-Bookmark-file-1>): what
// every browser exports, and Pinboard, linkding, Raindrop, Shaarli and
// Pocket's HTML export. Parsed with gumbo (not patterns): each <A HREF> is a
// bookmark; its attributes TAGS, ADD_DATE, LAST_MODIFIED, PRIVATE, TOREAD,
// STARRED, and the <DD> after it, its description.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "leaves/base/result.h"

namespace leaves::html {

struct bookmark {
  std::string url;
  std::string title;
  std::vector<std::string> tags;
  std::optional<int64_t> added_s, modified_s;  // seconds since the epoch
  std::optional<bool> is_private, starred, archived;
  std::string description;
};

// Whether `head` (the first bytes of a file) starts like a bookmark file, or
// is Pocket's HTML export (<a href time_added tags>, its archive under
// <h1>Read Archive</h1>), read the same way.
bool looks_like_bookmarks(std::string_view head);

// Every bookmark in document order. Refuses (invalid_argument) a document
// nested deeper than 256 elements (gumbo's tree is freed recursively).
result<std::vector<bookmark>> parse_bookmarks(std::string_view html);

}  // namespace leaves::html
