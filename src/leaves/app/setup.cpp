#include "leaves/app/setup.h"

#include <algorithm>
#include <cctype>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include "leaves/base/hash.h"
#include "leaves/base/log.h"
#include "leaves/cql/protocol/compression.h"
#include "leaves/domain/event_avro.h"
#include "leaves/fetch/fetch.h"
#include "leaves/ingest/registry.h"
#include "leaves/log/embedded/rocks_log.h"
#include "leaves/log/kafka/kafka_admin.h"
#include "leaves/log/kafka/kafka_log.h"
#include "leaves/projector/projector.h"
#include "leaves/search/xapian/xapian_index.h"
#include "leaves/store/cassandra/cassandra_store.h"
#include "leaves/store/embedded/rocks_directory_store.h"
#include "leaves/store/embedded/rocks_store.h"
#include "leaves/store/mirrored_store.h"

namespace asio = boost::asio;
namespace po = boost::program_options;

namespace leaves::app {

constexpr const char* kProjectorGroup = "leaves-projector";


static po::options_description serve_options(serve_config& c, std::string& config_file) {
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
      ("schema-registry", po::value(&c.schema_registry)->default_value(c.schema_registry),
       "URL of a Schema Registry's Confluent-compatible API, for Avro records on the ingest topic; empty: Avro "
       "records are dead-lettered; also where the writer schemas of Avro events are found "
       "(env LEAVES_SCHEMA_REGISTRY)")
      ("event-format", po::value(&c.event_format)->default_value(c.event_format),
       "json or avro: how the server writes its events; avro registers docs/schemas/avro/leaves-event.avsc under "
       "<kafka-topic>-value in --schema-registry and writes the Confluent wire format; either way both formats "
       "are read (env LEAVES_EVENT_FORMAT)")
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
      ("confirm-writes", po::value(&c.confirm_writes)->default_value(c.confirm_writes),
       "with --kafka: acknowledge a write only once this server's projection of every partition has seen it win "
       "its leaf's version, so several servers can write one topic without losing updates; false acknowledges at "
       "the broker's ack, which is safe only while this server is the topic's only writer "
       "(env LEAVES_CONFIRM_WRITES)")
      ("max-connections", po::value(&c.max_connections)->default_value(c.max_connections),
       "open connections at most; more are accepted and closed at once (env LEAVES_MAX_CONNECTIONS)")
      ("max-buffered-body-mb", po::value(&c.max_buffered_body_mb)->default_value(c.max_buffered_body_mb),
       "MiB of request bodies being received at once, all connections together; a request over it answers "
       "503 and its connection closes (env LEAVES_MAX_BUFFERED_BODY_MB)")
      ("min-free-mb", po::value(&c.min_free_mb)->default_value(c.min_free_mb),
       "MiB kept free on the data dir's filesystem: a write that would go below answers 507 "
       "insufficient_storage, and writes resume by themselves once space is freed; 0 disables "
       "(env LEAVES_MIN_FREE_MB)")
      ("salvage", po::bool_switch(&c.salvage),
       "start on a damaged embedded log: keep the events before the first damage, drop the rest, and rebuild "
       "the read models and the index from what is left (docs/operations.md)")
      ("anonymous", po::value(&c.anonymous)->default_value(c.anonymous),
       "what a request without a token may do: read (public leaves only), none, or all (read and write every "
       "leaf: a private server, the tests and benchmarks) (docs/auth.md; env LEAVES_ANONYMOUS)")
      ("rate-limit", po::value(&c.rate_limit)->default_value(c.rate_limit),
       "requests per second each API token may make on average; over it, 429 with Retry-After; 0: no limit "
       "(docs/auth.md; env LEAVES_RATE_LIMIT)")
      ("rate-burst", po::value(&c.rate_burst)->default_value(c.rate_burst),
       "requests an API token may make at once before --rate-limit applies (env LEAVES_RATE_BURST)")
      ("sign-in-attempts-per-address",
       po::value(&c.sign_in_attempts_per_address)->default_value(c.sign_in_attempts_per_address),
       "failed sign-ins a client address may make in 5 minutes, whatever the user names (each name has its own "
       "limit of 5); then 429 until the window passes; 0: no limit by address (docs/auth.md; env "
       "LEAVES_SIGN_IN_ATTEMPTS_PER_ADDRESS)")
      ("webhook-allow-private", po::bool_switch(&c.webhook_allow_private),
       "let webhooks target loopback, private, link-local and other internal addresses (docs/webhooks.md; env "
       "LEAVES_WEBHOOK_ALLOW_PRIVATE)")
      ("webhook-timeout-ms", po::value(&c.webhook_timeout_ms)->default_value(c.webhook_timeout_ms),
       "the deadline of one webhook delivery attempt")
      ("webhook-retry-ms", po::value(&c.webhook_retry_ms)->default_value(c.webhook_retry_ms),
       "the wait before a failed webhook delivery's second attempt, doubled for each next one (at most 5 min)")
      ("webhook-attempts", po::value(&c.webhook_attempts)->default_value(c.webhook_attempts),
       "attempts per webhook delivery")
      ("webhook-disable-after", po::value(&c.webhook_disable_after)->default_value(c.webhook_disable_after),
       "failed deliveries in a row after which a webhook is disabled")
      ("enrich", po::value(&c.enrich)->default_value(c.enrich),
       "fetch the page of each leaf saved without title, content or text, and of each refetch asked for, and "
       "fill the leaf from it (docs/fetch.md; env LEAVES_ENRICH)")
      ("fetch-allow-private", po::bool_switch(&c.fetch_allow_private),
       "let enrichment fetch loopback, private, link-local and other internal addresses: an intranet "
       "deployment (docs/fetch.md; env LEAVES_FETCH_ALLOW_PRIVATE)")
      ("fetch-allow-network", po::value(&c.fetch_allow_networks)->composing(),
       "an internal address range enrichment may fetch all the same (10.20.0.0/16, fd00::/8, 10.1.2.3); "
       "repeatable (docs/fetch.md)")
      ("enrich-concurrency", po::value(&c.enrich_concurrency)->default_value(c.enrich_concurrency),
       "pages fetched at once (one at a time per host)")
      ("enrich-host-interval-ms", po::value(&c.enrich_host_interval_ms)->default_value(c.enrich_host_interval_ms),
       "the least time between two fetches from one host")
      ("fetch-timeout-ms", po::value(&c.fetch_timeout_ms)->default_value(c.fetch_timeout_ms),
       "the deadline of one page's fetch, redirects included")
      ("fetch-max-kb", po::value(&c.fetch_max_kb)->default_value(c.fetch_max_kb),
       "the largest page read, after decompression, in KiB")
      ("pdf-memory-mb", po::value(&c.pdf_memory_mb)->default_value(c.pdf_memory_mb),
       "the memory a fetched PDF's reader may use, in MiB: PDFs are read in a child process with this limit and "
       "30 s of CPU, so a hostile one costs only the child (docs/fetch.md)")
      ("enrich-group", po::value(&c.enrich_group)->default_value(c.enrich_group),
       "the consumer group of enrichment, shared by the servers of a deployment")
      ("search", po::value(&c.search)->default_value(c.search),
       "keep a full-text search index under DATA_DIR/search, fed from every partition of the log (env LEAVES_SEARCH)")
      ("search-cache", po::value(&c.search_cache)->default_value(c.search_cache),
       "search answers kept for repeated searches, each until the index next commits; 0: none (docs/search.md; "
       "env LEAVES_SEARCH_CACHE)")
      ("search-exact-up-to", po::value(&c.search_exact_up_to)->default_value(c.search_exact_up_to),
       "a search estimated to match more leaves than this is ranked, counted and faceted on about this many of "
       "its newest matches (the answer's sample; exact=true walks them all); 0: always walk all (docs/search.md; "
       "env LEAVES_SEARCH_EXACT_UP_TO)")
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
      std::error_code ec;
      if (std::filesystem::is_directory(path, ec)) {
        err = "--config " + path + " is a directory, not a config file";
        return false;
      }
      std::ifstream in(path);
      if (!in) {
        err = "cannot read config file " + path;
        return false;
      }
      auto parsed = po::parse_config_file(in, desc);
      for (const auto& opt : parsed.options) {
        if (opt.string_key == "config") {
          err = "config file " + path + ": a config file cannot name another one (config = ...)";
          return false;
        }
      }
      po::store(parsed, vm);
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
static std::string instance_id(const std::filesystem::path& dir) {
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

static std::vector<std::string> split_list(const std::string& s) {
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
                                                      log::event_log* log) {
  if (c.cassandra.empty()) {
    auto s = store::rocks_store::open(dir / "store", c.min_free_bytes());
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
  auto mirror = store::rocks_store::open(state_dir, c.min_free_bytes());
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


result<store::directory_store*> open_directory_model(const std::filesystem::path& dir, store::read_store& s,
                                                     std::unique_ptr<store::directory_store>& owned) {
  store::read_store* shared = &s;
  if (auto* m = dynamic_cast<store::mirrored_store*>(shared)) shared = &m->primary();
  if (auto* cs = dynamic_cast<store::cassandra_store*>(shared)) return &cs->directory_model();
  auto d = store::rocks_directory_store::open(dir / "directory");
  if (!d) return d.err();
  owned = std::move(*d);
  return owned.get();
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

namespace {

// How events are written (--event-format) and where the writer schemas of
// Avro events are found (--schema-registry). Avro, in a process that writes
// events: the schema is registered under <kafka-topic>-value
// (TopicNameStrategy; the embedded log takes the same name), asked again for
// a few seconds while the registry is unreachable. Readers only fetch.
status setup_event_format(const serve_config& c, bool writes) {
  domain::event_format_config f;
  if (!c.schema_registry.empty()) {
    auto reg = std::make_shared<ingest::schema_registry>(c.schema_registry);
    auto mu = std::make_shared<std::mutex>();  // the client is used by one thread at a time
    f.fetch_schema = [reg, mu](int32_t id) {
      std::lock_guard lk(*mu);
      return reg->schema_text(id);
    };
    if (c.event_format == "avro" && writes) {
      const std::string subject = c.kafka_topic + "-value";
      const std::string schema(domain::event_avro_schema());
      result<int32_t> id = make_error(errc::unavailable, "not asked");
      for (int attempt = 0;; ++attempt) {
        {
          std::lock_guard lk(*mu);
          id = reg->register_schema(subject, schema);
        }
        if (id || id.err().code != errc::unavailable || attempt == 5) break;
        log_warn("serve", "registering the event schema: " + id.err().message + "; asking again");
        std::this_thread::sleep_for(std::chrono::milliseconds(250 << attempt));
      }
      if (!id) {
        return make_error(id.err().code, "registering the event schema under subject " + subject + ": " +
                                             id.err().message);
      }
      f.write_avro = true;
      f.schema_id = *id;
      log_info("serve", "events are written in Avro: schema id " + std::to_string(*id) + ", subject " + subject);
    }
  }
  domain::configure_event_format(std::move(f));
  return ok_status();
}

}  // namespace

result<std::unique_ptr<log::event_log>> open_log(const serve_config& c, const std::filesystem::path& dir,
                                                 const std::string& topic, bool writes) {
  if (topic.empty()) {
    if (auto st = setup_event_format(c, writes); !st) return st.err();
  }
  if (c.kafka.empty()) {
    log::rocks_log_options lo;
    // The event log, or a topic of its own (ingest, dead letters) under topics/.
    lo.dir = topic.empty() ? dir / "log" : dir / "topics" / topic;
    lo.partitions = c.partitions;
    lo.salvage = c.salvage;
    lo.min_free_bytes = c.min_free_bytes();
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
  for (const char* sub : {"store", "state", "search", "directory"}) {
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
  so.cached_results = static_cast<size_t>(c.search_cache);
  so.exact_up_to = static_cast<size_t>(c.search_exact_up_to);
  so.flush_interval = std::chrono::milliseconds(c.search_flush_ms);
  so.min_free_bytes = c.min_free_bytes();
  auto ix = search::xapian_index::open(so);
  if (!ix) return ix.err();
  if (ix->created)
    log_info("search", "new search index under " + so.dir.string() + (ix->reason.empty() ? "" : " (" + ix->reason + ")") +
                           ": it is built from the log, group " + ix->index->group());
  return std::move(ix->index);
}

std::optional<int> parse_command(const char* name, const std::vector<std::string>& args, serve_config& c) {
  bool help = false;
  std::string err;
  if (!parse_serve(args, c, help, err)) {
    std::fprintf(stderr, "leaves %s: %s\n", name, err.c_str());
    return 2;
  }
  if (help) return 0;
  if (auto bad = out_of_range(c)) {
    std::fprintf(stderr, "leaves %s: %s\n", name, bad->c_str());
    return 2;
  }
  set_level(c.log_level);
  return std::nullopt;
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
      {"--search-cache", static_cast<long double>(c.search_cache), 0, 100000},
      {"--search-exact-up-to", static_cast<long double>(c.search_exact_up_to), 0, 100000000},
      {"--search-flush-ms", static_cast<long double>(c.search_flush_ms), 0, 60000},
      {"--min-free-mb", static_cast<long double>(c.min_free_mb), 0, 1048576},
      {"--max-connections", static_cast<long double>(c.max_connections), 1, 1000000},
      {"--max-buffered-body-mb", static_cast<long double>(c.max_buffered_body_mb), 1, 65536},
      {"--rate-limit", static_cast<long double>(c.rate_limit), 0, 1e9},
      {"--rate-burst", static_cast<long double>(c.rate_burst), 1, 1e9},
      {"--sign-in-attempts-per-address", static_cast<long double>(c.sign_in_attempts_per_address), 0, 1000000},
      {"--webhook-timeout-ms", static_cast<long double>(c.webhook_timeout_ms), 100, 600000},
      {"--webhook-retry-ms", static_cast<long double>(c.webhook_retry_ms), 1, 3600000},
      {"--webhook-attempts", static_cast<long double>(c.webhook_attempts), 1, 100},
      {"--webhook-disable-after", static_cast<long double>(c.webhook_disable_after), 1, 100000},
      {"--enrich-concurrency", static_cast<long double>(c.enrich_concurrency), 1, 64},
      {"--enrich-host-interval-ms", static_cast<long double>(c.enrich_host_interval_ms), 0, 3600000},
      {"--fetch-timeout-ms", static_cast<long double>(c.fetch_timeout_ms), 100, 600000},
      {"--fetch-max-kb", static_cast<long double>(c.fetch_max_kb), 1, 1048576},
      {"--pdf-memory-mb", static_cast<long double>(c.pdf_memory_mb), 1, 1048576},
  };
  if (c.data_dir.empty()) return std::string("--data-dir must not be empty");
  if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" && c.log_level != "error")
    return "--log-level must be debug, info, warn or error, got '" + c.log_level + "'";
  if (c.anonymous != "all" && c.anonymous != "read" && c.anonymous != "none")
    return "--anonymous must be all, read or none, got '" + c.anonymous.substr(0, 40) + "'";
  if (!cql::protocol::parse_compression(c.cassandra_compression))
    return "unknown Cassandra compression '" + c.cassandra_compression + "' (none or lz4)";
  for (const auto& n : c.fetch_allow_networks) {
    if (auto r = fetch::parse_network(n); !r) return "--fetch-allow-network: " + r.err().message;
  }
  // Kafka's rule for topic names; embedded, a topic is also a directory name.
  auto legal_topic = [](const std::string& t) {
    if (t.empty() || t.size() > 249 || t == "." || t == "..") return false;
    return std::all_of(t.begin(), t.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-';
    });
  };
  auto bad_topic = [](const char* name, const std::string& t) {
    return std::string(name) + " must be 1-249 of a-z A-Z 0-9 . _ -, got '" + t.substr(0, 60) + "'";
  };
  if (!c.kafka_ingest_topic.empty() && !legal_topic(c.kafka_ingest_topic))
    return bad_topic("--kafka-ingest-topic", c.kafka_ingest_topic);
  if (!c.kafka_ingest_topic.empty() && !legal_topic(c.kafka_dlq_topic))
    return bad_topic("--kafka-dlq-topic", c.kafka_dlq_topic);
  if (!c.schema_registry.empty() && !c.schema_registry.starts_with("http://") &&
      !c.schema_registry.starts_with("https://")) {
    return "--schema-registry must be an http:// or https:// URL, got '" + c.schema_registry.substr(0, 60) + "'";
  }
  if (c.event_format != "json" && c.event_format != "avro") {
    return "--event-format must be json or avro, got '" + c.event_format.substr(0, 20) + "'";
  }
  if (c.event_format == "avro" && c.schema_registry.empty()) {
    return std::string("--event-format avro needs --schema-registry (the events' schema is registered there)");
  }
  if (!legal_topic(c.kafka_topic)) return bad_topic("--kafka-topic", c.kafka_topic);
  if (!c.kafka_ingest_topic.empty() && c.kafka_ingest_topic == c.kafka_dlq_topic) {
    return std::string("--kafka-ingest-topic and --kafka-dlq-topic must differ");
  }
  for (const auto& k : checks) {
    if (k.value < k.lo || k.value > k.hi) {
      auto num = [](long double v) { return std::to_string(static_cast<long long>(v)); };
      return std::string(k.name) + " must be between " + num(k.lo) + " and " + num(k.hi) + ", got " +
             (k.value > 9.2e18L ? std::string("a negative number") : num(k.value));
    }
  }
  return std::nullopt;
}


}  // namespace leaves::app
