// The embedded EventLog: one RocksDB database under <data-dir>/log.
//
// Appends go through one writer thread, which takes every append queued while
// the previous fsync ran and writes them as one synced WriteBatch (group
// commit): durability costs one fsync per batch, not per request.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "leaves/log/event_log.h"

namespace rocksdb {
class DB;
class Env;
class Status;
}

namespace leaves::log {

struct rocks_log_options {
  std::filesystem::path dir;
  int32_t partitions = 8;      // used when the log is created; stored in it
  bool sync = true;            // fsync the WAL before acknowledging
  size_t max_batch_records = 4096;
  // Recovery after a crash: by default a damaged WAL record that is not the
  // torn tail of the last write (corruption, not a crash) refuses the open;
  // salvage recovers the events before the first damage and drops the rest.
  bool salvage = false;
  // Free bytes kept on the log's filesystem: appends that would go below
  // them answer insufficient_storage without being written (base/disk.h).
  uint64_t min_free_bytes = 0;
  // Tests: the RocksDB environment to open the log with (fault injection);
  // null: the default file system.
  std::shared_ptr<rocksdb::Env> env;
};

class rocks_log final : public event_log {
 public:
  static result<std::unique_ptr<rocks_log>> open(const rocks_log_options& opts);
  ~rocks_log() override;

  int32_t partitions() const override { return partitions_; }
  boost::asio::awaitable<result<std::vector<position>>> append(std::vector<record> records) override;
  std::vector<int64_t> end_offsets() override;
  result<int64_t> end_offset(int32_t partition) override;
  result<std::vector<stored_record>> read(int32_t partition, int64_t from, size_t max) override;
  result<std::unique_ptr<consumer>> subscribe(const std::string& group) override;
  result<std::vector<int64_t>> committed(const std::string& group) override;
  status health() const override;
  // Reads every table of the log and checks its checksums (leaves check).
  status verify();

  // Blocks until the log has records past `known` (a value of append_count())
  // or the timeout passes or wake_all() is called.
  uint64_t append_count();
  void wait_for_appends(uint64_t known, std::chrono::milliseconds timeout);
  void wake_all();
  status commit_group(const std::string& group, const std::vector<position>& next);

  struct pending;  // one queued append

 private:
  rocks_log() = default;
  void writer_loop();
  rocksdb::Status try_resume();
  int32_t choose_partition(const record& r);

  std::unique_ptr<rocksdb::DB> db_;
  rocks_log_options opts_;
  int32_t partitions_ = 0;

  std::mutex mu_;  // guards queue_, stopping_, end_, appends_
  std::condition_variable queue_cv_;
  std::condition_variable appended_cv_;
  std::deque<std::unique_ptr<pending>> queue_;
  bool stopping_ = false;
  std::vector<int64_t> end_;  // next offset per partition (written by the writer only)
  uint64_t appends_ = 0;
  // Set by the writer when a write failed for lack of space: RocksDB then
  // refuses every write until Resume(), which the writer tries before the
  // next batch (so appends resume by themselves once space is freed).
  std::atomic<bool> out_of_space_{false};
  // A write failed for another reason than space (an I/O error): health()
  // says so until a write or a Resume() succeeds again.
  std::atomic<bool> failing_{false};
  // RocksDB holds the error as fatal (a WAL write failed for another reason
  // than space): Resume() cannot clear it, only a restart (a reopen) can.
  std::atomic<bool> unrecoverable_{false};
  bool write_failed_ = false;  // writer thread: the WAL saw an error since the last successful Resume()
  uint64_t wakes_ = 0;
  uint32_t round_robin_ = 0;
  std::thread writer_;
};

}  // namespace leaves::log
