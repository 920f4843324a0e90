// Atom (RFC 4287) feeds of leaves: for the static site (leaves export-site)
// and GET /v1/feed. Every text is escaped; a leaf's link is written only
// when it is an http(s) URL.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace leaves::html {

struct atom_entry {
  std::string id;  // the leaf's id
  std::string title, url;
  int64_t updated_ms = 0, published_ms = 0;
  std::string alternate;  // a page about the leaf; empty: none
  std::string author;
  std::vector<std::string> tags;
  std::string summary;  // plain text
};

// The whole feed: its title, urn id, alternate (an HTML page) and self
// links (empty: left out), and when it last changed.
std::string atom_feed(const std::string& title, const std::string& id, const std::string& alternate,
                      const std::string& self, int64_t updated_ms, const std::vector<atom_entry>& entries);

}  // namespace leaves::html
