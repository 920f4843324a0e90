#include "leaves/ingest/registry.h"

#include <curl/curl.h>

#include <boost/json.hpp>
#include <mutex>

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

result<std::string> schema_registry::fetch_schema(int32_t id) {
  const std::string where = url_ + "/schemas/ids/" + std::to_string(id);
  std::unique_ptr<CURL, easy_deleter> h(curl_easy_init());
  if (!h) return make_error(errc::unavailable, "curl_easy_init failed");
  std::unique_ptr<curl_slist, slist_deleter> headers(
      curl_slist_append(nullptr, "Accept: application/vnd.schemaregistry.v1+json, application/json"));
  body b;
  curl_easy_setopt(h.get(), CURLOPT_URL, where.c_str());
  curl_easy_setopt(h.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(h.get(), CURLOPT_CONNECTTIMEOUT_MS, 2000L);
  curl_easy_setopt(h.get(), CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(h.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  const CURLcode rc = curl_easy_perform(h.get());
  if (b.too_big) return make_error(errc::invalid_argument, where + ": an answer over 1 MiB", "avro_schema_invalid");
  if (rc != CURLE_OK) {
    return make_error(errc::unavailable, "schema registry " + where + ": " + curl_easy_strerror(rc));
  }
  long status = 0;
  curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status == 404) {
    return make_error(errc::not_found, "schema id " + std::to_string(id) + " is not in the registry at " + url_,
                      "avro_unknown_schema");
  }
  if (status != 200) {
    return make_error(errc::unavailable, "schema registry " + where + " answered " + std::to_string(status));
  }
  boost::system::error_code ec;
  auto v = json::parse(b.text, ec);
  const auto* s = !ec && v.is_object() ? v.get_object().if_contains("schema") : nullptr;
  if (!s || !s->is_string()) {
    return make_error(errc::invalid_argument, where + ": the answer has no schema", "avro_schema_invalid");
  }
  if (const auto* t = v.get_object().if_contains("schemaType"); t && t->is_string() && t->get_string() != "AVRO") {
    return make_error(errc::invalid_argument,
                      "schema id " + std::to_string(id) + " is a " + std::string(t->get_string()) + " schema, not Avro",
                      "avro_schema_invalid");
  }
  return std::string(s->get_string());
}

result<avro_decoder*> schema_registry::decoder(int32_t id) {
  if (auto it = cache_.find(id); it != cache_.end()) return it->second.get();
  auto text = fetch_schema(id);
  if (!text) return text.err();
  auto d = avro_decoder::make(*text);
  if (!d) {
    auto e = d.err();
    e.message = "schema id " + std::to_string(id) + ": " + e.message;
    return e;
  }
  if (cache_.size() >= kMaxCached) cache_.erase(cache_.begin());
  return (cache_[id] = std::move(*d)).get();
}

}  // namespace leaves::ingest
