// The HTTP API: the native v1 endpoints, the workshop's reference endpoints
// (/api/leaves), realtime streams and operational endpoints. Validates every
// input at the edge, turns it into commands or queries, and maps results to
// responses. Thread-safe; each request runs on its connection's strand.
#pragma once

#include "leaves/api/stream.h"

#include <atomic>
#include <boost/json/object.hpp>
#include <functional>
#include <chrono>
#include <memory>

#include "leaves/api/search.h"
#include "leaves/auth/directory.h"
#include "leaves/auth/user_service.h"
#include "leaves/domain/leaf.h"
#include "leaves/http/message.h"
#include "leaves/http/metrics.h"
#include "leaves/log/event_log.h"
#include "leaves/projector/progress.h"
#include "leaves/projector/projector.h"
#include "leaves/realtime/hub.h"
#include "leaves/search/search_index.h"
#include "leaves/service/leaf_service.h"
#include "leaves/store/read_store.h"

namespace leaves::webhooks {
class dispatcher;
}

namespace leaves::api {

// What a request without a token may do (--anonymous): all: read and write
// every leaf (as before users existed); read: read public leaves only; none:
// nothing but the open routes (health, readiness, the UI's files, /v1/me).
enum class anonymous_access { all, read, none };

struct api_options {
  anonymous_access anonymous = anonymous_access::all;
  std::chrono::milliseconds read_wait{5000};  // bound of Leaves-Min-Position waits
  size_t json_max_depth = 32;
  size_t max_bulk_items = 1000;
  size_t reference_list_limit = 10000;
  size_t max_stream_subscribers = 1000;
  // Requests per second per API token, with bursts of rate_burst (0: no
  // limit); callers without a token are not limited here (api/rate_limit.h).
  double rate_per_second = 0;
  double rate_burst = 0;
  // Failed sign-ins per client address in 5 minutes (0: not limited by
  // address; the per-name limit holds anyway).
  size_t sign_in_attempts_per_address = 20;
  domain::limits limits;
  search_limits search;
  // Whether this server enriches leaves (docs/fetch.md): a refetch asked of
  // a server that does not answers 503.
  bool enrich = false;
};

struct api_deps {
  service::leaf_service& service;
  store::read_store& store;
  log::event_log& log;
  projector::progress& progress;
  projector::projector& projector;
  realtime::hub& hub;
  http::metrics& metrics;
  // The search index and its projector (null: search answers 503).
  search::search_index* search = nullptr;
  projector::projector* search_projector = nullptr;
  // Live search on the stream (?q=); empty: q= answers 503 search_disabled.
  leaf_matcher live_match = {};
  // Users and tokens (null: no users; every request is anonymous).
  auth::directory* users = nullptr;
  auth::user_service* user_service = nullptr;
  // Webhook deliveries (null: none; the webhook routes answer 503).
  webhooks::dispatcher* webhooks = nullptr;
  std::function<boost::json::object()> ingest_view = {};
  // The ingest topic's log and name (null: no ingest; the REST-Proxy
  // produce routes answer 404 as for an unknown topic).
  log::event_log* ingest_log = nullptr;
  std::string ingest_topic = {};
  // The Schema Registry's Confluent-compatible URL (empty: none), for the
  // REST-Proxy avro embedded format.
  std::string schema_registry = {};
};

class api final : public http::handler {
 public:
  api(api_deps deps, api_options opts);
  boost::asio::awaitable<http::response> handle(http::request& req) override;
  void set_stopping() { stopping_ = true; }
  // What GET /v1/ops/ingest answers (set before serving starts; unset: no
  // ingest topic on this server).
  void set_ingest_view(std::function<boost::json::object()> view);
  void set_ingest_log(std::string topic, log::event_log* log);
  uint64_t events_appended() const { return events_appended_.load(); }

  struct impl;

 private:
  // The handlers' shared context counts appended events; the operations
  // surface reads stopping_ for /readyz.
  friend struct context;
  friend struct operations;

  std::shared_ptr<impl> impl_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> events_appended_{0};
};

// The embedded OpenAPI document (docs/openapi.json).
std::string_view openapi_document();

}  // namespace leaves::api
