// The EventLog on Apache Kafka, through librdkafka. librdkafka stays inside
// this folder: handles are wrapped in RAII holders and delivery reports are
// turned into awaitable completions.
//
// - The log is one topic (default "leaves-events"), created through the Admin
//   API when absent; open() refuses a topic with fewer partitions than configured.
// - Producer: idempotent, acks=all; an append completes after every record's
//   delivery report. Partitions are chosen here, not by librdkafka (whose
//   default is CRC32): an explicit partition, else Kafka's murmur2 of the key
//   (as the Java client and the embedded log), else round robin.
// - Consumers: a consumer group with eager round-robin assignment and manual
//   commits; rebalance callbacks run inside poll(), between batches, so a
//   batch in flight is always finished before its partitions move.
// Thread-safe as event_log; each consumer is used by one thread.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "leaves/log/event_log.h"

namespace leaves::log {

struct kafka_options {
  std::string brokers;                 // host:port[,host:port]
  std::string topic = "leaves-events";
  int32_t partitions = 8;
  int16_t replication_factor = 1;
  int min_insync_replicas = 1;
  // Passed to every librdkafka handle as-is (SASL, TLS, tuning). Values may be
  // secrets: they are never logged.
  std::vector<std::pair<std::string, std::string>> config;
  int request_timeout_ms = 10000;      // admin, metadata, watermark and commit calls
  // Create the topic with retention.ms and retention.bytes -1: the event
  // topic keeps its records forever, as the source of truth that read models
  // and state mirrors are rebuilt from. (Not for the ingest and dead-letter
  // topics: they keep the broker's default.)
  bool keep_forever = true;
  // Groups use eager round-robin assignment and no static membership
  // (group.instance.id): with librdkafka 2.0.2 (Debian 12) a cooperative-sticky
  // consumer closed during a rebalance can abort the process (an assertion in
  // the sticky assignor), and a static member closed while joining hangs in
  // close. See AConsumerDroppedWhileJoiningGoesAwayPromptly.
};

class kafka_log final : public event_log {
 public:
  static result<std::unique_ptr<kafka_log>> open(const kafka_options& opts);
  ~kafka_log() override;

  int32_t partitions() const override { return partitions_; }
  boost::asio::awaitable<result<std::vector<position>>> append(std::vector<record> records) override;
  std::vector<int64_t> end_offsets() override;
  result<int64_t> end_offset(int32_t partition) override;
  // The async_ calls run on a thread of the log's own (reads on another);
  // at most kMaxAdminQueued wait on each, beyond that an immediate
  // `unavailable` error (the ends: the last known ones).
  boost::asio::awaitable<result<int64_t>> async_end_offset(int32_t partition) override;
  boost::asio::awaitable<std::vector<int64_t>> async_end_offsets() override;
  std::vector<int64_t> known_end_offsets() override;
  boost::asio::awaitable<result<int64_t>> recent_end_offset(int32_t partition) override;
  static constexpr int kMaxAdminQueued = 64;
  result<int64_t> start_offset(int32_t partition) override;
  result<std::vector<stored_record>> read(int32_t partition, int64_t from, size_t max) override;
  boost::asio::awaitable<result<std::vector<stored_record>>> async_read(int32_t partition, int64_t from,
                                                                        size_t max) override;
  result<std::unique_ptr<consumer>> subscribe(const std::string& group) override;
  result<std::unique_ptr<consumer>> exclusive(const std::string& group) override;
  result<std::vector<int64_t>> committed(const std::string& group) override;

  struct handles;  // librdkafka handles (kafka_log.cpp)
  // Producers replaced after a fatal error.
  uint64_t producer_restarts() const { return producer_restarts_.load(std::memory_order_relaxed); }

 private:
  friend bool inject_fatal_error(kafka_log& log);
  kafka_log() = default;
  void serve_producer();  // the poller thread
  // Runs f() on `pool` and resumes the caller on its executor with its
  // result; `busy` when kMaxAdminQueued calls already wait there.
  template <typename T, typename F>
  boost::asio::awaitable<T> on_thread(boost::asio::thread_pool& pool, std::atomic<int>& queued, F f, T busy);
  std::vector<int64_t> last_known_ends();
  std::atomic<int64_t> ends_read_at_ns_{0};  // steady clock of the last background read of the ends
  std::atomic<bool> ends_refreshing_{false};
  // A partition's first and next offsets, asked of the broker now.
  result<std::pair<int64_t, int64_t>> watermarks(int32_t partition, const char* what);
  std::atomic<uint64_t> producer_restarts_{0};
  kafka_options opts_;
  int32_t partitions_ = 0;
  std::unique_ptr<handles> h_;
  std::atomic<uint32_t> round_robin_{0};
  std::atomic<bool> stop_{false};
  std::thread poller_;       // serves delivery reports
  boost::asio::thread_pool admin_{1};  // broker queries that would block an I/O thread
  std::atomic<int> admin_queued_{0};
  boost::asio::thread_pool reads_{1};  // streams' catch-up reads, apart so they never delay the queries
  std::atomic<int> reads_queued_{0};
  std::mutex reader_mu_;     // the reader handle is not shared between reads
  std::vector<int64_t> last_end_;  // last known end offsets, if the broker is unreachable
  std::mutex end_mu_;
};

// Tests only: makes a consumer of a kafka_log report a fatal error on its next
// poll, through librdkafka's own test hook (what a fenced static member gets).
// False if `c` is not a Kafka consumer.
bool inject_fatal_error(consumer& c);
// Tests only: the same for the log's idempotent producer (appends fail until
// it is replaced).
bool inject_fatal_error(kafka_log& log);

// "key=value" -> pair; false if there is no '='.
bool parse_kafka_property(const std::string& text, std::pair<std::string, std::string>& out);

}  // namespace leaves::log
