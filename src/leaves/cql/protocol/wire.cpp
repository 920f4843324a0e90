#include "leaves/cql/protocol/wire.h"

namespace cql::protocol {

void writer::u16(uint16_t v) {
  u8(static_cast<uint8_t>(v >> 8));
  u8(static_cast<uint8_t>(v));
}

void writer::i32(int32_t v) {
  auto u = static_cast<uint32_t>(v);
  for (int s = 24; s >= 0; s -= 8) u8(static_cast<uint8_t>(u >> s));
}

void writer::i64(int64_t v) {
  auto u = static_cast<uint64_t>(v);
  for (int s = 56; s >= 0; s -= 8) u8(static_cast<uint8_t>(u >> s));
}

void writer::string(std::string_view s) {
  u16(static_cast<uint16_t>(s.size()));
  out_.append(s);
}

void writer::long_string(std::string_view s) {
  i32(static_cast<int32_t>(s.size()));
  out_.append(s);
}

void writer::bytes_(std::string_view b) {
  i32(static_cast<int32_t>(b.size()));
  out_.append(b);
}

void writer::short_bytes(std::string_view b) {
  u16(static_cast<uint16_t>(b.size()));
  out_.append(b);
}

void writer::string_list(const std::vector<std::string>& l) {
  u16(static_cast<uint16_t>(l.size()));
  for (const auto& s : l) string(s);
}

void writer::string_map(const std::map<std::string, std::string>& m) {
  u16(static_cast<uint16_t>(m.size()));
  for (const auto& [k, v] : m) {
    string(k);
    string(v);
  }
}

void writer::patch_i32(size_t at, int32_t v) {
  auto u = static_cast<uint32_t>(v);
  for (int i = 0; i < 4; ++i) out_[at + i] = static_cast<char>(u >> (24 - 8 * i));
}

std::string_view reader::take(size_t n) {
  if (!ok_ || n > remaining()) {
    ok_ = false;
    pos_ = in_.size();
    return {};
  }
  auto v = in_.substr(pos_, n);
  pos_ += n;
  return v;
}

uint8_t reader::u8() {
  auto b = take(1);
  return b.empty() ? 0 : static_cast<uint8_t>(b[0]);
}

uint16_t reader::u16() {
  auto b = take(2);
  if (b.size() != 2) return 0;
  return static_cast<uint16_t>((static_cast<uint8_t>(b[0]) << 8) | static_cast<uint8_t>(b[1]));
}

int32_t reader::i32() {
  auto b = take(4);
  if (b.size() != 4) return 0;
  uint32_t u = 0;
  for (char c : b) u = (u << 8) | static_cast<uint8_t>(c);
  return static_cast<int32_t>(u);
}

int64_t reader::i64() {
  auto b = take(8);
  if (b.size() != 8) return 0;
  uint64_t u = 0;
  for (char c : b) u = (u << 8) | static_cast<uint8_t>(c);
  return static_cast<int64_t>(u);
}

std::string reader::string() { return std::string(take(u16())); }

std::string reader::long_string() {
  int32_t n = i32();
  if (n < 0) {
    fail();
    return {};
  }
  return std::string(take(static_cast<size_t>(n)));
}

std::string_view reader::bytes_(bool* is_null) {
  int32_t n = i32();
  if (is_null) *is_null = n < 0;
  if (n < 0) return {};
  return take(static_cast<size_t>(n));
}

std::string reader::short_bytes() { return std::string(take(u16())); }

std::vector<std::string> reader::string_list() {
  std::vector<std::string> l;
  uint16_t n = u16();
  for (uint16_t i = 0; i < n && ok_; ++i) l.push_back(string());
  return l;
}

std::map<std::string, std::string> reader::string_map() {
  std::map<std::string, std::string> m;
  uint16_t n = u16();
  for (uint16_t i = 0; i < n && ok_; ++i) {
    auto k = string();
    m[k] = string();
  }
  return m;
}

std::map<std::string, std::vector<std::string>> reader::string_multimap() {
  std::map<std::string, std::vector<std::string>> m;
  uint16_t n = u16();
  for (uint16_t i = 0; i < n && ok_; ++i) {
    auto k = string();
    m[k] = string_list();
  }
  return m;
}

}  // namespace cql::protocol
