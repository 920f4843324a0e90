// The Cassandra ReadStore, through leaves' own CQL client (src/leaves/cql).
//
// Tables (keyspace configurable, schema versioned in schema_migrations):
//   leaves             the reference table of the workshop, exactly; rows any
//                      CQL client inserts are served by get()
//   leaf_meta          what the reference table has no column for: version,
//                      tombstone, 64-bit user id, empty-vs-null lists, the last
//                      write timestamp
//   leaves_by_created, leaves_by_updated, leaves_by_title, leaves_by_tag,
//   leaves_by_user     one table per listing; partitions bounded by 30-day
//                      time buckets (title: a 2-byte prefix of the title)
//   index_parts        which partitions each listing has
//   tag_counts         per log partition and tag: a count and the log offset
//                      it is valid through (one writer per log partition)
//   users_by_name, teams_by_id, collections_by_id, marks_by_user,
//   directory_positions
//                      the directory model (store/directory_store.h): each
//                      aggregate's state by its key, each user's marks, and
//                      the log positions they are valid through
//
// Idempotence: every write carries a timestamp derived from the event (its
// time, made strictly increasing per leaf), events not newer than the stored
// version are skipped, and a tag count changes only for events at or after
// the offset it is valid through. Writes go counts and listing rows first,
// then each leaf's leaves and leaf_meta rows in one batch (one mutation), so
// a batch cut short anywhere is completed by its replay.
//
// Reads: a leaves row is read with WRITETIME(updated_at); the leaf_meta row
// it needs comes from a bounded in-process cache when the cached row carries
// that same write timestamp, else from Cassandra. So a GET is one CQL read
// for leaves this process wrote or read, and rows other clients or processes
// wrote are never served with stale metadata.
//
// get() and list() have asynchronous forms (async_get, async_list) that the
// HTTP handlers and the write side use; the synchronous forms block the
// caller until the client's own thread has the answer.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "leaves/store/directory_store.h"
#include "leaves/store/read_store.h"

namespace leaves::store {

struct cassandra_options {
  std::vector<std::string> contact_points{"127.0.0.1:9042"};
  std::string keyspace = "leaves";
  std::string replication = "{'class': 'SimpleStrategy', 'replication_factor': 1}";
  std::string consistency = "local_quorum";
  std::string username, password;  // both or neither; the password is never logged
  bool tls = false;
  std::string tls_ca_file, tls_cert_file, tls_key_file;
  bool tls_verify_hostname = true;
  int request_timeout_ms = 5000;
  std::string compression = "none";  // or "lz4": frame bodies compressed both ways
  size_t write_concurrency = 64;  // statements in flight during apply()
  // leaf_meta rows kept in memory, each used only while the leaves row still
  // carries its write timestamp (0: every read also reads leaf_meta).
  size_t meta_cache_entries = 100000;
};

class cassandra_store final : public read_store {
 public:
  // Connects, creates/migrates the schema, prepares the statements.
  static result<std::unique_ptr<cassandra_store>> open(const cassandra_options& o);
  ~cassandra_store() override;

  result<std::optional<domain::leaf>> get(const std::string& id) override;
  result<list_page> list(const list_query& q) override;
  result<std::vector<tag_count>> tags(size_t limit) override;
  result<apply_stats> apply(const std::vector<applied_event>& batch) override;
  // On the client's own thread; the caller's coroutine resumes on its executor.
  boost::asio::awaitable<result<std::optional<domain::leaf>>> async_get(std::string id) override;
  boost::asio::awaitable<result<list_page>> async_list(list_query q) override;
  boost::asio::awaitable<result<std::vector<tag_count>>> async_tags(size_t limit) override;
  // The `leaves` table in token order, one CQL page per call.
  boost::asio::awaitable<result<list_page>> async_reference_page(std::string page_token, size_t limit) override;
  status clear() override;
  // CQL requests, errors, retries, timeouts, reconnections; leaf_meta cache hits.
  std::vector<metric_reading> metric_readings() const override;
  // Rows written or deleted by apply() (each statement of a batch counts).
  uint64_t rows_written() const;

  // Index entries visited per list() call before it returns a partial page.
  static constexpr size_t kScanBudget = 5000;
  // The schema version this build writes.
  static constexpr int kSchemaVersion = 2;

  // The model of users, teams and collections in the same keyspace.
  directory_store& directory_model();

  struct impl;

 private:
  explicit cassandra_store(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
  std::unique_ptr<directory_store> directory_;
};

}  // namespace leaves::store
