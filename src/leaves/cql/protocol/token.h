// Murmur3Partitioner tokens: Cassandra's variant of MurmurHash3 x64_128
// (seed 0, first 64-bit half, tail bytes sign-extended as Java bytes are;
// Long.MIN_VALUE maps to Long.MAX_VALUE). Checked against the server's own
// token() function in the integration tests.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cql {

int64_t murmur3_token(std::string_view partition_key);

// The routing key of a partition key made of several columns: each component
// as [short] length, bytes, and a 0 byte. A single-column key is its bytes.
std::string composite_routing_key(const std::vector<std::string_view>& components);

}  // namespace cql
