#include "leaves/domain/event_avro.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <thread>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstring>
#include <mutex>
#include <set>
#include <shared_mutex>

#include "leaves/base/log.h"

namespace leaves::domain {

std::string_view leaves_event_avsc();  // generated from docs/schemas/avro/leaves-event.avsc

std::string_view event_avro_schema() { return leaves_event_avsc(); }

namespace json = boost::json;

static_assert(std::endian::native == std::endian::little, "floats are written in the host's byte order");

namespace {

constexpr std::string_view kPrimitives[] = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"};

bool is_primitive(std::string_view t) {
  for (auto p : kPrimitives)
    if (p == t) return true;
  return false;
}

std::string_view attr(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
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

}  // namespace

// Walks a schema and a value together; `named` resolves type names.
struct avro_event_schema::walker {
  const std::map<std::string, const json::value*, std::less<>>& named;

  // The node a type stands for: a primitive name stays a string, a named
  // type's name becomes its definition. nullptr: an unknown name.
  const json::value* deref(const json::value& t) const {
    if (!t.is_string()) return &t;
    std::string_view name = t.get_string();
    if (is_primitive(name)) return &t;
    auto it = named.find(name);
    return it == named.end() ? nullptr : it->second;
  }

  static std::string_view kind(const json::value& t) {
    if (t.is_string()) return t.get_string();
    if (t.is_array()) return "union";
    const auto& o = t.get_object();
    return attr(o, "type");
  }

  // ---- encoding -------------------------------------------------------

  bool fits(const json::value& t, const json::value& v, std::string_view event_type) const {
    const json::value* n = deref(t);
    if (!n) return false;
    const auto k = kind(*n);
    if (n->is_object() && attr(n->get_object(), "leaves") == "json") return !v.is_null();
    if (k == "null") return v.is_null();
    if (k == "boolean") return v.is_bool();
    if (k == "int" || k == "long") return v.is_int64() || v.is_uint64();
    if (k == "float" || k == "double") return v.is_number();
    if (k == "string" || k == "bytes" || k == "enum" || k == "fixed") return v.is_string();
    if (k == "array") return v.is_array();
    if (k == "map") return v.is_object();
    if (k == "record") {
      const auto tag = attr(n->get_object(), "leaves");
      if (tag.starts_with("event:")) return v.is_object() && tag.substr(6) == event_type;
      return v.is_object();
    }
    return false;
  }

  status encode_record(const json::object& o, const json::object& obj, std::string& out, const std::string& path,
                       int depth, std::string_view event_type) const {
    const auto& fields = o.at("fields").get_array();
    size_t known = 0;
    for (const auto& fv : fields) {
      const auto& f = fv.get_object();
      const std::string_view name = f.at("name").get_string();
      if (attr(f, "leaves") == "presence") {
        // The fields the object has, in the schema's order.
        json::array present;
        for (const auto& other : fields) {
          const auto& on = other.get_object().at("name");
          if (obj.contains(on.get_string())) present.push_back(on);
        }
        if (auto st = encode(f.at("type"), present, out, path + "." + std::string(name), depth + 1, event_type); !st) {
          return st;
        }
        continue;
      }
      const auto* fval = obj.if_contains(name);
      if (fval) ++known;
      static const json::value null_value;
      if (auto st = encode(f.at("type"), fval ? *fval : null_value, out, path + "." + std::string(name), depth + 1,
                           event_type);
          !st) {
        return st;
      }
    }
    if (known != obj.size()) {
      for (const auto& [key, _] : obj) {
        bool found = false;
        for (const auto& fv : fields) found = found || fv.get_object().at("name").get_string() == key;
        if (!found) return make_error(errc::invalid_argument, path + "." + std::string(key) + ": not in the schema");
      }
    }
    return ok_status();
  }

  status encode(const json::value& t, const json::value& v, std::string& out, const std::string& path, int depth,
                std::string_view event_type) const {
    if (depth > kMaxDepth) return make_error(errc::invalid_argument, path + ": nested too deeply");
    const json::value* n = deref(t);
    if (!n) return make_error(errc::invalid_argument, path + ": unknown type " + json::serialize(t));
    auto bad = [&](std::string_view want) {
      return make_error(errc::invalid_argument, path + ": " + json::serialize(v) + " is not " + std::string(want));
    };
    const auto k = kind(*n);
    if (k == "union") {
      const auto& branches = n->get_array();
      for (size_t i = 0; i < branches.size(); ++i) {
        if (!fits(branches[i], v, event_type)) continue;
        put_long(out, static_cast<int64_t>(i));
        return encode(branches[i], v, out, path, depth + 1, event_type);
      }
      return bad("of any branch of " + json::serialize(t).substr(0, 200));
    }
    if (n->is_object() && attr(n->get_object(), "leaves") == "json") {
      put_string(out, json::serialize(v));
      return ok_status();
    }
    if (k == "null") return v.is_null() ? ok_status() : status(bad("null"));
    if (k == "boolean") {
      if (!v.is_bool()) return bad("a boolean");
      out.push_back(v.get_bool() ? 1 : 0);
      return ok_status();
    }
    if (k == "int" || k == "long") {
      if (v.is_uint64() && v.get_uint64() > static_cast<uint64_t>(INT64_MAX)) return bad("a long");
      if (!v.is_int64() && !v.is_uint64()) return bad("an integer");
      const int64_t x = v.is_int64() ? v.get_int64() : static_cast<int64_t>(v.get_uint64());
      if (k == "int" && (x < INT32_MIN || x > INT32_MAX)) return bad("an int");
      put_long(out, x);
      return ok_status();
    }
    if (k == "float" || k == "double") {
      if (!v.is_number()) return bad("a number");
      const double d = v.to_number<double>();
      if (k == "float") put_raw(out, static_cast<float>(d));
      else put_raw(out, d);
      return ok_status();
    }
    if (k == "string" || k == "bytes") {
      if (!v.is_string()) return bad("a string");
      put_string(out, v.get_string());
      return ok_status();
    }
    const auto& o = n->get_object();
    if (k == "enum") {
      if (!v.is_string()) return bad("a symbol");
      const auto* syms = o.if_contains("symbols");
      if (syms && syms->is_array()) {
        const auto& a = syms->get_array();
        for (size_t i = 0; i < a.size(); ++i) {
          if (a[i] == v) {
            put_long(out, static_cast<int64_t>(i));
            return ok_status();
          }
        }
      }
      return bad("a symbol of the enum");
    }
    if (k == "fixed") {
      const auto* size = o.if_contains("size");
      if (!v.is_string() || !size || !size->is_int64() || v.get_string().size() != static_cast<size_t>(size->get_int64())) {
        return bad("a fixed of its size");
      }
      out.append(v.get_string().data(), v.get_string().size());
      return ok_status();
    }
    if (k == "array") {
      if (!v.is_array()) return bad("an array");
      const auto& a = v.get_array();
      if (!a.empty()) {
        put_long(out, static_cast<int64_t>(a.size()));
        for (size_t i = 0; i < a.size(); ++i) {
          if (auto st = encode(o.at("items"), a[i], out, path + "[" + std::to_string(i) + "]", depth + 1, event_type);
              !st) {
            return st;
          }
        }
      }
      put_long(out, 0);
      return ok_status();
    }
    if (k == "map") {
      if (!v.is_object()) return bad("an object");
      const auto& m = v.get_object();
      if (!m.empty()) {
        put_long(out, static_cast<int64_t>(m.size()));
        for (const auto& [key, val] : m) {
          put_string(out, key);
          if (auto st = encode(o.at("values"), val, out, path + "." + std::string(key), depth + 1, event_type); !st) {
            return st;
          }
        }
      }
      put_long(out, 0);
      return ok_status();
    }
    if (k == "record") {
      if (!v.is_object()) return bad("an object");
      return encode_record(o, v.get_object(), out, path, depth, event_type);
    }
    return make_error(errc::invalid_argument, path + ": type " + std::string(k) + " is not supported");
  }

  // ---- decoding -------------------------------------------------------

  struct input {
    std::string_view b;
    size_t at = 0;
    int64_t elements = 0;
    std::string_view event_tag;  // the type named by the `data` branch read, if any
  };

  static result<int64_t> get_long(input& in) {
    uint64_t z = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in.at >= in.b.size()) return corrupt("truncated varint");
      const auto byte = static_cast<unsigned char>(in.b[in.at++]);
      z |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1));
    }
    return corrupt("varint longer than 10 bytes");
  }

  static result<std::string_view> get_bytes(input& in, int64_t len) {
    if (len < 0 || static_cast<uint64_t>(len) > in.b.size() - in.at) return corrupt("length beyond the record");
    auto s = in.b.substr(in.at, static_cast<size_t>(len));
    in.at += static_cast<size_t>(len);
    return s;
  }

  static result<std::string_view> get_string(input& in) {
    auto len = get_long(in);
    if (!len) return len.err();
    return get_bytes(in, *len);
  }

  // The count of the next block of an array or map (0 ends it).
  static result<int64_t> get_block(input& in) {
    auto count = get_long(in);
    if (!count) return count.err();
    if (*count < 0) {  // a negative count is followed by the block's size in bytes
      if (*count == INT64_MIN) return corrupt("bad block count");
      *count = -*count;
      if (auto size = get_long(in); !size) return size.err();
    }
    if (*count > kMaxElements - in.elements) return corrupt("more elements than allowed");
    in.elements += *count;
    return count;
  }

  result<json::value> decode(const json::value& t, input& in, int depth) const {
    if (depth > kMaxDepth) return corrupt("nested too deeply");
    const json::value* n = deref(t);
    if (!n) return corrupt("unknown type " + json::serialize(t));
    const auto k = kind(*n);
    if (k == "union") {
      auto idx = get_long(in);
      if (!idx) return idx.err();
      const auto& branches = n->get_array();
      if (*idx < 0 || static_cast<uint64_t>(*idx) >= branches.size()) return corrupt("union branch out of range");
      return decode(branches[static_cast<size_t>(*idx)], in, depth + 1);
    }
    if (k == "null") return json::value(nullptr);
    if (k == "boolean") {
      if (in.at >= in.b.size()) return corrupt("truncated boolean");
      const char c = in.b[in.at++];
      if (c != 0 && c != 1) return corrupt("boolean not 0 or 1");
      return json::value(c == 1);
    }
    if (k == "int" || k == "long") {
      auto x = get_long(in);
      if (!x) return x.err();
      if (k == "int" && (*x < INT32_MIN || *x > INT32_MAX)) return corrupt("int out of range");
      return json::value(*x);
    }
    if (k == "float" || k == "double") {
      auto raw = get_bytes(in, k == "float" ? 4 : 8);
      if (!raw) return raw.err();
      if (k == "float") {
        float f;
        std::memcpy(&f, raw->data(), 4);
        return json::value(static_cast<double>(f));
      }
      double d;
      std::memcpy(&d, raw->data(), 8);
      return json::value(d);
    }
    if (k == "string" || k == "bytes") {
      auto s = get_string(in);
      if (!s) return s.err();
      if (n->is_object() && attr(n->get_object(), "leaves") == "json") {
        boost::system::error_code ec;
        auto v = json::parse(*s, ec);
        if (ec) return corrupt("a JSON field that is not JSON");
        return v;
      }
      return json::value(json::string(*s));
    }
    const auto& o = n->get_object();
    if (k == "enum") {
      auto idx = get_long(in);
      if (!idx) return idx.err();
      const auto* syms = o.if_contains("symbols");
      if (!syms || !syms->is_array() || *idx < 0 || static_cast<uint64_t>(*idx) >= syms->get_array().size()) {
        return corrupt("enum symbol out of range");
      }
      return syms->get_array()[static_cast<size_t>(*idx)];
    }
    if (k == "fixed") {
      const auto* size = o.if_contains("size");
      if (!size || !size->is_int64()) return corrupt("fixed without a size");
      auto raw = get_bytes(in, size->get_int64());
      if (!raw) return raw.err();
      return json::value(json::string(*raw));
    }
    if (k == "array" || k == "map") {
      json::array a;
      json::object m;
      for (;;) {
        auto count = get_block(in);
        if (!count) return count.err();
        if (*count == 0) break;
        for (int64_t i = 0; i < *count; ++i) {
          std::string_view key;
          if (k == "map") {
            auto s = get_string(in);
            if (!s) return s.err();
            key = *s;
          }
          auto item = decode(o.at(k == "map" ? "values" : "items"), in, depth + 1);
          if (!item) return item.err();
          if (k == "map") m[key] = std::move(*item);
          else a.push_back(std::move(*item));
        }
      }
      return k == "map" ? json::value(std::move(m)) : json::value(std::move(a));
    }
    if (k == "record") {
      if (const auto tag = attr(o, "leaves"); tag.starts_with("event:")) in.event_tag = tag.substr(6);
      json::object obj;
      const json::array* present = nullptr;
      json::value present_value;
      for (const auto& fv : o.at("fields").get_array()) {
        const auto& f = fv.get_object();
        auto val = decode(f.at("type"), in, depth + 1);
        if (!val) return val.err();
        if (attr(f, "leaves") == "presence") {
          present_value = std::move(*val);
          if (present_value.is_array()) present = &present_value.get_array();
          continue;
        }
        obj[f.at("name").get_string()] = std::move(*val);
      }
      if (present) {
        // An optional field (default null) the writer did not name is absent;
        // a required one is always there.
        for (const auto& name : *present) {
          if (!name.is_string()) return corrupt("a present field name that is not a string");
        }
        json::object kept;
        for (const auto& fv : o.at("fields").get_array()) {
          const auto& f = fv.get_object();
          const auto& name = f.at("name");
          auto* v = obj.if_contains(name.get_string());
          if (!v) continue;  // the presence field itself
          const auto* def = f.if_contains("default");
          const bool optional = def && def->is_null();
          if (!optional || std::find(present->begin(), present->end(), name) != present->end()) {
            kept[name.get_string()] = std::move(*v);
          }
        }
        return json::value(std::move(kept));
      }
      return json::value(std::move(obj));
    }
    return corrupt("type " + std::string(k) + " is not supported");
  }
};

namespace {

// Registers the named types of `t` (records, enums, fixed) by name and full
// name, checking the schema's shape as it goes.
status collect(const json::value& t, std::string ns, std::map<std::string, const json::value*, std::less<>>& named,
               int depth) {
  if (depth > avro_event_schema::kMaxDepth) return make_error(errc::invalid_argument, "schema nested too deeply");
  if (t.is_string()) return ok_status();
  if (t.is_array()) {
    for (const auto& b : t.get_array())
      if (auto st = collect(b, ns, named, depth + 1); !st) return st;
    return ok_status();
  }
  if (!t.is_object()) return make_error(errc::invalid_argument, "a type that is not a name, a union or an object");
  const auto& o = t.get_object();
  const auto type = attr(o, "type");
  if (type == "record" || type == "error" || type == "enum" || type == "fixed") {
    const auto name = attr(o, "name");
    if (name.empty()) return make_error(errc::invalid_argument, "a named type without a name");
    if (auto space = attr(o, "namespace"); !space.empty()) ns = std::string(space);
    std::string full = name.find('.') != std::string_view::npos || ns.empty() ? std::string(name)
                                                                              : ns + "." + std::string(name);
    named[std::string(name.substr(name.rfind('.') == std::string_view::npos ? 0 : name.rfind('.') + 1))] = &t;
    named[full] = &t;
    if (type == "enum" && !(o.if_contains("symbols") && o.at("symbols").is_array())) {
      return make_error(errc::invalid_argument, "enum " + full + " without symbols");
    }
  }
  if (type == "record" || type == "error") {
    const auto* fields = o.if_contains("fields");
    if (!fields || !fields->is_array()) return make_error(errc::invalid_argument, "a record without fields");
    for (const auto& f : fields->get_array()) {
      if (!f.is_object() || !f.get_object().if_contains("name") || !f.get_object().at("name").is_string() ||
          !f.get_object().if_contains("type")) {
        return make_error(errc::invalid_argument, "a record field without a name or a type");
      }
      if (auto st = collect(f.get_object().at("type"), ns, named, depth + 1); !st) return st;
    }
  } else if (type == "array") {
    if (!o.if_contains("items")) return make_error(errc::invalid_argument, "an array without items");
    return collect(o.at("items"), ns, named, depth + 1);
  } else if (type == "map") {
    if (!o.if_contains("values")) return make_error(errc::invalid_argument, "a map without values");
    return collect(o.at("values"), ns, named, depth + 1);
  } else if (type.empty()) {
    return make_error(errc::invalid_argument, "an object type without \"type\"");
  }
  return ok_status();
}

}  // namespace

result<std::shared_ptr<const avro_event_schema>> avro_event_schema::parse(std::string_view schema_json) {
  boost::system::error_code ec;
  auto root = json::parse(schema_json, ec);
  if (ec) return make_error(errc::invalid_argument, "the schema is not JSON: " + ec.message());
  std::shared_ptr<avro_event_schema> s(new avro_event_schema());
  s->root_ = std::move(root);
  if (!s->root_.is_object() || attr(s->root_.get_object(), "type") != "record") {
    return make_error(errc::invalid_argument, "the schema is not a record");
  }
  if (auto st = collect(s->root_, "", s->named_, 0); !st) return st.err();
  return std::shared_ptr<const avro_event_schema>(std::move(s));
}

result<std::string> avro_event_schema::encode(const json::object& event) const {
  const auto* type = event.if_contains("type");
  const std::string_view event_type = type && type->is_string() ? std::string_view(type->get_string()) : "";
  walker w{named_};
  std::string out;
  out.reserve(256);
  if (auto st = w.encode_record(root_.get_object(), event, out, "event", 0, event_type); !st) return st.err();
  return out;
}

result<json::object> avro_event_schema::decode(std::string_view avro) const {
  walker w{named_};
  walker::input in{avro};
  auto v = w.decode(root_, in, 0);
  if (!v) return v.err();
  if (in.at != avro.size()) return corrupt("bytes after the record");
  auto& ev = v->get_object();
  // The branch of `data` is the type's: one that names another type is corrupt.
  const auto* type = ev.if_contains("type");
  if (!in.event_tag.empty() && !(type && type->is_string() && type->get_string() == in.event_tag)) {
    return corrupt("data is " + std::string(in.event_tag) + "'s, the type says " +
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
