#include "leaves/ingest/registry.h"

#include <curl/curl.h>

#include <boost/json.hpp>
#include <cctype>
#include <mutex>

#include "leaves/base/hash.h"

namespace json = boost::json;

namespace leaves::ingest {

namespace {

constexpr size_t kMaxAnswer = 1 << 20;

struct body {
  std::string text;
  bool too_big = false;
};

size_t on_data(char* p, size_t size, size_t n, void* user) {
  auto* b = static_cast<body*>(user);
  if (b->text.size() + size * n > kMaxAnswer) {
    b->too_big = true;
    return 0;  // aborts the transfer
  }
  b->text.append(p, size * n);
  return size * n;
}

struct easy_deleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct slist_deleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

schema_registry::schema_registry(std::string base_url) : url_(std::move(base_url)) {
  while (!url_.empty() && url_.back() == '/') url_.pop_back();
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

result<std::pair<long, std::string>> schema_registry::call(const std::string& where, const std::string* post_body) {
  std::unique_ptr<CURL, easy_deleter> h(curl_easy_init());
  if (!h) return make_error(errc::unavailable, "curl_easy_init failed");
  curl_slist* list = curl_slist_append(nullptr, "Accept: application/vnd.schemaregistry.v1+json, application/json");
  if (post_body) list = curl_slist_append(list, "Content-Type: application/vnd.schemaregistry.v1+json");
  std::unique_ptr<curl_slist, slist_deleter> headers(list);
  body b;
  curl_easy_setopt(h.get(), CURLOPT_URL, where.c_str());
  curl_easy_setopt(h.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(h.get(), CURLOPT_CONNECTTIMEOUT_MS, 2000L);
  curl_easy_setopt(h.get(), CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(h.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  if (post_body) {
    curl_easy_setopt(h.get(), CURLOPT_POSTFIELDS, post_body->data());
    curl_easy_setopt(h.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(post_body->size()));
  }
  const CURLcode rc = curl_easy_perform(h.get());
  if (b.too_big) return make_error(errc::unavailable, where + ": an answer over 1 MiB");
  if (rc != CURLE_OK) return make_error(errc::unavailable, "schema registry " + where + ": " + curl_easy_strerror(rc));
  long status = 0;
  curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &status);
  return std::pair<long, std::string>(status, std::move(b.text));
}

result<std::string> schema_registry::fetch_schema(int32_t id) {
  const std::string where = url_ + "/schemas/ids/" + std::to_string(id);
  auto r = call(where, nullptr);
  if (!r) return r.err();
  const auto& [status, text] = *r;
  if (status == 404) {
    return make_error(errc::not_found, "schema id " + std::to_string(id) + " is not in the registry at " + url_,
                      "avro_unknown_schema");
  }
  if (status != 200) {
    return make_error(errc::unavailable, "schema registry " + where + " answered " + std::to_string(status));
  }
  return schema_of(where, text, "schema id " + std::to_string(id));
}

result<std::string> schema_registry::schema_of(const std::string& where, const std::string& text,
                                               const std::string& what) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  const auto* s = !ec && v.is_object() ? v.get_object().if_contains("schema") : nullptr;
  if (!s || !s->is_string()) {
    return make_error(errc::invalid_argument, where + ": the answer has no schema", "avro_schema_invalid");
  }
  if (const auto* t = v.get_object().if_contains("schemaType"); t && t->is_string() && t->get_string() != "AVRO") {
    return make_error(errc::invalid_argument, what + " is a " + std::string(t->get_string()) + " schema, not Avro",
                      "avro_schema_invalid");
  }
  return std::string(s->get_string());
}

std::string schema_registry::path_segment(const std::string& s) {
  std::string path;  // percent-encoded as a path segment
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
      path.push_back(static_cast<char>(c));
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      path += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return path;
}

result<std::pair<int32_t, std::string>> schema_registry::subject_version(const std::string& subject,
                                                                         const std::string& version) {
  const std::string where = url_ + "/subjects/" + path_segment(subject) + "/versions/" + path_segment(version);
  auto r = call(where, nullptr);
  if (!r) return r.err();
  const auto& [status, text] = *r;
  const std::string what = "subject " + subject + " version " + version;
  if (status == 404) return make_error(errc::not_found, what + " is not in the registry", "avro_unknown_schema");
  if (status != 200) return make_error(errc::unavailable, "schema registry " + where + " answered " + std::to_string(status));
  auto schema = schema_of(where, text, what);
  if (!schema) return schema.err();
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  const auto* id = v.get_object().if_contains("id");
  if (!id || !id->is_int64() || id->get_int64() < 0 || id->get_int64() > INT32_MAX) {
    return make_error(errc::invalid_argument, where + ": the answer has no id", "avro_schema_invalid");
  }
  return std::make_pair(static_cast<int32_t>(id->get_int64()), std::move(*schema));
}

result<int32_t> schema_registry::register_schema(const std::string& subject, const std::string& schema) {
  // Keyed by the schema's digest, not its text: 1,000 large schemas would
  // otherwise be kept whole.
  const auto key = std::make_pair(subject, md5_hex(schema) + ":" + std::to_string(schema.size()));
  if (auto it = registered_.find(key); it != registered_.end()) return it->second;
  const std::string where = url_ + "/subjects/" + path_segment(subject) + "/versions";
  const std::string payload = json::serialize(json::object{{"schema", schema}});
  auto r = call(where, &payload);
  if (!r) return r.err();
  const auto& [status, text] = *r;
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  const json::object* o = !ec && v.is_object() ? &v.get_object() : nullptr;
  std::string said;
  if (o) {
    if (const auto* m = o->if_contains("message"); m && m->is_string()) said = std::string(m->get_string()).substr(0, 300);
  }
  if (status == 409) {
    return make_error(errc::conflict, "the registry refuses the schema for " + subject + " (not compatible)" +
                                          (said.empty() ? "" : ": " + said),
                      "schema_incompatible");
  }
  if (status == 422 || status == 400) {
    return make_error(errc::invalid_argument, "the registry refuses the schema: " + (said.empty() ? text.substr(0, 300) : said),
                      "avro_schema_invalid");
  }
  const auto* id = o ? o->if_contains("id") : nullptr;
  if (status != 200 || !id || !id->is_int64()) {
    return make_error(errc::unavailable, "schema registry " + where + " answered " + std::to_string(status));
  }
  if (registered_.size() >= kMaxCached) registered_.erase(registered_.begin());
  return registered_[key] = static_cast<int32_t>(id->get_int64());
}

result<std::shared_ptr<avro_decoder>> schema_registry::decoder(int32_t id) {
  if (auto it = cache_.find(id); it != cache_.end()) return it->second;
  auto text = fetch_schema(id);
  if (!text) return text.err();
  auto d = avro_decoder::make(*text);
  if (!d) {
    auto e = d.err();
    e.message = "schema id " + std::to_string(id) + ": " + e.message;
    return e;
  }
  if (cache_.size() >= kMaxCached) cache_.erase(cache_.begin());
  return cache_[id] = std::shared_ptr<avro_decoder>(std::move(*d));
}

}  // namespace leaves::ingest
