// The embedded DirectoryStore: a RocksDB of its own under <data-dir>/directory
// (apart from the leaves' store, which a replay of the leaves destroys).
//   "v"                      format (domain::kStateFormat)
//   "p" be32 partition       be64 next offset
//   "u" name / "t" id / "c" id   be64 version | the aggregate's JSON
//   "m" user \0 leaf         one byte: domain::mark_bits
// A save is one WriteBatch, not synced: after a crash RocksDB recovers a
// prefix of the batches, each whole, so the positions never run ahead of the
// rows they came with; what is lost is read again from the log.
#pragma once

#include <filesystem>
#include <memory>

#include "leaves/store/directory_store.h"

namespace rocksdb {
class DB;
}

namespace leaves::store {

class rocks_directory_store final : public directory_store {
 public:
  static result<std::unique_ptr<rocks_directory_store>> open(const std::filesystem::path& dir);
  ~rocks_directory_store() override;

  result<std::optional<directory_snapshot>> load() override;
  status save(const std::vector<directory_row>& rows, const std::vector<int64_t>& next) override;
  status clear() override;
  std::string where() const override { return dir_.string(); }

 private:
  rocks_directory_store() = default;
  status open_db();
  std::filesystem::path dir_;
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace leaves::store
