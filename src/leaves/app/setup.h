// How `leaves serve` (and replay, reindex, check) turn options into running
// parts: the options and their ranges, and the mode matrix in one place: the
// embedded or Kafka log, the embedded or Cassandra read store (with the state
// mirror when both are remote), the search index, and the consumer groups
// that feed them.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "leaves/base/result.h"
#include "leaves/log/event_log.h"
#include "leaves/projector/progress.h"
#include "leaves/projector/projector.h"
#include "leaves/search/xapian/xapian_index.h"
#include "leaves/store/directory_store.h"
#include "leaves/store/read_store.h"

namespace leaves::app {

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
  std::string schema_registry;  // Confluent-compatible API base URL; empty: none
  std::string event_format = "json";  // json | avro: how events are written (docs/avro.md)
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
  // Kafka: acknowledge writes only once confirmed by a local projection of
  // every partition (service/leaf_service.h), so several servers can write.
  bool confirm_writes = true;
  // Search: a Xapian index under <data-dir>/search, fed by its own group.
  bool search = true;
  // What a request without a token may do: all, read (public leaves), none.
  std::string anonymous = "read";
  // Requests per second per API token and the burst it may spend at once
  // (0: no limit).
  double rate_limit = 50;
  double rate_burst = 200;
  // Failed sign-ins one client address may make in 5 minutes (0: no limit
  // by address; each user name has its own limit of 5 anyway).
  int64_t sign_in_attempts_per_address = 20;
  // Webhooks (docs/webhooks.md): targets on internal addresses are refused
  // unless allowed; each delivery is tried `webhook_attempts` times, waiting
  // webhook_retry_ms, then twice that, ...; a webhook whose last
  // webhook_disable_after deliveries all failed is disabled.
  bool webhook_allow_private = false;
  int webhook_timeout_ms = 10000;
  int webhook_retry_ms = 1000;
  int webhook_attempts = 5;
  int webhook_disable_after = 10;
  // Enrichment (docs/fetch.md): fetch the page of leaves saved without one.
  bool enrich = true;
  bool fetch_allow_private = false;
  std::vector<std::string> fetch_allow_networks;  // address ranges (fetch::parse_network)
  int enrich_concurrency = 4;
  int enrich_host_interval_ms = 1000;
  int fetch_timeout_ms = 20000;
  int fetch_max_kb = 5120;
  // A fetched PDF is read in a child process with this much memory (beyond
  // the PDF itself) and 30 s of CPU (fetch/pdf_isolated.h).
  int pdf_memory_mb = 512;
  std::string enrich_group = "leaves-enrich";
  bool salvage = false;
  int min_free_mb = 256;
  int max_connections = 10000;
  int max_buffered_body_mb = 256;  // request bodies being read at once, all connections  // kept free on the data dir's filesystem by the log, store and index
  uint64_t min_free_bytes() const { return static_cast<uint64_t>(min_free_mb) << 20; }
  int search_threads = 2;
  int search_cache = 64;  // answers kept per index revision (0: none)
  int search_exact_up_to = 1000;  // matches walked exactly; more: a sample of the newest (0: always all)
  int search_flush_ms = 200;
};

// Command line, then LEAVES_* environment, then the config file; false with `err` on a bad option.
bool parse_serve(const std::vector<std::string>& args, serve_config& c, bool& help, std::string& err);

bool split_listen(const std::string& listen, std::string& host, uint16_t& port);

// The read models' consumer group: shared by the servers of one Cassandra store, per data dir otherwise.
std::string projector_group(const serve_config& c, const std::filesystem::path& dir);

projector::membership projector_membership(const serve_config& c);

// The read store: embedded under DATA_DIR/store, or Cassandra (with the local
// mirror under DATA_DIR/state on the embedded log).
result<std::unique_ptr<store::read_store>> open_store(const serve_config& c, const std::filesystem::path& dir,
                                                      log::event_log* log = nullptr);
// The directory's model (store/directory_store.h): the Cassandra store's
// tables when `s` is (or mirrors) Cassandra, else <data-dir>/directory, which
// `owned` then holds.
result<store::directory_store*> open_directory_model(const std::filesystem::path& dir, store::read_store& s,
                                                     std::unique_ptr<store::directory_store>& owned);

// The event log: embedded under DATA_DIR/log, or a Kafka topic (`topic`, or
// --kafka-topic). The events log of a process that appends (`writes`: serve)
// registers the Avro event schema under --event-format avro; readers
// (replay, check, reindex, export-site) only fetch writer schemas.
result<std::unique_ptr<log::event_log>> open_log(const serve_config& c, const std::filesystem::path& dir,
                                                 const std::string& topic = "", bool writes = false);

// Partitions whose early records were deleted (retention) before `group` read them; logged.
std::vector<bool> lost_to_retention(log::event_log& lg, const std::string& group, const std::string& what);

// Refuses an embedded data dir that holds models or an index but no log/.
status check_log_present(const serve_config& c, const std::filesystem::path& dir);

result<std::unique_ptr<search::xapian_index>> open_search(const serve_config& c, const std::filesystem::path& dir);

void set_level(const std::string& level);

// The prelude of a command that takes serve's options (replay, reindex,
// check): parse, check the ranges, set the log level. nullopt: go on; else
// the exit code (0 after --help, 2 with the problem printed as "leaves NAME: ...").
std::optional<int> parse_command(const char* name, const std::vector<std::string>& args, serve_config& c);

// The first option outside its range, named, or nullopt.
std::optional<std::string> out_of_range(const serve_config& c);

}  // namespace leaves::app
