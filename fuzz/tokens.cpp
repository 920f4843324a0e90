// What a client hands back to the server opaque: search page tokens (bound to
// their query by a checksum), stream cursors, Leaves-Min-Position values and
// base64url (listing tokens). Input: a query string.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "leaves/api/search.h"
#include "leaves/api/stream.h"
#include "leaves/base/hash.h"
#include "leaves/projector/progress.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string raw;
  if (leaves::base64url_decode(text, raw) && leaves::base64url_encode(raw) != text) std::abort();
  if (auto c = leaves::api::parse_cursor(text, 12); c && c->size() != 12) std::abort();
  (void)leaves::projector::parse_positions(text, 12);
  auto p = leaves::api::parse_query(text);
  if (!p) return 0;
  const leaves::domain::limits lim;
  const leaves::api::search_limits sl;
  auto r = leaves::api::parse_search(*p, lim, sl);
  if (!r) return 0;
  // The next page's token is accepted for the same parameters, at its offset.
  auto next = *p;
  std::erase_if(next, [](const auto& kv) { return kv.first == "page_token"; });
  next.emplace_back("page_token", leaves::api::next_page_token(*p, *r));
  auto r2 = leaves::api::parse_search(next, lim, sl);
  if (r2 && r2->offset != r->offset + r->limit) std::abort();
  return 0;
}
