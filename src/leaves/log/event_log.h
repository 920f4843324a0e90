// The EventLog port: a partitioned, append-only log of keyed records with
// consumer groups. Two adapters: log/embedded (RocksDB) and, later, log/kafka.
//
// Contract (checked by tests/contract/event_log_contract.cpp against every adapter):
// - append() completes only when every record is durable; records of one call
//   with the same key keep their order; a record goes to record::partition when
//   it names one, else to kafka_partition(key) for a keyed record, else round robin.
// - offsets within a partition are dense and start at 0.
// - read() returns records at offsets >= from, in order.
// - a consumer of a group starts at the group's committed offsets (0 if none).
// Thread-safety: event_log is thread-safe; a consumer is used by one thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "leaves/base/result.h"

namespace leaves::log {

struct record {
  std::string key;          // empty: keyless
  std::string value;
  int32_t partition = -1;   // >= 0: explicit partition
  // Carried by the Kafka adapter (dead-letter records name their error in
  // headers); the embedded log does not keep them.
  std::vector<std::pair<std::string, std::string>> headers = {};
};

struct position {
  int32_t partition = 0;
  int64_t offset = 0;
  bool operator==(const position&) const = default;
};

struct stored_record {
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = 0;
  std::string key;
  std::string value;
};

class consumer {
 public:
  virtual ~consumer() = default;
  // Waits up to `timeout` for records after the consumer's positions; returns
  // at most `max` (possibly none). Advances the in-memory positions.
  virtual result<std::vector<stored_record>> poll(size_t max, std::chrono::milliseconds timeout) = 0;
  // Persists `next` (the offset of the next record to consume) per partition.
  virtual status commit(const std::vector<position>& next) = 0;
  // Moves the in-memory position of every partition (replay from 0, etc.).
  virtual void seek_all(int64_t offset) = 0;
  // Moves partition p's in-memory position to next[p], for each p in next.
  virtual void seek_each(const std::vector<int64_t>& next) = 0;
  // Makes a poll() in progress on another thread return early. Thread-safe.
  virtual void wake() = 0;
};

class event_log {
 public:
  virtual ~event_log() = default;
  virtual int32_t partitions() const = 0;
  // Durable append; the result holds one position per record, in order.
  virtual boost::asio::awaitable<result<std::vector<position>>> append(std::vector<record> records) = 0;
  // Offset of the next record to be written, per partition.
  virtual std::vector<int64_t> end_offsets() = 0;
  // The end offset of one partition, read from the log now; an error when the
  // log cannot be reached (end_offsets() may answer with what it last knew).
  virtual result<int64_t> end_offset(int32_t partition) = 0;
  // end_offset() for code on an I/O thread: Kafka asks the broker on a
  // thread of its own (a blocking query of up to its request timeout), so the
  // caller's thread keeps serving. The embedded log answers at once.
  virtual boost::asio::awaitable<result<int64_t>> async_end_offset(int32_t partition) {
    co_return end_offset(partition);
  }
  // An end offset read at most 250 ms ago, for code on an I/O thread: the
  // embedded log's exact end; on Kafka the background read's when recent
  // enough, else async_end_offset(). Many callers cost a few broker queries
  // a second, not one each.
  virtual boost::asio::awaitable<result<int64_t>> recent_end_offset(int32_t partition) {
    co_return co_await async_end_offset(partition);
  }
  // end_offsets() for code on an I/O thread (Kafka: on a thread of its own).
  virtual boost::asio::awaitable<std::vector<int64_t>> async_end_offsets() { co_return end_offsets(); }
  // The end offsets as last known, without waiting (for /metrics, whose
  // readings are taken synchronously): exact on the embedded log; on Kafka
  // what a background read got, refreshed when older than 250 ms.
  virtual std::vector<int64_t> known_end_offsets() { return end_offsets(); }
  virtual result<std::vector<stored_record>> read(int32_t partition, int64_t from, size_t max) = 0;
  // read() for code on an I/O thread (Kafka: on a thread of its own).
  virtual boost::asio::awaitable<result<std::vector<stored_record>>> async_read(int32_t partition, int64_t from,
                                                                                size_t max) {
    co_return read(partition, from, max);
  }
  // The first offset the partition still holds: above 0 once Kafka's
  // retention deleted older records (the embedded log deletes nothing).
  virtual result<int64_t> start_offset(int32_t partition) {
    (void)partition;
    return int64_t{0};
  }
  // A consumer in `group`, owning every partition (embedded) or its share (Kafka).
  virtual result<std::unique_ptr<consumer>> subscribe(const std::string& group) = 0;
  // A consumer of every partition that starts at `group`'s committed offsets
  // and commits to it, for a group that belongs to this process alone. On
  // Kafka it never joins the group: no rebalance, so a process restarted after
  // a crash consumes at once instead of waiting for the dead member's session
  // to expire. The embedded log has no membership: the same as subscribe().
  virtual result<std::unique_ptr<consumer>> exclusive(const std::string& group) { return subscribe(group); }
  // Committed offsets of a group, per partition.
  virtual result<std::vector<int64_t>> committed(const std::string& group) = 0;
  // Why appends are failing now (a full disk), or ok: /readyz reports it.
  virtual status health() const { return ok_status(); }
};

}  // namespace leaves::log
