// The page extractor of enrichment (fetch/extract.h) and the charset
// decoding before it (fetch/fetch.h). Input: any bytes, as a page a site
// serves. Beyond not crashing (gumbo on hostile markup, the pre-cut of deep
// and formatting-heavy documents, the iterative walks): the text fields are
// valid UTF-8, the URLs it returns are absolute http(s), and the reading
// time follows the text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "leaves/base/utf8.h"
#include "leaves/fetch/extract.h"
#include "leaves/fetch/fetch.h"

namespace {
bool http_url(const std::string& u) { return u.empty() || u.starts_with("http://") || u.starts_with("https://"); }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string raw(reinterpret_cast<const char*>(data), size);
  const std::string html = leaves::fetch::to_utf8(raw, leaves::fetch::sniff_charset(raw));
  if (leaves::utf8_repaired(html) != html) std::abort();
  const auto p = leaves::fetch::extract_html(html, "https://fuzz.example/a/b?c=d");
  for (const std::string* s : {&p.title, &p.excerpt, &p.content, &p.content_text, &p.language, &p.published_at,
                               &p.published_by}) {
    if (leaves::utf8_repaired(*s) != *s) std::abort();
  }
  for (const std::string* u : {&p.preview_picture, &p.canonical_url, &p.favicon}) {
    if (!http_url(*u)) std::abort();
  }
  if ((p.reading_time == 0) != (p.content_text.find_first_not_of(" \t\n\r\f\v") == std::string::npos)) std::abort();
  if (p.excerpt.size() > 300) std::abort();
  return 0;
}
