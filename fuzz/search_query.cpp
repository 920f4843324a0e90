// The search query parser, in both match modes, with the server's limits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "leaves/search/query.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace leaves::search;
  const std::string_view q(reinterpret_cast<const char*>(data), size);
  for (auto m : {match_mode::all, match_mode::any}) {
    auto r = parse_query(q, m);
    if (!r) {
      if (r.err().message.empty()) std::abort();  // every refusal says why
      continue;
    }
    if (*r) (void)to_string(**r);
  }
  return 0;
}
