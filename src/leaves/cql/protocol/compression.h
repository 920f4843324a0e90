// Frame body compression of protocol v4 (spec section 5): LZ4, whose body is
// the uncompressed length as a big-endian [int] followed by one LZ4 block.
// Pure code, no I/O. Negotiated in STARTUP ("COMPRESSION": "lz4"); STARTUP
// itself is never compressed, and either side may leave any later frame
// uncompressed (the header's compression flag says which).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "leaves/cql/protocol/wire.h"

namespace cql::protocol {

enum class compression { none, lz4 };

// "none"/"" or "lz4"; nullopt for anything else.
std::optional<compression> parse_compression(std::string_view name);
const char* compression_name(compression c);

// Compresses the body of the one whole frame that starts at out[frame_start]
// and ends at out.end(), in place: sets the compression flag and rewrites the
// length. Frames with an empty body are left as they are.
void compress_frame(bytes& out, size_t frame_start);

// The body of a frame whose compression flag is set. nullopt with *why set
// when the body is malformed or claims more than max_body_size bytes.
std::optional<std::string> decompress_body(std::string_view body, std::string* why);

}  // namespace cql::protocol
