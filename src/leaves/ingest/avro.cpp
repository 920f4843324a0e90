#include "leaves/ingest/avro.h"

#include <avro.h>

#include <boost/json.hpp>
#include <map>
#include <vector>

namespace json = boost::json;

namespace leaves::ingest {

namespace {

// leaves' reader schema: the fields of the reference schema
// (data/leaves-record-schema.avsc), each optional (a union with null, default
// null), widened where writers differ in practice. For each, the kinds of
// value it reads: what a writer's type may give there.
enum kind : unsigned {
  k_null = 1,
  k_boolean = 2,
  k_integer = 4,   // int or long (an int is promoted)
  k_float = 8,     // float or double: no leaf field reads them
  k_string = 16,   // string, bytes (promoted), an enum's symbol
  k_strings = 32,  // an array of strings
  k_other = 64,    // records, maps, fixed, arrays of anything else
};

const std::map<std::string, unsigned, std::less<>>& reader_fields() {
  static const std::map<std::string, unsigned, std::less<>> fields = [] {
    std::map<std::string, unsigned, std::less<>> f;
    for (const char* k : {"is_archived", "is_starred", "is_public"}) f[k] = k_null | k_integer | k_boolean;
    for (const char* k : {"user_id", "reading_time", "http_status", "created_at", "updated_at"}) {
      f[k] = k_null | k_integer | k_string;
    }
    for (const char* k : {"user_name", "user_email", "id", "title", "url", "domain_name", "content_text", "mimetype",
                          "language", "preview_picture", "content"}) {
      f[k] = k_null | k_string;
    }
    for (const char* k : {"all", "_links", "tags", "slugs", "published_by", "published_at"}) f[k] = k_null | k_strings;
    return f;
  }();
  return fields;
}

// The kinds a value of writer type `s` may be (a union: any of its branches').
unsigned kinds_of(avro_schema_t s, int depth = 0) {
  if (depth > 32) return k_other;
  switch (avro_typeof(s)) {
    case AVRO_NULL: return k_null;
    case AVRO_BOOLEAN: return k_boolean;
    case AVRO_INT32:
    case AVRO_INT64: return k_integer;
    case AVRO_FLOAT:
    case AVRO_DOUBLE: return k_float;
    case AVRO_STRING:
    case AVRO_BYTES:
    case AVRO_ENUM: return k_string;
    case AVRO_ARRAY: return kinds_of(avro_schema_array_items(s), depth + 1) == k_string ? k_strings : k_other;
    case AVRO_UNION: {
      unsigned k = 0;
      for (size_t b = 0; b < avro_schema_union_size(s); ++b) {
        k |= kinds_of(avro_schema_union_branch(s, static_cast<int>(b)), depth + 1);
      }
      return k;
    }
    case AVRO_LINK: return kinds_of(avro_schema_link_target(s), depth + 1);
    default: return k_other;
  }
}

std::string kind_names(unsigned k) {
  std::string out;
  const std::pair<unsigned, const char*> names[] = {{k_null, "null"},       {k_boolean, "boolean"},
                                                    {k_integer, "int/long"}, {k_float, "float/double"},
                                                    {k_string, "string"},   {k_strings, "array of strings"},
                                                    {k_other, "record/map/fixed/array"}};
  for (const auto& [bit, name] : names) {
    if (k & bit) out += (out.empty() ? "" : ", ") + std::string(name);
  }
  return out;
}

// A decoded value as JSON. Only known fields of the top record are asked for
// (see avro_decoder::decode), whose kinds the writer schema was checked for.
bool to_json(avro_value_t* v, json::value& out) {
  switch (avro_value_get_type(v)) {
    case AVRO_NULL: out = nullptr; return true;
    case AVRO_BOOLEAN: {
      int b = 0;
      if (avro_value_get_boolean(v, &b)) return false;
      out = b != 0;
      return true;
    }
    case AVRO_INT32: {
      int32_t i = 0;
      if (avro_value_get_int(v, &i)) return false;
      out = i;
      return true;
    }
    case AVRO_INT64: {
      int64_t i = 0;
      if (avro_value_get_long(v, &i)) return false;
      out = i;
      return true;
    }
    case AVRO_FLOAT: {
      float f = 0;
      if (avro_value_get_float(v, &f)) return false;
      out = static_cast<double>(f);
      return true;
    }
    case AVRO_DOUBLE: {
      double d = 0;
      if (avro_value_get_double(v, &d)) return false;
      out = d;
      return true;
    }
    case AVRO_STRING: {
      const char* s = nullptr;
      size_t n = 0;  // counts the terminating NUL
      if (avro_value_get_string(v, &s, &n)) return false;
      out = json::string(s, n > 0 ? n - 1 : 0);
      return true;
    }
    case AVRO_BYTES: {
      const void* b = nullptr;
      size_t n = 0;
      if (avro_value_get_bytes(v, &b, &n)) return false;
      out = json::string(static_cast<const char*>(b), n);
      return true;
    }
    case AVRO_ENUM: {
      int sym = 0;
      if (avro_value_get_enum(v, &sym)) return false;
      const char* name = avro_schema_enum_get(avro_value_get_schema(v), sym);
      if (!name) return false;
      out = name;
      return true;
    }
    case AVRO_UNION: {
      avro_value_t branch;
      if (avro_value_get_current_branch(v, &branch)) return false;
      return to_json(&branch, out);
    }
    case AVRO_ARRAY: {
      size_t n = 0;
      if (avro_value_get_size(v, &n)) return false;
      json::array a;
      a.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        avro_value_t item;
        if (avro_value_get_by_index(v, i, &item, nullptr)) return false;
        json::value x;
        if (!to_json(&item, x)) return false;
        a.push_back(std::move(x));
      }
      out = std::move(a);
      return true;
    }
    case AVRO_RECORD: {
      size_t n = 0;
      if (avro_value_get_size(v, &n)) return false;
      json::object o;
      for (size_t i = 0; i < n; ++i) {
        avro_value_t field;
        const char* name = nullptr;
        if (avro_value_get_by_index(v, i, &field, &name)) return false;
        json::value x;
        if (!to_json(&field, x)) return false;
        if (!x.is_null()) o[name] = std::move(x);
      }
      out = std::move(o);
      return true;
    }
    default: return false;  // maps and fixed: not in a reader schema above
  }
}

// Walks Avro binary of `schema` without building anything, checking that
// every length and count fits in what is left: Avro C trusts them, and a
// record claiming a 2 GiB string or a 2^62-item array would have it allocate
// that much (found by the sanitizer build). A record that passes is no larger
// in memory than its bytes suggest.
class avro_checker {
 public:
  explicit avro_checker(std::string_view bytes)
      : p_(bytes.data()), end_(bytes.data() + bytes.size()), items_left_(static_cast<int64_t>(bytes.size()) + 1024) {}
  bool check(avro_schema_t s, int depth = 0) {
    if (depth > 64) return false;
    switch (avro_typeof(s)) {
      case AVRO_NULL: return true;
      case AVRO_BOOLEAN: return skip(1);
      case AVRO_INT32:
      case AVRO_INT64: {
        int64_t v;
        return read_long(v);
      }
      case AVRO_FLOAT: return skip(4);
      case AVRO_DOUBLE: return skip(8);
      case AVRO_STRING:
      case AVRO_BYTES: {
        int64_t n;
        return read_long(n) && n >= 0 && skip(n);
      }
      case AVRO_FIXED: return skip(avro_schema_fixed_size(s));
      case AVRO_ENUM: {
        int64_t i;
        return read_long(i) && i >= 0 && i < avro_schema_enum_number_of_symbols(s);
      }
      case AVRO_UNION: {
        int64_t i;
        if (!read_long(i) || i < 0 || i >= static_cast<int64_t>(avro_schema_union_size(s))) return false;
        return check(avro_schema_union_branch(s, static_cast<int>(i)), depth + 1);
      }
      case AVRO_ARRAY:
      case AVRO_MAP: {
        const bool map = avro_typeof(s) == AVRO_MAP;
        avro_schema_t items = map ? avro_schema_map_values(s) : avro_schema_array_items(s);
        for (;;) {
          int64_t count;
          if (!read_long(count)) return false;
          if (count == 0) return true;
          if (count < 0) {
            if (count == INT64_MIN) return false;
            count = -count;
            int64_t block_bytes;
            if (!read_long(block_bytes) || block_bytes < 0 || block_bytes > left()) return false;
          }
          // Items of null (or of records of nulls) take no bytes: all the
          // items of a record together may be at most its size + 1024.
          if (count > items_left_) return false;
          items_left_ -= count;
          for (int64_t i = 0; i < count; ++i) {
            if (map && !check_string()) return false;
            if (!check(items, depth + 1)) return false;
          }
        }
      }
      case AVRO_RECORD: {
        const size_t n = avro_schema_record_size(s);
        for (size_t i = 0; i < n; ++i) {
          if (!check(avro_schema_record_field_get_by_index(s, static_cast<int>(i)), depth + 1)) return false;
        }
        return true;
      }
      case AVRO_LINK: return check(avro_schema_link_target(s), depth + 1);
      default: return false;
    }
  }
  bool at_end() const { return p_ == end_; }

 private:
  int64_t left() const { return end_ - p_; }
  bool skip(int64_t n) {
    if (n < 0 || n > left()) return false;
    p_ += n;
    return true;
  }
  bool check_string() {
    int64_t n;
    return read_long(n) && n >= 0 && skip(n);
  }
  bool read_long(int64_t& out) {  // zig-zag varint, at most 10 bytes
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (p_ == end_) return false;
      const auto b = static_cast<unsigned char>(*p_++);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) {
        out = static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
        return true;
      }
    }
    return false;
  }
  const char* p_;
  const char* end_;
  int64_t items_left_;
};

std::string avro_message() {
  std::string m = avro_strerror();
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m.empty() ? std::string("unknown Avro error") : m;
}

}  // namespace

std::optional<confluent_frame> parse_confluent_frame(std::string_view value) {
  if (value.size() < 5 || value[0] != '\0') return std::nullopt;
  const auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(value[i])); };
  const uint32_t id = (b(1) << 24) | (b(2) << 16) | (b(3) << 8) | b(4);
  return confluent_frame{static_cast<int32_t>(id), value.substr(5)};
}


struct avro_decoder::state {
  avro_schema_t writer = nullptr;
  avro_value_iface_t* writer_class = nullptr;
  avro_value_t value{};  // an instance of the writer schema, reused
  bool has_value = false;
  avro_reader_t in = nullptr;
  std::vector<std::pair<size_t, std::string>> fields;  // the writer's fields leaves reads: index, name

  ~state() {
    if (in) avro_reader_free(in);
    if (has_value) avro_value_decref(&value);
    if (writer_class) avro_value_iface_decref(writer_class);
    if (writer) avro_schema_decref(writer);
  }
};

avro_decoder::~avro_decoder() = default;

result<std::unique_ptr<avro_decoder>> avro_decoder::make(std::string_view writer_schema_json) {
  std::unique_ptr<avro_decoder> d(new avro_decoder());
  d->s_ = std::make_unique<state>();
  auto& s = *d->s_;
  if (avro_schema_from_json_length(writer_schema_json.data(), writer_schema_json.size(), &s.writer)) {
    return make_error(errc::invalid_argument, "the writer schema does not parse: " + avro_message(),
                      "avro_schema_invalid");
  }
  if (avro_typeof(s.writer) != AVRO_RECORD) {
    return make_error(errc::invalid_argument, "the writer schema is not an Avro record", "avro_schema_invalid");
  }
  // Resolution against leaves' reader schema, by Avro's rules for it: fields
  // match by name; a writer's field the reader lacks is skipped, a reader's
  // field the writer lacks is absent (its default, null); a field resolves
  // when every kind the writer's type (each branch of a union) may give is
  // one the reader's union reads (int promoted to long, bytes to string, an
  // enum as its symbol). Done here rather than by Avro C's resolver, which
  // frees twice when a schema does not resolve (seen under ASan).
  const auto& reader = reader_fields();
  for (size_t i = 0; i < avro_schema_record_size(s.writer); ++i) {
    const char* name = avro_schema_record_field_name(s.writer, static_cast<int>(i));
    auto it = reader.find(std::string_view(name));
    if (it == reader.end()) continue;
    const unsigned writes = kinds_of(avro_schema_record_field_get_by_index(s.writer, static_cast<int>(i)));
    if (const unsigned bad = writes & ~it->second) {
      return make_error(errc::invalid_argument,
                        std::string("field ") + name + ": the writer's " + kind_names(bad) +
                            " cannot be read as the reader's " + kind_names(it->second),
                        "avro_schema_unresolvable");
    }
    s.fields.emplace_back(i, name);
  }
  s.writer_class = avro_generic_class_from_schema(s.writer);
  if (!s.writer_class || avro_generic_value_new(s.writer_class, &s.value)) {
    return make_error(errc::invalid_argument, "the writer schema has no value class: " + avro_message(),
                      "avro_schema_invalid");
  }
  s.has_value = true;
  s.in = avro_reader_memory(nullptr, 0);
  if (!s.in) return make_error(errc::internal, "avro reader");
  return d;
}

result<json::object> avro_decoder::decode(std::string_view payload) {
  auto& s = *s_;
  avro_checker checker(payload);
  if (!checker.check(s.writer) || !checker.at_end()) {
    return make_error(errc::invalid_argument,
                      "the Avro record is not one record of its writer schema (a length, count or index out of "
                      "range, or bytes left over)",
                      "avro_corrupt");
  }
  avro_value_reset(&s.value);
  avro_reader_memory_set_source(s.in, payload.data(), static_cast<int64_t>(payload.size()));
  if (avro_value_read(s.in, &s.value)) {
    return make_error(errc::invalid_argument, "the Avro record does not decode with its writer schema: " + avro_message(),
                      "avro_corrupt");
  }
  json::object out;
  for (const auto& [index, name] : s.fields) {
    avro_value_t field;
    json::value x;
    if (avro_value_get_by_index(&s.value, index, &field, nullptr) || !to_json(&field, x)) {
      return make_error(errc::invalid_argument, "field " + name + " does not convert", "avro_corrupt");
    }
    if (!x.is_null()) out[name] = std::move(x);
  }
  return out;
}

namespace {

std::string branch_name(avro_schema_t s) {
  switch (avro_typeof(s)) {
    case AVRO_RECORD:
    case AVRO_ENUM:
    case AVRO_FIXED: {
      const char* ns = avro_schema_namespace(s);
      const std::string name = avro_schema_name(s);
      return ns && *ns ? std::string(ns) + "." + name : name;
    }
    case AVRO_NULL: return "null";
    case AVRO_BOOLEAN: return "boolean";
    case AVRO_INT32: return "int";
    case AVRO_INT64: return "long";
    case AVRO_FLOAT: return "float";
    case AVRO_DOUBLE: return "double";
    case AVRO_STRING: return "string";
    case AVRO_BYTES: return "bytes";
    case AVRO_ARRAY: return "array";
    case AVRO_MAP: return "map";
    default: return "";
  }
}

// Code points 0-255 of a JSON string as bytes (Avro's JSON encoding of bytes).
bool latin1_bytes(std::string_view utf8, std::string& out) {
  out.clear();
  for (size_t i = 0; i < utf8.size(); ++i) {
    const auto c = static_cast<unsigned char>(utf8[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if ((c == 0xc2 || c == 0xc3) && i + 1 < utf8.size()) {
      out.push_back(static_cast<char>(((c & 0x03) << 6) | (static_cast<unsigned char>(utf8[++i]) & 0x3f)));
    } else {
      return false;
    }
  }
  return true;
}

// Sets `v` (of schema `s`) from `j`; on failure `why` says where and what.
bool from_json(avro_value_t* v, avro_schema_t s, const json::value& j, const std::string& path, std::string& why) {
  auto fail = [&](const std::string& what) {
    why = (path.empty() ? std::string("the value") : path) + ": " + what;
    return false;
  };
  switch (avro_typeof(s)) {
    case AVRO_NULL:
      if (!j.is_null()) return fail("null expected");
      return avro_value_set_null(v) == 0 || fail("null");
    case AVRO_BOOLEAN:
      if (!j.is_bool()) return fail("a boolean expected");
      return avro_value_set_boolean(v, j.get_bool() ? 1 : 0) == 0 || fail("boolean");
    case AVRO_INT32:
    case AVRO_INT64: {
      if (!j.is_int64() && !j.is_uint64()) return fail("an integer expected");
      if (j.is_uint64() && j.get_uint64() > static_cast<uint64_t>(INT64_MAX)) return fail("out of range");
      const int64_t i = j.is_int64() ? j.get_int64() : static_cast<int64_t>(j.get_uint64());
      if (avro_typeof(s) == AVRO_INT32) {
        if (i < INT32_MIN || i > INT32_MAX) return fail("out of the int range");
        return avro_value_set_int(v, static_cast<int32_t>(i)) == 0 || fail("int");
      }
      return avro_value_set_long(v, i) == 0 || fail("long");
    }
    case AVRO_FLOAT:
    case AVRO_DOUBLE: {
      if (!j.is_number()) return fail("a number expected");
      const double d = j.to_number<double>();
      return (avro_typeof(s) == AVRO_FLOAT ? avro_value_set_float(v, static_cast<float>(d))
                                           : avro_value_set_double(v, d)) == 0 ||
             fail("number");
    }
    case AVRO_STRING:
      if (!j.is_string()) return fail("a string expected");
      return avro_value_set_string_len(v, j.get_string().c_str(), j.get_string().size() + 1) == 0 || fail("string");
    case AVRO_BYTES:
    case AVRO_FIXED: {
      std::string b;
      if (!j.is_string() || !latin1_bytes(j.get_string(), b)) return fail("bytes as a string of code points 0-255");
      if (avro_typeof(s) == AVRO_FIXED) {
        if (static_cast<int64_t>(b.size()) != avro_schema_fixed_size(s)) return fail("fixed of the wrong size");
        return avro_value_set_fixed(v, b.data(), b.size()) == 0 || fail("fixed");
      }
      return avro_value_set_bytes(v, b.data(), b.size()) == 0 || fail("bytes");
    }
    case AVRO_ENUM: {
      if (!j.is_string()) return fail("an enum symbol expected");
      const int sym = avro_schema_enum_get_by_name(s, j.get_string().c_str());
      if (sym < 0) return fail("'" + std::string(j.get_string()) + "' is not a symbol of " + branch_name(s));
      return avro_value_set_enum(v, sym) == 0 || fail("enum");
    }
    case AVRO_ARRAY: {
      if (!j.is_array()) return fail("an array expected");
      avro_schema_t items = avro_schema_array_items(s);
      size_t i = 0;
      for (const auto& x : j.get_array()) {
        avro_value_t child;
        if (avro_value_append(v, &child, nullptr)) return fail("append");
        if (!from_json(&child, items, x, path + "[" + std::to_string(i++) + "]", why)) return false;
      }
      return true;
    }
    case AVRO_MAP: {
      if (!j.is_object()) return fail("an object (map) expected");
      avro_schema_t values = avro_schema_map_values(s);
      for (const auto& kv : j.get_object()) {
        avro_value_t child;
        const std::string key(kv.key());
        if (avro_value_add(v, key.c_str(), &child, nullptr, nullptr)) return fail("add");
        if (!from_json(&child, values, kv.value(), path + "." + key, why)) return false;
      }
      return true;
    }
    case AVRO_UNION: {
      const size_t n = avro_schema_union_size(s);
      int null_branch = -1;
      for (size_t b = 0; b < n; ++b) {
        if (avro_typeof(avro_schema_union_branch(s, static_cast<int>(b))) == AVRO_NULL) null_branch = static_cast<int>(b);
      }
      avro_value_t branch;
      if (j.is_null()) {
        if (null_branch < 0) return fail("null is not a branch of this union");
        return avro_value_set_branch(v, null_branch, &branch) == 0 && avro_value_set_null(&branch) == 0;
      }
      if (!j.is_object() || j.get_object().size() != 1) {
        return fail("a union's value is null or {\"<type>\": value}");
      }
      const auto& kv = *j.get_object().begin();
      for (size_t b = 0; b < n; ++b) {
        avro_schema_t bs = avro_schema_union_branch(s, static_cast<int>(b));
        const std::string name = branch_name(bs);
        const std::string key(kv.key());
        const bool short_match = (avro_typeof(bs) == AVRO_RECORD || avro_typeof(bs) == AVRO_ENUM ||
                                  avro_typeof(bs) == AVRO_FIXED) &&
                                 key == avro_schema_name(bs);
        if (name == key || short_match) {
          if (avro_value_set_branch(v, static_cast<int>(b), &branch)) return fail("branch");
          return from_json(&branch, bs, kv.value(), path + "." + key, why);
        }
      }
      return fail("'" + std::string(kv.key()) + "' is not a branch of this union");
    }
    case AVRO_RECORD: {
      if (!j.is_object()) return fail("an object (record) expected");
      const auto& o = j.get_object();
      const size_t n = avro_schema_record_size(s);
      for (size_t i = 0; i < n; ++i) {
        const char* name = avro_schema_record_field_name(s, static_cast<int>(i));
        avro_schema_t fs = avro_schema_record_field_get_by_index(s, static_cast<int>(i));
        avro_value_t child;
        if (avro_value_get_by_index(v, i, &child, nullptr)) return fail("field");
        const std::string sub = path.empty() ? std::string(name) : path + "." + name;
        if (const auto* x = o.if_contains(name)) {
          if (!from_json(&child, fs, *x, sub, why)) return false;
          continue;
        }
        if (!from_json(&child, fs, nullptr, sub, why)) {
          why = sub + ": missing (only a field whose type is a union with null may be left out)";
          return false;
        }
      }
      return true;
    }
    default: return fail("a type leaves cannot encode (a recursive reference)");
  }
}

}  // namespace

struct avro_encoder::state {
  avro_schema_t schema = nullptr;
  avro_value_iface_t* cls = nullptr;
  avro_value_t value{};
  bool has_value = false;
  ~state() {
    if (has_value) avro_value_decref(&value);
    if (cls) avro_value_iface_decref(cls);
    if (schema) avro_schema_decref(schema);
  }
};

avro_encoder::~avro_encoder() = default;

result<std::unique_ptr<avro_encoder>> avro_encoder::make(std::string_view schema_json) {
  std::unique_ptr<avro_encoder> e(new avro_encoder());
  e->s_ = std::make_unique<state>();
  auto& s = *e->s_;
  if (avro_schema_from_json_length(schema_json.data(), schema_json.size(), &s.schema)) {
    return make_error(errc::invalid_argument, "the schema does not parse: " + avro_message(), "avro_schema_invalid");
  }
  s.cls = avro_generic_class_from_schema(s.schema);
  if (!s.cls || avro_generic_value_new(s.cls, &s.value)) {
    return make_error(errc::invalid_argument, "the schema has no value class: " + avro_message(), "avro_schema_invalid");
  }
  s.has_value = true;
  return e;
}

result<std::string> avro_encoder::encode(const json::value& v) {
  auto& s = *s_;
  avro_value_reset(&s.value);
  std::string why;
  if (!from_json(&s.value, s.schema, v, "", why)) return make_error(errc::invalid_argument, why);
  size_t size = 0;
  if (avro_value_sizeof(&s.value, &size)) return make_error(errc::invalid_argument, "size: " + avro_message());
  std::string out(size, '\0');
  avro_writer_t w = avro_writer_memory(out.data(), static_cast<int64_t>(out.size()));
  const int rc = avro_value_write(w, &s.value);
  avro_writer_free(w);
  if (rc) return make_error(errc::invalid_argument, "write: " + avro_message());
  return out;
}

std::string confluent_framed(int32_t schema_id, std::string_view avro) {
  std::string out;
  out.reserve(5 + avro.size());
  out.push_back('\0');
  const auto id = static_cast<uint32_t>(schema_id);
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((id >> shift) & 0xff));
  out.append(avro);
  return out;
}

}  // namespace leaves::ingest
