#include "leaves/log/embedded/rocks_log.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <functional>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "leaves/base/disk.h"
#include "leaves/base/hash.h"
#include "leaves/base/log.h"
#include "leaves/base/time.h"

namespace asio = boost::asio;

namespace leaves::log {

using append_result = result<std::vector<position>>;

struct rocks_log::pending {
  std::vector<record> records;
  // Posts the result to the awaiting coroutine's executor. Called once, from the writer thread.
  std::function<void(append_result)> complete;
};

namespace {

constexpr char kRecordPrefix = 'r';
constexpr char kGroupPrefix = 'g';
const std::string kPartitionsKey = "m:partitions";

void put_be32(std::string& s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>(v >> (8 * i)));
}
void put_be64(std::string& s, uint64_t v) {
  for (int i = 7; i >= 0; --i) s.push_back(static_cast<char>(v >> (8 * i)));
}
uint64_t get_be(const char* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string record_key(int32_t partition, int64_t offset) {
  std::string k(1, kRecordPrefix);
  put_be32(k, static_cast<uint32_t>(partition));
  put_be64(k, static_cast<uint64_t>(offset));
  return k;
}

std::string group_key(const std::string& group, int32_t partition) {
  std::string k(1, kGroupPrefix);
  k += group;
  k.push_back('\0');
  put_be32(k, static_cast<uint32_t>(partition));
  return k;
}

std::string encode_value(const record& r, int64_t ts) {
  std::string v;
  v.reserve(12 + r.key.size() + r.value.size());
  put_be64(v, static_cast<uint64_t>(ts));
  put_be32(v, static_cast<uint32_t>(r.key.size()));
  v += r.key;
  v += r.value;
  return v;
}

bool decode_value(std::string_view v, stored_record& out) {
  if (v.size() < 12) return false;
  out.timestamp_ms = static_cast<int64_t>(get_be(v.data(), 8));
  const auto klen = get_be(v.data() + 8, 4);
  if (v.size() < 12 + klen) return false;
  out.key.assign(v.data() + 12, klen);
  out.value.assign(v.data() + 12 + klen, v.size() - 12 - klen);
  return true;
}

// A full disk: the HTTP edge answers 507 insufficient_storage, without the
// path RocksDB names (the log line has it).
error no_space_error() {
  return make_error(errc::unavailable,
                    "the server's disk is full: the write was not stored; writes resume by themselves once space "
                    "is freed",
                    "insufficient_storage");
}

error io_error(const rocksdb::Status& s, const char* what) {
  return make_error(errc::unavailable, std::string("event log: ") + what + ": " + s.ToString(),
                    "log_unavailable");
}

void complete(std::unique_ptr<rocks_log::pending> p, append_result r) { p->complete(std::move(r)); }

class rocks_consumer final : public consumer {
 public:
  rocks_consumer(rocks_log& log, std::string group, std::vector<int64_t> pos)
      : log_(log), group_(std::move(group)), pos_(std::move(pos)) {}

  result<std::vector<stored_record>> poll(size_t max, std::chrono::milliseconds timeout) override {
    for (int attempt = 0; attempt < 2; ++attempt) {
      const uint64_t seen = log_.append_count();
      std::vector<stored_record> out;
      const int32_t n = log_.partitions();
      const std::vector<int64_t> before = pos_;  // a failed read gives nothing back: read again next time
      // Start at a rotating partition so a busy partition cannot starve the
      // others, each taking an equal share of what is left: a consumer that
      // lags reads the partitions' records of about the same time together
      // (the search index gives ids in creation order within a poll).
      // What the quiet partitions leave goes to the busy ones, in a second
      // pass of equal shares again.
      for (int pass = 0; pass < 2 && out.size() < max; ++pass) {
        for (int32_t i = 0; i < n && out.size() < max; ++i) {
          const int32_t p = (next_ + i) % n;
          const size_t share = std::max<size_t>(1, (max - out.size()) / static_cast<size_t>(n - i));
          auto recs = log_.read(p, pos_[p], share);
          if (!recs) {
            pos_ = before;
            return recs.err();
          }
          for (auto& r : *recs) {
            pos_[p] = r.offset + 1;
            out.push_back(std::move(r));
          }
        }
      }
      next_ = (next_ + 1) % n;
      if (!out.empty() || attempt == 1) return out;
      log_.wait_for_appends(seen, timeout);
    }
    return std::vector<stored_record>{};
  }

  status commit(const std::vector<position>& next) override { return log_.commit_group(group_, next); }

  void seek_all(int64_t offset) override {
    for (auto& p : pos_) p = offset;
  }
  void seek_each(const std::vector<int64_t>& next) override {
    for (size_t p = 0; p < pos_.size() && p < next.size(); ++p) pos_[p] = next[p];
  }

  void wake() override { log_.wake_all(); }

 private:
  rocks_log& log_;
  std::string group_;
  std::vector<int64_t> pos_;
  int32_t next_ = 0;
};

}  // namespace

result<std::unique_ptr<rocks_log>> rocks_log::open(const rocks_log_options& opts) {
  if (opts.partitions < 1 || opts.partitions > 1024) {
    return make_error(errc::invalid_argument, "partitions must be between 1 and 1024");
  }
  std::error_code ec;
  std::filesystem::create_directories(opts.dir, ec);
  if (ec) {
    return make_error(errc::unavailable, "cannot create " + opts.dir.string() + ": " + ec.message());
  }
  rocksdb::Options o;
  o.create_if_missing = true;
  o.IncreaseParallelism(2);
  o.max_background_jobs = 2;
  // The log is the source of truth, so damage is never passed over silently
  // (docs/operations.md). A crash leaves at most a torn record at the WAL's
  // tail, never acknowledged (acks follow the fsync): tolerated. A bad
  // checksum anywhere else is corruption: the open fails, unless salvaging,
  // which keeps the consistent prefix before the damage (point in time).
  o.paranoid_checks = true;
  if (opts.env) o.env = opts.env.get();
  o.wal_recovery_mode = opts.salvage ? rocksdb::WALRecoveryMode::kPointInTimeRecovery
                                     : rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(o, opts.dir.string(), &raw);
  if (s.IsCorruption()) {
    return make_error(errc::internal,
                      "the event log under " + opts.dir.string() + " is damaged (" + s.ToString() +
                          "): refusing to serve a log that cannot be trusted. `leaves check` reports what is "
                          "readable; `--salvage` keeps the events before the damage and drops the rest",
                      "log_corrupt");
  }
  if (!s.ok()) return io_error(s, "open");
  std::unique_ptr<rocks_log> log(new rocks_log());
  log->db_.reset(raw);
  log->opts_ = opts;
  std::string stored;
  s = raw->Get(rocksdb::ReadOptions(), kPartitionsKey, &stored);
  if (s.ok() && stored.size() == 4) {
    log->partitions_ = static_cast<int32_t>(get_be(stored.data(), 4));
  } else if (s.IsNotFound()) {
    log->partitions_ = opts.partitions;
    std::string v;
    put_be32(v, static_cast<uint32_t>(opts.partitions));
    rocksdb::WriteOptions w;
    w.sync = true;
    s = raw->Put(w, kPartitionsKey, v);
    if (!s.ok()) return io_error(s, "write metadata");
  } else {
    return io_error(s, "read metadata");
  }
  log->end_.assign(log->partitions_, 0);
  std::unique_ptr<rocksdb::Iterator> it(raw->NewIterator(rocksdb::ReadOptions()));
  for (int32_t p = 0; p < log->partitions_; ++p) {
    it->SeekForPrev(record_key(p, INT64_MAX));
    if (it->Valid() && it->key().size() == 13 && it->key()[0] == kRecordPrefix &&
        static_cast<int32_t>(get_be(it->key().data() + 1, 4)) == p) {
      log->end_[p] = static_cast<int64_t>(get_be(it->key().data() + 5, 8)) + 1;
    }
    // A damaged table must not pass for a shorter partition.
    if (!it->status().ok()) {
      return make_error(errc::internal,
                        "the event log under " + opts.dir.string() + " is damaged (" + it->status().ToString() +
                            "): refusing to serve a log that cannot be trusted. `leaves check` reports what is "
                            "readable; restore log/ from a backup",
                        "log_corrupt");
    }
  }
  log->writer_ = std::thread([l = log.get()] { l->writer_loop(); });
  return log;
}

rocks_log::~rocks_log() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  appended_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  // A WAL that saw a write error must not be synced again: RocksDB asserts.
  if (db_ && !write_failed_) db_->FlushWAL(true).PermitUncheckedError();
  db_.reset();  // before opts_, whose env (tests) the database uses to its end
}

status rocks_log::health() const {
  if (unrecoverable_.load()) {
    return make_error(errc::unavailable,
                      "the event log hit an I/O error it cannot recover from while running (the server's log names "
                      "it): writes answer 503 until the server is restarted (docs/operations.md)",
                      "log_unavailable");
  }
  if (out_of_space_.load()) return no_space_error();
  if (failing_.load()) {
    return make_error(errc::unavailable,
                      "the event log cannot be written (an I/O error; the server's log names it): writes answer "
                      "503 while it is retried every second",
                      "log_unavailable");
  }
  return ok_status();
}

int32_t rocks_log::choose_partition(const record& r) {
  if (r.partition >= 0) return r.partition;
  if (!r.key.empty()) return kafka_partition(r.key, partitions_);
  return static_cast<int32_t>(round_robin_++ % static_cast<uint32_t>(partitions_));
}

asio::awaitable<append_result> rocks_log::append(std::vector<record> records) {
  for (const auto& r : records) {
    if (r.partition >= partitions_) {
      co_return make_error(errc::invalid_argument,
                           "partition " + std::to_string(r.partition) + " does not exist");
    }
  }
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(append_result)>(
      [this](auto handler, std::vector<record> recs) {
        auto p = std::make_unique<pending>();
        p->records = std::move(recs);
        auto ex = asio::get_associated_executor(handler);
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        p->complete = [h, ex](append_result r) {
          asio::post(ex, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
        };
        {
          std::lock_guard lk(mu_);
          if (!stopping_) {
            queue_.push_back(std::move(p));
          }
        }
        if (p) {
          complete(std::move(p), make_error(errc::unavailable, "event log is closing", "shutting_down"));
          return;
        }
        queue_cv_.notify_one();
      },
      asio::use_awaitable, std::move(records));
}

void rocks_log::writer_loop() {
  std::vector<int64_t> end;
  {
    std::lock_guard lk(mu_);
    end = end_;
  }
  rocksdb::WriteOptions wopts;
  wopts.sync = opts_.sync;
  std::vector<std::unique_ptr<pending>> batch;
  for (;;) {
    batch.clear();
    {
      std::unique_lock lk(mu_);
      if (write_failed_ || out_of_space_.load()) {
        // Out of space: try to resume every second, writes or not, so the
        // log (and /readyz) recovers by itself once space is freed.
        queue_cv_.wait_for(lk, std::chrono::seconds(1), [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty() && !stopping_) {
          lk.unlock();
          try_resume();
          continue;
        }
      } else {
        queue_cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
      }
      if (queue_.empty()) return;  // stopping, nothing left to write
      size_t n = 0;
      while (!queue_.empty() && (batch.empty() || n + queue_.front()->records.size() <= opts_.max_batch_records)) {
        n += queue_.front()->records.size();
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    const int64_t now = system_clock().now_ms();
    std::vector<int64_t> next = end;
    std::vector<std::vector<position>> positions(batch.size());
    rocksdb::WriteBatch wb;
    for (size_t i = 0; i < batch.size(); ++i) {
      for (const auto& r : batch[i]->records) {
        const int32_t p = choose_partition(r);
        const int64_t off = next[p]++;
        wb.Put(record_key(p, off), encode_value(r, now));
        positions[i].push_back({p, off});
      }
    }
    if (!has_room(opts_.dir, opts_.min_free_bytes, wb.GetDataSize())) {
      if (!out_of_space_.exchange(true)) {
        log_error("log", "the disk under " + opts_.dir.string() + " is full (" + std::to_string(free_bytes(opts_.dir)) +
                             " bytes free, " + std::to_string(opts_.min_free_bytes) +
                             " kept in reserve by --min-free-mb): writes answer 507 until space is freed");
      }
      for (auto& p : batch) complete(std::move(p), no_space_error());
      continue;
    }
    rocksdb::Status s;
    if (write_failed_) s = try_resume();
    if (s.ok()) s = db_->Write(wopts, &wb);
    if (s.ok() && out_of_space_.exchange(false)) log_info("log", "writes to the event log resumed: disk space is back");
    if (s.ok() && failing_.exchange(false)) log_info("log", "writes to the event log resumed");
    if (s.ok()) {
      end = std::move(next);
      {
        std::lock_guard lk(mu_);
        end_ = end;
        ++appends_;
      }
      appended_cv_.notify_all();
      for (size_t i = 0; i < batch.size(); ++i) complete(std::move(batch[i]), std::move(positions[i]));
    } else {
      write_failed_ = true;
      // Busy: RocksDB's own recovery from the full disk is still running.
      const bool no_space = s.IsNoSpace() || s.ToString().find("No space left") != std::string::npos ||
                            (s.IsBusy() && out_of_space_.load());
      if (no_space && !out_of_space_.exchange(true)) {
        log_error("log", "the disk under " + opts_.dir.string() + " is full; writes answer 507 until space is freed: " +
                             s.ToString());
      } else if (!no_space) {
        failing_ = true;
        log_error("log", "append failed: " + s.ToString());
      }
      for (auto& p : batch) complete(std::move(p), no_space ? no_space_error() : io_error(s, "append"));
    }
  }
}

// After a failed write RocksDB holds a background error and fails every
// write until Resume() clears it (a flush to a new WAL, so it needs space).
rocksdb::Status rocks_log::try_resume() {
  if (!write_failed_) {  // refused by the reserve only: back once there is room
    if (has_room(opts_.dir, opts_.min_free_bytes) && out_of_space_.exchange(false)) {
      log_info("log", "writes to the event log resumed: disk space is back");
    }
    return rocksdb::Status::OK();
  }
  auto s = db_->Resume();
  if (s.ok()) {
    write_failed_ = false;
    if (failing_.exchange(false)) log_info("log", "writes to the event log resumed");
    if (out_of_space_.exchange(false)) log_info("log", "writes to the event log resumed: disk space is back");
  }
  if (!s.ok() && s.severity() >= rocksdb::Status::Severity::kFatalError && !unrecoverable_.exchange(true)) {
    log_error("log", "the event log cannot recover from its write error while running (" + s.ToString() +
                         "): writes answer 503 until the server is restarted");
  }
  return s;
}

std::vector<int64_t> rocks_log::end_offsets() {
  std::lock_guard lk(mu_);
  return end_;
}

result<int64_t> rocks_log::end_offset(int32_t partition) {
  if (partition < 0 || partition >= partitions_) {
    return make_error(errc::invalid_argument, "partition " + std::to_string(partition) + " does not exist");
  }
  std::lock_guard lk(mu_);
  return end_[partition];
}

result<std::vector<stored_record>> rocks_log::read(int32_t partition, int64_t from, size_t max) {
  if (partition < 0 || partition >= partitions_) {
    return make_error(errc::invalid_argument, "partition " + std::to_string(partition) + " does not exist");
  }
  std::vector<stored_record> out;
  if (max == 0) return out;
  int64_t end;
  {
    std::lock_guard lk(mu_);
    end = end_[partition];
  }
  if (from >= end) return out;
  rocksdb::ReadOptions ro;
  const std::string upper = record_key(partition, end);
  rocksdb::Slice upper_slice(upper);
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  for (it->Seek(record_key(partition, std::max<int64_t>(from, 0))); it->Valid() && out.size() < max; it->Next()) {
    stored_record r;
    r.partition = partition;
    r.offset = static_cast<int64_t>(get_be(it->key().data() + 5, 8));
    if (!decode_value(std::string_view(it->value().data(), it->value().size()), r)) {
      return make_error(errc::internal, "corrupt record at " + std::to_string(partition) + ":" +
                                            std::to_string(r.offset));
    }
    out.push_back(std::move(r));
  }
  if (!it->status().ok()) return io_error(it->status(), "read");
  return out;
}

status rocks_log::verify() {
  auto s = db_->VerifyChecksum();
  if (!s.ok()) return make_error(errc::internal, "damaged: " + s.ToString(), "log_corrupt");
  return ok_status();
}

result<std::vector<int64_t>> rocks_log::committed(const std::string& group) {
  std::vector<int64_t> out(partitions_, 0);
  for (int32_t p = 0; p < partitions_; ++p) {
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions(), group_key(group, p), &v);
    if (s.ok() && v.size() == 8) {
      out[p] = static_cast<int64_t>(get_be(v.data(), 8));
    } else if (!s.IsNotFound()) {
      return io_error(s, "read group offsets");
    }
  }
  return out;
}

status rocks_log::commit_group(const std::string& group, const std::vector<position>& next) {
  rocksdb::WriteBatch wb;
  for (const auto& p : next) {
    if (p.partition < 0 || p.partition >= partitions_) {
      return make_error(errc::invalid_argument, "partition out of range");
    }
    std::string v;
    put_be64(v, static_cast<uint64_t>(p.offset));
    wb.Put(group_key(group, p.partition), v);
  }
  // Not synced: a lost commit only means re-applying events, which projections
  // tolerate (they are idempotent).
  auto s = db_->Write(rocksdb::WriteOptions(), &wb);
  if (!s.ok()) return io_error(s, "commit");
  return ok_status();
}

result<std::unique_ptr<consumer>> rocks_log::subscribe(const std::string& group) {
  if (group.empty() || group.size() > 255 || group.find('\0') != std::string::npos) {
    return make_error(errc::invalid_argument, "bad consumer group name");
  }
  auto pos = committed(group);
  if (!pos) return pos.err();
  return std::unique_ptr<consumer>(std::make_unique<rocks_consumer>(*this, group, std::move(*pos)));
}

uint64_t rocks_log::append_count() {
  std::lock_guard lk(mu_);
  return appends_;
}

void rocks_log::wait_for_appends(uint64_t known, std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  const uint64_t wakes = wakes_;
  appended_cv_.wait_for(lk, timeout, [&] { return appends_ != known || wakes_ != wakes || stopping_; });
}

void rocks_log::wake_all() {
  {
    std::lock_guard lk(mu_);
    ++wakes_;
  }
  appended_cv_.notify_all();
}

}  // namespace leaves::log
