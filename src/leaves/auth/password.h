// Passwords for the web UI's sign-in: Argon2id (libargon2, Debian's
// libargon2-dev) with OWASP's minimum parameters (19 MiB, 2 passes, one
// lane), in the PHC string encoding that carries its own salt and
// parameters, so older encodings keep verifying when the defaults change.
// Hashing takes tens of milliseconds by design (password_pool bounds it).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <atomic>
#include <string>
#include <string_view>

#include "leaves/base/result.h"

namespace leaves::auth {

constexpr size_t kMinPasswordBytes = 10;
constexpr size_t kMaxPasswordBytes = 1024;

// An Argon2id encoding of `password` with a fresh random salt.
result<std::string> hash_password(std::string_view password);
// Whether `password` matches `encoded` (false for a malformed encoding).
bool verify_password(std::string_view encoded, std::string_view password);

// A small pool for the slow work, off the I/O threads, with a bound on what
// waits, so a flood of sign-ins costs bounded memory and never stalls the
// requests sharing an I/O thread with it.
class password_pool {
 public:
  explicit password_pool(size_t threads = 2, size_t max_waiting = 32) : pool_(threads), max_(max_waiting) {}
  ~password_pool() { pool_.join(); }
  // unavailable (503) when more than max_waiting are queued.
  boost::asio::awaitable<result<std::string>> hash(std::string password);
  boost::asio::awaitable<result<bool>> verify(std::string encoded, std::string password);

 private:
  boost::asio::thread_pool pool_;
  size_t max_;
  std::atomic<size_t> waiting_{0};
};

}  // namespace leaves::auth
