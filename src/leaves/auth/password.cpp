#include "leaves/auth/password.h"

#include <argon2.h>
#include <openssl/rand.h>

#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace leaves::auth {

namespace asio = boost::asio;

namespace {
constexpr uint32_t kTimeCost = 2;
constexpr uint32_t kMemoryKiB = 19 * 1024;
constexpr uint32_t kLanes = 1;
constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;

error busy() {
  return make_error(errc::unavailable, "too many sign-ins at once; try again in a moment", "busy");
}
}  // namespace

result<std::string> hash_password(std::string_view password) {
  std::array<unsigned char, kSaltBytes> salt{};
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1) {
    return make_error(errc::internal, "no random salt (RAND_bytes)");
  }
  const size_t len = argon2_encodedlen(kTimeCost, kMemoryKiB, kLanes, kSaltBytes, kHashBytes, Argon2_id);
  std::string encoded(len, '\0');
  const int rc = argon2id_hash_encoded(kTimeCost, kMemoryKiB, kLanes, password.data(), password.size(), salt.data(),
                                       salt.size(), kHashBytes, encoded.data(), encoded.size());
  if (rc != ARGON2_OK) return make_error(errc::internal, std::string("argon2: ") + argon2_error_message(rc));
  encoded.resize(std::char_traits<char>::length(encoded.c_str()));
  return encoded;
}

bool verify_password(std::string_view encoded, std::string_view password) {
  if (!encoded.starts_with("$argon2id$") || encoded.size() > 512) return false;
  const std::string enc(encoded);  // argon2 wants a NUL-terminated string
  return argon2id_verify(enc.c_str(), password.data(), password.size()) == ARGON2_OK;
}

asio::awaitable<result<std::string>> password_pool::hash(std::string password) {
  if (waiting_.fetch_add(1) >= max_) {
    --waiting_;
    co_return busy();
  }
  const auto home = co_await asio::this_coro::executor;
  co_await asio::post(pool_.get_executor(), asio::use_awaitable);
  auto out = hash_password(password);
  co_await asio::post(home, asio::use_awaitable);
  --waiting_;
  co_return out;
}

asio::awaitable<result<bool>> password_pool::verify(std::string encoded, std::string password) {
  if (waiting_.fetch_add(1) >= max_) {
    --waiting_;
    co_return busy();
  }
  const auto home = co_await asio::this_coro::executor;
  co_await asio::post(pool_.get_executor(), asio::use_awaitable);
  const bool ok = verify_password(encoded, password);
  co_await asio::post(home, asio::use_awaitable);
  --waiting_;
  co_return ok;
}

}  // namespace leaves::auth
