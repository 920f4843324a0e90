#include "leaves/store/embedded/rocks_directory_store.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>

#include "leaves/base/log.h"
#include "leaves/domain/state_json.h"

namespace leaves::store {

namespace {

void put_be(std::string& s, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) s.push_back(static_cast<char>(v >> (8 * i)));
}
uint64_t get_be(std::string_view s, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes && i < s.size(); ++i) v = v << 8 | static_cast<uint8_t>(s[i]);
  return v;
}

char prefix(directory_kind k) {
  switch (k) {
    case directory_kind::user: return 'u';
    case directory_kind::team: return 't';
    case directory_kind::collection: return 'c';
    case directory_kind::mark: return 'm';
  }
  return '?';
}

std::string row_key(const directory_row& r) {
  std::string k(1, prefix(r.kind));
  k += r.id;
  if (r.kind == directory_kind::mark) {
    k.push_back('\0');
    k += r.leaf;
  }
  return k;
}

std::string position_key(size_t p) {
  std::string k = "p";
  put_be(k, p, 4);
  return k;
}

error fail(const rocksdb::Status& s, const std::string& where, const char* what) {
  return make_error(errc::unavailable, "directory model under " + where + ": " + what + ": " + s.ToString(),
                    "store_unavailable");
}

const std::string kFormat = std::to_string(domain::kStateFormat);

}  // namespace

result<std::unique_ptr<rocks_directory_store>> rocks_directory_store::open(const std::filesystem::path& dir) {
  std::unique_ptr<rocks_directory_store> s(new rocks_directory_store());
  s->dir_ = dir;
  if (auto st = s->open_db(); !st) return st.err();
  return s;
}

rocks_directory_store::~rocks_directory_store() = default;

status rocks_directory_store::open_db() {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return make_error(errc::unavailable, "cannot create " + dir_.string() + ": " + ec.message());
  rocksdb::Options o;
  o.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::Open(o, dir_.string(), &raw);
  if (!st.ok()) return fail(st, dir_.string(), "open");
  db_.reset(raw);
  std::string format;
  st = db_->Get(rocksdb::ReadOptions(), "v", &format);
  if (st.ok() && format == kFormat) return ok_status();
  if (!st.ok() && !st.IsNotFound()) return fail(st, dir_.string(), "read the format");
  std::unique_ptr<rocksdb::Iterator> any(db_->NewIterator(rocksdb::ReadOptions()));
  any->SeekToFirst();
  const bool written = any->Valid();
  any.reset();
  if (written) {
    // Another build's format: start empty; the directory reads the log from the start.
    log_warn("users", "the directory model under " + dir_.string() + " is in format " + format.substr(0, 16) +
                          ", this build writes " + kFormat + ": rebuilding it from the log");
    db_.reset();
    st = rocksdb::DestroyDB(dir_.string(), rocksdb::Options());
    if (!st.ok()) return fail(st, dir_.string(), "destroy");
    return open_db();
  }
  st = db_->Put(rocksdb::WriteOptions(), "v", kFormat);
  if (!st.ok()) return fail(st, dir_.string(), "write the format");
  return ok_status();
}

namespace {
error closed(const std::filesystem::path& dir) {
  return make_error(errc::unavailable, "the directory model under " + dir.string() + " is not open (a clear failed)",
                    "store_unavailable");
}
}  // namespace

result<std::optional<directory_snapshot>> rocks_directory_store::load() {
  if (!db_) return closed(dir_);
  directory_snapshot snap;
  bool positioned = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const auto k = it->key().ToStringView();
    const auto v = it->value().ToStringView();
    if (k.empty() || k == "v") continue;
    if (k[0] == 'p') {
      if (k.size() != 5 || v.size() != 8) continue;
      const size_t p = get_be(k.substr(1), 4);
      if (p >= 1024) continue;
      if (snap.next.size() <= p) snap.next.resize(p + 1, 0);
      snap.next[p] = static_cast<int64_t>(get_be(v, 8));
      positioned = true;
      continue;
    }
    if (v.size() < 8) continue;
    directory_row r;
    r.version = static_cast<int64_t>(get_be(v, 8));
    switch (k[0]) {
      case 'u': r.kind = directory_kind::user; break;
      case 't': r.kind = directory_kind::team; break;
      case 'c': r.kind = directory_kind::collection; break;
      case 'm': r.kind = directory_kind::mark; break;
      default: continue;
    }
    if (r.kind == directory_kind::mark) {
      const auto nul = k.find('\0');
      if (nul == std::string_view::npos || v.size() != 9) continue;
      r.marks = static_cast<uint8_t>(v[8]);
      if (r.marks == 0) continue;  // removed
      r.id = std::string(k.substr(1, nul - 1));
      r.leaf = std::string(k.substr(nul + 1));
    } else {
      r.id = std::string(k.substr(1));
      r.state = std::string(v.substr(8));
    }
    snap.rows.push_back(std::move(r));
  }
  if (!it->status().ok()) return fail(it->status(), dir_.string(), "read");
  if (!positioned) return std::optional<directory_snapshot>{};
  return std::optional<directory_snapshot>(std::move(snap));
}

status rocks_directory_store::save(const std::vector<directory_row>& rows, const std::vector<int64_t>& next) {
  if (!db_) return closed(dir_);
  rocksdb::WriteBatch wb;
  std::string held;
  for (const auto& r : rows) {
    const std::string k = row_key(r);
    auto st = db_->Get(rocksdb::ReadOptions(), k, &held);
    if (st.ok() && held.size() >= 8 && static_cast<int64_t>(get_be(held, 8)) > r.version) continue;  // older
    if (!st.ok() && !st.IsNotFound()) return fail(st, dir_.string(), "read a row");
    std::string v;
    put_be(v, static_cast<uint64_t>(r.version), 8);
    if (r.kind == directory_kind::mark) v.push_back(static_cast<char>(r.marks));
    else v += r.state;
    wb.Put(k, v);
  }
  for (size_t p = 0; p < next.size(); ++p) {
    const std::string k = position_key(p);
    auto st = db_->Get(rocksdb::ReadOptions(), k, &held);
    if (st.ok() && held.size() == 8 && static_cast<int64_t>(get_be(held, 8)) >= next[p]) continue;
    if (!st.ok() && !st.IsNotFound()) return fail(st, dir_.string(), "read a position");
    std::string v;
    put_be(v, static_cast<uint64_t>(next[p]), 8);
    wb.Put(k, v);
  }
  if (wb.Count() == 0) return ok_status();
  auto st = db_->Write(rocksdb::WriteOptions(), &wb);
  if (!st.ok()) return fail(st, dir_.string(), "write");
  return ok_status();
}

status rocks_directory_store::clear() {
  db_.reset();
  auto st = rocksdb::DestroyDB(dir_.string(), rocksdb::Options());
  if (!st.ok()) return fail(st, dir_.string(), "destroy");
  return open_db();
}

}  // namespace leaves::store
