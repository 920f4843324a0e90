#include "leaves/auth/password.h"

#include <argon2.h>
#include <openssl/rand.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
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

namespace {
// What runs on the pool. Plain functions taking their arguments by value:
// co_spawn keeps them in the coroutine's frame, and its completion (with
// use_awaitable) resumes the awaiting request on its own executor, so the
// tens of milliseconds of Argon2 never hold an I/O thread.
asio::awaitable<std::string> hash_job(std::string password) {
  auto out = hash_password(password);
  co_return out ? std::move(*out) : std::string();
}
asio::awaitable<bool> verify_job(std::string encoded, std::string password) {
  co_return verify_password(encoded, password);
}
}  // namespace

asio::awaitable<result<std::string>> password_pool::hash(std::string password) {
  if (waiting_.fetch_add(1) >= max_) {
    --waiting_;
    co_return busy();
  }
  std::string out;
  try {
    out = co_await asio::co_spawn(pool_.get_executor(), hash_job(std::move(password)), asio::use_awaitable);
  } catch (const std::exception&) {
    out.clear();
  }
  --waiting_;
  if (out.empty()) co_return make_error(errc::internal, "argon2: hashing failed");
  co_return out;
}

asio::awaitable<result<bool>> password_pool::verify(std::string encoded, std::string password) {
  if (waiting_.fetch_add(1) >= max_) {
    --waiting_;
    co_return busy();
  }
  bool ok = false;
  try {
    ok = co_await asio::co_spawn(pool_.get_executor(), verify_job(std::move(encoded), std::move(password)),
                                 asio::use_awaitable);
  } catch (const std::exception&) {
    ok = false;
  }
  --waiting_;
  co_return ok;
}

}  // namespace leaves::auth
