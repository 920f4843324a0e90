// The CQL frame decoder, as the client reads a node's answers: a 9-byte
// header, a body (LZ4-compressed when the flag says so), the response.
#include <cstddef>
#include <cstdint>
#include <string>

#include "leaves/cql/protocol/compression.h"
#include "leaves/cql/protocol/messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cql::protocol;
  if (size < 9) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::string why;
  auto h = decode_header(bytes.substr(0, 9), &why);
  if (!h) return 0;
  std::string body(bytes.substr(9, h->length));
  if (h->flags & flags::compression) {
    auto plain = decompress_body(body, &why);
    if (!plain) return 0;
    body = std::move(*plain);
  }
  (void)decode_response(*h, std::move(body));
  return 0;
}
