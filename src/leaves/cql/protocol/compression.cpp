#include "leaves/cql/protocol/compression.h"

#include <lz4.h>

#include "leaves/cql/protocol/messages.h"

namespace cql::protocol {

std::optional<compression> parse_compression(std::string_view name) {
  if (name.empty() || name == "none") return compression::none;
  if (name == "lz4") return compression::lz4;
  return std::nullopt;
}

const char* compression_name(compression c) { return c == compression::lz4 ? "lz4" : "none"; }

void compress_frame(bytes& out, size_t frame_start) {
  const size_t body_at = frame_start + header_size;
  const size_t n = out.size() - body_at;
  if (n == 0) return;
  const int bound = LZ4_compressBound(static_cast<int>(n));
  std::string body(4 + static_cast<size_t>(bound), '\0');
  writer(body).patch_i32(0, static_cast<int32_t>(n));
  const int c = LZ4_compress_default(out.data() + body_at, body.data() + 4, static_cast<int>(n), bound);
  body.resize(4 + static_cast<size_t>(c));  // c > 0: the bound always fits
  out.resize(body_at);
  out += body;
  out[frame_start + 1] = static_cast<char>(static_cast<uint8_t>(out[frame_start + 1]) | flags::compression);
  writer(out).patch_i32(frame_start + 5, static_cast<int32_t>(body.size()));
}

std::optional<std::string> decompress_body(std::string_view body, std::string* why) {
  reader r(body);
  const int32_t n = r.i32();
  if (!r.ok() || n < 0) {
    if (why) *why = "compressed frame body without its length";
    return std::nullopt;
  }
  if (static_cast<uint32_t>(n) > max_body_size) {
    if (why) *why = "compressed frame body claims " + std::to_string(n) + " bytes, over the 256 MiB limit";
    return std::nullopt;
  }
  // An LZ4 block expands at most about 255 times (a length byte adds at most
  // 255 to a match): a frame that claims more is malformed, and is refused
  // before a buffer of the claimed size is allocated (fuzz/cql_frame.cpp: a
  // few bytes claimed 256 MiB each).
  if (static_cast<uint64_t>(n) > (static_cast<uint64_t>(body.size()) - 4) * 256 + 16) {
    if (why) *why = "compressed frame body claims " + std::to_string(n) + " bytes from " +
                    std::to_string(body.size() - 4) + ", more than LZ4 can expand";
    return std::nullopt;
  }
  std::string out(static_cast<size_t>(n), '\0');
  if (n == 0) return out;
  const int got = LZ4_decompress_safe(body.data() + 4, out.data(), static_cast<int>(body.size() - 4), n);
  if (got != n) {
    if (why) *why = "malformed LZ4 frame body (" + std::to_string(got) + " bytes of " + std::to_string(n) + ")";
    return std::nullopt;
  }
  return out;
}

}  // namespace cql::protocol
