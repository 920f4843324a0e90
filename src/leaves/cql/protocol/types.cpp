#include "leaves/cql/protocol/types.h"

#include <cstring>

namespace cql {

using protocol::reader;
using protocol::writer;

std::string to_string(const data_type& t) {
  switch (t.id) {
    case type_id::custom: return "'" + t.custom_class + "'";
    case type_id::ascii: return "ascii";
    case type_id::bigint: return "bigint";
    case type_id::blob: return "blob";
    case type_id::boolean: return "boolean";
    case type_id::counter: return "counter";
    case type_id::decimal: return "decimal";
    case type_id::double_: return "double";
    case type_id::float_: return "float";
    case type_id::int_: return "int";
    case type_id::timestamp: return "timestamp";
    case type_id::uuid: return "uuid";
    case type_id::varchar: return "text";
    case type_id::varint: return "varint";
    case type_id::timeuuid: return "timeuuid";
    case type_id::inet: return "inet";
    case type_id::date: return "date";
    case type_id::time: return "time";
    case type_id::smallint: return "smallint";
    case type_id::tinyint: return "tinyint";
    case type_id::duration: return "duration";
    case type_id::list: return "list<" + (t.params.empty() ? "?" : to_string(t.params[0])) + ">";
    case type_id::set: return "set<" + (t.params.empty() ? "?" : to_string(t.params[0])) + ">";
    case type_id::map:
      return t.params.size() != 2 ? "map<?>" : "map<" + to_string(t.params[0]) + ", " + to_string(t.params[1]) + ">";
    case type_id::tuple: {
      std::string s = "tuple<";
      for (size_t i = 0; i < t.params.size(); ++i) s += (i ? ", " : "") + to_string(t.params[i]);
      return s + ">";
    }
    case type_id::udt: return t.udt_keyspace + "." + t.udt_name;
  }
  return "?";
}

std::string to_string(const uuid& u) {
  static const char* hex = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    s.push_back(hex[u[i] >> 4]);
    s.push_back(hex[u[i] & 15]);
  }
  return s;
}

std::optional<uuid> parse_uuid(std::string_view s) {
  if (s.size() != 36) return std::nullopt;
  uuid u{};
  size_t j = 0;
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < 36;) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return std::nullopt;
      ++i;
      continue;
    }
    int hi = nib(s[i]), lo = nib(s[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    u[j++] = static_cast<uint8_t>(hi << 4 | lo);
    i += 2;
  }
  return u;
}

value value::int32(int32_t v) {
  std::string b;
  writer(b).i32(v);
  return raw(std::move(b));
}

value value::bigint(int64_t v) {
  std::string b;
  writer(b).i64(v);
  return raw(std::move(b));
}

value value::double_(double v) {
  int64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bigint(bits);
}

value value::collection(const std::vector<std::string>& elements) {
  std::string b;
  writer w(b);
  w.i32(static_cast<int32_t>(elements.size()));
  for (const auto& e : elements) w.bytes_(e);
  return raw(std::move(b));
}

value value::text_list(const std::vector<std::string>& items) { return collection(items); }

value value::map(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string b;
  writer w(b);
  w.i32(static_cast<int32_t>(entries.size()));
  for (const auto& [k, v] : entries) {
    w.bytes_(k);
    w.bytes_(v);
  }
  return raw(std::move(b));
}

void write_value(writer& w, const value& v) {
  switch (v.k) {
    case value::kind::set: w.bytes_(v.data); break;
    case value::kind::null: w.i32(-1); break;
    case value::kind::unset: w.i32(-2); break;
  }
}

void write_type(writer& w, const data_type& t) {
  w.u16(static_cast<uint16_t>(t.id));
  switch (t.id) {
    case type_id::custom: w.string(t.custom_class); break;
    case type_id::list:
    case type_id::set: write_type(w, t.params.at(0)); break;
    case type_id::map:
      write_type(w, t.params.at(0));
      write_type(w, t.params.at(1));
      break;
    case type_id::tuple:
      w.u16(static_cast<uint16_t>(t.params.size()));
      for (const auto& p : t.params) write_type(w, p);
      break;
    case type_id::udt:
      w.string(t.udt_keyspace);
      w.string(t.udt_name);
      w.u16(static_cast<uint16_t>(t.params.size()));
      for (size_t i = 0; i < t.params.size(); ++i) {
        w.string(i < t.field_names.size() ? t.field_names[i] : std::string());
        write_type(w, t.params[i]);
      }
      break;
    default: break;
  }
}

data_type read_type(reader& r, int depth) {
  data_type t;
  if (depth > 16) {
    r.fail();
    return t;
  }
  uint16_t id = r.u16();
  t.id = static_cast<type_id>(id);
  switch (t.id) {
    case type_id::custom: t.custom_class = r.string(); break;
    case type_id::list:
    case type_id::set: t.params.push_back(read_type(r, depth + 1)); break;
    case type_id::map:
      t.params.push_back(read_type(r, depth + 1));
      t.params.push_back(read_type(r, depth + 1));
      break;
    case type_id::tuple: {
      uint16_t n = r.u16();
      for (uint16_t i = 0; i < n && r.ok(); ++i) t.params.push_back(read_type(r, depth + 1));
      break;
    }
    case type_id::udt: {
      t.udt_keyspace = r.string();
      t.udt_name = r.string();
      uint16_t n = r.u16();
      for (uint16_t i = 0; i < n && r.ok(); ++i) {
        t.field_names.push_back(r.string());
        t.params.push_back(read_type(r, depth + 1));
      }
      break;
    }
    case type_id::ascii: case type_id::bigint: case type_id::blob: case type_id::boolean:
    case type_id::counter: case type_id::decimal: case type_id::double_: case type_id::float_:
    case type_id::int_: case type_id::timestamp: case type_id::uuid: case type_id::varchar:
    case type_id::varint: case type_id::timeuuid: case type_id::inet: case type_id::date:
    case type_id::time: case type_id::smallint: case type_id::tinyint: case type_id::duration:
      break;
    default: r.fail(); break;  // an option id this protocol version does not define
  }
  return t;
}

namespace decode {

std::optional<int32_t> int32(std::string_view b) {
  if (b.size() != 4) return std::nullopt;
  reader r(b);
  return r.i32();
}

std::optional<int64_t> bigint(std::string_view b) {
  if (b.size() != 8) return std::nullopt;
  reader r(b);
  return r.i64();
}

std::optional<bool> boolean(std::string_view b) {
  if (b.size() != 1) return std::nullopt;
  return b[0] != 0;
}

std::optional<double> double_(std::string_view b) {
  auto bits = bigint(b);
  if (!bits) return std::nullopt;
  double d;
  std::memcpy(&d, &*bits, sizeof d);
  return d;
}

std::optional<cql::uuid> uuid(std::string_view b) {
  if (b.size() != 16) return std::nullopt;
  cql::uuid u;
  std::memcpy(u.data(), b.data(), 16);
  return u;
}

std::optional<std::vector<std::string_view>> collection(std::string_view b) {
  reader r(b);
  int32_t n = r.i32();
  if (!r.ok() || n < 0 || static_cast<size_t>(n) > b.size() / 4) return std::nullopt;
  std::vector<std::string_view> out;
  out.reserve(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) {
    bool null = false;
    auto e = r.bytes_(&null);
    if (null || !r.ok()) return std::nullopt;
    out.push_back(e);
  }
  if (!r.at_end()) return std::nullopt;
  return out;
}

std::optional<std::vector<std::pair<std::string_view, std::string_view>>> map(std::string_view b) {
  reader r(b);
  int32_t n = r.i32();
  if (!r.ok() || n < 0 || static_cast<size_t>(n) > b.size() / 8) return std::nullopt;
  std::vector<std::pair<std::string_view, std::string_view>> out;
  out.reserve(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) {
    bool kn = false, vn = false;
    auto k = r.bytes_(&kn);
    auto v = r.bytes_(&vn);
    if (kn || vn || !r.ok()) return std::nullopt;
    out.emplace_back(k, v);
  }
  if (!r.at_end()) return std::nullopt;
  return out;
}

std::optional<std::vector<std::string>> text_list(std::string_view b) {
  auto c = collection(b);
  if (!c) return std::nullopt;
  return std::vector<std::string>(c->begin(), c->end());
}

}  // namespace decode
}  // namespace cql
