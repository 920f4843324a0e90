// What `leaves serve` shows on /metrics beyond the HTTP families: each
// module's counters and gauges, registered with the metrics registry and read
// at scrape time (the registry writes the exposition text).
#pragma once

#include "leaves/api/api.h"
#include "leaves/auth/directory.h"
#include "leaves/http/metrics.h"
#include "leaves/log/event_log.h"
#include "leaves/projector/progress.h"
#include "leaves/projector/projector.h"
#include "leaves/realtime/hub.h"
#include "leaves/search/xapian/xapian_index.h"
#include "leaves/service/leaf_service.h"

namespace leaves::app {

struct serve_probes {
  api::api& handler;
  projector::projector& read_models;
  projector::progress& progress;
  log::event_log& log;
  service::leaf_service& service;
  realtime::hub& hub;
  projector::progress* mirror = nullptr;      // the state mirror's progress, if there is one
  projector::projector* search = nullptr;     // the search index's projector, if search is on
  search::xapian_index* index = nullptr;
  auth::directory* users = nullptr;
};

void register_metrics(http::metrics& m, serve_probes p);

}  // namespace leaves::app
