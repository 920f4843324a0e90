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
};

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

asio::awaitable<response> rest_proxy::produce_v3(const request& req, const std::string& cluster,
                                                 const std::string& topic) {
  constexpr std::string_view json_type = "application/json";
  if (cluster != kClusterId) co_return proxy_error(404, 404, "Cluster " + cluster + " not found (this one is leaves).", json_type);
  if (!d.ingest_log || topic != d.ingest_topic) co_return proxy_error(404, 404, "This server does not host this topic-partition.", json_type);
  if (!is_json_content_type(req.header("content-type"))) {
    co_return proxy_error(415, 415, "Content-Type must be application/json", json_type);
  }
  auto body = body_object(req);
  if (!body) co_return proxy_error(400, 400, body.err().message, json_type);
  log::record r;
  size_t key_size = 0, value_size = 0;
  std::string key_type, value_type;
  // key and value: {"type": "JSON"|"BINARY"|"STRING", "data": ...}, or absent.
  auto take = [&](const char* what, std::string& into, size_t& size, std::string& type) -> std::optional<response> {
    const auto* v = body->if_contains(what);
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_object()) return proxy_error(400, 400, std::string(what) + ": an object with type and data", json_type);
    const auto& o = v->get_object();
    const auto* t = o.if_contains("type");
    type = t && t->is_string() ? std::string(t->get_string()) : std::string("JSON");
    const auto* data = o.if_contains("data");
    if (!data || data->is_null()) return std::nullopt;
    if (type == "JSON") {
      into = json::serialize(*data);
    } else if (type == "STRING" && data->is_string()) {
      into = std::string(data->get_string());
    } else if (type == "BINARY" && data->is_string()) {
      if (!base64_decode(data->get_string(), into)) {
        return proxy_error(400, 400, std::string(what) + ".data: not valid base64", json_type);
      }
    } else {
      return proxy_error(400, 400, std::string(what) + ": type must be JSON, STRING (a string) or BINARY (base64); " +
                                       "schema-registry types are not supported yet", json_type);
    }
    size = into.size();
    return std::nullopt;
  };
  if (auto bad = take("key", r.key, key_size, key_type)) co_return std::move(*bad);
  if (auto bad = take("value", r.value, value_size, value_type)) co_return std::move(*bad);
  if (r.key.size() + r.value.size() > kMaxRecordBytes) {
    co_return proxy_error(413, 413, "key and value over " + std::to_string(kMaxRecordBytes) + " bytes", json_type);
  }
  if (const auto* p = body->if_contains("partition_id"); p && !p->is_null()) {
    if (!p->is_int64() || p->get_int64() < 0 || p->get_int64() >= d.ingest_log->partitions()) {
      co_return proxy_error(404, 404, "partition_id: This server does not host this topic-partition.", json_type);
    }
    r.partition = static_cast<int32_t>(p->get_int64());
  }
  std::vector<log::record> one;
  one.push_back(std::move(r));
  auto appended = co_await d.ingest_log->append(std::move(one));
  if (!appended) {
    const bool retriable = appended.err().code == errc::unavailable || appended.err().code == errc::deadline_exceeded;
    co_return proxy_error(retriable ? 503 : 500, retriable ? 503 : 500, appended.err().message, json_type);
  }
  const auto& pos = appended->front();
  json::object out{{"error_code", 200},
                   {"cluster_id", kClusterId},
                   {"topic_name", topic},
                   {"partition_id", pos.partition},
                   {"offset", pos.offset},
                   {"timestamp", format_iso8601(system_clock().now_ms())}};
  if (!key_type.empty()) out["key"] = json::object{{"type", key_type}, {"size", key_size}};
  if (!value_type.empty()) out["value"] = json::object{{"type", value_type}, {"size", value_size}};
  co_return json_response(200, json::serialize(out));
}

}  // namespace leaves::api
