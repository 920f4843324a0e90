#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json.hpp>
#include <boost/program_options.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <optional>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <unistd.h>

#include "leaves/api/api.h"
#include "leaves/app/commands.h"
#include "leaves/app/probes.h"
#include "leaves/app/setup.h"
#include "leaves/app/state_mirror.h"
#include "leaves/auth/directory.h"
#include "leaves/auth/token.h"
#include "leaves/auth/user_service.h"
#include "leaves/base/hash.h"
#include "leaves/base/log.h"
#include "leaves/base/time.h"
#include "leaves/cql/protocol/compression.h"
#include "leaves/http/server.h"
#include "leaves/enrich/enricher.h"
#include "leaves/ingest/ingest.h"
#include "leaves/log/embedded/rocks_log.h"
#include "leaves/log/kafka/kafka_admin.h"
#include "leaves/log/kafka/kafka_log.h"
#include "leaves/projector/projector.h"
#include "leaves/search/xapian/xapian_index.h"
#include "leaves/store/cassandra/cassandra_store.h"
#include "leaves/store/embedded/rocks_store.h"
#include "leaves/store/mirrored_store.h"
#include "leaves/webhooks/dispatcher.h"

namespace asio = boost::asio;
namespace json = boost::json;
namespace po = boost::program_options;

namespace leaves::app {

namespace {

// Beyond --shutdown-timeout-ms (how long open connections may drain), what
// the rest of a stop may take before the watchdog ends it.
constexpr std::chrono::milliseconds kStopGrace{3000};

// Bounds a stop. Armed by SIGTERM or SIGINT, it gives the process `limit` to
// be gone; past it, it names the shutdown step still running and exits at
// once. Each step is bounded on its own (commits, consumer closes, flushes),
// but a broker that stalls each of them in turn can add them up past any
// grace an operator (or a test) gives before its kill -9. Exiting then is a
// kill -9 as far as data goes, which loses nothing acknowledged: every
// acknowledged write is in the log, and consumers resume after their last
// commit, re-applying idempotently.
class stop_watchdog {
 public:
  stop_watchdog() = default;
  stop_watchdog(const stop_watchdog&) = delete;
  stop_watchdog& operator=(const stop_watchdog&) = delete;
  ~stop_watchdog() { disarm(); }

  void arm(std::chrono::milliseconds limit) {
    std::lock_guard lk(mu_);
    if (thread_.joinable() || done_) return;
    thread_ = std::thread([this, limit] {
      std::unique_lock lk(mu_);
      if (cv_.wait_for(lk, limit, [this] { return done_; })) return;
      log_warn("serve", "shutdown did not finish within " + std::to_string(limit.count()) + " ms (still at: " + step_ +
                            "); exiting without the rest (nothing acknowledged is lost: it is in the log)");
      std::_Exit(0);
    });
  }
  // The step the shutdown is at, for the message above.
  void at(const char* step) {
    std::lock_guard lk(mu_);
    step_ = step;
  }
  void disarm() {
    {
      std::lock_guard lk(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  const char* step_ = "stopping ingest, enrichment and the users' consumer";
  std::thread thread_;
};

// One `leaves serve` process. Start-up runs in named phases, each of which
// may register how to undo itself; shutdown (after SIGTERM, or when a phase
// fails) runs those in reverse order. Members are declared in the order the
// phases make them, so what is left is destroyed in reverse too.
class serve_process {
 public:
  serve_process(serve_config c, stop_watchdog& watchdog) : c_(std::move(c)), dir_(c_.data_dir), watchdog_(&watchdog) {}

  int run(const http::server_options& so) {
    so_ = so;
    const std::pair<const char*, status (serve_process::*)()> phases[] = {
        {"event log", &serve_process::open_event_log},
        {"read store", &serve_process::open_read_store},
        {"search index", &serve_process::open_search_index},
        {"write side", &serve_process::wire_write_side},
        {"users", &serve_process::open_users},
        {"api", &serve_process::wire_api},
        {"projections", &serve_process::start_projections},
        {"first admin", &serve_process::bootstrap_admin},
        {"ingest", &serve_process::open_ingest},
        {"enrich", &serve_process::open_enrich},
        {"http", &serve_process::start_http},
    };
    for (const auto& [name, up] : phases) {
      const auto t0 = std::chrono::steady_clock::now();
      if (auto st = (this->*up)(); !st) {
        log_error("serve", std::string(name) + ": " + st.err().message);
        shut_down();
        return 1;
      }
      const auto ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
      // A slow phase (a broker or node far away, a big index) is worth a line.
      (ms >= 1000 ? log_info : log_debug)("serve", std::string("start-up: ") + name + " took " +
                                                    std::to_string(ms) + " ms");
    }
    serve_until_stopped();
    shut_down();
    log_info("serve", "stopped");
    return 0;
  }

 private:
  // Undo steps of the phases that ran, run last first.
  void on_shutdown(const char* name, std::function<void()> down) { undo_.push_back({name, std::move(down)}); }
  void shut_down() {
    while (!undo_.empty()) {
      auto [name, down] = std::move(undo_.back());
      undo_.pop_back();
      watchdog_->at(name);
      const auto t0 = std::chrono::steady_clock::now();
      down();
      const auto ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
      (ms >= 1000 ? log_info : log_debug)("serve", std::string("shutdown: ") + name + " took " + std::to_string(ms) + " ms");
    }
  }

  status open_event_log() {
    if (auto st = check_log_present(c_, dir_); !st) return st;
    auto l = open_log(c_, dir_, "", true);
    if (!l) return l.err();
    log_ = std::move(*l);
    // Nothing runs on the io threads any more when this runs: the log's last
    // completions are posted to the io_context, which still exists.
    on_shutdown("event log", [this] { log_.reset(); });
    if (c_.salvage) {
      int64_t total = 0;
      for (auto e : log_->end_offsets()) total += e;
      log_warn("serve", "--salvage: the log holds " + std::to_string(total) +
                            " events; read models and index ahead of it are rebuilt from it");
    }
    if (log_->partitions() != c_.partitions) {
      log_info("serve", "the event log has " + std::to_string(log_->partitions()) +
                            " partitions (fixed at creation); --partitions " + std::to_string(c_.partitions) +
                            " is ignored");
    }
    return ok_status();
  }

  status open_read_store() {
    auto s = open_store(c_, dir_, log_.get());
    if (!s) return s.err();
    store_ = std::move(*s);
    if (!c_.kafka.empty() && !c_.cassandra.empty() && c_.state_mirror) {
      auto m = state_mirror::open(c_, dir_, *log_, std::move(store_), store_);
      if (!m) return m.err();
      mirror_ = std::move(*m);
    }
    const std::string group = projector_group(c_, dir_);
    if (!c_.kafka.empty()) lost_to_retention(*log_, group, "read models");
    progress_ = std::make_unique<projector::progress>(log_->partitions());
    proj_ = std::make_unique<projector::projector>(*log_, *store_, *progress_, &hub_, group, projector_membership(c_));
    if (c_.salvage) proj_->rebuild_at_start();
    return ok_status();
  }

  status open_search_index() {
    if (!c_.search) return ok_status();
    auto ix = open_search(c_, dir_);
    if (!ix) return ix.err();
    index_ = std::move(*ix);
    // Searches in flight end before the io_context goes.
    on_shutdown("search index", [this] { index_->stop(); });
    search_progress_ = std::make_unique<projector::progress>(log_->partitions());
    if (!c_.kafka.empty()) lost_to_retention(*log_, index_->group(), "search index");
    search_proj_ = std::make_unique<projector::projector>(*log_, *index_, *search_progress_, nullptr,
                                                          index_->group(), projector::membership::exclusive, "search");
    search_proj_->set_when_ahead(projector::when_ahead::rebuild);  // derived from the log alone
    if (c_.salvage) search_proj_->rebuild_at_start();
    return ok_status();
  }

  status wire_write_side() {
    svc_ = std::make_unique<service::leaf_service>(*log_, *store_, *progress_, system_clock());
    svc_->set_max_pending(c_.max_unprojected);
    if (c_.cassandra.empty()) {
      // The embedded store is local disk: while it cannot be written (full,
      // damaged), an accepted write could not be read back, so writes are
      // refused as /readyz says. (Cassandra outages keep writes going through
      // the state mirror, bounded by --max-unprojected.)
      svc_->set_admission([proj = proj_.get(), st = store_.get()]() -> status {
        if (proj->store_ok() && st->health().ok()) return ok_status();
        auto e = proj->store_ok() ? st->health().err() : proj->last_failure();
        if (e.detail == "insufficient_storage") return e;
        return make_error(errc::unavailable,
                          "the read store cannot be written (" + e.detail + "): writes are refused until it is "
                          "repaired (docs/operations.md)",
                          "store_unavailable");
      });
    }
    // Several servers may write one Kafka topic: a write is acknowledged once
    // a projection of every partition in this process confirmed it (the
    // embedded read store, or the state mirror beside Cassandra).
    if (!c_.kafka.empty() && c_.confirm_writes) {
      if (c_.cassandra.empty()) {
        svc_->set_confirmation(*store_, *progress_);
      } else if (mirror_) {
        svc_->set_confirmation(mirror_->local(), mirror_->progress());
        mirror_->feeder().on_applied([svc = svc_.get()](const std::vector<projection::applied_event>& b) {
          svc->observed(b);
        });
      } else {
        log_warn("serve", "--state-mirror=false: writes are acknowledged at the broker's ack, and concurrent "
                          "writes of one leaf from several servers can lose updates (docs/kafka.md)");
      }
    }
    proj_->on_applied([svc = svc_.get(), confirm_here = svc_->confirming() && c_.cassandra.empty()](
                          const std::vector<projection::applied_event>& b) {
      svc->applied(b);
      if (confirm_here) svc->observed(b);
    });
    return ok_status();
  }

  // The user directory, folded from the log before anything is served
  // (docs/auth.md).
  status open_users() {
    auto model = open_directory_model(dir_, *store_, directory_model_);
    if (!model) return model.err();
    users_ = std::make_unique<auth::directory>(*log_, *model);
    on_shutdown("users", [this] { users_->stop(); });
    if (auto st = users_->start(); !st) return st;
    user_svc_ = std::make_unique<auth::user_service>(*log_, *users_, system_clock());
    return ok_status();
  }

  // After the projections started: a new log's projections are caught up at
  // once, and then project these events like any others.
  // No users yet (and a reason to have one, below): create "admin" with the
  // token of LEAVES_ADMIN_TOKEN, or a new one printed once. Users exist but LEAVES_ADMIN_TOKEN is not a known
  // token: it is added to the first enabled admin (a lost token's recovery
  // by whoever controls the server's environment). The token is never logged.
  status bootstrap_admin() {
    const char* env = std::getenv("LEAVES_ADMIN_TOKEN");
    std::optional<auth::new_token> given;
    if (env && *env) {
      if (std::strlen(env) < 32 || std::strlen(env) > 256) {
        return make_error(errc::invalid_argument, "LEAVES_ADMIN_TOKEN must be 32 to 256 characters");
      }
      given = auth::adopt_token(env);
    }
    std::string admin;
    // Under --anonymous all every caller may already do all but administer
    // users: the first admin waits for LEAVES_ADMIN_TOKEN or a start with
    // --anonymous read|none (docs/auth.md), so an open server's log holds
    // leaves only.
    if (users_->size() == 0 && c_.anonymous == "all" && !given) return ok_status();
    if (users_->size() == 0) {
      domain::user_command create;
      create.kind = domain::user_command_kind::create;
      create.name = "admin";
      create.r = domain::role::admin;
      if (auto w = run_user_command(std::move(create)); !w) {
        if (w.err().detail == "user_exists" || w.err().detail == "user_write_contention") {
          log_info("users", "another server created the first admin");
          return ok_status();
        }
        return make_error(w.err().code, "creating the first admin: " + w.err().message);
      }
      admin = "admin";
    } else if (given) {
      // A token the directory has seen is never added again: one that was
      // revoked (or whose user was disabled) stays refused.
      if (users_->knows_token(given->secret)) {
        if (auto p = users_->authenticate(given->secret, system_clock().now_ms()); !p) {
          log_warn("users", "LEAVES_ADMIN_TOKEN is not usable (" + p.err().message + "); it is not added again");
        }
        return ok_status();
      }
      for (const auto& u : users_->list()) {
        if (u.r == domain::role::admin && !u.disabled) {
          admin = u.name;
          break;
        }
      }
      if (admin.empty()) return make_error(errc::invalid_argument, "LEAVES_ADMIN_TOKEN: no enabled admin to give it to");
    } else {
      return ok_status();
    }
    auto t = given ? *given : auth::generate_token();
    domain::user_command tok;
    tok.kind = domain::user_command_kind::create_token;
    tok.name = admin;
    tok.token = {t.id, given ? "LEAVES_ADMIN_TOKEN" : "first start", t.hash, domain::kAllScopes, 0, std::nullopt};
    if (auto w = run_user_command(std::move(tok)); !w) {
      return make_error(w.err().code, "creating the admin's token: " + w.err().message);
    }
    if (given) {
      log_info("users", "the token of LEAVES_ADMIN_TOKEN (id " + t.id + ") belongs to " + admin);
    } else {
      // Printed once, to the terminal that started the server, never to the log.
      std::fprintf(stderr,
                   "leaves: created the first user, \"admin\"; its token (shown once, keep it):\n"
                   "leaves:   %s\n",
                   t.secret.c_str());
      std::fflush(stderr);
    }
    return ok_status();
  }

  // A user command before the I/O threads exist, on an io_context of its own.
  result<auth::user_write> run_user_command(domain::user_command cmd) {
    asio::io_context io;
    std::optional<result<auth::user_write>> out;
    asio::co_spawn(
        io,
        [](auth::user_service& svc, domain::user_command c,
           std::optional<result<auth::user_write>>& o) -> asio::awaitable<void> {
          o.emplace(co_await svc.execute(std::move(c), "leaves"));
        }(*user_svc_, std::move(cmd), out),
        asio::detached);
    io.run();
    if (!out) return make_error(errc::internal, "the user command did not finish");
    return std::move(*out);
  }

  status wire_api() {
    ao_.read_wait = std::chrono::milliseconds(c_.read_wait_ms);
    ao_.anonymous = c_.anonymous == "read"   ? api::anonymous_access::read
                    : c_.anonymous == "none" ? api::anonymous_access::none
                                             : api::anonymous_access::all;
    ao_.rate_per_second = c_.rate_limit;
    ao_.rate_burst = c_.rate_burst;
    ao_.sign_in_attempts_per_address = static_cast<size_t>(c_.sign_in_attempts_per_address);
    ao_.enrich = c_.enrich;
    // Destroyed before the service (coroutines it destroys release the
    // service's per-leaf locks) and after the logs, closed by their phases'
    // undo steps because their threads post completions to it.
    const int threads = c_.threads > 0 ? c_.threads : std::max(1u, std::thread::hardware_concurrency());
    threads_ = threads;
    ioc_ = std::make_unique<asio::io_context>(threads);
    if (users_ && user_svc_) {
      webhooks::options wo;
      wo.allow_private = c_.webhook_allow_private;
      wo.timeout = std::chrono::milliseconds(c_.webhook_timeout_ms);
      wo.retry_base = std::chrono::milliseconds(c_.webhook_retry_ms);
      wo.attempts = c_.webhook_attempts;
      wo.disable_after = c_.webhook_disable_after;
      wo.read_leaf = [store = store_.get()](std::string id) { return store->async_get(std::move(id)); };
      webhooks_ = std::make_unique<webhooks::dispatcher>(*ioc_, hub_, *log_, *users_, *user_svc_, wo);
      register_webhook_metrics();
    }
    handler_ = std::make_unique<api::api>(
        api::api_deps{*svc_, *store_, *log_, *progress_, *proj_, hub_, metrics_, index_.get(), search_proj_.get(),
                      index_ ? api::leaf_matcher(search::leaf_matches) : api::leaf_matcher(), users_.get(),
                      user_svc_.get(), webhooks_.get(), {}, nullptr, {}, c_.schema_registry},
        ao_);
    register_metrics(metrics_, {*handler_, *proj_, *progress_, *log_, *svc_, hub_,
                                mirror_ ? &mirror_->progress() : nullptr, search_proj_.get(), index_.get(),
                                users_.get()});
    metrics_.add_readings([st = store_.get()] { return st->metric_readings(); });
    return ok_status();
  }

  void register_webhook_metrics() {
    metrics_.add_family("leaves_webhook_deliveries_total", "Webhook deliveries, by outcome.",
                        http::metric_kind::counter, [w = webhooks_.get()] {
                          const auto& st = w->counters();
                          return std::vector<http::sample>{
                              {http::label("outcome", "delivered"), double(st.delivered.load())},
                              {http::label("outcome", "failed"), double(st.failed.load())},
                              {http::label("outcome", "dropped"), double(st.dropped.load())}};
                        });
    metrics_.add_family("leaves_webhook_attempts_total", "Webhook POSTs tried (retries included).",
                        http::metric_kind::counter, [w = webhooks_.get()] {
                          return std::vector<http::sample>{{"", double(w->counters().attempts.load())}};
                        });
    metrics_.add_family("leaves_webhooks_disabled_total", "Webhooks disabled after failed deliveries.",
                        http::metric_kind::counter, [w = webhooks_.get()] {
                          return std::vector<http::sample>{{"", double(w->counters().disabled.load())}};
                        });
  }

  status start_projections() {
    std::vector<std::pair<const char*, projector::projector*>> all = {{"projector", proj_.get()}};
    if (mirror_) all.push_back({"state mirror", &mirror_->feeder()});
    if (search_proj_) all.push_back({"search index", search_proj_.get()});
    // Stopped side by side: each may wait seconds for a broker that is away
    // (a bounded commit, then a bounded close), and one after the other they
    // overran the 15 s a server has to stop after a broker outage.
    // Registered before start(): one that fails may hold a consumer of the
    // log, which must go before the log does (stop() is safe on any projector).
    std::vector<projector::projector*> started;
    for (const auto& named : all) started.push_back(named.second);
    on_shutdown("projections", [started] {
      std::vector<std::thread> stops;
      for (projector::projector* p : started) stops.emplace_back([p] { p->stop(); });
      for (auto& t : stops) t.join();
    });
    for (const auto& named : all) {
      projector::projector* p = named.second;  // a plain variable: clang 14 cannot capture a structured binding
      if (auto st = p->start(); !st) {
        return make_error(st.err().code, std::string(named.first) + ": " + st.err().message);
      }
    }
    return ok_status();
  }

  // External producers (Kafka mode): the ingest topic and its dead-letter
  // topic. The ingester starts once writes are accepted (serve_until_stopped).
  status open_ingest() {
    // Embedded, the ingest topic and its dead letters are logs of their own
    // under <data-dir>/topics/: the REST-Proxy produce routes write there.
    if (c_.kafka_ingest_topic.empty()) return ok_status();
    auto in = open_log(c_, dir_, c_.kafka_ingest_topic);
    if (!in) return in.err();
    ingest_log_ = std::move(*in);
    on_shutdown("ingest log", [this] { ingest_log_.reset(); });
    auto dl = open_log(c_, dir_, c_.kafka_dlq_topic);
    if (!dl) return dl.err();
    dlq_log_ = std::move(*dl);
    on_shutdown("dead-letter log", [this] { dlq_log_.reset(); });
    ingester_ = std::make_unique<ingest::ingester>(*ingest_log_, *dlq_log_, c_.kafka_ingest_topic,
                                                   c_.kafka_ingest_group, *svc_, *ioc_, ao_.limits,
                                                   c_.schema_registry.empty()
                                                       ? nullptr
                                                       : std::make_unique<ingest::schema_registry>(c_.schema_registry));
    on_shutdown("ingest", [this] { ingester_.reset(); });
    handler_->set_ingest_log(c_.kafka_ingest_topic, ingest_log_.get());
    handler_->set_ingest_view([ing = ingester_.get()] {
      const auto v = ing->view();
      json::array parts;
      for (size_t p = 0; p < std::max(v.next.size(), v.end.size()); ++p) {
        const int64_t next = p < v.next.size() ? v.next[p] : -1;
        const int64_t end = p < v.end.size() ? v.end[p] : -1;
        parts.push_back(json::object{{"partition", p}, {"next", next}, {"end", end},
                                     {"lag", next >= 0 && end >= 0 ? json::value(std::max<int64_t>(0, end - next))
                                                                   : json::value(nullptr)}});
      }
      json::array dead;
      for (const auto& d : v.recent) {
        dead.push_back(json::object{{"time", format_iso8601(d.time_ms)},
                                    {"source", std::to_string(d.partition) + ":" + std::to_string(d.offset)},
                                    {"key", d.key},
                                    {"code", d.code},
                                    {"reason", d.reason},
                                    {"value", d.value}});
      }
      const auto& st = ing->stats();
      return json::object{{"topic", v.topic},
                          {"group", v.group},
                          {"records", st.records.load()},
                          {"saved", st.saved.load()},
                          {"dead_lettered", st.dead_lettered.load()},
                          {"avro", st.avro.load()},
                          {"registry_waits", st.registry_waits.load()},
                          {"partitions", std::move(parts)},
                          {"dead_letters", std::move(dead)}};
    });
    metrics_.add_family("leaves_ingest_records_total", "Records read from the ingest topic, by outcome.",
                        http::metric_kind::counter, [ing = ingester_.get()] {
                          const auto& st = ing->stats();
                          return std::vector<http::sample>{
                              {http::label("outcome", "saved"), double(st.saved.load())},
                              {http::label("outcome", "dead_lettered"), double(st.dead_lettered.load())}};
                        });
    metrics_.add_family("leaves_ingest_avro_records_total",
                        "Records of the ingest topic in the Confluent wire format (Avro), saved or not.",
                        http::metric_kind::counter, [ing = ingester_.get()] {
                          return std::vector<http::sample>{{"", double(ing->stats().avro.load())}};
                        });
    metrics_.add_family("leaves_ingest_registry_waits_total",
                        "Times the ingester waited for an unreachable schema registry (ingest paused meanwhile).",
                        http::metric_kind::counter, [ing = ingester_.get()] {
                          return std::vector<http::sample>{{"", double(ing->stats().registry_waits.load())}};
                        });
    return ok_status();
  }

  // Enrichment (docs/fetch.md): starts with the ingester, once writes are accepted.
  status open_enrich() {
    if (!c_.enrich) return ok_status();
    enrich::enrich_options eo;
    eo.fetch.allow_private = c_.fetch_allow_private;
    for (const auto& n : c_.fetch_allow_networks) {
      if (auto r = fetch::parse_network(n)) eo.fetch.allowed_networks.push_back(*r);  // checked at setup
      log_warn("serve", "--fetch-allow-network " + n + ": enrichment may fetch these internal addresses");
    }
    eo.fetch.total_timeout = std::chrono::milliseconds(c_.fetch_timeout_ms);
    eo.fetch.max_body_bytes = static_cast<size_t>(c_.fetch_max_kb) * 1024;
    eo.concurrency = static_cast<size_t>(c_.enrich_concurrency);
    eo.per_host_interval = std::chrono::milliseconds(c_.enrich_host_interval_ms);
    eo.pdf.memory_mb = static_cast<size_t>(c_.pdf_memory_mb);
    if (c_.fetch_allow_private)
      log_warn("serve", "--fetch-allow-private: enrichment may fetch loopback, private and link-local addresses");
    enricher_ = std::make_unique<enrich::enricher>(*log_, c_.enrich_group, *svc_, *ioc_, eo);
    on_shutdown("enrich", [this] { enricher_.reset(); });
    metrics_.add_family("leaves_enrich_total", "Enrichment requests, by outcome.", http::metric_kind::counter,
                        [e = enricher_.get()] {
                          const auto& st = e->stats();
                          return std::vector<http::sample>{
                              {http::label("outcome", "requested"), double(st.requested.load())},
                              {http::label("outcome", "enriched"), double(st.enriched.load())},
                              {http::label("outcome", "failed"), double(st.failed.load())},
                              {http::label("outcome", "already_answered"), double(st.already.load())},
                              {http::label("outcome", "leaf_gone"), double(st.gone.load())}};
                        });
    metrics_.add_family("leaves_enrich_fetches_total", "Page fetches made by enrichment, retries included.",
                        http::metric_kind::counter, [e = enricher_.get()] {
                          return std::vector<http::sample>{{"", double(e->stats().fetches.load())}};
                        });
    metrics_.add_family("leaves_enrich_fetch_seconds_total", "Time spent in page fetches (network, not extraction).",
                        http::metric_kind::counter, [e = enricher_.get()] {
                          return std::vector<http::sample>{{"", double(e->stats().fetch_micros.load()) / 1e6}};
                        });
    return ok_status();
  }

  status start_http() {
    if (webhooks_) webhooks_->start();
    srv_ = std::make_unique<http::server>(*ioc_, so_, *handler_, metrics_);
    auto port = srv_->listen();
    if (!port) return port.err();
    port_ = *port;
    srv_->start();
    return ok_status();
  }

  // Runs the io threads until SIGTERM or SIGINT has drained the server.
  void serve_until_stopped() {
    std::atomic<bool> stopping{false};
    asio::signal_set signals(*ioc_, SIGINT, SIGTERM);
    std::thread drainer;
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      log_info("serve", std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + ", draining");
      stopping = true;
      watchdog_->arm(std::chrono::milliseconds(c_.shutdown_timeout_ms) + kStopGrace);
      handler_->set_stopping();
      svc_->stop_waiting();
      srv_->stop();
      if (webhooks_) webhooks_->stop();
      hub_.close_all("server shutting down");
      drainer = std::thread([&] {
        // The directory stops following the log (its consumer's close may
        // take seconds while a broker is away) beside the ingester's close,
        // not after it; what it holds keeps answering the requests draining.
        std::thread directory_stop([this] { users_->stop(); });
        std::thread enrich_stop([this] {
          if (enricher_) enricher_->stop();  // before the io threads stop: its commands run on them
        });
        if (ingester_) ingester_->stop();  // before the io threads stop: its commands run on them
        enrich_stop.join();
        watchdog_->at("draining connections");
        if (!srv_->wait_drained(std::chrono::milliseconds(c_.shutdown_timeout_ms))) {
          log_warn("serve", std::to_string(srv_->connections()) + " connections still open at the drain deadline");
        }
        directory_stop.join();
        ioc_->stop();
      });
    });
    // Writes wait until the read models caught up with what the log held at
    // start; confirmed writes decide on the state mirror, which must too.
    std::thread readiness([&] {
      auto ready = [&] {
        return proj_->caught_up() && (!mirror_ || !svc_->confirming() || mirror_->caught_up());
      };
      while (!stopping && !ready()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      svc_->set_writable(true);
      if (ingester_ && !stopping) {
        if (auto st = ingester_->start(); !st) log_error("serve", "ingest: " + st.err().message);
      }
      if (enricher_ && !stopping) {
        if (auto st = enricher_->start(); !st) log_error("serve", "enrich: " + st.err().message);
      }
    });

    std::fprintf(stderr,
                 "leaves: listening on http://%s:%u (data dir %s, %s log, %s store, %d partitions, %d threads)\n",
                 so_.host.c_str(), unsigned(port_), c_.data_dir.c_str(), c_.kafka.empty() ? "embedded" : "Kafka",
                 c_.cassandra.empty() ? "embedded" : "Cassandra", log_->partitions(), threads_);
    std::fflush(stderr);
    std::vector<std::thread> pool;
    for (int i = 1; i < threads_; ++i) pool.emplace_back([this] { ioc_->run(); });
    ioc_->run();
    for (auto& t : pool) t.join();
    stopping = true;
    readiness.join();
    if (drainer.joinable()) drainer.join();
  }

  serve_config c_;
  std::filesystem::path dir_;
  stop_watchdog* watchdog_;  // armed by SIGTERM or SIGINT; outlives the process object
  http::server_options so_;
  std::vector<std::pair<const char*, std::function<void()>>> undo_;
  std::unique_ptr<log::event_log> log_;
  std::unique_ptr<state_mirror> mirror_;  // outlives the store, whose gate reads its progress
  std::unique_ptr<store::read_store> store_;
  std::unique_ptr<projector::progress> progress_;
  realtime::hub hub_;
  std::unique_ptr<projector::projector> proj_;
  std::unique_ptr<search::xapian_index> index_;
  std::unique_ptr<projector::progress> search_progress_;
  std::unique_ptr<projector::projector> search_proj_;
  std::unique_ptr<service::leaf_service> svc_;
  std::unique_ptr<store::directory_store> directory_model_;  // embedded: <data-dir>/directory
  std::unique_ptr<auth::directory> users_;
  std::unique_ptr<auth::user_service> user_svc_;
  http::metrics metrics_;
  api::api_options ao_;
  std::unique_ptr<api::api> handler_;
  int threads_ = 1;
  std::unique_ptr<asio::io_context> ioc_;
  std::unique_ptr<webhooks::dispatcher> webhooks_;
  std::unique_ptr<log::event_log> ingest_log_, dlq_log_;
  std::unique_ptr<ingest::ingester> ingester_;
  std::unique_ptr<enrich::enricher> enricher_;
  std::unique_ptr<http::server> srv_;
  uint16_t port_ = 0;
};

}  // namespace

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
  stop_watchdog watchdog;  // declared first: it outlives the process's members' destructors
  serve_process p(std::move(c), watchdog);
  return p.run(so);
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
  // The directory model (users, teams, collections, marks): cleared, then
  // folded from the whole log and saved as the server's directory does.
  std::unique_ptr<store::directory_store> owned;
  auto model = open_directory_model(dir, **store, owned);
  if (!model) {
    std::fprintf(stderr, "leaves replay: %s\n", model.err().message.c_str());
    return 1;
  }
  if (auto st = (*model)->clear(); !st) {
    std::fprintf(stderr, "leaves replay: %s\n", st.err().message.c_str());
    return 1;
  }
  const auto d0 = std::chrono::steady_clock::now();
  auth::directory users(**log, *model);
  if (auto st = users.start(); !st) {
    std::fprintf(stderr, "leaves replay: %s\n", st.err().message.c_str());
    return 1;
  }
  users.stop();
  const auto& ds = users.stats();
  if (ds.model_failures.load() > 0) {
    std::fprintf(stderr, "leaves replay: the directory model in %s could not be written (see the log above)\n",
                 (*model)->where().c_str());
    return 1;
  }
  std::printf("rebuilt the directory model in %s: %zu users, %llu rows, from %llu records, in %.2f s\n",
              (*model)->where().c_str(), users.size(), (unsigned long long)ds.model_rows_saved.load(),
              (unsigned long long)ds.records_read_at_start.load(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - d0).count());
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
