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
namespace {

constexpr const char* kProjectorGroup = "leaves-projector";

struct serve_config {
  std::string listen = "127.0.0.1:8080";
  std::string data_dir = "./leaves-data";
  int partitions = 8;
  int threads = 0;
  size_t max_body_bytes = 1024 * 1024;
  int read_wait_ms = 5000;
  int request_timeout_ms = 30000;
  int idle_timeout_ms = 60000;
  int shutdown_timeout_ms = 10000;
  size_t max_unprojected = 100000;
  std::string log_level = "info";
  // Kafka (empty brokers: the embedded log)
  std::string kafka;
  std::string kafka_topic = "leaves-events";
  std::string kafka_group;  // default: per process (see kafka-group's help)
  int kafka_replication_factor = 1;
  int kafka_min_insync_replicas = 1;
  std::vector<std::string> kafka_config;
  std::string kafka_ingest_topic = "leaves-ingest";
  std::string kafka_dlq_topic = "leaves-ingest-dlq";
  std::string kafka_ingest_group = "leaves-ingest";
  // Cassandra (empty contact points: the embedded read store)
  std::string cassandra;
  std::string cassandra_keyspace = "leaves";
  std::string cassandra_replication = "{'class': 'SimpleStrategy', 'replication_factor': 1}";
  std::string cassandra_consistency = "local_quorum";
  std::string cassandra_username, cassandra_password;
  bool cassandra_tls = false;
  std::string cassandra_tls_ca_file, cassandra_tls_cert_file, cassandra_tls_key_file;
  int cassandra_timeout_ms = 5000;
  std::string cassandra_compression = "none";
  size_t cassandra_meta_cache = 100000;
  // Kafka + Cassandra: a local copy of the leaves, fed from the log by this
  // process, that keeps writes going while Cassandra is unreachable.
  bool state_mirror = true;
  // Search: a Xapian index under <data-dir>/search, fed by its own group.
  bool search = true;
  bool salvage = false;
  int search_threads = 2;
  int search_flush_ms = 200;
};

po::options_description serve_options(serve_config& c, std::string& config_file) {
  po::options_description d("leaves serve options");
  d.add_options()
      ("help,h", "show this help")
      ("config", po::value(&config_file), "config file of 'name = value' lines (env LEAVES_CONFIG)")
      ("listen", po::value(&c.listen)->default_value(c.listen), "HOST:PORT to listen on (env LEAVES_LISTEN)")
      ("data-dir", po::value(&c.data_dir)->default_value(c.data_dir),
       "directory of the embedded log and read models (env LEAVES_DATA_DIR)")
      ("partitions", po::value(&c.partitions)->default_value(c.partitions),
       "partitions of a new event log; an existing log keeps its own (env LEAVES_PARTITIONS)")
      ("threads", po::value(&c.threads)->default_value(c.threads),
       "HTTP I/O threads; 0 = one per core (env LEAVES_THREADS)")
      ("max-body-bytes", po::value(&c.max_body_bytes)->default_value(c.max_body_bytes),
       "largest request body accepted (env LEAVES_MAX_BODY_BYTES)")
      ("read-wait-ms", po::value(&c.read_wait_ms)->default_value(c.read_wait_ms),
       "longest wait for Leaves-Min-Position before 504 (env LEAVES_READ_WAIT_MS)")
      ("request-timeout-ms", po::value(&c.request_timeout_ms)->default_value(c.request_timeout_ms),
       "time allowed to send one request (env LEAVES_REQUEST_TIMEOUT_MS)")
      ("idle-timeout-ms", po::value(&c.idle_timeout_ms)->default_value(c.idle_timeout_ms),
       "keep-alive idle time before a connection is closed (env LEAVES_IDLE_TIMEOUT_MS)")
      ("shutdown-timeout-ms", po::value(&c.shutdown_timeout_ms)->default_value(c.shutdown_timeout_ms),
       "longest drain of in-flight requests on SIGTERM (env LEAVES_SHUTDOWN_TIMEOUT_MS)")
      ("max-unprojected", po::value(&c.max_unprojected)->default_value(c.max_unprojected),
       "most leaves with writes the read models have not applied yet, kept in memory; beyond it a write to "
       "another leaf answers 503 projection_backlog until the projector catches up; 0 = no limit "
       "(env LEAVES_MAX_UNPROJECTED)")
      ("log-level", po::value(&c.log_level)->default_value(c.log_level),
       "debug, info, warn or error (env LEAVES_LOG_LEVEL)")
      ("kafka", po::value(&c.kafka),
       "HOST:PORT[,HOST:PORT]: use this Kafka cluster as the event log instead of the embedded log (env LEAVES_KAFKA)")
      ("kafka-topic", po::value(&c.kafka_topic)->default_value(c.kafka_topic),
       "topic of the event log, created if absent (env LEAVES_KAFKA_TOPIC)")
      ("kafka-group", po::value(&c.kafka_group),
       "consumer group of the projector; default leaves-projector-<host and data dir>, one per process, "
       "because each process keeps its own read models (env LEAVES_KAFKA_GROUP)")
      ("kafka-replication-factor", po::value(&c.kafka_replication_factor)->default_value(c.kafka_replication_factor),
       "replication factor of a created topic (env LEAVES_KAFKA_REPLICATION_FACTOR)")
      ("kafka-min-insync-replicas", po::value(&c.kafka_min_insync_replicas)->default_value(c.kafka_min_insync_replicas),
       "min.insync.replicas of a created topic (env LEAVES_KAFKA_MIN_INSYNC_REPLICAS)")
      ("kafka-config", po::value(&c.kafka_config)->composing(),
       "KEY=VALUE librdkafka property, repeatable (SASL, TLS, tuning); values are never logged")
      ("kafka-ingest-topic", po::value(&c.kafka_ingest_topic)->default_value(c.kafka_ingest_topic),
       "topic external producers write leaf records to; empty disables ingest (env LEAVES_KAFKA_INGEST_TOPIC)")
      ("kafka-dlq-topic", po::value(&c.kafka_dlq_topic)->default_value(c.kafka_dlq_topic),
       "dead-letter topic for ingest records that cannot be read (env LEAVES_KAFKA_DLQ_TOPIC)")
      ("kafka-ingest-group", po::value(&c.kafka_ingest_group)->default_value(c.kafka_ingest_group),
       "consumer group of the ingest worker (env LEAVES_KAFKA_INGEST_GROUP)")
      ("cassandra", po::value(&c.cassandra),
       "HOST:PORT[,HOST:PORT]: keep the read models in this Cassandra cluster instead of the embedded store "
       "(env LEAVES_CASSANDRA)")
      ("cassandra-keyspace", po::value(&c.cassandra_keyspace)->default_value(c.cassandra_keyspace),
       "keyspace, created and migrated at start (env LEAVES_CASSANDRA_KEYSPACE)")
      ("cassandra-replication", po::value(&c.cassandra_replication)->default_value(c.cassandra_replication),
       "replication map of a created keyspace (env LEAVES_CASSANDRA_REPLICATION)")
      ("cassandra-consistency", po::value(&c.cassandra_consistency)->default_value(c.cassandra_consistency),
       "consistency level of reads and writes (env LEAVES_CASSANDRA_CONSISTENCY)")
      ("cassandra-username", po::value(&c.cassandra_username), "PasswordAuthenticator user (env LEAVES_CASSANDRA_USERNAME)")
      ("cassandra-password", po::value(&c.cassandra_password),
       "its password; prefer the environment (LEAVES_CASSANDRA_PASSWORD); never logged")
      ("cassandra-tls", po::bool_switch(&c.cassandra_tls), "TLS to Cassandra (env LEAVES_CASSANDRA_TLS=1)")
      ("cassandra-tls-ca-file", po::value(&c.cassandra_tls_ca_file),
       "CA certificates to trust (default: the system store) (env LEAVES_CASSANDRA_TLS_CA_FILE)")
      ("cassandra-tls-cert-file", po::value(&c.cassandra_tls_cert_file),
       "client certificate, PEM (env LEAVES_CASSANDRA_TLS_CERT_FILE)")
      ("cassandra-tls-key-file", po::value(&c.cassandra_tls_key_file),
       "client private key, PEM (env LEAVES_CASSANDRA_TLS_KEY_FILE)")
      ("cassandra-timeout-ms", po::value(&c.cassandra_timeout_ms)->default_value(c.cassandra_timeout_ms),
       "per-request timeout (env LEAVES_CASSANDRA_TIMEOUT_MS)")
      ("cassandra-compression", po::value(&c.cassandra_compression)->default_value(c.cassandra_compression),
       "none or lz4: compress CQL frame bodies (for links where bandwidth costs more than CPU) "
       "(env LEAVES_CASSANDRA_COMPRESSION)")
      ("cassandra-meta-cache", po::value(&c.cassandra_meta_cache)->default_value(c.cassandra_meta_cache),
       "leaf_meta rows kept in memory, each checked against its leaves row's write time; 0 disables "
       "(env LEAVES_CASSANDRA_META_CACHE)")
      ("state-mirror", po::value(&c.state_mirror)->default_value(c.state_mirror),
       "with --kafka and --cassandra: keep a local copy of the read models under DATA_DIR/kafka-state, fed from "
       "every partition of the log, so writes keep being accepted while Cassandra is unreachable "
       "(env LEAVES_STATE_MIRROR)")
      ("salvage", po::bool_switch(&c.salvage),
       "start on a damaged embedded log: keep the events before the first damage, drop the rest, and rebuild "
       "the read models and the index from what is left (docs/operations.md)")
      ("search", po::value(&c.search)->default_value(c.search),
       "keep a full-text search index under DATA_DIR/search, fed from every partition of the log (env LEAVES_SEARCH)")
      ("search-threads", po::value(&c.search_threads)->default_value(c.search_threads),
       "threads that run searches, apart from the HTTP I/O threads (env LEAVES_SEARCH_THREADS)")
      ("search-flush-ms", po::value(&c.search_flush_ms)->default_value(c.search_flush_ms),
       "longest time an applied leaf waits before it is searchable; commits are grouped within it "
       "(env LEAVES_SEARCH_FLUSH_MS)");
  return d;
}

// Command line, then LEAVES_* environment, then the config file.
bool parse_serve(const std::vector<std::string>& args, serve_config& c, bool& help, std::string& err) {
  std::string config_file;
  auto desc = serve_options(c, config_file);
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    po::store(po::parse_environment(desc,
                                    [&](const std::string& env) -> std::string {
                                      if (env.rfind("LEAVES_", 0) != 0) return "";
                                      std::string name = env.substr(7);
                                      for (char& ch : name) ch = ch == '_' ? '-' : static_cast<char>(std::tolower(ch));
                                      return desc.find_nothrow(name, false) ? name : "";
                                    }),
              vm);
    if (vm.count("config")) {
      const auto path = vm["config"].as<std::string>();
      std::ifstream in(path);
      if (!in) {
        err = "cannot read config file " + path;
        return false;
      }
      po::store(po::parse_config_file(in, desc), vm);
    }
    po::notify(vm);
    help = vm.count("help") > 0;
    if (help) std::cout << desc << "\n";
  } catch (const std::exception& e) {
    err = e.what();
    return false;
  }
  return true;
}

bool split_listen(const std::string& listen, std::string& host, uint16_t& port) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) return false;
  host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  try {
    const int p = std::stoi(listen.substr(colon + 1));
    if (p < 0 || p > 65535) return false;
    port = static_cast<uint16_t>(p);
  } catch (...) {
    return false;
  }
  return !host.empty();
}

// One data dir is used by one process at a time (RocksDB locks it), so host
// and data dir name this process stably across restarts.
std::string instance_id(const std::filesystem::path& dir) {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  std::error_code ec;
  const auto abs = std::filesystem::absolute(dir, ec);
  return "leaves-" + md5_hex(std::string(host) + ":" + abs.string()).substr(0, 12);
}

std::string projector_group(const serve_config& c, const std::filesystem::path& dir) {
  if (c.kafka.empty()) return kProjectorGroup;
  if (!c.kafka_group.empty()) return c.kafka_group;
  // A shared Cassandra store is projected once by the whole group.
  if (!c.cassandra.empty()) return kProjectorGroup;
  return std::string(kProjectorGroup) + "-" + instance_id(dir).substr(7);
}

// Embedded read models: every process projects every partition into its own
// store, so its group is its own. A shared Cassandra store: the processes
// share the group's partitions.
projector::membership projector_membership(const serve_config& c) {
  return c.cassandra.empty() ? projector::membership::exclusive : projector::membership::shared;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    auto comma = s.find(',', start);
    auto item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// The read store: embedded under <data-dir>/store, or Cassandra. On the
// embedded log, Cassandra gets a local mirror under <data-dir>/state that the
// write side falls back to during a Cassandra outage (store/mirrored_store.h).
// The mirror is trusted only once it has seen the whole log: created together
// with an empty log, or rebuilt by `leaves replay` (the file COMPLETE says so).
result<std::unique_ptr<store::read_store>> open_store(const serve_config& c, const std::filesystem::path& dir,
                                                      log::event_log* log = nullptr) {
  if (c.cassandra.empty()) {
    auto s = store::rocks_store::open(dir / "store");
    if (!s) return s.err();
    return std::unique_ptr<store::read_store>(std::move(*s));
  }
  store::cassandra_options o;
  o.contact_points = split_list(c.cassandra);
  if (o.contact_points.empty()) return make_error(errc::invalid_argument, "--cassandra needs HOST:PORT[,HOST:PORT]");
  o.keyspace = c.cassandra_keyspace;
  o.replication = c.cassandra_replication;
  o.consistency = c.cassandra_consistency;
  o.username = c.cassandra_username;
  o.password = c.cassandra_password;
  o.tls = c.cassandra_tls;
  o.tls_ca_file = c.cassandra_tls_ca_file;
  o.tls_cert_file = c.cassandra_tls_cert_file;
  o.tls_key_file = c.cassandra_tls_key_file;
  o.request_timeout_ms = c.cassandra_timeout_ms;
  o.compression = c.cassandra_compression;
  o.meta_cache_entries = c.cassandra_meta_cache;
  log_info("serve", "Cassandra at " + c.cassandra + ", keyspace " + o.keyspace +
                        (o.username.empty() ? "" : ", user " + o.username) + (o.tls ? ", TLS" : "") +
                        (o.compression == "none" ? "" : ", " + o.compression + " compression"));
  auto s = store::cassandra_store::open(o);
  if (!s) return s.err();
  if (!c.kafka.empty() || log == nullptr) return std::unique_ptr<store::read_store>(std::move(*s));
  const auto state_dir = dir / "state";
  const bool existed = std::filesystem::exists(state_dir);
  auto mirror = store::rocks_store::open(state_dir);
  if (!mirror) return mirror.err();
  int64_t total = 0;
  for (auto e : log->end_offsets()) total += e;
  const auto marker = state_dir / "COMPLETE";
  if (!existed && total == 0) std::ofstream(marker) << "this mirror has seen every event of the log\n";
  const bool complete = std::filesystem::exists(marker);
  if (!complete)
    log_warn("serve", "the local state mirror under " + state_dir.string() +
                          " has not seen the whole log: while Cassandra is unreachable, writes will fail with 503; "
                          "`leaves replay` rebuilds it");
  return std::unique_ptr<store::read_store>(
      std::make_unique<store::mirrored_store>(std::move(*s), std::move(*mirror), complete));
}

// Kafka + Cassandra: the state mirror (see store/mirrored_store.h). Its
// consumer group is named when its directory is made, so a new, empty mirror
// reads the log from the start and a restarted one resumes where it stopped.
struct state_mirror {
  std::unique_ptr<projector::progress> progress;
  std::string group;
};

result<std::string> mirror_group(const std::filesystem::path& state_dir) {
  const auto file = state_dir / "GROUP";
  std::string g;
  if (std::ifstream in(file); in && std::getline(in, g) && g.rfind("leaves-state-", 0) == 0) return g;
  std::random_device rd;
  char id[24];
  std::snprintf(id, sizeof id, "%08x%08x", rd(), rd());
  g = std::string("leaves-state-") + id;
  std::ofstream out(file);
  out << g << "\n";
  if (!out.flush()) return make_error(errc::internal, "cannot write " + file.string());
  return g;
}

// Partitions whose first records are gone (Kafka retention) while `group`
// has not read them: models fed by that group can never be complete there.
// Logs what is missing. (The event topic leaves creates keeps everything; a
// topic made otherwise, or altered, may not.)
std::vector<bool> lost_to_retention(log::event_log& lg, const std::string& group, const std::string& what) {
  std::vector<bool> lost(lg.partitions(), false);
  auto committed = lg.committed(group);
  if (!committed) {
    log_warn("serve", "cannot read the committed offsets of " + group + ": " + committed.err().message);
    return lost;
  }
  for (int32_t p = 0; p < lg.partitions(); ++p) {
    auto start = lg.start_offset(p);
    if (!start || p >= static_cast<int32_t>(committed->size()) || *start <= (*committed)[p]) continue;
    lost[p] = true;
    log_error("serve", what + ": partition " + std::to_string(p) + " of the log starts at offset " +
                           std::to_string(*start) + " (older records were deleted, e.g. by the topic's retention), "
                           "but " + group + " has read only up to " + std::to_string((*committed)[p]) +
                           "; what it builds will miss those events");
  }
  return lost;
}

// Whether the mirror holds every event of the leaf's partition: waits up to
// 2 s for it to reach the end the log has now. Never for a partition whose
// early events were deleted before the mirror read them.
asio::awaitable<bool> mirror_holds(log::event_log* lg, projector::progress* mp,
                                   std::shared_ptr<const std::vector<bool>> lost, std::string id) {
  log::position last;
  last.partition = kafka_partition(id, lg->partitions());
  if (static_cast<size_t>(last.partition) < lost->size() && (*lost)[last.partition]) co_return false;
  auto end = co_await lg->async_end_offset(last.partition);
  if (!end) co_return false;
  if (*end == 0) co_return true;
  last.offset = *end - 1;
  std::vector<log::position> want(1, last);
  co_return co_await mp->wait_for(std::move(want), std::chrono::seconds(2));
}

result<std::unique_ptr<store::read_store>> with_state_mirror(const std::filesystem::path& dir, log::event_log* lg,
                                                             std::unique_ptr<store::read_store> shared,
                                                             state_mirror& sm) {
  const auto state_dir = dir / "kafka-state";
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) return make_error(errc::internal, "cannot create " + state_dir.string() + ": " + ec.message());
  auto group = mirror_group(state_dir);
  if (!group) return group.err();
  auto local = store::rocks_store::open(state_dir / "store");
  if (!local) return local.err();
  sm.progress = std::make_unique<projector::progress>(lg->partitions());
  sm.group = *group;
  log_info("serve", "state mirror under " + state_dir.string() + ", fed by consumer group " + sm.group);
  auto* mp = sm.progress.get();
  auto lost = std::make_shared<const std::vector<bool>>(
      lost_to_retention(*lg, sm.group, "state mirror (no fallback for those partitions' leaves)"));
  return std::unique_ptr<store::read_store>(std::make_unique<store::mirrored_store>(
      std::move(shared), std::move(*local), true,
      [lg, mp, lost](const std::string& id) { return mirror_holds(lg, mp, lost, id); }));
}

result<std::unique_ptr<log::event_log>> open_log(const serve_config& c, const std::filesystem::path& dir,
                                                 const std::string& topic = "") {
  if (c.kafka.empty()) {
    log::rocks_log_options lo;
    lo.dir = dir / "log";
    lo.partitions = c.partitions;
    lo.salvage = c.salvage;
    auto l = log::rocks_log::open(lo);
    if (!l) return l.err();
    return std::unique_ptr<log::event_log>(std::move(*l));
  }
  log::kafka_options ko;
  ko.brokers = c.kafka;
  ko.topic = topic.empty() ? c.kafka_topic : topic;
  ko.partitions = c.partitions;
  ko.replication_factor = static_cast<int16_t>(c.kafka_replication_factor);
  ko.min_insync_replicas = c.kafka_min_insync_replicas;
  ko.keep_forever = topic.empty();  // the event topic; ingest and dead letters keep the broker's retention
  for (const auto& kv : c.kafka_config) {
    std::pair<std::string, std::string> p;
    if (!log::parse_kafka_property(kv, p)) {
      return make_error(errc::invalid_argument, "--kafka-config takes KEY=VALUE");
    }
    ko.config.push_back(std::move(p));
  }
  log_info("serve", "Kafka at " + c.kafka + ", topic " + ko.topic);
  auto l = log::kafka_log::open(ko);
  if (!l) return l.err();
  return std::unique_ptr<log::event_log>(std::move(*l));
}

// On the embedded log, a data dir that holds read models, a state mirror or an
// index but no log/ lost its log: opening would start a fresh, empty one
// beside models of events it no longer has.
status check_log_present(const serve_config& c, const std::filesystem::path& dir) {
  if (!c.kafka.empty() || std::filesystem::exists(dir / "log")) return ok_status();
  for (const char* sub : {"store", "state", "search"}) {
    if (std::filesystem::exists(dir / sub)) {
      return make_error(errc::precondition_failed,
                        "the data dir " + dir.string() + " holds " + sub +
                            "/ but no log/: its event log is missing; refusing to start a fresh, empty log beside it. "
                            "Restore log/ from a backup, or move the data dir away to start afresh",
                        "log_missing");
    }
  }
  return ok_status();
}

// The search index under <data-dir>/search (see search/xapian/xapian_index.h).
result<std::unique_ptr<search::xapian_index>> open_search(const serve_config& c, const std::filesystem::path& dir) {
  search::xapian_options so;
  so.dir = dir / "search";
  so.search_threads = static_cast<size_t>(c.search_threads);
  so.flush_interval = std::chrono::milliseconds(c.search_flush_ms);
  auto ix = search::xapian_index::open(so);
  if (!ix) return ix.err();
  if (ix->created)
    log_info("search", "new search index under " + so.dir.string() + (ix->reason.empty() ? "" : " (" + ix->reason + ")") +
                           ": it is built from the log, group " + ix->index->group());
  return std::move(ix->index);
}

void set_level(const std::string& level) {
  if (level == "debug") set_log_level(log_level::debug);
  if (level == "warn") set_log_level(log_level::warn);
  if (level == "error") set_log_level(log_level::error);
}

// The first option outside its range (or an unknown name), named, or nullopt. Unsigned options
// are bounded above too: "-1" parses as a huge number.
std::optional<std::string> out_of_range(const serve_config& c) {
  struct check {
    const char* name;
    long double value, lo, hi;
  };
  const check checks[] = {
      {"--partitions", static_cast<long double>(c.partitions), 1, 1024},
      {"--threads", static_cast<long double>(c.threads), 0, 256},
      {"--max-body-bytes", static_cast<long double>(c.max_body_bytes), 1024, 64.0L * 1024 * 1024},
      {"--read-wait-ms", static_cast<long double>(c.read_wait_ms), 0, 3600000},
      {"--request-timeout-ms", static_cast<long double>(c.request_timeout_ms), 100, 3600000},
      {"--idle-timeout-ms", static_cast<long double>(c.idle_timeout_ms), 0, 86400000},
      {"--shutdown-timeout-ms", static_cast<long double>(c.shutdown_timeout_ms), 0, 3600000},
      {"--max-unprojected", static_cast<long double>(c.max_unprojected), 0, 100000000},
      {"--cassandra-timeout-ms", static_cast<long double>(c.cassandra_timeout_ms), 1, 3600000},
      {"--cassandra-meta-cache", static_cast<long double>(c.cassandra_meta_cache), 0, 100000000},
      {"--kafka-replication-factor", static_cast<long double>(c.kafka_replication_factor), 1, 32767},
      {"--kafka-min-insync-replicas", static_cast<long double>(c.kafka_min_insync_replicas), 1, 32767},
      {"--search-threads", static_cast<long double>(c.search_threads), 1, 64},
      {"--search-flush-ms", static_cast<long double>(c.search_flush_ms), 0, 60000},
  };
  if (!cql::protocol::parse_compression(c.cassandra_compression))
    return "unknown Cassandra compression '" + c.cassandra_compression + "' (none or lz4)";
  for (const auto& k : checks) {
    if (k.value < k.lo || k.value > k.hi) {
      auto num = [](long double v) { return std::to_string(static_cast<long long>(v)); };
      return std::string(k.name) + " must be between " + num(k.lo) + " and " + num(k.hi) + ", got " +
             (k.value > 9.2e18L ? std::string("a negative number") : num(k.value));
    }
  }
  return std::nullopt;
}

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
    store = with_state_mirror(dir, log->get(), std::move(*store), mirror);
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
  if (c.salvage) proj.set_when_ahead(projector::when_ahead::rebuild);
  std::unique_ptr<projector::projector> mirror_proj;
  if (mirror.progress) {
    mirror_proj = std::make_unique<projector::projector>(**log, static_cast<store::mirrored_store&>(**store).mirror(),
                                                         *mirror.progress, nullptr, mirror.group,
                                                         projector::membership::exclusive);
    if (c.salvage) mirror_proj->set_when_ahead(projector::when_ahead::rebuild);
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
  }
  auto stop_projectors = [&] {
    proj.stop();
    if (mirror_proj) mirror_proj->stop();
    if (search_proj) search_proj->stop();
  };
  service::leaf_service svc(**log, **store, progress, system_clock());
  svc.set_max_pending(c.max_unprojected);
  proj.on_applied([&svc](const std::vector<projection::applied_event>& b) { svc.applied(b); });
  http::metrics metrics;
  api::api_options ao;
  ao.read_wait = std::chrono::milliseconds(c.read_wait_ms);
  api::api handler({svc, **store, **log, progress, proj, hub, metrics, index.get(), search_proj.get()}, ao);

  metrics.add_collector([&](std::string& out) {
    out += "# HELP leaves_events_appended_total Events appended to the log by this server.\n"
           "# TYPE leaves_events_appended_total counter\n";
    out += "leaves_events_appended_total " + std::to_string(handler.events_appended()) + "\n";
    const auto& st = proj.stats();
    out += "# HELP leaves_projector_events_applied_total Events applied to the read models.\n"
           "# TYPE leaves_projector_events_applied_total counter\n";
    out += "leaves_projector_events_applied_total " + std::to_string(st.events_applied.load()) + "\n";
    out += "# HELP leaves_projector_events_skipped_total Events skipped as already applied.\n"
           "# TYPE leaves_projector_events_skipped_total counter\n";
    out += "leaves_projector_events_skipped_total " + std::to_string(st.events_skipped.load()) + "\n";
    out += "# HELP leaves_projector_undecodable_total Log records that were not events.\n"
           "# TYPE leaves_projector_undecodable_total counter\n";
    out += "leaves_projector_undecodable_total " + std::to_string(st.records_undecodable.load()) + "\n";
    out += "# HELP leaves_projector_lag Records in the log not yet applied, per partition.\n"
           "# TYPE leaves_projector_lag gauge\n";
    const auto end = (*log)->end_offsets();
    const auto applied = progress.applied();
    for (size_t p = 0; p < end.size(); ++p) {
      out += "leaves_projector_lag{partition=\"" + std::to_string(p) + "\"} " +
             std::to_string(std::max<int64_t>(0, end[p] - applied[p])) + "\n";
    }
    out += "# HELP leaves_unprojected_leaves Leaves with writes the read models have not applied yet (in memory; "
           "limit --max-unprojected).\n"
           "# TYPE leaves_unprojected_leaves gauge\n";
    out += "leaves_unprojected_leaves " + std::to_string(svc.cached()) + "\n";
    if (const auto* k = dynamic_cast<const log::kafka_log*>(log->get())) {
      out += "# HELP leaves_kafka_producer_restarts_total Producers replaced after a fatal error.\n"
             "# TYPE leaves_kafka_producer_restarts_total counter\n";
      out += "leaves_kafka_producer_restarts_total " + std::to_string(k->producer_restarts()) + "\n";
    }
    (*store)->render_metrics(out);
    if (mirror.progress) {
      out += "# HELP leaves_state_mirror_lag Records in the log not yet in the local state mirror, per partition.\n"
             "# TYPE leaves_state_mirror_lag gauge\n";
      const auto in_mirror = mirror.progress->applied();
      for (size_t p = 0; p < end.size() && p < in_mirror.size(); ++p) {
        out += "leaves_state_mirror_lag{partition=\"" + std::to_string(p) + "\"} " +
               std::to_string(std::max<int64_t>(0, end[p] - in_mirror[p])) + "\n";
      }
    }
    if (search_proj) {
      out += "# HELP leaves_projection_lag Records in the log not yet applied by a projection, per partition.\n"
             "# TYPE leaves_projection_lag gauge\n";
      for (auto* pj : {&proj, search_proj.get()}) {
        const auto ap = pj->positions().applied();
        for (size_t p = 0; p < end.size() && p < ap.size(); ++p) {
          out += "leaves_projection_lag{projection=\"" + pj->name() + "\",partition=\"" + std::to_string(p) + "\"} " +
                 std::to_string(std::max<int64_t>(0, end[p] - ap[p])) + "\n";
        }
      }
      out += "# HELP leaves_search_documents Leaves in the search index.\n# TYPE leaves_search_documents gauge\n";
      out += "leaves_search_documents " + std::to_string(index->documents()) + "\n";
      out += "# HELP leaves_search_index_bytes Size of the search index on disk.\n"
             "# TYPE leaves_search_index_bytes gauge\n";
      out += "leaves_search_index_bytes " + std::to_string(index->disk_bytes()) + "\n";
      out += "# HELP leaves_searches_total Searches run.\n# TYPE leaves_searches_total counter\n";
      out += "leaves_searches_total " + std::to_string(index->searches_total()) + "\n";
      out += "# HELP leaves_searches_refused_total Searches refused because too many were queued.\n"
             "# TYPE leaves_searches_refused_total counter\n";
      out += "leaves_searches_refused_total " + std::to_string(index->searches_refused()) + "\n";
    }
    out += "# HELP leaves_stream_subscribers Open SSE and WebSocket subscriptions.\n"
           "# TYPE leaves_stream_subscribers gauge\n";
    out += "leaves_stream_subscribers " + std::to_string(hub.subscribers()) + "\n";
    out += "# HELP leaves_stream_dropped_total Subscribers dropped for being too slow.\n"
           "# TYPE leaves_stream_dropped_total counter\n";
    out += "leaves_stream_dropped_total " + std::to_string(hub.dropped_total()) + "\n";
  });

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
    metrics.add_collector([&ingester](std::string& out) {
      const auto& st = ingester->stats();
      out += "# HELP leaves_ingest_records_total Records read from the ingest topic, by outcome.\n"
             "# TYPE leaves_ingest_records_total counter\n";
      out += "leaves_ingest_records_total{outcome=\"saved\"} " + std::to_string(st.saved.load()) + "\n";
      out += "leaves_ingest_records_total{outcome=\"dead_lettered\"} " + std::to_string(st.dead_lettered.load()) +
             "\n";
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
    while (!stopping && !proj.caught_up()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
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
  bool help = false;
  std::string err;
  if (!parse_serve(args, c, help, err)) {
    std::fprintf(stderr, "leaves replay: %s\n", err.c_str());
    return 2;
  }
  if (help) return 0;
  if (auto bad = out_of_range(c)) {
    std::fprintf(stderr, "leaves replay: %s\n", bad->c_str());
    return 2;
  }
  set_level(c.log_level);
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
  bool help = false;
  std::string err;
  if (!parse_serve(args, c, help, err)) {
    std::fprintf(stderr, "leaves reindex: %s\n", err.c_str());
    return 2;
  }
  if (help) return 0;
  if (auto bad = out_of_range(c)) {
    std::fprintf(stderr, "leaves reindex: %s\n", bad->c_str());
    return 2;
  }
  set_level(c.log_level);
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
