#include "leaves/cql/error.h"

#include <cstdio>

namespace cql {

const char* to_string(error_kind k) {
  switch (k) {
    case error_kind::server: return "server";
    case error_kind::io: return "io";
    case error_kind::timeout: return "timeout";
    case error_kind::protocol: return "protocol";
    case error_kind::no_host: return "no_host";
    case error_kind::closed: return "closed";
    case error_kind::invalid: return "invalid";
  }
  return "unknown";
}

const char* to_string(server_code c) {
  switch (c) {
    case server_code::server_error: return "server_error";
    case server_code::protocol_error: return "protocol_error";
    case server_code::bad_credentials: return "bad_credentials";
    case server_code::unavailable: return "unavailable";
    case server_code::overloaded: return "overloaded";
    case server_code::is_bootstrapping: return "is_bootstrapping";
    case server_code::truncate_error: return "truncate_error";
    case server_code::write_timeout: return "write_timeout";
    case server_code::read_timeout: return "read_timeout";
    case server_code::read_failure: return "read_failure";
    case server_code::function_failure: return "function_failure";
    case server_code::write_failure: return "write_failure";
    case server_code::cdc_write_failure: return "cdc_write_failure";
    case server_code::cas_write_unknown: return "cas_write_unknown";
    case server_code::syntax_error: return "syntax_error";
    case server_code::unauthorized: return "unauthorized";
    case server_code::invalid: return "invalid";
    case server_code::config_error: return "config_error";
    case server_code::already_exists: return "already_exists";
    case server_code::unprepared: return "unprepared";
  }
  return "unknown_server_error";
}

bool error::retryable() const {
  switch (kind) {
    case error_kind::io:
    case error_kind::timeout:
    case error_kind::no_host: return true;
    case error_kind::server:
      return code == server_code::unavailable || code == server_code::overloaded ||
             code == server_code::is_bootstrapping || code == server_code::write_timeout ||
             code == server_code::read_timeout || code == server_code::server_error;
    default: return false;
  }
}

std::string error::describe() const {
  std::string s = to_string(kind);
  if (kind == error_kind::server) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%04x", static_cast<unsigned>(code));
    s += std::string(" ") + to_string(code) + " (" + buf + ")";
  }
  return s + ": " + message;
}

}  // namespace cql
