// Produce onto the ingest topic as Confluent's Kafka REST Proxy does (v2
// `POST /topics/{topic}` and v3 `POST /v3/clusters/{cluster}/topics/{topic}/records`),
// so REST-Proxy clients (the workshop's importer among them) write to leaves
// without a Kafka of their own: in embedded mode an embedded log plays the
// topic. The records are read by the ingester like any Kafka producer's
// (ingest/ingest.h): each becomes a save command, or a dead letter with its
// reason. Only the configured ingest topic is accepted.
//
// Embedded formats json, binary and avro (the value schema registered with
// the Schema Registry, the values written in the Confluent wire format).
//
// Answers follow REST Proxy's shapes: `{"error_code": 40401, "message": ...}`
// for a request refused as a whole, per-record `error_code` 1 (non-retriable)
// or 2 (retriable) in a v2 answer whose append failed.
#include "leaves/api/handlers.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>

#include "leaves/base/hash.h"
#include "leaves/base/time.h"
#include "leaves/ingest/avro.h"
#include "leaves/ingest/registry.h"

namespace leaves::api {

namespace {

constexpr size_t kMaxRecords = 1000;
constexpr size_t kMaxRecordBytes = 1 << 20;  // Kafka's default message.max.bytes
constexpr std::string_view kV2Type = "application/vnd.kafka.v2+json";
constexpr std::string_view kClusterId = "leaves";

response proxy_error(int status, int code, std::string message, std::string_view type = kV2Type) {
  response r = json_response(status, json::serialize(json::object{{"error_code", code}, {"message", std::move(message)}}));
  r.content_type = std::string(type);
  return r;
}

// The embedded format a v2 Content-Type names: json, binary, avro, ... or
// empty when it is not a REST Proxy (or JSON) type at all.
std::string embedded_format(std::string_view ct) {
  ct = ct.substr(0, ct.find(';'));
  while (!ct.empty() && ct.back() == ' ') ct.remove_suffix(1);
  std::string t(ct);
  for (auto& ch : t) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  // As REST Proxy: without an embedded format, binary is assumed.
  if (t == "application/vnd.kafka.v2+json" || t == "application/vnd.kafka+json" || t == "application/json" ||
      t == "application/octet-stream") {
    return "binary";
  }
  constexpr std::string_view prefix = "application/vnd.kafka.", suffix = ".v2+json";
  if (t.size() > prefix.size() + suffix.size() && t.starts_with(prefix) && t.ends_with(suffix)) {
    return t.substr(prefix.size(), t.size() - prefix.size() - suffix.size());
  }
  return {};
}

// One key or value in an embedded format: JSON as its serialised text,
// binary as base64. Null (or absent): nullopt.
result<std::optional<std::string>> embedded_bytes(const json::value* v, std::string_view format, const char* what) {
  if (!v || v->is_null()) return std::optional<std::string>();
  if (format == "json") return std::optional<std::string>(json::serialize(*v));
  if (!v->is_string()) return make_error(errc::invalid_argument, std::string(what) + ": binary data is a base64 string");
  std::string out;
  if (!base64_decode(v->get_string(), out)) {
    return make_error(errc::invalid_argument, std::string(what) + ": not valid base64");
  }
  return std::optional<std::string>(std::move(out));
}

}  // namespace

// One key or value of a v3 request: its bytes, or what an Avro one is
// encoded from.
struct rest_proxy::v3_part {
  std::string type;                  // JSON, STRING, BINARY, AVRO; empty: absent
  std::optional<std::string> bytes;  // what is written (nullopt: null)
  std::string subject;               // AVRO: the schema's subject, and one of
  const json::value* schema = nullptr;     // its text,
  const json::value* schema_id = nullptr;  // its registry id,
  std::string version;                     // or a version of the subject ("latest" when none is given)
  const json::value* data = nullptr;
  int32_t id = 0;  // AVRO: the id the bytes carry
};

struct rest_proxy::avro_side {
  asio::thread_pool pool{1};  // its own state below is only touched on this thread
  ingest::schema_registry registry;
  std::map<int32_t, std::unique_ptr<ingest::avro_encoder>> encoders;
  explicit avro_side(std::string url) : registry(std::move(url)) {}

  // Each record's `part` ("key" or "value") in the Confluent wire format,
  // with the schema's id (a record without a key has none: nullopt).
  struct encoded {
    int32_t id = 0;
    std::vector<std::optional<std::string>> parts;
  };
  result<encoded> encode(const std::string& subject, const json::value* schema, const json::value* schema_id,
                         const json::array& records, const char* part) {
    encoded out;
    std::string text;
    if (schema) {
      auto id = registry.register_schema(subject, std::string(schema->get_string()));
      if (!id) return id.err();
      out.id = *id;
      text = schema->get_string();
    } else {
      out.id = static_cast<int32_t>(schema_id->get_int64());
    }
    auto it = encoders.find(out.id);
    if (it == encoders.end()) {
      if (text.empty()) {
        auto t = registry.schema_text(out.id);
        if (!t) return t.err();
        text = std::move(*t);
      }
      auto e = ingest::avro_encoder::make(text);
      if (!e) return e.err();
      if (encoders.size() >= ingest::schema_registry::kMaxCached) encoders.erase(encoders.begin());
      it = encoders.emplace(out.id, std::move(*e)).first;
    }
    const bool key = std::string_view(part) == "key";
    for (size_t i = 0; i < records.size(); ++i) {
      const auto* v = records[i].get_object().if_contains(part);
      if (key && (!v || v->is_null())) {  // no key: Kafka's null key
        out.parts.emplace_back();
        continue;
      }
      auto bytes = it->second->encode(v ? *v : json::value(nullptr));
      if (!bytes) {
        return make_error(errc::invalid_argument,
                          "records[" + std::to_string(i) + "]." + part + ": " + bytes.err().message, "avro_value");
      }
      out.parts.emplace_back(ingest::confluent_framed(out.id, *bytes));
    }
    return out;
  }
  // A v3 part's data in the Confluent wire format, with its schema (its
  // text, its id, or a version of its subject).
  result<ok_t> encode_v3(v3_part& p);
};

result<ok_t> rest_proxy::avro_side::encode_v3(v3_part& p) {
  const json::value* schema_id = p.schema_id;
  json::value found;
  if (!p.schema && !schema_id) {
    auto sv = registry.subject_version(p.subject, p.version.empty() ? "latest" : p.version);
    if (!sv) return sv.err();
    found = sv->first;
    schema_id = &found;
  }
  const json::array records{json::object{{"data", *p.data}}};
  auto e = encode(p.subject, p.schema, schema_id, records, "data");
  if (!e) {
    auto err = e.err();
    if (err.message.starts_with("records[0].")) err.message.erase(0, 11);
    return err;
  }
  p.id = e->id;
  p.bytes = std::move(e->parts.front());
  return ok_status();
}

rest_proxy::rest_proxy(context& ctx) : c(ctx), d(ctx.d) {
  if (!d.schema_registry.empty()) avro = std::make_unique<avro_side>(d.schema_registry);
}
rest_proxy::~rest_proxy() = default;

// The body as a JSON object (its Content-Type was checked by the caller:
// REST Proxy's types are not application/json).
result<json::object> rest_proxy::body_object(const request& req) const {
  json::parse_options po;
  po.max_depth = c.o.json_max_depth;
  boost::system::error_code ec;
  auto v = json::parse(req.body, ec, {}, po);
  if (ec) return bad_json("body is not valid JSON: " + ec.message());
  if (!v.is_object()) return bad_json("body must be a JSON object");
  return std::move(v.get_object());
}

asio::awaitable<response> rest_proxy::produce_v2(const request& req, const std::string& topic) {
  if (!d.ingest_log || topic != d.ingest_topic) {
    co_return proxy_error(404, 40401, d.ingest_log ? "Topic not found." : "Topic not found (this server has no ingest topic).");
  }
  const std::string format = embedded_format(req.header("content-type"));
  if (format.empty()) {
    co_return proxy_error(415, 415, "Content-Type must be application/vnd.kafka.{json,binary,avro}.v2+json");
  }
  if (format != "json" && format != "binary" && format != "avro") {
    co_return proxy_error(415, 415, "the " + format + " embedded format is not supported; use json, binary or avro");
  }
  auto body = body_object(req);
  if (!body) co_return proxy_error(400, 400, body.err().message);
  const auto* recs = body->if_contains("records");
  if (!recs || !recs->is_array() || recs->get_array().empty()) {
    co_return proxy_error(422, 422, "records: a non-empty array is required");
  }
  const auto& arr = recs->get_array();
  if (arr.size() > kMaxRecords) {
    co_return proxy_error(422, 422, "records: at most " + std::to_string(kMaxRecords) + " a request");
  }
  // avro: the values are encoded with the value schema (registered under
  // <topic>-value, as TopicNameStrategy names it) into the wire format.
  std::optional<ingest_encoded> avro_values;
  if (format == "avro") {
    auto enc = co_await encode_avro(*body, topic, arr);
    if (std::holds_alternative<response>(enc)) co_return std::move(std::get<response>(enc));
    avro_values = std::move(std::get<ingest_encoded>(enc));
  }
  const int32_t parts = d.ingest_log->partitions();
  std::vector<log::record> out;
  out.reserve(arr.size());
  for (size_t i = 0; i < arr.size(); ++i) {
    const std::string at = "records[" + std::to_string(i) + "]";
    if (!arr[i].is_object()) co_return proxy_error(422, 422, at + ": an object is required");
    const auto& o = arr[i].get_object();
    log::record r;
    if (avro_values) {
      if (avro_values->key_id) r.key = std::move(avro_values->keys[i]).value_or(std::string());
      r.value = std::move(avro_values->values[i]);
    } else {
      auto key = embedded_bytes(o.if_contains("key"), format, (at + ".key").c_str());
      if (!key) co_return proxy_error(422, 422, key.err().message);
      if (*key) r.key = std::move(**key);
      auto value = embedded_bytes(o.if_contains("value"), format, (at + ".value").c_str());
      if (!value) co_return proxy_error(422, 422, value.err().message);
      if (*value) r.value = std::move(**value);
    }
    if (r.key.size() + r.value.size() > kMaxRecordBytes) {
      co_return proxy_error(422, 42201, at + ": key and value over " + std::to_string(kMaxRecordBytes) + " bytes");
    }
    if (const auto* p = o.if_contains("partition"); p && !p->is_null()) {
      if (!p->is_int64() || p->get_int64() < 0 || p->get_int64() >= parts) {
        co_return proxy_error(404, 40402, at + ".partition: Partition not found (the topic has " + std::to_string(parts) +
                                              ")");
      }
      r.partition = static_cast<int32_t>(p->get_int64());
    }
    out.push_back(std::move(r));
  }
  const size_t n = out.size();
  auto appended = co_await d.ingest_log->append(std::move(out));
  json::array offsets;
  for (size_t i = 0; i < n; ++i) {
    if (appended) {
      const auto& pos = (*appended)[i];
      offsets.push_back(json::object{{"partition", pos.partition}, {"offset", pos.offset}, {"error_code", nullptr},
                                     {"error", nullptr}});
    } else {
      const bool retriable = appended.err().code == errc::unavailable || appended.err().code == errc::deadline_exceeded;
      offsets.push_back(json::object{{"partition", nullptr}, {"offset", nullptr}, {"error_code", retriable ? 2 : 1},
                                     {"error", appended.err().message}});
    }
  }
  auto id_or_null = [](const std::optional<int32_t>& id) { return id ? json::value(*id) : json::value(nullptr); };
  response r = json_response(200, json::serialize(json::object{
                                      {"key_schema_id", avro_values ? id_or_null(avro_values->key_id) : nullptr},
                                      {"value_schema_id", avro_values ? id_or_null(avro_values->value_id) : nullptr},
                                                               {"offsets", std::move(offsets)}}));
  r.content_type = std::string(kV2Type);
  co_return r;
}

asio::awaitable<std::variant<response, rest_proxy::ingest_encoded>> rest_proxy::encode_avro(const json::object& body,
                                                                                           const std::string& topic,
                                                                                           const json::array& records) {
  // A schema given as its text or as a registry id; null fields count as absent.
  auto given = [&](const char* name) -> const json::value* {
    const auto* v = body.if_contains(name);
    return v && !v->is_null() ? v : nullptr;
  };
  const json::value* schema[2] = {given("key_schema"), given("value_schema")};
  const json::value* schema_id[2] = {given("key_schema_id"), given("value_schema_id")};
  for (int k = 0; k < 2; ++k) {
    if ((schema[k] && !schema[k]->is_string()) ||
        (schema_id[k] && (!schema_id[k]->is_int64() || schema_id[k]->get_int64() < 0 ||
                          schema_id[k]->get_int64() > INT32_MAX))) {
      co_return proxy_error(422, 42205, std::string(k ? "value" : "key") +
                                            "_schema is a schema's JSON text, " + (k ? "value" : "key") +
                                            "_schema_id a registry id");
    }
  }
  if (!schema[1] && !schema_id[1]) {
    co_return proxy_error(422, 42202, "Request includes values and uses a format that requires schemas, but does "
                                      "not include the value_schema or value_schema_id fields");
  }
  bool keys = false;
  for (size_t i = 0; i < records.size(); ++i) {
    if (!records[i].is_object()) co_return proxy_error(422, 422, "records[" + std::to_string(i) + "]: an object is required");
    const auto* k = records[i].get_object().if_contains("key");
    keys = keys || (k && !k->is_null());
  }
  if (keys && !schema[0] && !schema_id[0]) {
    co_return proxy_error(422, 42201, "Request includes keys and uses a format that requires schemas, but does not "
                                      "include the key_schema or key_schema_id fields");
  }
  if (!avro) {
    co_return proxy_error(422, 42205, "the avro embedded format needs a schema registry (--schema-registry)");
  }
  // On the registry's thread, back here after. (An optional: what co_spawn
  // hands back must be default-constructible.) The function and its captures
  // are locals, not temporaries of the co_await: GCC 12 destroys such
  // temporaries wrongly across the suspension (a corrupted heap under load,
  // seen with the benchmark).
  auto* side = avro.get();
  const std::string key_subject = topic + "-key", value_subject = topic + "-value";
  using parts = std::pair<std::optional<avro_side::encoded>, avro_side::encoded>;
  auto work = [side, &key_subject, &value_subject, &schema, &schema_id, keys,
               &records]() -> asio::awaitable<std::optional<result<parts>>> {
    parts out;
    if (keys) {
      auto k = side->encode(key_subject, schema[0], schema_id[0], records, "key");
      if (!k) co_return result<parts>(k.err());
      out.first = std::move(*k);
    }
    auto v = side->encode(value_subject, schema[1], schema_id[1], records, "value");
    if (!v) co_return result<parts>(v.err());
    out.second = std::move(*v);
    co_return result<parts>(std::move(out));
  };
  auto done = co_await asio::co_spawn(side->pool, work, asio::use_awaitable);
  if (!done) co_return proxy_error(500, 500, "the Avro encoding did not finish");
  auto& enc = *done;
  if (!enc) {
    const auto& e = enc.err();
    if (e.code == errc::unavailable) co_return proxy_error(503, 50301, "schema registry: " + e.message);
    if (e.detail == "avro_value") co_return proxy_error(422, 42203, e.message);
    co_return proxy_error(422, 42205, e.message);  // not a schema, refused as incompatible, unknown id
  }
  ingest_encoded out;
  out.value_id = enc->second.id;
  for (auto& v : enc->second.parts) out.values.push_back(std::move(*v));
  if (enc->first) {
    out.key_id = enc->first->id;
    out.keys = std::move(enc->first->parts);
  }
  co_return out;
}

namespace {

constexpr std::string_view kJsonType = "application/json";

// key or value: {"type": "JSON"|"BINARY"|"STRING", "data": ...}, or with a
// schema of the registry: {"type": "AVRO" (the default), "schema": TEXT |
// "schema_id": N | "schema_version": N|"latest", "subject": S, "data": ...};
// absent or null data: null.
std::optional<response> parse_v3_part(const json::object& body, const char* what, const std::string& topic,
                                       rest_proxy::v3_part& p) {
  const auto* v = body.if_contains(what);
  if (!v || v->is_null()) return std::nullopt;
  auto bad = [&](const std::string& why) { return proxy_error(400, 400, std::string(what) + ": " + why, kJsonType); };
  if (!v->is_object()) return bad("an object with type and data");
  const auto& o = v->get_object();
  const auto* t = o.if_contains("type");
  if (t && !t->is_string()) return bad("type is a string");
  const std::string type = t ? std::string(t->get_string()) : std::string();
  bool registry = type == "AVRO" || type == "PROTOBUF" || type == "JSONSCHEMA";
  for (const char* k : {"schema", "schema_id", "schema_version", "subject", "subject_name_strategy"}) {
    registry = registry || (o.if_contains(k) && !o.at(k).is_null());
  }
  p.type = type.empty() ? (registry ? "AVRO" : "JSON") : type;
  const auto* data = o.if_contains("data");
  if (data && data->is_null()) data = nullptr;
  if (!registry) {
    if (!data) return std::nullopt;
    std::string into;
    if (p.type == "JSON") {
      into = json::serialize(*data);
    } else if (p.type == "STRING" && data->is_string()) {
      into = std::string(data->get_string());
    } else if (p.type == "BINARY" && data->is_string()) {
      if (!base64_decode(data->get_string(), into)) return bad("data: not valid base64");
    } else {
      return bad("type must be JSON, STRING (a string), BINARY (base64) or AVRO (with a schema of the registry)");
    }
    p.bytes = std::move(into);
    return std::nullopt;
  }
  if (p.type != "AVRO") return bad("of the schema-registry types only AVRO is supported, not " + p.type);
  auto given = [&](const char* k) -> const json::value* {
    const auto* x = o.if_contains(k);
    return x && !x->is_null() ? x : nullptr;
  };
  if (const auto* strategy = given("subject_name_strategy");
      strategy && !(strategy->is_string() && strategy->get_string() == "TOPIC_NAME")) {
    return bad("subject_name_strategy: only TOPIC_NAME is supported");
  }
  if (const auto* subject = given("subject")) {
    if (!subject->is_string() || subject->get_string().empty() || subject->get_string().size() > 255) {
      return bad("subject: a name of 1 to 255 bytes");
    }
    p.subject = std::string(subject->get_string());
  } else {
    p.subject = topic + "-" + what;  // TopicNameStrategy
  }
  p.schema = given("schema");
  p.schema_id = given("schema_id");
  const auto* version = given("schema_version");
  if ((p.schema != nullptr) + (p.schema_id != nullptr) + (version != nullptr) > 1) {
    return bad("give one of schema, schema_id and schema_version");
  }
  if (p.schema && !p.schema->is_string()) return bad("schema: the schema's JSON text");
  if (p.schema_id && (!p.schema_id->is_int64() || p.schema_id->get_int64() < 0 || p.schema_id->get_int64() > INT32_MAX)) {
    return bad("schema_id: a registry id");
  }
  if (version) {
    if (version->is_int64() && version->get_int64() >= 1) p.version = std::to_string(version->get_int64());
    else if (version->is_string() && version->get_string() == "latest") p.version = "latest";
    else return bad("schema_version: a version number or \"latest\"");
  }
  p.data = data;
  return std::nullopt;
}

}  // namespace

asio::awaitable<response> rest_proxy::produce_v3(const request& req, const std::string& cluster,
                                                 const std::string& topic) {
  if (cluster != kClusterId) co_return proxy_error(404, 404, "Cluster " + cluster + " not found (this one is leaves).", kJsonType);
  if (!d.ingest_log || topic != d.ingest_topic) co_return proxy_error(404, 404, "This server does not host this topic-partition.", kJsonType);
  if (!is_json_content_type(req.header("content-type"))) {
    co_return proxy_error(415, 415, "Content-Type must be application/json", kJsonType);
  }
  auto body = body_object(req);
  if (!body) co_return proxy_error(400, 400, body.err().message, kJsonType);
  v3_part key, value;
  if (auto bad = parse_v3_part(*body, "key", topic, key)) co_return std::move(*bad);
  if (auto bad = parse_v3_part(*body, "value", topic, value)) co_return std::move(*bad);
  const bool avro_key = key.type == "AVRO" && key.data, avro_value = value.type == "AVRO" && value.data;
  if (avro_key || avro_value) {
    if (!avro) co_return proxy_error(400, 400, "AVRO data needs a schema registry (--schema-registry)", kJsonType);
    // On the registry's thread (see encode_avro: the function is a local).
    auto* side = avro.get();
    v3_part* parts[2] = {avro_key ? &key : nullptr, avro_value ? &value : nullptr};
    auto work = [side, &parts]() -> asio::awaitable<std::optional<status>> {
      for (auto* p : parts) {
        if (!p) continue;
        if (auto st = side->encode_v3(*p); !st) co_return status(st.err());
      }
      co_return status(ok_status());
    };
    auto done = co_await asio::co_spawn(side->pool, work, asio::use_awaitable);
    if (!done) co_return proxy_error(500, 500, "the Avro encoding did not finish", kJsonType);
    if (!*done) {
      const auto& e = done->err();
      const int code = e.code == errc::unavailable ? 503
                       : e.code == errc::not_found ? 404
                       : e.code == errc::conflict  ? 409
                                                   : 400;
      co_return proxy_error(code, code, (code == 503 ? "schema registry: " : "") + e.message, kJsonType);
    }
  }
  log::record r;
  if (key.bytes) r.key = *key.bytes;
  if (value.bytes) r.value = *value.bytes;
  if (r.key.size() + r.value.size() > kMaxRecordBytes) {
    co_return proxy_error(413, 413, "key and value over " + std::to_string(kMaxRecordBytes) + " bytes", kJsonType);
  }
  if (const auto* p = body->if_contains("partition_id"); p && !p->is_null()) {
    if (!p->is_int64() || p->get_int64() < 0 || p->get_int64() >= d.ingest_log->partitions()) {
      co_return proxy_error(404, 404, "partition_id: This server does not host this topic-partition.", kJsonType);
    }
    r.partition = static_cast<int32_t>(p->get_int64());
  }
  std::vector<log::record> one;
  one.push_back(std::move(r));
  auto appended = co_await d.ingest_log->append(std::move(one));
  if (!appended) {
    const bool retriable = appended.err().code == errc::unavailable || appended.err().code == errc::deadline_exceeded;
    co_return proxy_error(retriable ? 503 : 500, retriable ? 503 : 500, appended.err().message, kJsonType);
  }
  const auto& pos = appended->front();
  json::object out{{"error_code", 200},
                   {"cluster_id", kClusterId},
                   {"topic_name", topic},
                   {"partition_id", pos.partition},
                   {"offset", pos.offset},
                   {"timestamp", format_iso8601(system_clock().now_ms())}};
  auto describe = [](const v3_part& p) {
    json::object o{{"type", p.type}, {"size", p.bytes ? p.bytes->size() : 0}};
    if (p.type == "AVRO" && p.bytes) {
      o["subject"] = p.subject;
      o["schema_id"] = p.id;
    }
    return o;
  };
  if (!key.type.empty()) out["key"] = describe(key);
  if (!value.type.empty()) out["value"] = describe(value);
  co_return json_response(200, json::serialize(out));
}

}  // namespace leaves::api
