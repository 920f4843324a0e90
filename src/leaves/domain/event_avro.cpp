#include "leaves/domain/event_avro.h"

#include <algorithm>
#include <bit>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <thread>

#include "leaves/base/log.h"

namespace leaves::domain {

std::string_view leaves_event_avsc();  // generated from docs/schemas/avro/leaves-event.avsc

std::string_view event_avro_schema() { return leaves_event_avsc(); }

namespace json = boost::json;

static_assert(std::endian::native == std::endian::little, "floats are written in the host's byte order");

// One type of the schema, compiled: what the encoder and decoder switch on,
// so no node's kind or attributes are looked up by name per event.
struct avro_event_schema::node {
  enum class kind : uint8_t {
    null, boolean, int32, int64, float32, float64, bytes, string,
    json_text,  // a string of JSON text ({"type": "string", "leaves": "json"})
    record, enumeration, array, map, union_of, fixed
  };
  struct field {
    std::string name;
    const node* type = nullptr;
    bool optional = false;  // default null: absent unless present_fields names it
    bool presence = false;  // present_fields itself ({"leaves": "presence"})
  };
  kind k = kind::null;
  std::string name;             // record, enum, fixed: the full name
  std::string event_tag;        // a record of `data`: its event type
  std::vector<field> fields;    // record
  const node* items = nullptr;  // array items, map values
  std::vector<const node*> branches;  // union
  std::vector<std::string> symbols;   // enum
  size_t size = 0;                    // fixed
  bool has_presence = false;          // record: one of its fields is present_fields
};

namespace {

using node = avro_event_schema::node;
using kind = node::kind;

std::string_view attr(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

std::optional<kind> primitive(std::string_view t) {
  if (t == "null") return kind::null;
  if (t == "boolean") return kind::boolean;
  if (t == "int") return kind::int32;
  if (t == "long") return kind::int64;
  if (t == "float") return kind::float32;
  if (t == "double") return kind::float64;
  if (t == "bytes") return kind::bytes;
  if (t == "string") return kind::string;
  return std::nullopt;
}

void put_long(std::string& out, int64_t v) {
  uint64_t z = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  while (z >= 0x80) {
    out.push_back(static_cast<char>((z & 0x7f) | 0x80));
    z >>= 7;
  }
  out.push_back(static_cast<char>(z));
}

void put_string(std::string& out, std::string_view s) {
  put_long(out, static_cast<int64_t>(s.size()));
  out.append(s);
}

template <typename T>
void put_raw(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

error corrupt(std::string why) { return make_error(errc::invalid_argument, "avro_corrupt: " + why, "avro_corrupt"); }

// Where a value is, for an error: built only when one is reported.
struct where {
  const where* up = nullptr;
  std::string_view name;  // a field or map key; empty: an array index
  size_t index = 0;
  std::string str() const {
    std::string s = up ? up->str() : std::string();
    if (!up) return std::string(name);
    return name.empty() ? s + "[" + std::to_string(index) + "]" : s + "." + std::string(name);
  }
};

// Builds the node tree of a schema's JSON: named types are registered before
// their fields are built (a record may refer to itself), by name and full name.
struct builder {
  std::vector<std::unique_ptr<node>>& nodes;
  std::map<std::string, const node*, std::less<>> named;

  node& make(kind k) {
    nodes.push_back(std::make_unique<node>());
    nodes.back()->k = k;
    return *nodes.back();
  }

  result<const node*> build(const json::value& t, const std::string& ns, int depth) {
    auto bad = [](std::string why) { return make_error(errc::invalid_argument, std::move(why)); };
    if (depth > avro_event_schema::kMaxDepth) return bad("schema nested too deeply");
    if (t.is_string()) {
      const std::string_view name = t.get_string();
      if (auto k = primitive(name)) return &make(*k);
      auto it = named.find(name);
      if (it == named.end() && name.find('.') == std::string_view::npos && !ns.empty()) {
        it = named.find(ns + "." + std::string(name));
      }
      if (it == named.end()) return bad("unknown type " + std::string(name));
      return it->second;
    }
    if (t.is_array()) {
      node& u = make(kind::union_of);
      for (const auto& b : t.get_array()) {
        auto n = build(b, ns, depth + 1);
        if (!n) return n.err();
        u.branches.push_back(*n);
      }
      if (u.branches.empty()) return bad("an empty union");
      return &u;
    }
    if (!t.is_object()) return bad("a type that is not a name, a union or an object");
    const auto& o = t.get_object();
    const auto type = attr(o, "type");
    if (auto k = primitive(type)) {
      if (*k == kind::string && attr(o, "leaves") == "json") return &make(kind::json_text);
      return &make(*k);
    }
    if (type == "array" || type == "map") {
      const auto* inner = o.if_contains(type == "array" ? "items" : "values");
      if (!inner) return bad(std::string("an ") + std::string(type) + " without its " + (type == "array" ? "items" : "values"));
      node& n = make(type == "array" ? kind::array : kind::map);
      auto items = build(*inner, ns, depth + 1);
      if (!items) return items.err();
      n.items = *items;
      return &n;
    }
    if (type != "record" && type != "error" && type != "enum" && type != "fixed") {
      return bad("an object type without a known \"type\"");
    }
    const auto name = attr(o, "name");
    if (name.empty()) return bad("a named type without a name");
    std::string space = ns;
    if (auto given = attr(o, "namespace"); !given.empty()) space = std::string(given);
    const std::string full = name.find('.') != std::string_view::npos || space.empty()
                                 ? std::string(name)
                                 : space + "." + std::string(name);
    if (auto dot = full.rfind('.'); dot != std::string::npos) space = full.substr(0, dot);
    node& n = make(type == "enum" ? kind::enumeration : type == "fixed" ? kind::fixed : kind::record);
    n.name = full;
    named[full] = &n;
    named[full.substr(full.rfind('.') == std::string::npos ? 0 : full.rfind('.') + 1)] = &n;
    if (n.k == kind::enumeration) {
      const auto* syms = o.if_contains("symbols");
      if (!syms || !syms->is_array()) return bad("enum " + full + " without symbols");
      for (const auto& s : syms->get_array()) {
        if (!s.is_string()) return bad("enum " + full + ": a symbol that is not a string");
        n.symbols.emplace_back(s.get_string());
      }
      return &n;
    }
    if (n.k == kind::fixed) {
      const auto* size = o.if_contains("size");
      if (!size || !size->is_int64() || size->get_int64() < 0 || size->get_int64() > (1 << 20)) {
        return bad("fixed " + full + " without a size");
      }
      n.size = static_cast<size_t>(size->get_int64());
      return &n;
    }
    if (auto tag = attr(o, "leaves"); tag.starts_with("event:")) n.event_tag = std::string(tag.substr(6));
    const auto* fields = o.if_contains("fields");
    if (!fields || !fields->is_array()) return bad("record " + full + " without fields");
    for (const auto& fv : fields->get_array()) {
      if (!fv.is_object() || attr(fv.get_object(), "name").empty() || !fv.get_object().if_contains("type")) {
        return bad("record " + full + ": a field without a name or a type");
      }
      const auto& f = fv.get_object();
      auto ft = build(f.at("type"), space, depth + 1);
      if (!ft) return ft.err();
      node::field field;
      field.name = std::string(attr(f, "name"));
      field.type = *ft;
      const auto* def = f.if_contains("default");
      field.optional = def && def->is_null();
      // present_fields is an array of strings, or an ordinary field.
      field.presence = attr(f, "leaves") == "presence" && field.type->k == kind::array &&
                       field.type->items->k == kind::string;
      n.has_presence = n.has_presence || field.presence;
      n.fields.push_back(std::move(field));
    }
    return &n;
  }
};

// ---- encoding ---------------------------------------------------------------

bool fits(const node& n, const json::value& v, std::string_view event_type) {
  switch (n.k) {
    case kind::null: return v.is_null();
    case kind::boolean: return v.is_bool();
    case kind::int32:
    case kind::int64: return v.is_int64() || v.is_uint64();
    case kind::float32:
    case kind::float64: return v.is_number();
    case kind::bytes:
    case kind::string:
    case kind::enumeration:
    case kind::fixed: return v.is_string();
    case kind::json_text: return !v.is_null();
    case kind::array: return v.is_array();
    case kind::map: return v.is_object();
    case kind::record: return v.is_object() && (n.event_tag.empty() || n.event_tag == event_type);
    case kind::union_of: return false;  // a union of unions is not Avro
  }
  return false;
}

struct encoder {
  std::string& out;
  std::string_view event_type;

  error bad(const where& at, const json::value& v, std::string_view want) const {
    return make_error(errc::invalid_argument, at.str() + ": " + json::serialize(v).substr(0, 200) + " is not " +
                                                  std::string(want));
  }

  status record(const node& n, const json::object& obj, const where& at, int depth) {
    static const json::value null_value;
    size_t known = 0;
    for (const auto& f : n.fields) {
      const where here{&at, f.name};
      if (f.presence) {
        // The fields the object has, in the schema's order.
        size_t count = 0;
        for (const auto& g : n.fields) count += !g.presence && obj.contains(g.name);
        if (count) {
          put_long(out, static_cast<int64_t>(count));
          for (const auto& g : n.fields) {
            if (!g.presence && obj.contains(g.name)) put_string(out, g.name);
          }
        }
        put_long(out, 0);
        continue;
      }
      const auto* fv = obj.if_contains(f.name);
      known += fv != nullptr;
      if (auto st = value(*f.type, fv ? *fv : null_value, here, depth + 1); !st) return st;
    }
    if (known != obj.size()) {
      for (const auto& [key, _] : obj) {
        bool found = false;
        for (const auto& f : n.fields) found = found || (!f.presence && f.name == key);
        if (!found) return make_error(errc::invalid_argument, where{&at, key}.str() + ": not in the schema");
      }
    }
    return ok_status();
  }

  status value(const node& n, const json::value& v, const where& at, int depth) {
    if (depth > avro_event_schema::kMaxDepth) return make_error(errc::invalid_argument, at.str() + ": nested too deeply");
    switch (n.k) {
      case kind::union_of:
        for (size_t i = 0; i < n.branches.size(); ++i) {
          if (!fits(*n.branches[i], v, event_type)) continue;
          put_long(out, static_cast<int64_t>(i));
          return value(*n.branches[i], v, at, depth + 1);
        }
        return bad(at, v, "of any branch of the union");
      case kind::json_text:
        put_string(out, json::serialize(v));
        return ok_status();
      case kind::null:
        if (!v.is_null()) return bad(at, v, "null");
        return ok_status();
      case kind::boolean:
        if (!v.is_bool()) return bad(at, v, "a boolean");
        out.push_back(v.get_bool() ? 1 : 0);
        return ok_status();
      case kind::int32:
      case kind::int64: {
        if (v.is_uint64() && v.get_uint64() > static_cast<uint64_t>(INT64_MAX)) return bad(at, v, "a long");
        if (!v.is_int64() && !v.is_uint64()) return bad(at, v, "an integer");
        const int64_t x = v.is_int64() ? v.get_int64() : static_cast<int64_t>(v.get_uint64());
        if (n.k == kind::int32 && (x < INT32_MIN || x > INT32_MAX)) return bad(at, v, "an int");
        put_long(out, x);
        return ok_status();
      }
      case kind::float32:
      case kind::float64:
        if (!v.is_number()) return bad(at, v, "a number");
        if (n.k == kind::float32) put_raw(out, static_cast<float>(v.to_number<double>()));
        else put_raw(out, v.to_number<double>());
        return ok_status();
      case kind::bytes:
      case kind::string:
        if (!v.is_string()) return bad(at, v, "a string");
        put_string(out, v.get_string());
        return ok_status();
      case kind::enumeration:
        if (v.is_string()) {
          for (size_t i = 0; i < n.symbols.size(); ++i) {
            if (n.symbols[i] == v.get_string()) {
              put_long(out, static_cast<int64_t>(i));
              return ok_status();
            }
          }
        }
        return bad(at, v, "a symbol of " + n.name);
      case kind::fixed:
        if (!v.is_string() || v.get_string().size() != n.size) return bad(at, v, "a fixed of its size");
        out.append(v.get_string().data(), v.get_string().size());
        return ok_status();
      case kind::array: {
        if (!v.is_array()) return bad(at, v, "an array");
        const auto& a = v.get_array();
        if (!a.empty()) {
          put_long(out, static_cast<int64_t>(a.size()));
          for (size_t i = 0; i < a.size(); ++i) {
            if (auto st = value(*n.items, a[i], where{&at, {}, i}, depth + 1); !st) return st;
          }
        }
        put_long(out, 0);
        return ok_status();
      }
      case kind::map: {
        if (!v.is_object()) return bad(at, v, "an object");
        const auto& m = v.get_object();
        if (!m.empty()) {
          put_long(out, static_cast<int64_t>(m.size()));
          for (const auto& [key, val] : m) {
            put_string(out, key);
            if (auto st = value(*n.items, val, where{&at, key}, depth + 1); !st) return st;
          }
        }
        put_long(out, 0);
        return ok_status();
      }
      case kind::record:
        if (!v.is_object()) return bad(at, v, "an object");
        return record(n, v.get_object(), at, depth);
    }
    return make_error(errc::internal, at.str() + ": an unknown node");
  }
};

// ---- decoding ---------------------------------------------------------------

struct decoder {
  std::string_view b;
  size_t at = 0;
  int64_t elements = 0;
  std::string_view event_tag;  // the type named by the `data` branch read, if any

  result<int64_t> get_long() {
    uint64_t z = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at >= b.size()) return corrupt("truncated varint");
      const auto byte = static_cast<unsigned char>(b[at++]);
      z |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1));
    }
    return corrupt("varint longer than 10 bytes");
  }

  result<std::string_view> get_bytes(int64_t len) {
    if (len < 0 || static_cast<uint64_t>(len) > b.size() - at) return corrupt("length beyond the record");
    auto s = b.substr(at, static_cast<size_t>(len));
    at += static_cast<size_t>(len);
    return s;
  }

  result<std::string_view> get_string() {
    auto len = get_long();
    if (!len) return len.err();
    return get_bytes(*len);
  }

  // The count of the next block of an array or map (0 ends it).
  result<int64_t> get_block() {
    auto count = get_long();
    if (!count) return count.err();
    if (*count < 0) {  // a negative count is followed by the block's size in bytes
      if (*count == INT64_MIN) return corrupt("bad block count");
      *count = -*count;
      if (auto size = get_long(); !size) return size.err();
    }
    if (*count > avro_event_schema::kMaxElements - elements) return corrupt("more elements than allowed");
    elements += *count;
    return count;
  }

  result<json::value> value(const node& n, int depth) {
    if (depth > avro_event_schema::kMaxDepth) return corrupt("nested too deeply");
    switch (n.k) {
      case kind::union_of: {
        auto idx = get_long();
        if (!idx) return idx.err();
        if (*idx < 0 || static_cast<uint64_t>(*idx) >= n.branches.size()) return corrupt("union branch out of range");
        return value(*n.branches[static_cast<size_t>(*idx)], depth + 1);
      }
      case kind::null: return json::value(nullptr);
      case kind::boolean: {
        if (at >= b.size()) return corrupt("truncated boolean");
        const char c = b[at++];
        if (c != 0 && c != 1) return corrupt("boolean not 0 or 1");
        return json::value(c == 1);
      }
      case kind::int32:
      case kind::int64: {
        auto x = get_long();
        if (!x) return x.err();
        if (n.k == kind::int32 && (*x < INT32_MIN || *x > INT32_MAX)) return corrupt("int out of range");
        return json::value(*x);
      }
      case kind::float32: {
        auto raw = get_bytes(4);
        if (!raw) return raw.err();
        float f;
        std::memcpy(&f, raw->data(), 4);
        return json::value(static_cast<double>(f));
      }
      case kind::float64: {
        auto raw = get_bytes(8);
        if (!raw) return raw.err();
        double d;
        std::memcpy(&d, raw->data(), 8);
        return json::value(d);
      }
      case kind::bytes:
      case kind::string: {
        auto s = get_string();
        if (!s) return s.err();
        return json::value(json::string(*s));
      }
      case kind::json_text: {
        auto s = get_string();
        if (!s) return s.err();
        boost::system::error_code ec;
        auto v = json::parse(*s, ec);
        if (ec) return corrupt("a JSON field that is not JSON");
        return v;
      }
      case kind::enumeration: {
        auto idx = get_long();
        if (!idx) return idx.err();
        if (*idx < 0 || static_cast<uint64_t>(*idx) >= n.symbols.size()) return corrupt("enum symbol out of range");
        return json::value(json::string(n.symbols[static_cast<size_t>(*idx)]));
      }
      case kind::fixed: {
        auto raw = get_bytes(static_cast<int64_t>(n.size));
        if (!raw) return raw.err();
        return json::value(json::string(*raw));
      }
      case kind::array:
      case kind::map: {
        json::array a;
        json::object m;
        for (;;) {
          auto count = get_block();
          if (!count) return count.err();
          if (*count == 0) break;
          for (int64_t i = 0; i < *count; ++i) {
            std::string_view key;
            if (n.k == kind::map) {
              auto s = get_string();
              if (!s) return s.err();
              key = *s;
            }
            auto item = value(*n.items, depth + 1);
            if (!item) return item.err();
            if (n.k == kind::map) m[key] = std::move(*item);
            else a.push_back(std::move(*item));
          }
        }
        return n.k == kind::map ? json::value(std::move(m)) : json::value(std::move(a));
      }
      case kind::record: return record(n, depth);
    }
    return corrupt("an unknown node");
  }

  result<json::value> record(const node& n, int depth) {
    if (!n.event_tag.empty()) event_tag = n.event_tag;
    json::object obj(n.fields.size());
    json::value present;
    for (const auto& f : n.fields) {
      auto v = value(*f.type, depth + 1);
      if (!v) return v.err();
      if (f.presence) present = std::move(*v);
      else obj[f.name] = std::move(*v);
    }
    if (!n.has_presence || !present.is_array()) return json::value(std::move(obj));
    // An optional field (default null) the writer did not name is absent; a
    // required one is always there.
    const auto& names = present.get_array();
    for (const auto& name : names) {
      if (!name.is_string()) return corrupt("a present field name that is not a string");
    }
    json::object kept(n.fields.size());
    for (const auto& f : n.fields) {
      if (f.presence) continue;
      auto* v = obj.if_contains(f.name);
      if (!v) continue;  // a name the record has twice
      const bool named = std::any_of(names.begin(), names.end(), [&](const json::value& x) { return x.get_string() == f.name; });
      if (!f.optional || named) {
        kept[f.name] = std::move(*v);
      }
    }
    return json::value(std::move(kept));
  }
};

}  // namespace

avro_event_schema::~avro_event_schema() = default;

result<std::shared_ptr<const avro_event_schema>> avro_event_schema::parse(std::string_view schema_json) {
  boost::system::error_code ec;
  auto root = json::parse(schema_json, ec);
  if (ec) return make_error(errc::invalid_argument, "the schema is not JSON: " + ec.message());
  if (!root.is_object() || attr(root.get_object(), "type") != "record") {
    return make_error(errc::invalid_argument, "the schema is not a record");
  }
  std::shared_ptr<avro_event_schema> s(new avro_event_schema());
  builder b{s->nodes_, {}};
  auto r = b.build(root, "", 0);
  if (!r) return r.err();
  s->root_ = *r;
  return std::shared_ptr<const avro_event_schema>(std::move(s));
}

result<std::string> avro_event_schema::encode(const json::object& event) const {
  const auto* type = event.if_contains("type");
  std::string out;
  out.reserve(256);
  encoder e{out, type && type->is_string() ? std::string_view(type->get_string()) : std::string_view()};
  if (auto st = e.record(*root_, event, where{nullptr, "event"}, 0); !st) return st.err();
  return out;
}

result<json::object> avro_event_schema::decode(std::string_view avro) const {
  decoder d{avro};
  auto v = d.value(*root_, 0);
  if (!v) return v.err();
  if (d.at != avro.size()) return corrupt("bytes after the record");
  auto& ev = v->get_object();
  // The branch of `data` is the type's: one that names another type is corrupt.
  const auto* type = ev.if_contains("type");
  if (!d.event_tag.empty() && !(type && type->is_string() && type->get_string() == d.event_tag)) {
    return corrupt("data is " + std::string(d.event_tag) + "'s, the type says " +
                   (type ? json::serialize(*type) : std::string("nothing")));
  }
  return std::move(ev);
}

// ---- the process's format -------------------------------------------------

namespace {

struct format_state {
  std::atomic<bool> write_avro{false};  // config.write_avro, read without the lock on every write
  std::shared_mutex mu;
  event_format_config config;
  std::shared_ptr<const avro_event_schema> own;  // event_avro_schema(), parsed
  std::map<int32_t, std::shared_ptr<const avro_event_schema>> by_id;
  std::set<int32_t> unknown;  // ids the registry said it does not have
};

format_state& state() {
  static format_state s;
  return s;
}

constexpr size_t kMaxSchemas = 1000;

}  // namespace

void configure_event_format(event_format_config config) {
  auto& s = state();
  std::unique_lock lk(s.mu);
  s.by_id.clear();
  s.unknown.clear();
  if (!s.own) {
    auto own = avro_event_schema::parse(event_avro_schema());
    if (own) s.own = *own;
  }
  if (config.write_avro && s.own) s.by_id[config.schema_id] = s.own;
  s.config = std::move(config);
  s.write_avro = s.config.write_avro && s.own;
}

result<std::string> encode_event_value(const json::object& event) {
  auto& s = state();
  if (!s.write_avro.load(std::memory_order_acquire)) return json::serialize(event);
  std::shared_lock lk(s.mu);
  if (!s.config.write_avro || !s.own) return json::serialize(event);
  auto avro = s.own->encode(event);
  if (!avro) return avro.err();
  std::string out;
  out.reserve(5 + avro->size());
  out.push_back('\0');
  const auto id = static_cast<uint32_t>(s.config.schema_id);
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((id >> shift) & 0xff));
  out += *avro;
  return out;
}

result<json::object> decode_event_value(std::string_view value) {
  if (value.empty() || value[0] != '\0') {
    boost::system::error_code ec;
    auto j = json::parse(value, ec);
    if (ec || !j.is_object()) return make_error(errc::invalid_argument, "not a JSON object");
    return std::move(j.get_object());
  }
  if (value.size() < 5) return corrupt("a Confluent frame shorter than 5 bytes");
  int32_t id = 0;
  for (int i = 1; i <= 4; ++i) id = static_cast<int32_t>((static_cast<uint32_t>(id) << 8) | static_cast<unsigned char>(value[i]));
  const auto payload = value.substr(5);
  auto& s = state();
  std::function<result<std::string>(int32_t)> fetch;
  {
    std::shared_lock lk(s.mu);
    if (auto it = s.by_id.find(id); it != s.by_id.end()) {
      auto schema = it->second;
      lk.unlock();
      return schema->decode(payload);
    }
    if (s.unknown.contains(id)) {
      return make_error(errc::invalid_argument, "schema id " + std::to_string(id) + " is not in the registry",
                        "avro_unknown_schema");
    }
    fetch = s.config.fetch_schema;
  }
  if (!fetch) {
    return make_error(errc::invalid_argument,
                      "an Avro event (schema id " + std::to_string(id) + ") and no --schema-registry to read it with",
                      "avro_no_registry");
  }
  auto text = fetch(id);  // outside the lock: a registry round trip
  std::unique_lock lk(s.mu);
  if (!text) {
    if (text.err().code != errc::not_found) return text.err();
    if (s.unknown.size() < kMaxSchemas) s.unknown.insert(id);
    return make_error(errc::invalid_argument, "schema id " + std::to_string(id) + " is not in the registry",
                      "avro_unknown_schema");
  }
  auto schema = avro_event_schema::parse(*text);
  if (!schema) {
    return make_error(errc::invalid_argument, "schema id " + std::to_string(id) + ": " + schema.err().message,
                      "avro_schema_invalid");
  }
  if (s.by_id.size() < kMaxSchemas) s.by_id[id] = *schema;
  lk.unlock();
  return (*schema)->decode(payload);
}

result<json::object> decode_event_value_waiting(std::string_view value, const std::atomic<bool>& stop,
                                                std::string_view who) {
  auto backoff = std::chrono::milliseconds(100);
  for (;;) {
    auto v = decode_event_value(value);
    if (v || v.err().code != errc::unavailable || stop) return v;
    log_warn(who, "the schema registry is unavailable; reading again in " + std::to_string(backoff.count()) +
                      " ms: " + v.err().message);
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

}  // namespace leaves::domain
