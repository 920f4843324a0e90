// The title, author and text of a PDF, for a leaf saved by its URL
// (docs/fetch.md), read with Debian's poppler (its C++ binding). Bounded:
// at most `max_pages` pages are read and `max_text_bytes` of text kept.
// poppler's own messages are silenced (a broken PDF is an error here, not
// noise on the server's stderr).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace leaves::fetch {

struct pdf_text {
  std::string error;  // empty when the PDF was read
  std::string title, author, text;  // UTF-8; the title is the document's, else its text's first line
  int pages = 0;      // in the document
  bool ok() const { return error.empty(); }
};

pdf_text extract_pdf(std::string_view data, int max_pages = 200, size_t max_text_bytes = 1024 * 1024);

}  // namespace leaves::fetch
