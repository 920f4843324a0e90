#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <thread>
#include <unistd.h>

#include "leaves/api/api.h"
#include "leaves/app/commands.h"
#include "leaves/app/probes.h"
#include "leaves/app/setup.h"
#include "leaves/base/hash.h"
#include "leaves/base/log.h"
#include "leaves/cql/protocol/compression.h"
#include "leaves/http/server.h"
#include "leaves/ingest/ingest.h"
#include "leaves/log/embedded/rocks_log.h"
#include "leaves/log/kafka/kafka_admin.h"
#include "leaves/log/kafka/kafka_log.h"
#include "leaves/projector/projector.h"
#include "leaves/search/xapian/xapian_index.h"
#include "leaves/store/cassandra/cassandra_store.h"
#include "leaves/store/embedded/rocks_store.h"
#include "leaves/store/mirrored_store.h"

namespace asio = boost::asio;
namespace po = boost::program_options;

namespace leaves::app {

int serve_main(const std::vector<std::string>& args) {
  serve_config c;
  bool help = false;
  std::string err;
  if (!parse_serve(args, c, help, err)) {
    std::fprintf(stderr, "leaves serve: %s (see 'leaves serve --help')\n", err.c_str());
    return 2;
  }
  if (help) return 0;
  set_level(c.log_level);
  http::server_options so;
  if (!split_listen(c.listen, so.host, so.port)) {
    std::fprintf(stderr, "leaves serve: --listen must be HOST:PORT, got '%s'\n", c.listen.c_str());
    return 2;
  }
  if (auto bad = out_of_range(c)) {
    std::fprintf(stderr, "leaves serve: %s (see 'leaves serve --help')\n", bad->c_str());
    return 2;
  }
  so.body_limit = c.max_body_bytes;
  so.max_connections = static_cast<size_t>(c.max_connections);
  so.max_buffered_body_bytes = static_cast<size_t>(c.max_buffered_body_mb) << 20;
  so.request_timeout = std::chrono::milliseconds(c.request_timeout_ms);
  so.idle_timeout = std::chrono::milliseconds(c.idle_timeout_ms);
  const std::filesystem::path dir(c.data_dir);
  if (auto st = check_log_present(c, dir); !st) {
    log_error("serve", st.err().message);
    return 1;
  }

  auto log = open_log(c, dir);
  if (!log) {
    log_error("serve", log.err().message);
    return 1;
  }
  if (c.salvage) {
    int64_t total = 0;
    for (auto e : (*log)->end_offsets()) total += e;
    log_warn("serve", "--salvage: the log holds " + std::to_string(total) +
                          " events; read models and index ahead of it are rebuilt from it");
  }
  state_mirror mirror;  // outlives the store, whose gate reads its progress
  auto store = open_store(c, dir, log->get());
  if (store && !c.kafka.empty() && !c.cassandra.empty() && c.state_mirror) {
    store = with_state_mirror(c, dir, log->get(), std::move(*store), mirror);
  }
  if (!store) {
    log_error("serve", store.err().message);
    return 1;
  }
  if ((*log)->partitions() != c.partitions) {
    log_info("serve", "the event log has " + std::to_string((*log)->partitions()) +
                          " partitions (fixed at creation); --partitions " + std::to_string(c.partitions) +
                          " is ignored");
  }
  const std::string group = projector_group(c, dir);
  if (!c.kafka.empty()) lost_to_retention(**log, group, "read models");
  projector::progress progress((*log)->partitions());
  realtime::hub hub;
  projector::projector proj(**log, **store, progress, &hub, group, projector_membership(c));
  if (c.salvage) proj.rebuild_at_start();
  std::unique_ptr<projector::projector> mirror_proj;
  if (mirror.progress) {
    mirror_proj = std::make_unique<projector::projector>(**log, static_cast<store::mirrored_store&>(**store).mirror(),
                                                         *mirror.progress, nullptr, mirror.group,
                                                         projector::membership::exclusive);
    if (c.salvage) mirror_proj->rebuild_at_start();
  }
  std::unique_ptr<search::xapian_index> index;
  std::unique_ptr<projector::progress> search_progress;
  std::unique_ptr<projector::projector> search_proj;
  if (c.search) {
    auto ix = open_search(c, dir);
    if (!ix) {
      log_error("serve", ix.err().message);
      return 1;
    }
    index = std::move(*ix);
    search_progress = std::make_unique<projector::progress>((*log)->partitions());
    if (!c.kafka.empty()) lost_to_retention(**log, index->group(), "search index");
    search_proj = std::make_unique<projector::projector>(**log, *index, *search_progress, nullptr, index->group(),
                                                         projector::membership::exclusive, "search");
    search_proj->set_when_ahead(projector::when_ahead::rebuild);  // derived from the log alone
    if (c.salvage) search_proj->rebuild_at_start();
  }
  auto stop_projectors = [&] {
    proj.stop();
    if (mirror_proj) mirror_proj->stop();
    if (search_proj) search_proj->stop();
  };
  service::leaf_service svc(**log, **store, progress, system_clock());
  svc.set_max_pending(c.max_unprojected);
  if (c.cassandra.empty()) {
    // The embedded store is local disk: while it cannot be written (full,
    // damaged), an accepted write could not be read back, so writes are
    // refused as /readyz says. (Cassandra outages keep writes going through
    // the state mirror, bounded by --max-unprojected.)
    svc.set_admission([&proj, st = store->get()]() -> status {
      if (proj.store_ok() && st->health().ok()) return ok_status();
      auto e = proj.store_ok() ? st->health().err() : proj.last_failure();
      if (e.detail == "insufficient_storage") return e;
      return make_error(errc::unavailable,
                        "the read store cannot be written (" + e.detail + "): writes are refused until it is "
                        "repaired (docs/operations.md)",
                        "store_unavailable");
    });
  }
  // Several servers may write one Kafka topic: a write is acknowledged once a
  // projection of every partition in this process confirmed it (the embedded
  // read store, or the state mirror beside Cassandra).
  if (!c.kafka.empty() && c.confirm_writes) {
    if (c.cassandra.empty()) {
      svc.set_confirmation(**store, progress);
    } else if (mirror_proj) {
      svc.set_confirmation(static_cast<store::mirrored_store&>(**store).mirror(), *mirror.progress);
      mirror_proj->on_applied([&svc](const std::vector<projection::applied_event>& b) { svc.observed(b); });
    } else {
      log_warn("serve", "--state-mirror=false: writes are acknowledged at the broker's ack, and concurrent writes "
                        "of one leaf from several servers can lose updates (docs/kafka.md)");
    }
  }
  proj.on_applied([&svc, confirm_here = svc.confirming() && c.cassandra.empty()](
                      const std::vector<projection::applied_event>& b) {
    svc.applied(b);
    if (confirm_here) svc.observed(b);
  });
  http::metrics metrics;
  api::api_options ao;
  ao.read_wait = std::chrono::milliseconds(c.read_wait_ms);
  api::api handler({svc, **store, **log, progress, proj, hub, metrics, index.get(), search_proj.get(),
                    index ? api::leaf_matcher(search::leaf_matches) : api::leaf_matcher()},
                   ao);

  register_metrics(metrics, {handler, proj, progress, **log, svc, hub, mirror.progress.get(), search_proj.get(),
                             index.get()});
  metrics.add_readings([&store] { return (*store)->metric_readings(); });

  // Destroyed before svc (coroutines it destroys release the service's
  // per-leaf locks) and after the logs, which serve_main closes explicitly
  // below because their threads post completions to it.
  const int threads = c.threads > 0 ? c.threads : std::max(1u, std::thread::hardware_concurrency());
  asio::io_context ioc(threads);

  if (auto st = proj.start(); !st) {
    log_error("serve", "projector: " + st.err().message);
    return 1;
  }
  if (mirror_proj) {
    if (auto st = mirror_proj->start(); !st) {
      log_error("serve", "state mirror: " + st.err().message);
      stop_projectors();
      return 1;
    }
  }
  if (search_proj) {
    if (auto st = search_proj->start(); !st) {
      log_error("serve", "search index: " + st.err().message);
      stop_projectors();
      return 1;
    }
  }

  // External producers (Kafka mode): the ingest topic and its dead-letter topic.
  std::unique_ptr<log::event_log> ingest_log, dlq_log;
  std::unique_ptr<ingest::ingester> ingester;
  if (!c.kafka.empty() && !c.kafka_ingest_topic.empty()) {
    auto in = open_log(c, dir, c.kafka_ingest_topic);
    auto dl = in ? open_log(c, dir, c.kafka_dlq_topic) : result<std::unique_ptr<log::event_log>>(in.err());
    if (!in || !dl) {
      log_error("serve", "ingest: " + (in ? dl.err().message : in.err().message));
      stop_projectors();
      return 1;
    }
    ingest_log = std::move(*in);
    dlq_log = std::move(*dl);
    ingester = std::make_unique<ingest::ingester>(*ingest_log, *dlq_log, c.kafka_ingest_topic,
                                                  c.kafka_ingest_group, svc, ioc, ao.limits);
    metrics.add_family("leaves_ingest_records_total", "Records read from the ingest topic, by outcome.",
                       http::metric_kind::counter, [&ingester] {
                         const auto& st = ingester->stats();
                         return std::vector<http::sample>{
                             {http::label("outcome", "saved"), double(st.saved.load())},
                             {http::label("outcome", "dead_lettered"), double(st.dead_lettered.load())}};
                       });
  }
  http::server srv(ioc, so, handler, metrics);
  auto port = srv.listen();
  if (!port) {
    log_error("serve", port.err().message);
    stop_projectors();
    return 1;
  }
  srv.start();

  std::atomic<bool> stopping{false};
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  std::thread drainer;
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log_info("serve", std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + ", draining");
    stopping = true;
    handler.set_stopping();
    srv.stop();
    hub.close_all("server shutting down");
    drainer = std::thread([&] {
      if (ingester) ingester->stop();  // before the io threads stop: its commands run on them
      if (!srv.wait_drained(std::chrono::milliseconds(c.shutdown_timeout_ms))) {
        log_warn("serve", std::to_string(srv.connections()) + " connections still open at the drain deadline");
      }
      ioc.stop();
    });
  });
  // Writes wait until the read models caught up with what the log held at start.
  std::thread readiness([&] {
    // Confirmed writes decide on the state mirror: it must have caught up too.
    auto ready = [&] { return proj.caught_up() && (!mirror_proj || !svc.confirming() || mirror_proj->caught_up()); };
    while (!stopping && !ready()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    svc.set_writable(true);
    if (ingester && !stopping) {
      if (auto st = ingester->start(); !st) log_error("serve", "ingest: " + st.err().message);
    }
  });

  std::fprintf(stderr, "leaves: listening on http://%s:%u (data dir %s, %s log, %s store, %d partitions, %d threads)\n",
               so.host.c_str(), unsigned(*port), c.data_dir.c_str(), c.kafka.empty() ? "embedded" : "Kafka",
               c.cassandra.empty() ? "embedded" : "Cassandra", (*log)->partitions(), threads);
  std::fflush(stderr);
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  stopping = true;
  readiness.join();
  if (drainer.joinable()) drainer.join();
  stop_projectors();
  if (index) index->stop();  // searches in flight end before the io_context goes
  // Nothing runs on the io threads any more. Close the logs while the
  // io_context still exists: their last completions are posted to it.
  ingester.reset();
  ingest_log.reset();
  dlq_log.reset();
  log->reset();
  log_info("serve", "stopped");
  return 0;
}

int replay_main(const std::vector<std::string>& args) {
  // The same options as serve, so a replay reads the log the server uses
  // (embedded under --data-dir, or --kafka with its topic and group).
  serve_config c;
  if (auto code = parse_command("replay", args, c)) return *code;
  const std::filesystem::path dir(c.data_dir);
  if (c.kafka.empty() && !std::filesystem::exists(dir / "log")) {
    std::fprintf(stderr, "leaves replay: no event log under %s\n", c.data_dir.c_str());
    return 2;
  }
  auto log = open_log(c, dir);
  if (!log) {
    std::fprintf(stderr, "leaves replay: %s\n", log.err().message.c_str());
    return 1;
  }
  auto store = open_store(c, dir, log->get());
  if (!store) {
    std::fprintf(stderr, "leaves replay: %s%s\n", store.err().message.c_str(),
                 c.cassandra.empty() ? " (is the server still running?)" : "");
    return 1;
  }
  if (auto st = (*store)->clear(); !st) {
    std::fprintf(stderr, "leaves replay: %s\n", st.err().message.c_str());
    return 1;
  }
  projector::progress progress((*log)->partitions());
  realtime::hub hub;
  projector::projector proj(**log, **store, progress, &hub, projector_group(c, dir), projector_membership(c));
  const auto t0 = std::chrono::steady_clock::now();
  const bool tty = isatty(fileno(stderr));
  auto n = proj.replay_all([&](uint64_t done, uint64_t total) {
    if (tty) std::fprintf(stderr, "\rreplaying: %llu / %llu events", (unsigned long long)done, (unsigned long long)total);
  });
  if (tty) std::fputc('\n', stderr);
  if (!n) {
    std::fprintf(stderr, "leaves replay: %s\n", n.err().message.c_str());
    return 1;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("replayed %llu events into the read models in %.2f s\n", (unsigned long long)*n, secs);
  const store::read_store* shared = store->get();
  if (auto* m = dynamic_cast<const store::mirrored_store*>(shared)) shared = &m->primary();
  if (auto* cs = dynamic_cast<const store::cassandra_store*>(shared); cs && *n > 0) {
    std::printf("Cassandra rows written: %llu (%.1f an event, %.0f rows/s)\n", (unsigned long long)cs->rows_written(),
                double(cs->rows_written()) / double(*n), double(cs->rows_written()) / secs);
  }
  if (auto* m = dynamic_cast<store::mirrored_store*>(store->get())) {
    std::ofstream(dir / "state" / "COMPLETE") << "this mirror has seen every event of the log\n";
    m->set_mirror_complete(true);
  }
  return 0;
}

// Rebuilds the search index from the log: a new database and consumer group,
// every event applied, with a progress line on a terminal.
int reindex_main(const std::vector<std::string>& args) {
  serve_config c;
  if (auto code = parse_command("reindex", args, c)) return *code;
  const std::filesystem::path dir(c.data_dir);
  if (c.kafka.empty() && !std::filesystem::exists(dir / "log")) {
    std::fprintf(stderr, "leaves reindex: no event log under %s\n", c.data_dir.c_str());
    return 2;
  }
  auto log = open_log(c, dir);
  if (!log) {
    std::fprintf(stderr, "leaves reindex: %s%s\n", log.err().message.c_str(),
                 c.kafka.empty() ? " (is the server still running?)" : "");
    return 1;
  }
  if (auto st = search::xapian_index::destroy(dir / "search"); !st) {
    std::fprintf(stderr, "leaves reindex: %s\n", st.err().message.c_str());
    return 1;
  }
  auto index = open_search(c, dir);
  if (!index) {
    std::fprintf(stderr, "leaves reindex: %s\n", index.err().message.c_str());
    return 1;
  }
  projector::progress progress((*log)->partitions());
  projector::projector proj(**log, **index, progress, nullptr, (*index)->group(), projector::membership::exclusive,
                            "search");
  const auto t0 = std::chrono::steady_clock::now();
  const bool tty = isatty(fileno(stderr));
  auto n = proj.replay_all([&](uint64_t done, uint64_t total) {
    if (!tty) return;
    const int width = 40;
    const int filled = total ? static_cast<int>(width * done / total) : width;
    std::fprintf(stderr, "\rindexing [%s%s] %llu / %llu events", std::string(filled, '#').c_str(),
                 std::string(width - filled, ' ').c_str(), (unsigned long long)done, (unsigned long long)total);
  });
  if (tty) std::fputc('\n', stderr);
  if (!n) {
    std::fprintf(stderr, "leaves reindex: %s\n", n.err().message.c_str());
    return 1;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("indexed %llu events (%llu leaves) in %.2f s (%.0f events/s)\n", (unsigned long long)*n,
              (unsigned long long)(*index)->documents(), secs, secs > 0 ? double(*n) / secs : 0.0);
  proj.stop();
  index->reset();
  log->reset();
  return 0;
}

}  // namespace leaves::app

namespace leaves::app {

int topics_main(const std::vector<std::string>& all_args) {
  if (all_args.empty() || (all_args[0] != "list" && all_args[0] != "describe" && all_args[0] != "create")) {
    std::fputs(
        "Usage: leaves topics list|describe|create --kafka HOST:PORT [--kafka-topic T] [--partitions N]\n"
        "                     [--kafka-replication-factor N] [--kafka-min-insync-replicas N]\n"
        "                     [--kafka-config KEY=VALUE]... [--group G]...\n"
        "  list      topics and their partition counts\n"
        "  describe  partitions, leaders, replicas, offsets and consumer-group lag of a topic\n"
        "  create    create the topic if absent (as serve does at start), then describe it\n"
        "Options are serve's, and LEAVES_* environment variables apply.\n",
        all_args.empty() || all_args[0] == "--help" ? stdout : stderr);
    return all_args.empty() || all_args[0] != "--help" ? 2 : 0;
  }
  const std::string verb = all_args[0];
  std::vector<std::string> args;
  std::vector<std::string> groups;
  for (size_t i = 1; i < all_args.size(); ++i) {
    if (all_args[i] == "--group" && i + 1 < all_args.size()) {
      groups.push_back(all_args[++i]);
    } else {
      args.push_back(all_args[i]);
    }
  }
  serve_config c;
  bool help = false;
  std::string err;
  if (!parse_serve(args, c, help, err)) {
    std::fprintf(stderr, "leaves topics: %s\n", err.c_str());
    return 2;
  }
  if (help) return 0;
  set_log_level(log_level::error);
  if (c.kafka.empty()) {
    std::fprintf(stderr, "leaves topics: --kafka HOST:PORT (or LEAVES_KAFKA) is required\n");
    return 2;
  }
  log::kafka_options ko;
  ko.brokers = c.kafka;
  ko.topic = c.kafka_topic;
  ko.partitions = c.partitions;
  ko.replication_factor = static_cast<int16_t>(c.kafka_replication_factor);
  ko.min_insync_replicas = c.kafka_min_insync_replicas;
  for (const auto& kv : c.kafka_config) {
    std::pair<std::string, std::string> p;
    if (!log::parse_kafka_property(kv, p)) {
      std::fprintf(stderr, "leaves topics: --kafka-config takes KEY=VALUE\n");
      return 2;
    }
    ko.config.push_back(std::move(p));
  }
  if (verb == "list") {
    auto topics = log::list_topics(ko);
    if (!topics) {
      std::fprintf(stderr, "leaves topics: %s\n", topics.err().message.c_str());
      return 1;
    }
    for (const auto& [name, n] : *topics) std::printf("%-40s %d partitions\n", name.c_str(), n);
    return 0;
  }
  if (verb == "create") {
    auto l = log::kafka_log::open(ko);
    if (!l) {
      std::fprintf(stderr, "leaves topics: %s\n", l.err().message.c_str());
      return 1;
    }
  }
  auto t = log::describe_topic(ko, groups);
  if (!t) {
    std::fprintf(stderr, "leaves topics: %s\n", t.err().message.c_str());
    return t.err().code == errc::not_found ? 3 : 1;
  }
  auto join = [](const std::vector<int32_t>& v) {
    std::string s;
    for (auto x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
    return s;
  };
  std::printf("topic %s: %zu partitions\n", t->name.c_str(), t->partitions.size());
  std::printf("  %-9s %-6s %-10s %-10s %12s %12s\n", "partition", "leader", "replicas", "isr", "low", "end");
  for (const auto& p : t->partitions) {
    std::printf("  %-9d %-6d %-10s %-10s %12lld %12lld\n", p.id, p.leader, join(p.replicas).c_str(),
                join(p.isrs).c_str(), (long long)p.low, (long long)p.high);
  }
  for (const auto& g : t->groups) {
    int64_t total = 0;
    for (auto l : g.lag) total += l;
    std::printf("group %s: lag %lld\n", g.group.c_str(), (long long)total);
    for (size_t i = 0; i < g.lag.size(); ++i) {
      std::printf("  partition %-3d committed %-12s lag %lld\n", t->partitions[i].id,
                  g.committed[i] < 0 ? "-" : std::to_string(g.committed[i]).c_str(), (long long)g.lag[i]);
    }
  }
  return 0;
}

}  // namespace leaves::app
