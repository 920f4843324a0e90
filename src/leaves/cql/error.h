// Errors of the CQL client: every failure is a value. A server ERROR frame
// keeps its protocol code and the code-specific fields; client-side failures
// (I/O, timeout, protocol violation, no host) have their own kinds.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace cql {

enum class error_kind {
  server,        // an ERROR frame; see server_code
  io,            // connection failed or was lost
  timeout,       // the per-request deadline passed (the request may have run)
  protocol,      // a malformed or unexpected frame
  no_host,       // no connection available to any host
  closed,        // the session was closed
  invalid,       // a bad argument from the caller (e.g. wrong number of values)
};

// Server error codes (native protocol v4 section 9).
enum class server_code : int32_t {
  server_error = 0x0000,
  protocol_error = 0x000A,
  bad_credentials = 0x0100,
  unavailable = 0x1000,
  overloaded = 0x1001,
  is_bootstrapping = 0x1002,
  truncate_error = 0x1003,
  write_timeout = 0x1100,
  read_timeout = 0x1200,
  read_failure = 0x1300,
  function_failure = 0x1400,
  write_failure = 0x1500,
  cdc_write_failure = 0x1600,
  cas_write_unknown = 0x1700,
  syntax_error = 0x2000,
  unauthorized = 0x2100,
  invalid = 0x2200,
  config_error = 0x2300,
  already_exists = 0x2400,
  unprepared = 0x2500,
};

struct error {
  error_kind kind = error_kind::io;
  server_code code = server_code::server_error;  // kind == server only
  std::string message;
  // Code-specific detail: consistency, received/required acks, write type,
  // data_present, keyspace/table (already_exists), prepared id (unprepared).
  uint16_t consistency = 0;
  int32_t received = 0, required = 0, failures = 0;
  bool data_present = false;
  std::string write_type, keyspace, table, unprepared_id;

  // True for failures after which the same idempotent request may be tried
  // again (on another connection or host).
  bool retryable() const;
  std::string describe() const;
};

const char* to_string(error_kind k);
const char* to_string(server_code c);

template <class T>
class [[nodiscard]] result {
 public:
  // Default: an error (Asio's co_spawn needs default-constructible results).
  result() : v_(cql::error{error_kind::closed, server_code::server_error, "no result"}) {}
  result(T v) : v_(std::move(v)) {}        // NOLINT: implicit by design
  result(cql::error e) : v_(std::move(e)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const cql::error& err() const { return std::get<1>(v_); }

 private:
  std::variant<T, cql::error> v_;
};

struct done {};
using status = result<done>;

inline error make_error(error_kind k, std::string msg) {
  error e;
  e.kind = k;
  e.message = std::move(msg);
  return e;
}

}  // namespace cql
