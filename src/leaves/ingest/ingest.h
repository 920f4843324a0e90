// External producers: any Kafka client may write leaf records (JSON with the
// fields of the reference Avro schema, data/leaves-record-schema.avsc, or Avro
// in the Confluent wire format with its writer schema in a Schema Registry:
// ingest/avro.h) to the ingest topic, keyed or not. Each record becomes the same save command a POST
// makes. A record that cannot be parsed or validated goes to the dead-letter
// topic with headers naming the error and its source (topic, partition,
// offset), and never blocks its partition. A record whose command fails for a
// transient reason (the event log is down) is retried until it succeeds.
//
// Runs on its own thread; commands run on the server's io_context.
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <vector>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "leaves/domain/leaf.h"
#include "leaves/ingest/registry.h"
#include "leaves/log/event_log.h"
#include "leaves/service/leaf_service.h"

namespace leaves::ingest {

struct ingest_stats {
  std::atomic<uint64_t> records{0};
  std::atomic<uint64_t> saved{0};
  std::atomic<uint64_t> dead_lettered{0};
  std::atomic<uint64_t> avro{0};  // records in the Confluent wire format
  std::atomic<uint64_t> registry_waits{0};  // times the registry was unreachable and ingest waited
};

// A record sent to the dead-letter topic, as the operations page lists it.
struct dead_letter {
  int64_t time_ms = 0;
  int32_t partition = 0;  // of the ingest topic
  int64_t offset = 0;
  std::string key, code, reason;
  std::string value;  // its first 200 bytes
};

// What the ingester has done, for the operations page: per partition of the
// ingest topic, the next offset it will read and the topic's end (as last
// known: on Kafka at most a moment old), and the last dead letters, newest first.
struct ingest_view {
  std::string topic, group;
  std::vector<int64_t> next, end;
  std::vector<dead_letter> recent;
};

class ingester {
 public:
  // `source` is the ingest topic's log (consumed in `group`); `dlq` receives rejects.
  // `registry`: where Avro records' writer schemas are (null: Avro records
  // are dead-lettered, saying so).
  ingester(log::event_log& source, log::event_log& dlq, std::string source_topic, std::string group,
           service::leaf_service& svc, boost::asio::io_context& ioc, domain::limits lim,
           std::unique_ptr<schema_registry> registry = nullptr);
  ~ingester();
  status start();
  // Not from an io thread: it waits for commands that run on the io_context.
  void stop();
  const ingest_stats& stats() const { return stats_; }
  ingest_view view() const;
  static constexpr size_t kRecentDeadLetters = 50;

  // The save command for one record, or why it is rejected (pure; tested alone).
  static result<domain::command> to_command(const std::string& value, const domain::limits& lim);
  // The same for an Avro record (the JSON object its decoder made).
  static result<domain::command> to_command(const boost::json::object& record, const domain::limits& lim);

 private:
  void run();
  // Asks the registry for every writer schema the batch's Avro records name,
  // waiting (with backoff) while it is unreachable: a record is never
  // dead-lettered, nor skipped, because the registry is away. False: stopping.
  bool resolve_schemas(const std::vector<log::stored_record>& recs,
                       std::map<int32_t, result<std::shared_ptr<avro_decoder>>>& out);
  log::event_log& source_;
  log::event_log& dlq_;
  std::string topic_;
  std::string group_;
  service::leaf_service& svc_;
  boost::asio::io_context& ioc_;
  domain::limits limits_;
  std::unique_ptr<schema_registry> registry_;
  std::unique_ptr<log::consumer> consumer_;
  std::mutex lifecycle_mu_;  // start() and stop() may race at shutdown
  std::atomic<bool> stop_{false};
  ingest_stats stats_;
  mutable std::mutex view_mu_;
  std::vector<int64_t> next_;
  std::deque<dead_letter> recent_;  // newest first
  std::thread thread_;
};

}  // namespace leaves::ingest
