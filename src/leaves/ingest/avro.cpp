#include "leaves/ingest/avro.h"

#include <avro.h>

#include <boost/json.hpp>
#include <map>

namespace json = boost::json;

namespace leaves::ingest {

namespace {

// The reader's type of each field of a leaf record: the reference schema's
// fields, each optional (null first, default null) and widened where writers
// differ in practice (flags as int or boolean, times as epoch ms or text).
const std::map<std::string, json::value>& reader_fields() {
  static const std::map<std::string, json::value> fields = [] {
    const json::value strings = json::object{{"type", "array"}, {"items", "string"}};
    std::map<std::string, json::value> f;
    for (const char* k : {"is_archived", "is_starred"}) f[k] = json::array{"null", "long", "boolean"};
    f["is_public"] = json::array{"null", "boolean", "long"};
    for (const char* k : {"user_id", "reading_time", "http_status", "created_at", "updated_at"}) {
      f[k] = json::array{"null", "long", "string"};
    }
    for (const char* k : {"user_name", "user_email", "id", "title", "url", "domain_name", "content_text", "mimetype",
                          "language", "preview_picture", "content"}) {
      f[k] = json::array{"null", "string"};
    }
    for (const char* k : {"all", "_links", "tags", "slugs", "published_by", "published_at"}) {
      f[k] = json::array{"null", strings};
    }
    return f;
  }();
  return fields;
}

// The enum schema among a field's writer type (itself or a branch of its union).
const json::value* enum_of(const json::value& type) {
  if (type.is_object()) {
    const auto* t = type.get_object().if_contains("type");
    return t && t->is_string() && t->get_string() == "enum" ? &type : nullptr;
  }
  if (type.is_array()) {
    for (const auto& b : type.get_array()) {
      if (const auto* e = enum_of(b)) return e;
    }
  }
  return nullptr;
}

std::string reader_schema_for(const json::object& writer, std::string_view full_name, bool all_fields) {
  // Only the fields the writer has: a reader field missing from the writer
  // would take its default (null, left out of the JSON), but Avro C's
  // resolver does not apply defaults, so such a field is not asked for.
  // A writer's enum field is read as that enum (resolution matches enums by
  // name and symbols), then given as its symbol's text.
  std::map<std::string, const json::value*> written, enums;
  if (const auto* fs = writer.if_contains("fields"); fs && fs->is_array()) {
    for (const auto& f : fs->get_array()) {
      if (!f.is_object()) continue;
      const auto* n = f.get_object().if_contains("name");
      const auto* t = f.get_object().if_contains("type");
      if (n && n->is_string() && t) {
        written[std::string(n->get_string())] = t;
        if (const auto* e = enum_of(*t)) enums[std::string(n->get_string())] = e;
      }
    }
  }
  json::array fields;
  for (const auto& [name, type] : reader_fields()) {
    if (!all_fields && !written.count(name)) continue;
    json::value t = type;
    if (auto it = enums.find(name); it != enums.end()) t = json::array{"null", *it->second};
    fields.push_back(json::object{{"name", name}, {"type", std::move(t)}, {"default", nullptr}});
  }
  std::string ns, name(full_name);
  if (auto dot = name.rfind('.'); dot != std::string::npos) {
    ns = name.substr(0, dot);
    name = name.substr(dot + 1);
  }
  json::object schema{{"type", "record"}, {"name", name}, {"fields", std::move(fields)}};
  if (!ns.empty()) schema["namespace"] = ns;
  return json::serialize(schema);
}

// The reader value as JSON. Only the types a reader schema above has.
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
      // No branch chosen: Avro C's resolver picks a reader union's branch
      // when it writes into it, so a writer's null, or an empty array, leaves
      // it unset. Both read as absent (an empty list of tags or links is what
      // an absent one means to a save).
      avro_value_t branch;
      if (avro_value_get_current_branch(v, &branch)) {
        out = nullptr;
        return true;
      }
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

std::string leaf_reader_schema(std::string_view full_name) { return reader_schema_for(json::object{}, full_name, true); }

struct avro_decoder::state {
  avro_schema_t writer = nullptr;
  avro_schema_t reader = nullptr;
  avro_value_iface_t* reader_class = nullptr;
  avro_value_iface_t* resolver = nullptr;
  avro_value_t value{};     // an instance of the reader schema
  avro_value_t resolved{};  // the writer's view of it
  bool has_value = false, has_resolved = false;
  avro_reader_t in = nullptr;

  ~state() {
    if (in) avro_reader_free(in);
    if (has_resolved) avro_value_decref(&resolved);
    if (has_value) avro_value_decref(&value);
    if (resolver) avro_value_iface_decref(resolver);
    if (reader_class) avro_value_iface_decref(reader_class);
    if (reader) avro_schema_decref(reader);
    if (writer) avro_schema_decref(writer);
  }
};

avro_decoder::~avro_decoder() = default;

result<std::unique_ptr<avro_decoder>> avro_decoder::make(std::string_view writer_schema_json) {
  boost::system::error_code ec;
  json::parse_options po;
  po.max_depth = 64;
  const auto parsed = json::parse(writer_schema_json, ec, {}, po);
  const json::object* wo = parsed.is_object() ? &parsed.get_object() : nullptr;
  const auto* type = wo ? wo->if_contains("type") : nullptr;
  if (ec || !type || !type->is_string() || type->get_string() != "record") {
    return make_error(errc::invalid_argument, "the writer schema is not an Avro record schema", "avro_schema_invalid");
  }
  std::string full_name;
  if (const auto* n = wo->if_contains("name"); n && n->is_string()) full_name = n->get_string();
  if (const auto* ns = wo->if_contains("namespace"); ns && ns->is_string() && full_name.find('.') == std::string::npos) {
    if (!ns->get_string().empty()) full_name = std::string(ns->get_string()) + "." + full_name;
  }
  std::unique_ptr<avro_decoder> d(new avro_decoder());
  d->s_ = std::make_unique<state>();
  auto& s = *d->s_;
  if (avro_schema_from_json_length(writer_schema_json.data(), writer_schema_json.size(), &s.writer)) {
    return make_error(errc::invalid_argument, "the writer schema does not parse: " + avro_message(),
                      "avro_schema_invalid");
  }
  const std::string reader_json = reader_schema_for(*wo, full_name, false);
  if (avro_schema_from_json_length(reader_json.data(), reader_json.size(), &s.reader)) {
    return make_error(errc::internal, "leaves' reader schema does not parse: " + avro_message());
  }
  s.reader_class = avro_generic_class_from_schema(s.reader);
  if (!s.reader_class) return make_error(errc::internal, "reader class: " + avro_message());
  s.resolver = avro_resolved_writer_new(s.writer, s.reader);
  if (!s.resolver) {
    return make_error(errc::invalid_argument, "the writer schema cannot be read as a leaf record: " + avro_message(),
                      "avro_schema_unresolvable");
  }
  if (avro_generic_value_new(s.reader_class, &s.value)) return make_error(errc::internal, avro_message());
  s.has_value = true;
  if (avro_resolved_writer_new_value(s.resolver, &s.resolved)) return make_error(errc::internal, avro_message());
  s.has_resolved = true;
  avro_resolved_writer_set_dest(&s.resolved, &s.value);
  s.in = avro_reader_memory(nullptr, 0);
  if (!s.in) return make_error(errc::internal, "avro reader");
  return d;
}

result<json::object> avro_decoder::decode(std::string_view payload) {
  auto& s = *s_;
  avro_value_reset(&s.value);
  avro_reader_memory_set_source(s.in, payload.data(), static_cast<int64_t>(payload.size()));
  if (avro_value_read(s.in, &s.resolved)) {
    return make_error(errc::invalid_argument, "the Avro record does not decode with its writer schema: " + avro_message(),
                      "avro_corrupt");
  }
  char extra = 0;
  if (avro_read(s.in, &extra, 1) == 0) {
    return make_error(errc::invalid_argument, "bytes left after the Avro record (not one record of its writer schema)",
                      "avro_corrupt");
  }
  json::value out;
  if (!to_json(&s.value, out) || !out.is_object()) {
    return make_error(errc::invalid_argument, "the Avro record does not convert to a leaf record", "avro_corrupt");
  }
  return std::move(out.get_object());
}

}  // namespace leaves::ingest
