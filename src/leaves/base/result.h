// Expected failures as values. Every fallible operation returns result<T>;
// the error carries one code from a small enum (mapped to HTTP statuses in
// exactly one place: api/errors.cpp) and a human-readable message.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace leaves {

enum class errc {
  invalid_argument,
  not_found,
  conflict,
  precondition_failed,
  unavailable,
  deadline_exceeded,
  resource_exhausted,
  unauthenticated,
  permission_denied,
  internal,
};

const char* to_string(errc c);

struct error {
  errc code;
  std::string message;
  // Optional machine-readable detail code (e.g. "url_invalid"); empty means
  // the generic code name is used.
  std::string detail = {};
};

template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  result(error e) : v_(std::move(e)) {}      // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const leaves::error& err() const { return std::get<1>(v_); }

 private:
  std::variant<T, leaves::error> v_;
};

struct ok_t {};
using status = result<ok_t>;
inline status ok_status() { return ok_t{}; }

inline error make_error(errc c, std::string msg, std::string detail = {}) {
  return error{c, std::move(msg), std::move(detail)};
}

}  // namespace leaves
