// The embedded ReadStore: RocksDB under <data-dir>/store. The leaf records in
// a column family of their own, the listing indexes, tag counts and positions
// in the default one with one-letter prefixes per model (see rocks_store.cpp).
// A batch of events is one synced WriteBatch, so the models never disagree
// with each other.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>

#include "leaves/store/read_store.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
class Status;
class WriteBatch;
}

namespace leaves::store {

class rocks_store final : public read_store {
 public:
  // min_free_bytes: a write that would leave less free on the filesystem is
  // refused as insufficient_storage before RocksDB sees ENOSPC (base/disk.h).
  static result<std::unique_ptr<rocks_store>> open(const std::filesystem::path& dir, uint64_t min_free_bytes = 0);
  ~rocks_store() override;

  result<std::optional<domain::leaf>> get(const std::string& id) override;
  result<list_page> list(const list_query& q) override;
  // The leaf's JSON as stored, without parsing it.
  result<std::optional<leaf_json>> get_json(const std::string& id);
  // A page of list() as the stored JSON of each leaf.
  result<json_page> list_json(const list_query& q);
  boost::asio::awaitable<result<std::optional<leaf_json>>> async_get_json(std::string id) override {
    co_return get_json(id);
  }
  boost::asio::awaitable<result<json_page>> async_list_json(list_query q) override { co_return list_json(q); }
  result<std::vector<tag_count>> tags(size_t limit) override;
  result<apply_stats> apply(const std::vector<applied_event>& batch) override;
  status clear() override;
  // The "p"+partition keys apply() writes in the batch of each projection.
  std::optional<std::vector<int64_t>> stored_position() const override;
  status flush(const std::vector<int64_t>& next) override;
  // Set when open() found a store written in another format and started it
  // empty: the projector rebuilds it from the log.
  std::string rebuild_reason() const override { return rebuild_reason_; }
  // store_corrupt once any read or write found damage (it stays: a damaged
  // table does not heal; the store is rebuilt from the log).
  status health() const override;

  // Index entries visited per list() call before it returns a partial page.
  static constexpr size_t kScanBudget = 5000;

 private:
  rocks_store() = default;
  status open_db();
  void close_db();
  result<std::string> walk(const list_query& q, const std::function<status(std::string_view)>& take,
                           const std::function<size_t()>& taken);
  std::filesystem::path dir_;
  uint64_t min_free_bytes_ = 0;
  mutable std::atomic<bool> corrupt_{false};
  error fail(const rocksdb::Status& s, const char* what) const;
  static void put_position(rocksdb::WriteBatch& wb, int32_t p, int64_t next);
  void note_position(int32_t p, int64_t next);
  std::vector<int64_t> written_;  // projector thread: the positions last written, per partition
  std::mutex reopen_mu_;  // clear() replaces db_
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* default_ = nullptr;  // indexes, counts, positions, format
  rocksdb::ColumnFamilyHandle* records_ = nullptr;  // leaf records by id
  std::string rebuild_reason_;
  bool write_failed_ = false;  // projector thread: the last write failed
};

}  // namespace leaves::store
