// Hash functions whose outputs are part of leaves' contract with the outside:
// md5 (leaf id = md5 hex of the URL, as the reference API derives it) and
// Kafka's murmur2 (the default partitioner of the Java client), so a key lands
// in the same partition in the embedded log and in Kafka.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace leaves {

// Lower-case hex md5 digest of `data`.
std::string md5_hex(std::string_view data);

// Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), seed 0x9747b28c.
int32_t kafka_murmur2(std::string_view key);

// Kafka's default partition for a keyed record: toPositive(murmur2(key)) % n.
int32_t kafka_partition(std::string_view key, int32_t partitions);

}  // namespace leaves

namespace leaves {
// A new event id: 128 random bits in the UUID v4 layout, 32 lower-case hex
// digits without dashes (docs/events.md). Thread-safe.
std::string new_event_id();
// RFC 4648 base64url without padding (page tokens, cursors).
std::string base64url_encode(std::string_view data);
// nullopt-like: returns false on malformed input.
bool base64url_decode(std::string_view text, std::string& out);
// RFC 4648 base64 (the standard alphabet), padded or not; false when malformed.
bool base64_decode(std::string_view text, std::string& out);
}  // namespace leaves
