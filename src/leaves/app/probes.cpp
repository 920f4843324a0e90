#include "leaves/app/probes.h"

#include "leaves/log/kafka/kafka_log.h"

namespace leaves::app {
namespace {

using http::label;
using http::metric_kind;
using http::sample;

// Records in the log not yet applied, per partition.
std::vector<sample> lag(log::event_log& log, const std::vector<int64_t>& applied, const std::string& extra = {}) {
  const auto per = projector::lag(applied, log.known_end_offsets());  // never waits for a broker
  std::vector<sample> out;
  for (size_t p = 0; p < per.size(); ++p) {
    out.push_back({extra + label("partition", std::to_string(p)), static_cast<double>(per[p])});
  }
  return out;
}

}  // namespace

void register_metrics(http::metrics& m, serve_probes p) {
  m.add_value("leaves_events_appended_total", "Events appended to the log by this server.", metric_kind::counter,
              [&h = p.handler] { return static_cast<double>(h.events_appended()); });
  const auto& st = p.read_models.stats();
  m.add_value("leaves_projector_events_applied_total", "Events applied to the read models.", metric_kind::counter,
              [&st] { return static_cast<double>(st.events_applied.load()); });
  m.add_value("leaves_projector_events_skipped_total", "Events skipped as already applied.", metric_kind::counter,
              [&st] { return static_cast<double>(st.events_skipped.load()); });
  m.add_value("leaves_projector_undecodable_total", "Log records that were not events.", metric_kind::counter,
              [&st] { return static_cast<double>(st.records_undecodable.load()); });
  m.add_family("leaves_projector_lag", "Records in the log not yet applied, per partition.", metric_kind::gauge,
               [&log = p.log, &prog = p.progress] { return lag(log, prog.applied()); });
  m.add_value("leaves_unprojected_leaves",
              "Leaves with writes the read models have not applied yet (in memory; limit --max-unprojected).",
              metric_kind::gauge, [&svc = p.service] { return static_cast<double>(svc.cached()); });
  if (p.service.confirming()) {
    m.add_family("leaves_write_confirmations_total",
                 "Confirmed writes by outcome: confirmed (acknowledged), lost (another server's write of the "
                 "version came first; decided again), gave_up (503 write_contention), timed_out (503 unconfirmed), foreign (a row only Cassandra holds: not "
                 "confirmed).",
                 metric_kind::counter, [&svc = p.service] {
                   const auto& c = svc.confirmations();
                   return std::vector<sample>{{label("outcome", "confirmed"), double(c.confirmed.load())},
                                              {label("outcome", "lost"), double(c.lost.load())},
                                              {label("outcome", "gave_up"), double(c.gave_up.load())},
                                              {label("outcome", "timed_out"), double(c.timed_out.load())},
                                              {label("outcome", "foreign"), double(c.foreign.load())}};
                 });
  }
  if (p.users) {
    const auto& ds = p.users->stats();
    m.add_value("leaves_directory_model_rows_loaded",
                "Users, teams, collections and marks the directory loaded from its model at start.",
                metric_kind::gauge, [&ds] { return static_cast<double>(ds.model_rows_loaded.load()); });
    m.add_value("leaves_directory_records_read_at_start",
                "Log records the directory read at start (after its model's positions).", metric_kind::gauge,
                [&ds] { return static_cast<double>(ds.records_read_at_start.load()); });
    m.add_value("leaves_directory_model_saves_total", "Saves of the directory model.", metric_kind::counter,
                [&ds] { return static_cast<double>(ds.model_saves.load()); });
    m.add_value("leaves_directory_model_failures_total",
                "Saves of the directory model that failed (retried after a backoff).", metric_kind::counter,
                [&ds] { return static_cast<double>(ds.model_failures.load()); });
  }
  if (auto* k = dynamic_cast<log::kafka_log*>(&p.log)) {
    m.add_value("leaves_kafka_producer_restarts_total", "Producers replaced after a fatal error.",
                metric_kind::counter, [k] { return static_cast<double>(k->producer_restarts()); });
  }
  if (p.mirror) {
    m.add_family("leaves_state_mirror_lag", "Records in the log not yet in the local state mirror, per partition.",
                 metric_kind::gauge, [&log = p.log, mirror = p.mirror] { return lag(log, mirror->applied()); });
  }
  if (p.search && p.index) {
    m.add_family("leaves_projection_lag", "Records in the log not yet applied by a projection, per partition.",
                 metric_kind::gauge, [&log = p.log, models = &p.read_models, search = p.search] {
                   std::vector<sample> out;
                   for (auto* pj : {models, search}) {
                     auto one = lag(log, pj->positions().applied(), label("projection", pj->name()) + ",");
                     out.insert(out.end(), one.begin(), one.end());
                   }
                   return out;
                 });
    auto* ix = p.index;
    m.add_value("leaves_search_documents", "Leaves in the search index.", metric_kind::gauge,
                [ix] { return static_cast<double>(ix->documents()); });
    m.add_value("leaves_search_index_bytes", "Size of the search index on disk.", metric_kind::gauge,
                [ix] { return static_cast<double>(ix->disk_bytes()); });
    m.add_value("leaves_searches_total", "Searches run.", metric_kind::counter,
                [ix] { return static_cast<double>(ix->searches_total()); });
    m.add_value("leaves_searches_refused_total", "Searches refused because too many were queued.",
                metric_kind::counter, [ix] { return static_cast<double>(ix->searches_refused()); });
    m.add_value("leaves_searches_cached_total",
                "Searches answered from the result cache (the index had not committed since the same search).",
                metric_kind::counter, [ix] { return static_cast<double>(ix->searches_cached()); });
  }
  m.add_value("leaves_stream_subscribers", "Open SSE and WebSocket subscriptions.", metric_kind::gauge,
              [&hub = p.hub] { return static_cast<double>(hub.subscribers()); });
  m.add_value("leaves_stream_dropped_total", "Subscribers dropped for being too slow.", metric_kind::counter,
              [&hub = p.hub] { return static_cast<double>(hub.dropped_total()); });
}

}  // namespace leaves::app
