#include "leaves/api/handlers.h"

namespace leaves::api {

asio::awaitable<response> operations::ingest() {
  if (!d.ingest_view) {
    co_return json_response(
        200, json::serialize(json::object{
                 {"ingest", nullptr},
                 {"reason", "this server reads no ingest topic (--kafka-ingest-topic is empty)"}}));
  }
  co_return json_response(200, json::serialize(json::object{{"ingest", d.ingest_view()}}));
}

asio::awaitable<response> operations::readyz() {
  const auto end = co_await d.log.async_end_offsets();  // Kafka: asked on the log's own thread
  // Per partition, and their total.
  auto lag_of = [&end](const projector::progress& prog, json::object& per) {
    int64_t total = 0;
    const auto l = projector::lag(prog.applied(), end);
    for (size_t p = 0; p < l.size(); ++p) {
      per[std::to_string(p)] = l[p];
      total += l[p];
    }
    return total;
  };
  json::object lag;
  const int64_t total = lag_of(d.progress, lag);
  const bool store_ok = d.projector.store_ok() && d.store.health().ok();
  const auto log_health = d.log.health();
  // Ready means writable: /readyz never answers 200 while a write would still
  // be refused as catching_up (the service's gate opens after the projector
  // caught up, not at the same instant) or for a full disk.
  const bool ready = d.projector.caught_up() && d.service.writable() && store_ok && log_health.ok() &&
                     !c.owner->stopping_.load();
  std::string state = ready                       ? "ready"
                      : c.owner->stopping_.load() ? "stopping"
                      : !log_health.ok()          ? log_health.err().detail
                      : !store_ok                 ? (d.store.health().ok() ? d.projector.last_failure().detail
                                                                           : d.store.health().err().detail)
                                                  : "catching_up";
  if (state == "store_corrupt") state = "store_unavailable";
  json::object out{{"status", state},
                   {"projector", json::object{{"caught_up", d.projector.caught_up()},
                                              {"store_ok", store_ok},
                                              {"lag_total", total},
                                              {"lag", std::move(lag)}}}};
  // Every projection, each with its own progress. Only the read models gate
  // readiness (they gate writes); the search index answers 503
  // index_building on its own while it is behind at start.
  json::object projections;
  for (auto* pj : {&d.projector, d.search_projector}) {
    if (!pj) continue;
    json::object plag;
    const int64_t ptotal = lag_of(pj->positions(), plag);
    json::object po{{"group", pj->group()},
                     {"caught_up", pj->caught_up()},
                     {"ok", pj->store_ok()},
                     {"lag_total", ptotal},
                     {"lag", std::move(plag)}};
    if (!pj->store_ok()) po["error"] = pj->last_failure().detail;
    if (pj == d.search_projector && d.search) po["documents"] = d.search->documents();
    projections[pj->name()] = std::move(po);
  }
  out["projections"] = std::move(projections);
  if (!log_health.ok()) out["message"] = log_health.err().message;
  co_return json_response(ready ? 200 : 503, json::serialize(out));
}

}  // namespace leaves::api
