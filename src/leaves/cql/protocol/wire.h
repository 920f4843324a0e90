// The native protocol's primitive notations ([int], [short], [string],
// [long string], [bytes], [short bytes], [string map], [string list],
// [value], [consistency]), big-endian. Pure code, no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace cql::protocol {

using bytes = std::string;  // raw octets

class writer {
 public:
  explicit writer(bytes& out) : out_(out) {}
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void i16(int16_t v) { u16(static_cast<uint16_t>(v)); }
  void u16(uint16_t v);
  void i32(int32_t v);
  void i64(int64_t v);
  void string(std::string_view s);       // [short] n + bytes
  void long_string(std::string_view s);  // [int] n + bytes
  void bytes_(std::string_view b);       // [int] n + bytes
  void null_bytes() { i32(-1); }
  void short_bytes(std::string_view b);  // [short] n + bytes
  void string_list(const std::vector<std::string>& l);
  void string_map(const std::map<std::string, std::string>& m);
  void raw(std::string_view b) { out_.append(b); }
  size_t size() const { return out_.size(); }
  void patch_i32(size_t at, int32_t v);

 private:
  bytes& out_;
};

// Bounded reader over untrusted input: a read past the end (or a negative
// length where none is allowed) marks the reader failed and returns an empty
// value; callers check ok() once at the end.
class reader {
 public:
  explicit reader(std::string_view in) : in_(in) {}
  uint8_t u8();
  uint16_t u16();
  int16_t i16() { return static_cast<int16_t>(u16()); }
  int32_t i32();
  int64_t i64();
  std::string string();
  std::string long_string();
  // [bytes]: nullopt-like via is_null when the length is negative.
  std::string_view bytes_(bool* is_null = nullptr);
  std::string short_bytes();
  std::vector<std::string> string_list();
  std::map<std::string, std::string> string_map();
  std::map<std::string, std::vector<std::string>> string_multimap();
  std::string_view take(size_t n);
  bool ok() const { return ok_; }
  void fail() { ok_ = false; }
  size_t remaining() const { return in_.size() - pos_; }
  bool at_end() const { return pos_ == in_.size(); }

 private:
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace cql::protocol
