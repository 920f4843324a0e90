// API tokens: "lv_<12 hex id>_<43 base64url characters of 32 random bytes>".
// Only the SHA-256 of a token is ever kept (in user.token_created events);
// the id before the secret is public, so a token can be named and revoked
// without showing it. Tokens have 256 bits of entropy, so a fast hash is
// enough; passwords, which people choose, will take a slow KDF.
#pragma once

#include <string>
#include <string_view>

namespace leaves::auth {

struct new_token {
  std::string id;      // public
  std::string secret;  // the whole token, shown once
  std::string hash;    // sha256_hex(secret)
};

// A fresh token from the operating system's random source (OpenSSL RAND_bytes).
new_token generate_token();
// A token an operator chose (LEAVES_ADMIN_TOKEN): its id is the first 12 hex
// digits of its hash.
new_token adopt_token(std::string secret);

std::string sha256_hex(std::string_view data);
// HMAC-SHA256 (RFC 2104) of `data` under `key`, lower-case hex: webhook signatures.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);
// `n` random bytes as 2n hex digits (webhook ids and secrets).
std::string random_hex(size_t n);
// Equal length strings compared in time independent of where they differ.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace leaves::auth
