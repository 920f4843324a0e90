#include "leaves/store/embedded/rocks_store.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <set>

#include "leaves/base/disk.h"
#include "leaves/base/hash.h"
#include "leaves/base/log.h"
#include "leaves/store/model.h"

namespace json = boost::json;

namespace leaves::store {
namespace {

// Two column families (format 2):
//   records:  <id>                          leaf record (tombstones included): see encode_leaf
//   default:  c<rev created><rev id>        live leaves by created_at, newest first
//             u<rev updated><rev id>        live leaves by updated_at, newest first
//             n<title prefix>\0<id>         live leaves by lower-cased title
//             t<tag>\0<rev created><rev id> live leaves by tag, newest first
//             w<be64 user_id><rev created><rev id>  live leaves by user, newest first
//             k<tag>                        be64 count of live leaves with the tag
//             p<be32 partition>             be64 next offset applied
//             v                             the format ("2")
// <rev t> is the big-endian bytes of ~t and <rev id> the id's bytes inverted
// then 0xff, so the time indexes sort newest first, ties by id descending:
// the default listing order is a forward walk (a skip list's Prev is a search
// from the top). Records sit in a column family of their own with a hash
// memtable: a point read there is a hash probe, not a skip-list search.
// Format 1 (records under l<id> in one key space, time indexes oldest first)
// is rebuilt from the log at start.

constexpr size_t kTitleKeyBytes = 64;
constexpr const char* kFormat = "2";
constexpr const char* kRecordsFamily = "records";

void put_be64(std::string& s, uint64_t v) {
  for (int i = 7; i >= 0; --i) s.push_back(static_cast<char>(v >> (8 * i)));
}
uint64_t get_be64(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < s.size(); ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}
// Times are >= 0 (validated at the edge); inverted, big-endian bytes sort
// newest first.
uint64_t rev_time(int64_t ms) { return ~static_cast<uint64_t>(std::max<int64_t>(ms, 0)); }
void put_rev_time(std::string& s, int64_t ms) { put_be64(s, rev_time(ms)); }
// A valid id has no NUL byte, so no inverted byte is 0xff: the terminator
// makes an id sort after every id it is a prefix of.
void put_rev_id(std::string& s, std::string_view id) {
  for (char c : id) s.push_back(static_cast<char>(~static_cast<unsigned char>(c)));
  s.push_back('\xff');
}
std::string rev_id(std::string_view tail) {
  if (!tail.empty() && tail.back() == '\xff') tail.remove_suffix(1);
  std::string id;
  id.reserve(tail.size());
  for (char c : tail) id.push_back(static_cast<char>(~static_cast<unsigned char>(c)));
  return id;
}

std::string tag_prefix(std::string_view tag) {
  std::string k = "t" + std::string(tag);
  k.push_back('\0');
  return k;
}
std::string user_prefix(int64_t user) {
  std::string k = "w";
  put_be64(k, static_cast<uint64_t>(user));
  return k;
}
std::string title_key(const domain::leaf& l) {
  std::string t = l.title.substr(0, kTitleKeyBytes);
  for (char& c : t) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == '\0') c = ' ';
  }
  std::string k = "n" + t;
  k.push_back('\0');
  return k + l.id;
}
std::string time_index_key(std::string k, int64_t ms, std::string_view id) {
  put_rev_time(k, ms);
  put_rev_id(k, id);
  return k;
}

// Every index key of a live leaf.
std::set<std::string> index_keys(const domain::leaf& l) {
  std::set<std::string> keys;
  if (l.deleted) return keys;
  keys.insert(time_index_key("c", l.created_at, l.id));
  keys.insert(time_index_key("u", l.updated_at, l.id));
  keys.insert(title_key(l));
  if (l.tags) {
    for (const auto& t : *l.tags) keys.insert(time_index_key(tag_prefix(t), l.created_at, l.id));
  }
  if (l.user_id) keys.insert(time_index_key(user_prefix(*l.user_id), l.created_at, l.id));
  return keys;
}

error io_error(const rocksdb::Status& s, const char* what) {
  if (s.IsNoSpace() || s.ToString().find("No space left") != std::string::npos) {
    return make_error(errc::unavailable, "the server's disk is full: the read store cannot be written",
                      "insufficient_storage");
  }
  if (s.IsCorruption()) {
    return make_error(errc::unavailable,
                      std::string("read store: ") + what +
                          ": the read store is damaged; stop the server and remove DATA_DIR/store: it is rebuilt "
                          "from the log at the next start",
                      "store_corrupt");
  }
  return make_error(errc::unavailable, std::string("read store: ") + what + ": " + s.ToString(),
                    "store_unavailable");
}

// A leaf record: a header with what reads filter and answer by, then the
// leaf's JSON (domain::leaf_to_json), which GET and list answers carry as it
// is. (Records without the header, from before it, were in format-1 stores,
// which are rebuilt.)
//   0x01 | be64 version | flags | be64 created_at | be64 user_id | JSON
constexpr char kRecordV1 = '\x01';
constexpr size_t kHeaderBytes = 1 + 8 + 1 + 8 + 8;
enum record_flag : uint8_t { f_deleted = 1, f_starred = 2, f_archived = 4, f_public = 8, f_has_user = 16 };

std::string encode_leaf(const domain::leaf& l) {
  std::string out;
  const auto body = json::serialize(domain::leaf_to_json(l));
  out.reserve(kHeaderBytes + body.size());
  out.push_back(kRecordV1);
  put_be64(out, static_cast<uint64_t>(l.version));
  uint8_t flags = 0;
  if (l.deleted) flags |= f_deleted;
  if (l.is_starred) flags |= f_starred;
  if (l.is_archived) flags |= f_archived;
  if (l.is_public) flags |= f_public;
  if (l.user_id) flags |= f_has_user;
  out.push_back(static_cast<char>(flags));
  put_be64(out, static_cast<uint64_t>(l.created_at));
  put_be64(out, static_cast<uint64_t>(l.user_id.value_or(0)));
  out += body;
  return out;
}

struct record_header {
  int64_t version = 0;
  uint8_t flags = 0;
  int64_t created_at = 0;
  int64_t user_id = 0;
  std::string_view json;
};

// False for a record without the header (older, or not a record at all).
bool read_header(std::string_view v, record_header& h) {
  if (v.size() < kHeaderBytes || v[0] != kRecordV1) return false;
  h.version = static_cast<int64_t>(get_be64(v.substr(1)));
  h.flags = static_cast<uint8_t>(v[9]);
  h.created_at = static_cast<int64_t>(get_be64(v.substr(10)));
  h.user_id = static_cast<int64_t>(get_be64(v.substr(18)));
  h.json = v.substr(kHeaderBytes);
  return true;
}

// matches() by the header alone; the tag filter is left to the caller.
bool header_matches(const record_header& h, const list_query& q) {
  if (h.flags & f_deleted) return false;
  if (q.user_id && (!(h.flags & f_has_user) || h.user_id != *q.user_id)) return false;
  auto seen = [&](uint8_t f, uint8_t bit) {
    const bool flag = h.flags & f;
    if (!q.marks) return flag;
    const auto id = domain::leaf_json_id(h.json).value_or(std::string_view());
    return q.marks->seen(flag, bit, id, (h.flags & f_has_user) ? std::optional<int64_t>(h.user_id) : std::nullopt);
  };
  if (q.starred && seen(f_starred, domain::mark_starred) != *q.starred) return false;
  if (q.archived && seen(f_archived, domain::mark_archived) != *q.archived) return false;
  if (q.is_public && static_cast<bool>(h.flags & f_public) != *q.is_public) return false;
  if (q.visible_to && !(h.flags & f_public) && (!(h.flags & f_has_user) || h.user_id != *q.visible_to)) return false;
  if (q.since_ms && h.created_at < *q.since_ms) return false;
  if (q.until_ms && h.created_at >= *q.until_ms) return false;
  return true;
}

result<std::optional<domain::leaf>> decode_leaf(std::string_view v) {
  record_header h;
  if (!read_header(v, h)) return make_error(errc::internal, "read store: corrupt leaf record (no header)");
  boost::system::error_code ec;
  auto j = json::parse(h.json, ec);
  if (ec || !j.is_object()) return make_error(errc::internal, "read store: corrupt leaf record");
  auto l = domain::leaf_from_json(j.get_object());
  if (!l) return l.err();
  return std::optional<domain::leaf>(std::move(*l));
}

}  // namespace

result<std::unique_ptr<rocks_store>> rocks_store::open(const std::filesystem::path& dir, uint64_t min_free_bytes) {
  std::unique_ptr<rocks_store> s(new rocks_store());
  s->dir_ = dir;
  s->min_free_bytes_ = min_free_bytes;
  if (auto st = s->open_db(); !st) return st.err();
  return s;
}

status rocks_store::open_db() {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return make_error(errc::unavailable, "cannot create " + dir_.string() + ": " + ec.message());
  rocksdb::DBOptions o;
  o.create_if_missing = true;
  o.create_missing_column_families = true;
  o.IncreaseParallelism(2);
  o.allow_concurrent_memtable_write = false;  // one writer (the projector); a hash memtable needs it
  // Point lookups (tag counts, positions) and index walks: bloom filters in
  // the memtable and the tables answer misses without a search.
  rocksdb::ColumnFamilyOptions index;
  index.memtable_whole_key_filtering = true;
  index.memtable_prefix_bloom_size_ratio = 0.05;
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.whole_key_filtering = true;
  index.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // Records are only read by id (most writes look up a leaf that does not
  // exist yet): a hash memtable keyed by the whole id (at most 128 bytes),
  // whole-key blooms in memory and in the tables. Never iterated.
  rocksdb::ColumnFamilyOptions records = index;
  records.prefix_extractor.reset(rocksdb::NewCappedPrefixTransform(128));
  records.memtable_factory.reset(rocksdb::NewHashSkipListRepFactory(1 << 18));
  std::vector<rocksdb::ColumnFamilyDescriptor> families{{rocksdb::kDefaultColumnFamilyName, index},
                                                        {kRecordsFamily, records}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::Open(o, dir_.string(), families, &handles, &raw);
  if (!st.ok()) return fail(st, "open");
  db_.reset(raw);
  default_ = handles[0];
  records_ = handles[1];
  std::string format;
  st = db_->Get(rocksdb::ReadOptions(), default_, "v", &format);
  if (st.ok() && format == kFormat) return ok_status();
  if (!st.ok() && !st.IsNotFound()) return fail(st, "read the format");
  std::unique_ptr<rocksdb::Iterator> any(db_->NewIterator(rocksdb::ReadOptions(), default_));
  any->SeekToFirst();
  if (any->Valid()) {
    // Written by another build: start empty, and the projector rebuilds it from the log.
    rebuild_reason_ = st.ok() ? "it was written in store format " + format.substr(0, 16) + ", this build reads " + kFormat
                              : std::string("it was written in store format 1, this build reads ") + kFormat;
    any.reset();
    log_warn("store", "rebuilding the read store under " + dir_.string() + ": " + rebuild_reason_);
    close_db();
    st = rocksdb::DestroyDB(dir_.string(), rocksdb::Options());
    if (!st.ok()) return fail(st, "destroy");
    return open_db();
  }
  rocksdb::WriteOptions w;
  w.sync = true;
  st = db_->Put(w, default_, "v", kFormat);
  if (!st.ok()) return fail(st, "write the format");
  return ok_status();
}

void rocks_store::close_db() {
  if (!db_) return;
  for (auto* h : {records_, default_}) {
    if (h) db_->DestroyColumnFamilyHandle(h);
  }
  records_ = default_ = nullptr;
  db_.reset();
}

rocks_store::~rocks_store() { close_db(); }


result<std::optional<domain::leaf>> rocks_store::get(const std::string& id) {
  std::string v;
  auto st = db_->Get(rocksdb::ReadOptions(), records_, id, &v);
  if (st.IsNotFound()) return std::optional<domain::leaf>{};
  if (!st.ok()) return fail(st, "get");
  return decode_leaf(v);
}

result<std::optional<leaf_json>> rocks_store::get_json(const std::string& id) {
  std::string v;
  auto st = db_->Get(rocksdb::ReadOptions(), records_, id, &v);
  if (st.IsNotFound()) return std::optional<leaf_json>{};
  if (!st.ok()) return fail(st, "get");
  record_header h;
  if (!read_header(v, h)) return make_error(errc::internal, "read store: corrupt leaf record (no header)");
  // The JSON is the record's tail: moved out, not copied.
  v.erase(0, kHeaderBytes);
  return std::optional<leaf_json>(leaf_json{std::move(v), h.version, static_cast<bool>(h.flags & f_deleted),
                                            static_cast<bool>(h.flags & f_public),
                                            (h.flags & f_has_user) ? std::optional<int64_t>(h.user_id) : std::nullopt});
}

result<list_page> rocks_store::list(const list_query& q) {
  list_page page;
  auto walked = walk(q, [&](std::string_view record) -> status {
    auto l = decode_leaf(record);
    if (!l) return l.err();
    if (*l && matches(**l, q)) page.items.push_back(std::move(**l));
    return ok_status();
  }, [&] { return page.items.size(); });
  if (!walked) return walked.err();
  page.next_page_token = std::move(*walked);
  return page;
}

result<json_page> rocks_store::list_json(const list_query& q) {
  json_page page;
  const bool tag_by_index = q.tag && q.sort == sort_key::created;  // the t<tag> index names only leaves with it
  auto walked = walk(q, [&](std::string_view record) -> status {
    record_header h;
    if (!q.tag || tag_by_index) {  // the header says all the filters need
      if (!read_header(record, h)) return make_error(errc::internal, "read store: corrupt leaf record (no header)");
      if (header_matches(h, q)) page.items.emplace_back(h.json);
      return ok_status();
    }
    auto l = decode_leaf(record);
    if (!l) return l.err();
    if (*l && matches(**l, q)) page.items.push_back(json::serialize(domain::leaf_to_json(**l)));
    return ok_status();
  }, [&] { return page.items.size(); });
  if (!walked) return walked.err();
  page.next_page_token = std::move(*walked);
  return page;
}

// The index that serves q's sort (and, for created, its tag or user filter),
// walked from q's page token. Each leaf record it names goes to `take`, read
// from the same snapshot as the index, until `taken()` reaches q.limit or the
// scan budget is spent. Returns the next page token (empty: no more).
result<std::string> rocks_store::walk(const list_query& q, const std::function<status(std::string_view)>& take,
                                      const std::function<size_t()>& taken) {
  std::string prefix;
  bool created_index = false;
  if (q.sort == sort_key::created) {
    created_index = true;
    if (q.tag) {
      prefix = tag_prefix(*q.tag);
    } else if (q.user_id) {
      prefix = user_prefix(*q.user_id);
    } else {
      prefix = "c";
    }
  } else {
    prefix = q.sort == sort_key::updated ? "u" : "n";
  }
  // The time indexes (every one but the title's) sort newest first: there a
  // descending page is a forward walk.
  const bool newest_first = prefix != "n";
  const bool forward = q.descending == newest_first;
  std::string resume;
  if (!q.page_token.empty()) {
    if (!base64url_decode(q.page_token, resume) || resume.size() <= prefix.size() ||
        resume.compare(0, prefix.size(), prefix) != 0) {
      return make_error(errc::invalid_argument, "page_token does not belong to this query",
                        "invalid_query");
    }
  }
  // The walk covers the keys in [lo, hi) (hi empty: to the prefix's end).
  // created_at in [since, until) is, in a newest-first index, the inverted
  // time in [~(until - 1), ~since].
  std::string lo = prefix, hi = prefix;
  // Smallest key greater than every key with this prefix.
  while (!hi.empty() && static_cast<unsigned char>(hi.back()) == 0xff) hi.pop_back();
  if (!hi.empty()) hi.back() = static_cast<char>(hi.back() + 1);
  if (created_index) {
    if (q.until_ms) {
      if (*q.until_ms <= 0) return std::string();  // no created_at is below 0
      lo = prefix;
      put_rev_time(lo, *q.until_ms - 1);
    }
    if (q.since_ms && *q.since_ms > 0) {
      hi = prefix;
      put_be64(hi, rev_time(*q.since_ms) + 1);
    }
  }

  // One snapshot for the index and the records: an index key names a leaf
  // whose record, in the same snapshot, has what the key says (the tag, the
  // user, the time), since both are written in one batch.
  struct snapshot {
    rocksdb::DB* db;
    const rocksdb::Snapshot* s;
    ~snapshot() { db->ReleaseSnapshot(s); }
  } snap{db_.get(), db_->GetSnapshot()};
  rocksdb::ReadOptions ro;
  ro.snapshot = snap.s;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, default_));
  if (forward) {
    it->Seek(resume.empty() ? lo : resume);
    if (!resume.empty() && it->Valid() && it->key() == resume) it->Next();
  } else if (!resume.empty()) {
    it->SeekForPrev(resume);
    if (it->Valid() && it->key() == resume) it->Prev();
  } else if (hi.empty()) {
    it->SeekToLast();
  } else {
    it->Seek(hi);  // first key >= hi; the one before it is the last below hi
    if (it->Valid()) {
      it->Prev();
    } else {
      it->SeekToLast();
    }
  }
  const std::string_view lo_key(lo), hi_key(hi);
  size_t scanned = 0;
  std::string last_key, id;
  for (; it->Valid(); forward ? it->Next() : it->Prev()) {
    const auto key = it->key().ToStringView();
    if (!key.starts_with(prefix) || key < lo_key || (!hi_key.empty() && key >= hi_key)) break;
    if (taken() == q.limit || scanned == kScanBudget) return base64url_encode(last_key);
    ++scanned;
    last_key.assign(key);
    // The id is the key's tail: after the prefix and the 8-byte time (c, u,
    // t, w; inverted), or after the title's NUL (n).
    if (newest_first) {
      id = rev_id(key.substr(prefix.size() + 8));
    } else {
      id.assign(key.substr(key.find('\0', 1) + 1));
    }
    rocksdb::PinnableSlice v;
    auto st = db_->Get(ro, records_, id, &v);
    if (st.IsNotFound()) continue;
    if (!st.ok()) return fail(st, "list");
    if (auto t = take(v.ToStringView()); !t) return t.err();
  }
  if (!it->status().ok()) return fail(it->status(), "list");
  return std::string();
}

result<std::vector<tag_count>> rocks_store::tags(size_t limit) {
  std::vector<tag_count> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("k"); it->Valid() && it->key().starts_with("k"); it->Next()) {
    const auto n = static_cast<int64_t>(get_be64(it->value().ToStringView()));
    if (n > 0) out.push_back({std::string(it->key().ToStringView().substr(1)), n});
  }
  if (!it->status().ok()) return fail(it->status(), "tags");
  std::sort(out.begin(), out.end(), [](const tag_count& a, const tag_count& b) {
    return a.count != b.count ? a.count > b.count : a.tag < b.tag;
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

result<apply_stats> rocks_store::apply(const std::vector<applied_event>& batch) {
  apply_stats stats;
  // Within a batch, later events see earlier ones through these overlays.
  std::map<std::string, std::optional<domain::leaf>> leaves;
  std::map<std::string, int64_t> counts;
  std::map<int32_t, int64_t> positions;
  rocksdb::WriteBatch wb;
  auto load = [&](const std::string& id) -> result<std::optional<domain::leaf>*> {
    auto it = leaves.find(id);
    if (it == leaves.end()) {
      auto l = get(id);
      if (!l) return l.err();
      it = leaves.emplace(id, std::move(*l)).first;
    }
    return &it->second;
  };
  auto count = [&](const std::string& tag) -> result<int64_t*> {
    auto it = counts.find(tag);
    if (it == counts.end()) {
      std::string v;
      auto st = db_->Get(rocksdb::ReadOptions(), "k" + tag, &v);
      if (!st.ok() && !st.IsNotFound()) return fail(st, "read tag count");
      it = counts.emplace(tag, st.ok() ? static_cast<int64_t>(get_be64(v)) : 0).first;
    }
    return &it->second;
  };
  for (const auto& ae : batch) {
    positions[ae.partition] = std::max(positions[ae.partition], ae.offset + 1);
    auto slot = load(ae.ev.aggregate_id);
    if (!slot) return slot.err();
    std::optional<domain::leaf>& state = **slot;
    auto step = leaves::projection::fold_leaf(state, ae.ev);
    if (step.skip) {
      ++stats.skipped;
      continue;
    }
    std::optional<domain::leaf>& next = step.next;
    const auto old_keys = state ? index_keys(*state) : std::set<std::string>{};
    const auto new_keys = index_keys(*next);
    for (const auto& k : old_keys) {
      if (!new_keys.contains(k)) wb.Delete(k);
    }
    for (const auto& k : new_keys) {
      if (!old_keys.contains(k)) wb.Put(k, rocksdb::Slice());
    }
    const auto old_tags = live_tags(state);
    const auto new_tags = live_tags(next);
    for (const auto& t : old_tags) {
      if (new_tags.contains(t)) continue;
      auto c = count(t);
      if (!c) return c.err();
      **c -= 1;
    }
    for (const auto& t : new_tags) {
      if (old_tags.contains(t)) continue;
      auto c = count(t);
      if (!c) return c.err();
      **c += 1;
    }
    state = std::move(next);
    ++stats.applied;
  }
  for (const auto& [id, l] : leaves) {
    if (l) wb.Put(records_, id, encode_leaf(*l));
  }
  for (const auto& [tag, n] : counts) {
    if (n <= 0) {
      wb.Delete("k" + tag);
    } else {
      std::string v;
      put_be64(v, static_cast<uint64_t>(n));
      wb.Put("k" + tag, v);
    }
  }
  for (const auto& [p, off] : positions) put_position(wb, p, off);
  rocksdb::WriteOptions w;
  w.sync = true;  // the projector commits its log position after this returns
  // After a failed write RocksDB refuses every write until Resume() (which
  // needs space): the projector's retries resume the store by themselves.
  if (!has_room(dir_, min_free_bytes_, wb.GetDataSize())) {
    return make_error(errc::unavailable, "the server's disk is full: the read store cannot be written",
                      "insufficient_storage");
  }
  rocksdb::Status st;
  if (write_failed_) st = db_->Resume();
  if (st.ok()) st = db_->Write(w, &wb);
  write_failed_ = !st.ok();
  if (!st.ok()) return fail(st, "apply");
  for (const auto& [p, off] : positions) note_position(p, off);
  return stats;
}

void rocks_store::put_position(rocksdb::WriteBatch& wb, int32_t p, int64_t next) {
  std::string k = "p";
  k.push_back(static_cast<char>(p >> 24));
  k.push_back(static_cast<char>(p >> 16));
  k.push_back(static_cast<char>(p >> 8));
  k.push_back(static_cast<char>(p));
  std::string v;
  put_be64(v, static_cast<uint64_t>(next));
  wb.Put(k, v);
}

void rocks_store::note_position(int32_t p, int64_t next) {
  if (p < 0) return;
  if (written_.size() <= static_cast<size_t>(p)) written_.resize(static_cast<size_t>(p) + 1, 0);
  written_[p] = std::max(written_[p], next);
}

// apply() writes the positions of the events it applied; records the
// projector skipped (undecodable) after them advance `next` alone. Writing
// those here keeps the store's position equal to its group's commit, so a
// restart does not take it for a store that lost data. Rare: nothing to
// write in the usual case.
status rocks_store::flush(const std::vector<int64_t>& next) {
  if (written_.empty()) {
    if (auto held = stored_position()) written_ = *held;
  }
  rocksdb::WriteBatch wb;
  for (size_t p = 0; p < next.size(); ++p) {
    if (next[p] > (p < written_.size() ? written_[p] : 0)) put_position(wb, static_cast<int32_t>(p), next[p]);
  }
  if (wb.Count() == 0) return ok_status();
  rocksdb::WriteOptions w;
  w.sync = true;
  auto st = db_->Write(w, &wb);
  if (!st.ok()) return fail(st, "write position");
  for (size_t p = 0; p < next.size(); ++p) note_position(static_cast<int32_t>(p), next[p]);
  return ok_status();
}

std::optional<std::vector<int64_t>> rocks_store::stored_position() const {
  std::vector<int64_t> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("p"); it->Valid() && it->key().starts_with("p"); it->Next()) {
    const auto k = it->key().ToStringView();
    if (k.size() != 5 || it->value().size() != 8) continue;
    const auto p = static_cast<size_t>(static_cast<uint8_t>(k[1]) << 24 | static_cast<uint8_t>(k[2]) << 16 |
                                       static_cast<uint8_t>(k[3]) << 8 | static_cast<uint8_t>(k[4]));
    if (p > 1024) continue;
    if (out.size() <= p) out.resize(p + 1, 0);
    out[p] = static_cast<int64_t>(get_be64(it->value().ToStringView()));
  }
  return out;
}

error rocks_store::fail(const rocksdb::Status& s, const char* what) const {
  if (s.IsCorruption() && !corrupt_.exchange(true)) {
    log_error("store", "the read store under " + dir_.string() + " is damaged (" + s.ToString() +
                           "): reads and writes are refused and /readyz says store_unavailable; stop the server and "
                           "remove the directory: it is rebuilt from the log at the next start");
  }
  return io_error(s, what);
}

status rocks_store::health() const {
  if (corrupt_.load()) {
    return make_error(errc::unavailable, "the read store is damaged: it must be rebuilt (docs/operations.md)",
                      "store_corrupt");
  }
  return ok_status();
}

status rocks_store::clear() {
  std::lock_guard lk(reopen_mu_);
  close_db();
  auto st = rocksdb::DestroyDB(dir_.string(), rocksdb::Options());
  if (!st.ok()) return fail(st, "destroy");
  written_.clear();
  rebuild_reason_.clear();
  return open_db();
}

}  // namespace leaves::store
