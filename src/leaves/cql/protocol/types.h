// CQL data types ([option] in the protocol) and the serialisation of the
// values leaves-independent callers bind and read: text/ascii/varchar, int,
// bigint/counter, boolean, timestamp, uuid/timeuuid, blob, double, and the
// collections list, set and map (v3+ encoding: [int] lengths). Pure code.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "leaves/cql/protocol/wire.h"

namespace cql {

enum class type_id : uint16_t {
  custom = 0x0000,
  ascii = 0x0001,
  bigint = 0x0002,
  blob = 0x0003,
  boolean = 0x0004,
  counter = 0x0005,
  decimal = 0x0006,
  double_ = 0x0007,
  float_ = 0x0008,
  int_ = 0x0009,
  timestamp = 0x000B,
  uuid = 0x000C,
  varchar = 0x000D,
  varint = 0x000E,
  timeuuid = 0x000F,
  inet = 0x0010,
  date = 0x0011,
  time = 0x0012,
  smallint = 0x0013,
  tinyint = 0x0014,
  duration = 0x0015,
  list = 0x0020,
  map = 0x0021,
  set = 0x0022,
  udt = 0x0030,
  tuple = 0x0031,
};

struct data_type {
  type_id id = type_id::blob;
  std::string custom_class;          // custom
  std::vector<data_type> params;     // list/set: element; map: key, value; tuple/udt: fields
  std::string udt_keyspace, udt_name;
  std::vector<std::string> field_names;  // udt
  bool operator==(const data_type&) const = default;
};

// "list<text>", "map<text, int>", ... (CQL spelling).
std::string to_string(const data_type& t);

using uuid = std::array<uint8_t, 16>;
std::string to_string(const uuid& u);             // 8-4-4-4-12 lower-case hex
std::optional<uuid> parse_uuid(std::string_view s);

// A bound value: set (serialised bytes), null, or unset (v4: leaves the
// column as it is; only in EXECUTE/QUERY values).
struct value {
  enum class kind : uint8_t { set, null, unset };
  kind k = kind::null;
  std::string data;

  static value null() { return {}; }
  static value unset() { return {kind::unset, {}}; }
  static value raw(std::string bytes) { return {kind::set, std::move(bytes)}; }
  static value text(std::string_view s) { return raw(std::string(s)); }
  static value int32(int32_t v);
  static value bigint(int64_t v);
  static value boolean(bool v) { return raw(std::string(1, v ? '\1' : '\0')); }
  static value timestamp(int64_t ms_since_epoch) { return bigint(ms_since_epoch); }
  static value double_(double v);
  static value uuid(const cql::uuid& u) { return raw(std::string(u.begin(), u.end())); }
  static value blob(std::string_view b) { return raw(std::string(b)); }
  // list<text> / set<text> (a set's elements should be sorted and unique).
  static value text_list(const std::vector<std::string>& items);
  // A collection of already serialised elements.
  static value collection(const std::vector<std::string>& elements);
  static value map(const std::vector<std::pair<std::string, std::string>>& entries);
  bool operator==(const value&) const = default;
};

void write_value(protocol::writer& w, const value& v);
void write_type(protocol::writer& w, const data_type& t);
// Reads an [option]; nesting deeper than 16 fails the reader.
data_type read_type(protocol::reader& r, int depth = 0);

// Decoding a non-null cell. nullopt: the bytes do not have the type's size/shape.
namespace decode {
std::optional<int32_t> int32(std::string_view b);
std::optional<int64_t> bigint(std::string_view b);  // also timestamp, counter
std::optional<bool> boolean(std::string_view b);
std::optional<double> double_(std::string_view b);
std::optional<cql::uuid> uuid(std::string_view b);
// list/set: element bytes (views into b); null elements are not allowed.
std::optional<std::vector<std::string_view>> collection(std::string_view b);
std::optional<std::vector<std::pair<std::string_view, std::string_view>>> map(std::string_view b);
std::optional<std::vector<std::string>> text_list(std::string_view b);
}  // namespace decode

}  // namespace cql
