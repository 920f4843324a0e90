#include "leaves/auth/token.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <stdexcept>

#include "leaves/base/hash.h"

namespace leaves::auth {

namespace {
constexpr char kHex[] = "0123456789abcdef";

std::string hex(const unsigned char* p, size_t n) {
  std::string s(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    s[2 * i] = kHex[p[i] >> 4];
    s[2 * i + 1] = kHex[p[i] & 15];
  }
  return s;
}

void random_bytes(unsigned char* p, size_t n) {
  // A token without real randomness would be a forgeable credential: a bug,
  // not a condition to handle.
  if (RAND_bytes(p, static_cast<int>(n)) != 1) throw std::runtime_error("RAND_bytes failed");
}
}  // namespace

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  std::array<unsigned char, 32> md{};
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
            data.size(), md.data(), &len) ||
      len != md.size()) {
    throw std::runtime_error("HMAC(sha256) failed");
  }
  return hex(md.data(), md.size());
}

std::string random_hex(size_t n) {
  std::string bytes(n, '\0');
  random_bytes(reinterpret_cast<unsigned char*>(bytes.data()), n);
  return hex(reinterpret_cast<const unsigned char*>(bytes.data()), n);
}

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, 32> md{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr) != 1 || len != md.size()) {
    throw std::runtime_error("EVP_Digest(sha256) failed");
  }
  return hex(md.data(), md.size());
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

new_token generate_token() {
  std::array<unsigned char, 6> id{};
  std::array<unsigned char, 32> secret{};
  random_bytes(id.data(), id.size());
  random_bytes(secret.data(), secret.size());
  new_token t;
  t.id = hex(id.data(), id.size());
  t.secret = "lv_" + t.id + "_" +
             base64url_encode(std::string_view(reinterpret_cast<const char*>(secret.data()), secret.size()));
  t.hash = sha256_hex(t.secret);
  return t;
}

new_token adopt_token(std::string secret) {
  new_token t;
  t.hash = sha256_hex(secret);
  t.id = t.hash.substr(0, 12);
  t.secret = std::move(secret);
  return t;
}

}  // namespace leaves::auth
