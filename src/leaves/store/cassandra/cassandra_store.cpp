#include "leaves/store/cassandra/cassandra_store.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/json.hpp>
#include <exception>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "leaves/base/hash.h"
#include "leaves/base/log.h"
#include "leaves/store/model.h"
#include "leaves/cql/client/runtime.h"
#include "leaves/cql/client/session.h"

namespace asio = boost::asio;
namespace json = boost::json;

namespace leaves::store {
namespace {

using cql::value;

constexpr int64_t kBucketMs = 30LL * 24 * 3600 * 1000;  // time bucket of the listing tables
constexpr size_t kTitleKeyBytes = 64;
constexpr size_t kInChunk = 100;  // ids per IN query
constexpr std::chrono::milliseconds kSchemaAgreementWait{10000};

error to_error(const cql::error& e, const char* what) {
  if (e.kind == cql::error_kind::invalid || e.code == cql::server_code::syntax_error ||
      e.code == cql::server_code::invalid || e.code == cql::server_code::unauthorized)
    return make_error(errc::internal, std::string("read store (cassandra): ") + what + ": " + e.describe());
  return make_error(errc::unavailable, std::string("read store (cassandra): ") + what + ": " + e.describe(),
                    "store_unavailable");
}

std::string bucket_part(int64_t ms) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%09lld", static_cast<long long>(std::max<int64_t>(ms, 0) / kBucketMs));
  return buf;
}

std::string title_key(const domain::leaf& l) {
  std::string t = l.title.substr(0, kTitleKeyBytes);
  for (char& c : t)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return t;
}
// Title partitions: "t" + the first two bytes of the key, so partitions sort
// like the titles in them.
std::string title_part(const std::string& key) { return "t" + key.substr(0, 2); }

enum class index_kind { created, updated, title, tag, user };
const char* index_name(index_kind k) {
  switch (k) {
    case index_kind::created: return "created";
    case index_kind::updated: return "updated";
    case index_kind::title: return "title";
    case index_kind::tag: return "tag";
    case index_kind::user: return "user";
  }
  return "?";
}

struct index_entry {
  index_kind kind;
  std::string key;  // tag, user id, or ""
  std::string part;
  int64_t t = 0;          // time indexes
  std::string title;      // title index
  std::string id;
  auto tie() const { return std::tie(kind, key, part, t, title, id); }
  bool operator<(const index_entry& o) const { return tie() < o.tie(); }
};

std::set<index_entry> index_entries(const std::optional<domain::leaf>& ol) {
  std::set<index_entry> out;
  if (!ol || ol->deleted) return out;
  const auto& l = *ol;
  out.insert({index_kind::created, "", bucket_part(l.created_at), l.created_at, "", l.id});
  out.insert({index_kind::updated, "", bucket_part(l.updated_at), l.updated_at, "", l.id});
  auto tk = title_key(l);
  out.insert({index_kind::title, "", title_part(tk), 0, tk, l.id});
  if (l.tags)
    for (const auto& t : *l.tags) out.insert({index_kind::tag, t, bucket_part(l.created_at), l.created_at, "", l.id});
  if (l.user_id) out.insert({index_kind::user, std::to_string(*l.user_id), bucket_part(l.created_at), l.created_at, "", l.id});
  return out;
}

// The entry still describes the leaf (index rows can lag a crashed batch).
bool current(const index_entry& e, const domain::leaf& l) {
  switch (e.kind) {
    case index_kind::created: return l.created_at == e.t;
    case index_kind::updated: return l.updated_at == e.t;
    case index_kind::title: return title_key(l) == e.title;
    case index_kind::tag:
      return l.created_at == e.t && l.tags && std::find(l.tags->begin(), l.tags->end(), e.key) != l.tags->end();
    case index_kind::user: return l.created_at == e.t && l.user_id && std::to_string(*l.user_id) == e.key;
  }
  return false;
}

// ---- columns ----

constexpr const char* kLeafColumns =
    "id, all, content, content_text, created_at, domain_name, http_status, is_archived, is_public, is_starred, "
    "language, links, mimetype, preview_picture, reading_time, slugs, tags, title, updated_at, url, user_email, "
    "user_id, user_name";
constexpr size_t kLeafColumnCount = 23;
constexpr const char* kMetaColumns =
    "id, version, deleted, deleted_at, write_ts, user_id, published_at, published_by, empty_lists";

value opt_text(const std::optional<std::string>& s) { return s ? value::text(*s) : value::null(); }
value opt_list(const std::optional<domain::string_list>& l) {
  return l && !l->empty() ? value::text_list(*l) : value::null();
}

std::vector<value> leaf_row(const domain::leaf& l) {
  std::optional<int32_t> uid;
  if (l.user_id && *l.user_id >= INT32_MIN && *l.user_id <= INT32_MAX) uid = static_cast<int32_t>(*l.user_id);
  return {value::text(l.id),
          l.all.empty() ? value::null() : value::text_list(l.all),
          opt_text(l.content),
          opt_text(l.content_text),
          value::timestamp(l.created_at),
          value::text(l.domain_name),
          opt_text(l.http_status),
          value::int32(l.is_archived ? 1 : 0),
          value::boolean(l.is_public),
          value::int32(l.is_starred ? 1 : 0),
          opt_text(l.language),
          l.links.empty() ? value::null() : value::text_list(l.links),
          opt_text(l.mimetype),
          opt_text(l.preview_picture),
          value::int32(l.reading_time),
          opt_list(l.slugs),
          opt_list(l.tags),
          value::text(l.title),
          value::timestamp(l.updated_at),
          value::text(l.url),
          value::text(l.user_email),
          uid ? value::int32(*uid) : value::null(),
          value::text(l.user_name)};
}

struct meta {
  int64_t version = 0;
  bool deleted = false;
  int64_t deleted_at = 0;
  int64_t write_ts = 0;
  std::optional<int64_t> user_id;
  std::optional<domain::string_list> published_at, published_by;
  std::set<std::string> empty_lists;
};

// What leaf_meta holds for a leaf written with write_ts: exactly what
// read_meta() gives back for the row meta_row() makes of it.
meta meta_of(const domain::leaf& l, int64_t write_ts) {
  meta m;
  m.version = l.version;
  m.deleted = l.deleted;
  m.deleted_at = l.deleted ? l.updated_at : 0;
  m.write_ts = write_ts;
  m.user_id = l.user_id;
  auto non_empty = [](const std::optional<domain::string_list>& v) {
    return v && !v->empty() ? v : std::optional<domain::string_list>{};
  };
  m.published_at = non_empty(l.published_at);
  m.published_by = non_empty(l.published_by);
  if (l.tags && l.tags->empty()) m.empty_lists.insert("tags");
  if (l.slugs && l.slugs->empty()) m.empty_lists.insert("slugs");
  if (l.published_at && l.published_at->empty()) m.empty_lists.insert("published_at");
  if (l.published_by && l.published_by->empty()) m.empty_lists.insert("published_by");
  return m;
}

std::vector<value> meta_row(const std::string& id, const meta& m) {
  auto list = [](const std::optional<domain::string_list>& v) { return v ? value::text_list(*v) : value::null(); };
  std::vector<std::string> empties(m.empty_lists.begin(), m.empty_lists.end());
  return {value::text(id),
          value::bigint(m.version),
          value::boolean(m.deleted),
          m.deleted ? value::timestamp(m.deleted_at) : value::null(),
          value::bigint(m.write_ts),
          m.user_id ? value::bigint(*m.user_id) : value::null(),
          list(m.published_at),
          list(m.published_by),
          empties.empty() ? value::null() : value::text_list(empties)};
}

std::optional<std::string> cell_text(const cql::protocol::rows& r, size_t row, size_t col) {
  auto c = r.cell(row, col);
  if (!c) return std::nullopt;
  return std::string(*c);
}
std::optional<domain::string_list> cell_list(const cql::protocol::rows& r, size_t row, size_t col) {
  auto c = r.cell(row, col);
  if (!c) return std::nullopt;
  return cql::decode::text_list(*c);
}
std::optional<int64_t> cell_bigint(const cql::protocol::rows& r, size_t row, size_t col) {
  auto c = r.cell(row, col);
  if (!c) return std::nullopt;
  return cql::decode::bigint(*c);
}
std::optional<int32_t> cell_int(const cql::protocol::rows& r, size_t row, size_t col) {
  auto c = r.cell(row, col);
  if (!c) return std::nullopt;
  return cql::decode::int32(*c);
}
bool cell_bool(const cql::protocol::rows& r, size_t row, size_t col) {
  auto c = r.cell(row, col);
  if (!c) return false;
  return cql::decode::boolean(*c).value_or(false);
}

meta read_meta(const cql::protocol::rows& r, size_t row) {
  meta m;
  m.version = cell_bigint(r, row, 1).value_or(0);
  m.deleted = cell_bool(r, row, 2);
  m.deleted_at = cell_bigint(r, row, 3).value_or(0);
  m.write_ts = cell_bigint(r, row, 4).value_or(0);
  m.user_id = cell_bigint(r, row, 5);
  m.published_at = cell_list(r, row, 6);
  m.published_by = cell_list(r, row, 7);
  if (auto e = cell_list(r, row, 8)) m.empty_lists.insert(e->begin(), e->end());
  return m;
}

// A leaf from its `leaves` row and (when leaves wrote it) its leaf_meta row.
domain::leaf read_leaf(const cql::protocol::rows& r, size_t row, const meta* m) {
  domain::leaf l;
  l.id = cell_text(r, row, 0).value_or("");
  l.all = cell_list(r, row, 1).value_or(domain::string_list{});
  l.content = cell_text(r, row, 2);
  l.content_text = cell_text(r, row, 3);
  l.created_at = cell_bigint(r, row, 4).value_or(0);
  l.domain_name = cell_text(r, row, 5).value_or("");
  l.http_status = cell_text(r, row, 6);
  l.is_archived = cell_int(r, row, 7).value_or(0) != 0;
  l.is_public = cell_bool(r, row, 8);
  l.is_starred = cell_int(r, row, 9).value_or(0) != 0;
  l.language = cell_text(r, row, 10);
  l.links = cell_list(r, row, 11).value_or(domain::string_list{});
  l.mimetype = cell_text(r, row, 12);
  l.preview_picture = cell_text(r, row, 13);
  l.reading_time = cell_int(r, row, 14).value_or(0);
  l.slugs = cell_list(r, row, 15);
  l.tags = cell_list(r, row, 16);
  l.title = cell_text(r, row, 17).value_or("");
  l.updated_at = cell_bigint(r, row, 18).value_or(0);
  l.url = cell_text(r, row, 19).value_or("");
  l.user_email = cell_text(r, row, 20).value_or("");
  if (auto u = cell_int(r, row, 21)) l.user_id = *u;
  l.user_name = cell_text(r, row, 22).value_or("");
  if (m) {
    l.version = m->version;
    if (m->user_id) l.user_id = m->user_id;
    l.published_at = m->published_at;
    l.published_by = m->published_by;
    if (!l.tags && m->empty_lists.contains("tags")) l.tags = domain::string_list{};
    if (!l.slugs && m->empty_lists.contains("slugs")) l.slugs = domain::string_list{};
    if (!l.published_at && m->empty_lists.contains("published_at")) l.published_at = domain::string_list{};
    if (!l.published_by && m->empty_lists.contains("published_by")) l.published_by = domain::string_list{};
  }
  return l;
}

domain::leaf tombstone(const std::string& id, const meta& m) {
  domain::leaf t;
  t.id = id;
  t.deleted = true;
  t.version = m.version;
  t.updated_at = m.deleted_at;
  return t;
}

// Bound values as a vector. Coroutines build argument lists with this rather
// than braced lists: GCC 12 cannot keep an initializer_list alive across co_await.
template <class... V>
std::vector<value> args(V&&... v) {
  std::vector<value> out;
  out.reserve(sizeof...(V));
  (out.push_back(std::forward<V>(v)), ...);
  return out;
}

// Coroutines return optionals to the blocking side (co_spawn needs a default).
template <class T>
asio::awaitable<std::optional<T>> wrapped(asio::awaitable<T> a) {
  co_return co_await std::move(a);
}

// Runs the tasks on ex with at most `limit` in flight; the results come back
// in task order. Every task runs to its end (no early exit on errors), so
// nothing outlives the call; the first exception a task threw is rethrown
// once all have ended.
template <class T>
struct gather_state {
  gather_state(asio::any_io_executor ex, size_t n) : done(ex), out(n) {
    done.expires_at(asio::steady_timer::time_point::max());
  }
  asio::steady_timer done;
  size_t running = 0;
  std::vector<std::optional<T>> out;
  std::exception_ptr failed;
};

template <class T>
asio::awaitable<void> gather_one(std::shared_ptr<gather_state<T>> st, size_t i, asio::awaitable<T> task) {
  try {
    st->out[i] = co_await std::move(task);
  } catch (...) {
    if (!st->failed) st->failed = std::current_exception();
  }
  --st->running;
  st->done.cancel();
}

template <class T>
asio::awaitable<std::vector<T>> gather(asio::any_io_executor ex, std::vector<asio::awaitable<T>> tasks, size_t limit) {
  if (tasks.size() == 1) {  // the common GET: no timer, no spawn
    std::vector<T> one;
    one.push_back(co_await std::move(tasks[0]));
    co_return one;
  }
  auto st = std::make_shared<gather_state<T>>(ex, tasks.size());
  size_t next = 0;
  limit = std::max<size_t>(1, limit);
  for (;;) {
    while (next < tasks.size() && st->running < limit) {
      ++st->running;
      asio::co_spawn(ex, gather_one(st, next, std::move(tasks[next])), asio::detached);
      ++next;
    }
    // A task that finished before this wait began has already lowered the
    // count (its wake-up was lost), so look before waiting.
    if (st->running == 0) {
      if (next == tasks.size()) break;
      continue;
    }
    boost::system::error_code ec;
    co_await st->done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    st->done.expires_at(asio::steady_timer::time_point::max());
  }
  if (st->failed) std::rethrow_exception(st->failed);
  std::vector<T> out;
  out.reserve(st->out.size());
  for (auto& r : st->out) out.push_back(std::move(*r));
  co_return out;
}

// The leaf_meta rows this process wrote or read, each with the write
// timestamp of the leaves row it belongs to. An entry is used only when the
// leaves row read beside it still carries that timestamp (WRITETIME), so a
// later write by any process or client makes it miss, never lie. Bounded;
// when full, an arbitrary entry makes room.
class meta_cache {
 public:
  explicit meta_cache(size_t cap) : cap_(cap) {}
  void set_capacity(size_t cap) { cap_ = cap; }
  const meta* find(const std::string& id) const {
    auto it = m_.find(id);
    return it == m_.end() ? nullptr : &it->second;
  }
  void put(const std::string& id, const meta& v) {
    if (cap_ == 0) return;
    if (auto it = m_.find(id); it != m_.end()) {
      it->second = v;
      return;
    }
    if (m_.size() >= cap_) m_.erase(m_.begin());
    m_.emplace(id, v);
    count();
  }
  void erase(const std::string& id) {
    m_.erase(id);
    count();
  }
  // Reads that needed no leaf_meta request, and those that did.
  std::atomic<uint64_t> hits{0}, misses{0};
  void clear() {
    m_.clear();
    count();
  }
  size_t size() const { return size_.load(std::memory_order_relaxed); }

 private:
  void count() { size_.store(m_.size(), std::memory_order_relaxed); }
  size_t cap_;
  std::unordered_map<std::string, meta> m_;
  std::atomic<size_t> size_{0};
};

}  // namespace

struct cassandra_store::impl {
  cassandra_options o;
  cql::runtime rt{1};
  asio::any_io_executor ex = rt.make_strand();
  std::shared_ptr<cql::session> s;
  cql::consistency cl = cql::consistency::local_quorum;
  meta_cache metas{0};

  // Statement texts used on every read and write, built once.
  struct texts {
    std::string leaves_in, leaves_one, meta_in, meta_one, meta_exists_in, meta_exists_one, leaf_insert, leaf_delete, meta_insert, counts_read,
        counts_write, parts_insert;
  } q;
  void build_texts() {
    const std::string leaf_select = std::string("SELECT ") + kLeafColumns + ", WRITETIME(updated_at) FROM " + t("leaves");
    const std::string meta_select = std::string("SELECT ") + kMetaColumns + " FROM " + t("leaf_meta");
    q.leaves_in = leaf_select + " WHERE id IN ?";
    q.leaves_one = leaf_select + " WHERE id = ?";
    q.meta_in = meta_select + " WHERE id IN ?";
    q.meta_one = meta_select + " WHERE id = ?";
    q.meta_exists_in = "SELECT id FROM " + t("leaf_meta") + " WHERE id IN ?";
    q.meta_exists_one = "SELECT id FROM " + t("leaf_meta") + " WHERE id = ?";
    q.leaf_insert = std::string("INSERT INTO ") + t("leaves") + " (" + kLeafColumns + ") VALUES (" + marks(kLeafColumnCount) +
                    ") USING TIMESTAMP ?";
    q.leaf_delete = "DELETE FROM " + t("leaves") + " USING TIMESTAMP ? WHERE id = ?";
    q.meta_insert = std::string("INSERT INTO ") + t("leaf_meta") + " (" + kMetaColumns + ") VALUES (" + marks(9) +
                    ") USING TIMESTAMP ?";
    q.counts_read = "SELECT tag, count, through FROM " + t("tag_counts") + " WHERE shard = ? AND tag IN ?";
    q.counts_write = "INSERT INTO " + t("tag_counts") + " (shard, tag, count, through) VALUES (?, ?, ?, ?) USING TIMESTAMP ?";
    q.parts_insert = "INSERT INTO " + t("index_parts") + " (listing, lkey, part) VALUES (?, ?, ?)";
  }

  template <class T>
  T block(asio::awaitable<T> a) {
    return *cql::runtime::run(ex, wrapped(std::move(a)));
  }

  std::string t(const char* table) const { return o.keyspace + "." + table; }

  asio::awaitable<cql::result<cql::protocol::rows>> run(const std::string& cql, std::vector<value> values,
                                                       bool idempotent = true, int32_t page_size = 0,
                                                       std::string paging_state = {}) {
    auto p = co_await s->prepare(cql);
    if (!p) co_return p.err();
    cql::statement st;
    st.prepared = *p;
    st.values = std::move(values);
    st.cl = cl;
    st.idempotent = idempotent;
    st.page_size = page_size;
    st.paging_state = std::move(paging_state);
    st.skip_metadata = true;  // every statement here names its columns; cells are read by position
    co_return co_await s->execute(std::move(st));
  }

  asio::awaitable<cql::result<cql::protocol::rows>> simple(const std::string& cql) {
    cql::statement st;
    st.cql = cql;
    st.cl = cl;
    st.timeout = std::chrono::milliseconds(std::max(o.request_timeout_ms, 30000));
    co_return co_await s->execute(std::move(st));
  }

  // Runs the writes with at most o.write_concurrency requests in flight and
  // returns the first error (if any) after all have finished. Writes with the
  // same group (one partition) go together in UNLOGGED batches of up to
  // kBatchMax statements: one mutation on the replica. (Merging partitions
  // into multi-partition batches per owning replica was measured: fewer
  // requests, but no less CPU on the node, and warnings on its defaults.)
  struct write {
    std::string cql;
    std::vector<value> values;
    std::string group = {};
  };
  static constexpr size_t kBatchMax = 100;
  std::atomic<uint64_t> rows_written{0};  // statements of successful run_all calls
  std::atomic<uint64_t> new_creations{0};  // creations apply() found no earlier version of (one small read)
  asio::awaitable<status> run_all(std::vector<write> ws) {
    if (ws.empty()) co_return ok_status();
    const size_t statements = ws.size();
    std::vector<std::vector<cql::statement>> units;
    std::unordered_map<std::string, size_t> open_unit;  // group -> index of its unit being filled
    for (auto& w : ws) {
      auto p = co_await s->prepare(w.cql);
      if (!p) co_return to_error(p.err(), "prepare");
      cql::statement st;
      st.prepared = *p;
      st.values = std::move(w.values);
      st.cl = cl;
      st.idempotent = true;  // every write carries its own timestamp
      auto it = w.group.empty() ? open_unit.end() : open_unit.find(w.group);
      if (it == open_unit.end() || units[it->second].size() >= kBatchMax) {
        units.emplace_back();
        if (!w.group.empty()) open_unit.insert_or_assign(w.group, units.size() - 1);
        units.back().push_back(std::move(st));
      } else {
        units[it->second].push_back(std::move(st));
      }
    }
    std::vector<asio::awaitable<std::optional<cql::error>>> tasks;
    tasks.reserve(units.size());
    for (auto& u : units) tasks.push_back(one_request(std::move(u)));
    auto errors = co_await gather(ex, std::move(tasks), o.write_concurrency);
    for (auto& e : errors)
      if (e) co_return to_error(*e, "write");
    rows_written.fetch_add(statements, std::memory_order_relaxed);
    co_return ok_status();
  }
  asio::awaitable<std::optional<cql::error>> one_request(std::vector<cql::statement> sts) {
    if (sts.size() == 1) {
      auto r = co_await s->execute(std::move(sts[0]));
      if (!r) co_return r.err();
      co_return std::nullopt;
    }
    cql::batch_statement b;
    b.type = cql::batch_type::unlogged;
    b.cl = cl;
    b.idempotent = true;
    b.statements = std::move(sts);
    auto r = co_await s->batch(std::move(b));
    if (!r) co_return r.err();
    co_return std::nullopt;
  }

  // Reads one chunk of ids from leaves or leaf_meta (`= ?` for one id, so the
  // request goes to the replica that owns it).
  asio::awaitable<cql::result<cql::protocol::rows>> read_ids(const std::string& in_q, const std::string& one_q,
                                                             std::vector<std::string> chunk) {
    if (chunk.size() == 1) co_return co_await run(one_q, args(value::text(chunk[0])));
    co_return co_await run(in_q, args(value::text_list(chunk)));
  }
  void read_chunks(std::vector<asio::awaitable<cql::result<cql::protocol::rows>>>& tasks, const std::string& in_q,
                   const std::string& one_q, const std::vector<std::string>& ids) {
    for (size_t i = 0; i < ids.size(); i += kInChunk)
      tasks.push_back(read_ids(in_q, one_q, std::vector<std::string>(ids.begin() + i, ids.begin() + std::min(ids.size(), i + kInChunk))));
  }
  static constexpr size_t kReadConcurrency = 16;

  // Leaves and their meta rows for a set of ids. The leaves rows and the meta
  // rows of ids without a cached meta are read at once; a cached meta whose
  // timestamp the row no longer carries is read in a second round.
  using loaded = std::unordered_map<std::string, std::pair<std::optional<domain::leaf>, meta>>;
  asio::awaitable<result<loaded>> load(const std::vector<std::string>& ids) {
    std::vector<std::string> need_meta;
    for (const auto& id : ids)
      if (!metas.find(id)) need_meta.push_back(id);
    std::vector<asio::awaitable<cql::result<cql::protocol::rows>>> tasks;
    read_chunks(tasks, q.leaves_in, q.leaves_one, ids);
    const size_t leaf_tasks = tasks.size();
    read_chunks(tasks, q.meta_in, q.meta_one, need_meta);
    auto results = co_await gather(ex, std::move(tasks), kReadConcurrency);
    std::unordered_map<std::string, meta> fetched;
    for (size_t i = leaf_tasks; i < results.size(); ++i) {
      if (!results[i]) co_return to_error(results[i].err(), "read leaf_meta");
      for (size_t r = 0; r < results[i]->row_count; ++r) fetched[cell_text(*results[i], r, 0).value_or("")] = read_meta(*results[i], r);
    }
    struct row_ref {
      const cql::protocol::rows* rows;
      size_t row;
      int64_t written;  // WRITETIME(updated_at), 0 when null
    };
    std::unordered_map<std::string, row_ref> rows;
    for (size_t i = 0; i < leaf_tasks; ++i) {
      if (!results[i]) co_return to_error(results[i].err(), "read leaves");
      for (size_t r = 0; r < results[i]->row_count; ++r)
        rows[cell_text(*results[i], r, 0).value_or("")] = {&*results[i], r, cell_bigint(*results[i], r, kLeafColumnCount).value_or(0)};
    }
    // Second round: cached metas the rows do not confirm.
    std::vector<std::string> stale;
    for (const auto& id : ids) {
      if (fetched.contains(id)) continue;
      const meta* m = metas.find(id);
      if (!m) continue;  // was read in the first round and does not exist
      auto ri = rows.find(id);
      if (ri == rows.end() || ri->second.written == 0 || ri->second.written != m->write_ts) stale.push_back(id);
    }
    if (!stale.empty()) {
      std::vector<asio::awaitable<cql::result<cql::protocol::rows>>> more;
      read_chunks(more, q.meta_in, q.meta_one, stale);
      auto mr = co_await gather(ex, std::move(more), kReadConcurrency);
      for (auto& r : mr) {
        if (!r) co_return to_error(r.err(), "read leaf_meta");
        for (size_t i = 0; i < r->row_count; ++i) fetched[cell_text(*r, i, 0).value_or("")] = read_meta(*r, i);
      }
      for (const auto& id : stale)
        if (!fetched.contains(id)) metas.erase(id);
    }
    metas.misses.fetch_add(need_meta.size() + stale.size(), std::memory_order_relaxed);
    metas.hits.fetch_add(ids.size() - need_meta.size() - stale.size(), std::memory_order_relaxed);
    loaded out;
    for (const auto& id : ids) {
      const meta* m = nullptr;
      bool read_now = false;  // from leaf_meta in this call, not the cache
      if (auto fi = fetched.find(id); fi != fetched.end()) {
        m = &fi->second;
        read_now = true;
      } else if (const meta* c = metas.find(id)) {
        m = c;  // confirmed above: not stale, so the row carries its timestamp
      }
      auto ri = rows.find(id);
      if (ri != rows.end()) {
        auto l = read_leaf(*ri->second.rows, ri->second.row, m);
        // Cache a meta the row confirms; one the row has moved past is stale.
        if (read_now) {
          if (ri->second.written != 0 && ri->second.written == m->write_ts)
            metas.put(id, *m);
          else
            metas.erase(id);
        }
        // Deleted per meta while the row remains (a delete cut short): a tombstone.
        if (m && m->deleted) l = tombstone(id, *m);
        out[id] = {std::move(l), m ? *m : meta{}};
      } else if (m) {
        out[id] = {tombstone(id, *m), *m};  // deleted, or a row gone while meta says live
      }
    }
    co_return out;
  }

  asio::awaitable<result<std::optional<domain::leaf>>> get(std::string id) {
    std::vector<std::string> ids(1, id);
    auto m = co_await load(ids);
    if (!m) co_return m.err();
    auto it = m->find(id);
    if (it == m->end()) co_return std::optional<domain::leaf>{};
    co_return std::move(it->second.first);
  }

  asio::awaitable<result<apply_stats>> apply(const std::vector<applied_event>& batch) {
    apply_stats stats;
    // A leaf whose first event here is its creation (version 1) is read whole
    // only if it has a leaf_meta row (its creation was applied before, or it
    // was deleted): without one, no earlier version of it was projected (the
    // leaves and leaf_meta rows are written in one batch), so it starts
    // empty. A row some other CQL client inserted has no leaf_meta row and no
    // listing rows or counts either; the creation overwrites it. (Writing the
    // creation blind, without this read, is not safe: list<text> cells get new
    // element ids on every write, so a creation written twice doubles its
    // lists. CreationsAppliedAgainAfterLaterEventsChangeNothing found that.)
    std::vector<std::string> ids, creations;
    std::unordered_set<std::string> seen;
    for (const auto& ae : batch) {
      const auto& id = ae.ev.aggregate_id;
      if (!seen.insert(id).second) continue;
      const bool creation =
          ae.ev.aggregate_version == 1 && ae.ev.type == domain::event_type::created && !metas.find(id);
      (creation ? creations : ids).push_back(id);
    }
    if (!creations.empty()) {
      std::vector<asio::awaitable<cql::result<cql::protocol::rows>>> tasks;
      read_chunks(tasks, q.meta_exists_in, q.meta_exists_one, creations);
      auto results = co_await gather(ex, std::move(tasks), kReadConcurrency);
      size_t known = 0;
      for (auto& r : results) {
        if (!r) co_return to_error(r.err(), "read leaf_meta");
        for (size_t row = 0; row < r->row_count; ++row, ++known) ids.push_back(cell_text(*r, row, 0).value_or(""));
      }
      new_creations.fetch_add(creations.size() - known, std::memory_order_relaxed);
    }
    std::sort(ids.begin(), ids.end());
    auto loaded = co_await load(ids);
    if (!loaded) co_return loaded.err();
    struct leaf_state {
      std::optional<domain::leaf> before, now;
      int64_t write_ts = 0;
      bool changed = false;
    };
    std::map<std::string, leaf_state> states;
    for (auto& [id, lm] : *loaded) states[id] = {lm.first, lm.first, lm.second.write_ts, false};
    struct delta {
      int32_t partition;
      std::string tag;
      int64_t offset;
      int d;
    };
    std::vector<delta> deltas;
    for (const auto& ae : batch) {
      auto& st = states[ae.ev.aggregate_id];
      auto step = leaves::projection::fold_leaf(st.now, ae.ev);
      if (step.skip) {
        ++stats.skipped;
        continue;
      }
      std::optional<domain::leaf>& next = step.next;
      auto old_tags = live_tags(st.now), new_tags = live_tags(next);
      for (const auto& tg : old_tags)
        if (!new_tags.contains(tg)) deltas.push_back({ae.partition, tg, ae.offset, -1});
      for (const auto& tg : new_tags)
        if (!old_tags.contains(tg)) deltas.push_back({ae.partition, tg, ae.offset, +1});
      st.now = std::move(next);
      st.write_ts = std::max(ae.ev.time_ms * 1000 + ae.ev.aggregate_version % 1000, st.write_ts + 1);
      st.changed = true;
      ++stats.applied;
    }

    // Writes in two rounds. First the tag counts and the listing rows: an
    //    event changes a count only if it is not before the offset the count
    //    is valid through (one writer per log partition), and listing rows are
    //    keyed by what they list. Then, per leaf, its leaves row and leaf_meta
    //    row in one batch (one mutation: the same partition key): the version
    //    in leaf_meta marks the event applied only after everything it
    //    changed is written, so a round cut short is completed by replay.
    std::vector<write> first_ws, leaf_ws;
    if (!deltas.empty()) {
      std::map<std::pair<int32_t, std::string>, std::pair<int64_t, int64_t>> counts;  // -> count, through
      std::map<int32_t, std::vector<std::string>> wanted;
      for (const auto& d : deltas) wanted[d.partition].push_back(d.tag);
      std::vector<asio::awaitable<cql::result<cql::protocol::rows>>> reads;
      for (auto& [p, tags] : wanted) {
        std::sort(tags.begin(), tags.end());
        tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
        for (size_t i = 0; i < tags.size(); i += kInChunk) {
          std::vector<std::string> chunk(tags.begin() + i, tags.begin() + std::min(tags.size(), i + kInChunk));
          for (const auto& tg : chunk) counts[{p, tg}] = {0, 0};
          reads.push_back(run(q.counts_read, args(value::int32(p), value::text_list(chunk))));
        }
      }
      auto results = co_await gather(ex, std::move(reads), kReadConcurrency);
      // Requests and results are in the order of `wanted`, so the shard of each result is known.
      size_t ri = 0;
      for (auto& [p, tags] : wanted) {
        for (size_t i = 0; i < tags.size(); i += kInChunk, ++ri) {
          auto& r = results[ri];
          if (!r) co_return to_error(r.err(), "read tag counts");
          for (size_t row = 0; row < r->row_count; ++row)
            counts[{p, cell_text(*r, row, 0).value_or("")}] = {cell_bigint(*r, row, 1).value_or(0),
                                                                cell_bigint(*r, row, 2).value_or(0)};
        }
      }
      std::set<std::pair<int32_t, std::string>> touched;
      for (const auto& d : deltas) {
        auto& [count, through] = counts[{d.partition, d.tag}];
        if (d.offset < through) continue;
        count += d.d;
        through = d.offset + 1;
        touched.insert({d.partition, d.tag});
      }
      for (const auto& k : touched) {
        auto [count, through] = counts[k];
        first_ws.push_back(write{q.counts_write,
                                 args(value::int32(k.first), value::text(k.second), value::bigint(count),
                                      value::bigint(through), value::bigint(through)),
                                 "shard/" + std::to_string(k.first)});
      }
    }

    std::set<std::tuple<std::string, std::string, std::string>> parts;
    std::vector<std::pair<std::string, meta>> new_metas;
    for (auto& [id, st] : states) {
      if (!st.changed) continue;
      auto ts = value::bigint(st.write_ts);
      auto old_e = index_entries(st.before), new_e = index_entries(st.now);
      for (const auto& e : old_e)
        if (!new_e.contains(e)) first_ws.push_back(index_delete(e, ts));
      for (const auto& e : new_e) {
        if (old_e.contains(e)) continue;
        first_ws.push_back(index_insert(e, ts));
        parts.insert({index_name(e.kind), e.key, e.part});
      }
      const std::string group = "id/" + id;
      if (st.now->deleted) {
        leaf_ws.push_back(write{q.leaf_delete, args(ts, value::text(id)), group});
      } else {
        auto row = leaf_row(*st.now);
        row.push_back(ts);
        leaf_ws.push_back(write{q.leaf_insert, std::move(row), group});
      }
      auto m = meta_of(*st.now, st.write_ts);
      auto mrow = meta_row(id, m);
      mrow.push_back(ts);
      leaf_ws.push_back(write{q.meta_insert, std::move(mrow), group});
      new_metas.emplace_back(id, std::move(m));
    }
    for (const auto& [idx, key, part] : parts)
      first_ws.push_back(write{q.parts_insert, args(value::text(idx), value::text(key), value::text(part)),
                               std::string("parts/") + idx + "/" + key});
    if (auto s2 = co_await run_all(std::move(first_ws)); !s2) co_return s2.err();
    if (auto s2 = co_await run_all(std::move(leaf_ws)); !s2) {
      for (const auto& nm : new_metas) metas.erase(nm.first);  // some may have landed
      co_return s2.err();
    }
    for (const auto& [id, m] : new_metas) {
      if (m.deleted)
        metas.erase(id);  // no row to confirm it
      else
        metas.put(id, m);
    }
    co_return stats;
  }

  static std::string marks(size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s += i ? ", ?" : "?";
    return s;
  }

  // Table, its partition-key prefix columns, and its sort column.
  struct index_table {
    std::string table, key_column, sort_column;
  };
  index_table table_of(index_kind k) const {
    switch (k) {
      case index_kind::created: return {t("leaves_by_created"), "", "created_at"};
      case index_kind::updated: return {t("leaves_by_updated"), "", "updated_at"};
      case index_kind::title: return {t("leaves_by_title"), "", "title_key"};
      case index_kind::tag: return {t("leaves_by_tag"), "tag", "created_at"};
      case index_kind::user: return {t("leaves_by_user"), "user_id", "created_at"};
    }
    return {};
  }
  std::vector<value> key_values(const index_entry& e) const {
    std::vector<value> v;
    if (e.kind == index_kind::tag) v.push_back(value::text(e.key));
    if (e.kind == index_kind::user) v.push_back(value::bigint(std::stoll(e.key)));
    v.push_back(value::text(e.part));
    v.push_back(e.kind == index_kind::title ? value::text(e.title) : value::timestamp(e.t));
    v.push_back(value::text(e.id));
    return v;
  }
  static std::string group_of(const index_entry& e) {
    std::string g = index_name(e.kind);
    g += '/';
    g += e.key;
    g += '/';
    g += e.part;
    return g;
  }
  write index_insert(const index_entry& e, const value& ts) const {
    auto it = table_of(e.kind);
    std::string cols = (it.key_column.empty() ? "" : it.key_column + ", ") + "part, " + it.sort_column + ", id";
    auto v = key_values(e);
    v.push_back(ts);
    return {"INSERT INTO " + it.table + " (" + cols + ") VALUES (" + marks(v.size() - 1) + ") USING TIMESTAMP ?", std::move(v),
            group_of(e)};
  }
  write index_delete(const index_entry& e, const value& ts) const {
    auto it = table_of(e.kind);
    std::string where = (it.key_column.empty() ? "" : it.key_column + " = ? AND ") + "part = ? AND " + it.sort_column + " = ? AND id = ?";
    auto v = key_values(e);
    v.insert(v.begin(), ts);
    return {"DELETE FROM " + it.table + " USING TIMESTAMP ? WHERE " + where, std::move(v), group_of(e)};
  }

  // GET /api/leaves as the reference answered it: the leaves table itself,
  // in token order, one CQL page per call (the paging state is the page
  // token). Rows another CQL client inserted are listed; a leaf whose
  // leaf_meta says deleted while its row remains (a delete cut short) is not.
  asio::awaitable<result<list_page>> reference_page(std::string token, size_t limit) {
    std::string state;
    if (!token.empty() && !base64url_decode(token, state))
      co_return make_error(errc::invalid_argument, "page_token is malformed", "invalid_query");
    auto rows = co_await run("SELECT id FROM " + t("leaves"), {}, true,
                             static_cast<int32_t>(std::clamp<size_t>(limit, 1, 5000)), std::move(state));
    if (!rows) co_return to_error(rows.err(), "list the leaves table");
    std::vector<std::string> ids;
    for (size_t r = 0; r < rows->row_count; ++r) ids.push_back(cell_text(*rows, r, 0).value_or(""));
    auto leaves = co_await load(ids);
    if (!leaves) co_return leaves.err();
    list_page page;
    for (const auto& id : ids) {
      auto li = leaves->find(id);
      if (li == leaves->end() || !li->second.first || li->second.first->deleted) continue;
      page.items.push_back(std::move(*li->second.first));
    }
    if (!rows->meta.paging_state.empty()) page.next_page_token = base64url_encode(rows->meta.paging_state);
    co_return page;
  }

  asio::awaitable<result<list_page>> list(list_query q) {
    index_kind kind = index_kind::created;
    std::string key;
    if (q.sort == sort_key::created) {
      if (q.tag) {
        kind = index_kind::tag;
        key = *q.tag;
      } else if (q.user_id) {
        kind = index_kind::user;
        key = std::to_string(*q.user_id);
      }
    } else {
      kind = q.sort == sort_key::updated ? index_kind::updated : index_kind::title;
    }
    const bool timed = kind != index_kind::title;
    const bool by_created = kind == index_kind::created || kind == index_kind::tag || kind == index_kind::user;

    // Resume point from the page token.
    std::optional<index_entry> resume;
    if (!q.page_token.empty()) {
      std::string raw;
      boost::system::error_code ec;
      json::value j;
      if (base64url_decode(q.page_token, raw)) j = json::parse(raw, ec);
      const json::object* o = (!ec && j.is_object()) ? &j.get_object() : nullptr;
      auto str = [&](const char* k) -> const json::string* {
        auto* v = o ? o->if_contains(k) : nullptr;
        return v && v->is_string() ? &v->get_string() : nullptr;
      };
      auto* ti = o ? o->if_contains("t") : nullptr;
      if (!o || !str("i") || *str("i") != index_name(kind) || !str("k") || *str("k") != key || !str("p") || !str("d") ||
          !str("s") || !ti || !ti->is_int64())
        co_return make_error(errc::invalid_argument, "page_token does not belong to this query", "invalid_query");
      resume = index_entry{kind, key, std::string(*str("p")), ti->as_int64(), std::string(*str("s")), std::string(*str("d"))};
    }

    // The listing's partitions, in iteration order.
    auto pr = co_await run("SELECT part FROM " + t("index_parts") + " WHERE listing = ? AND lkey = ?",
                           args(value::text(index_name(kind)), value::text(key)));
    if (!pr) co_return to_error(pr.err(), "list partitions");
    std::vector<std::string> parts;
    for (size_t i = 0; i < pr->row_count; ++i) parts.push_back(cell_text(*pr, i, 0).value_or(""));
    if (q.descending) std::reverse(parts.begin(), parts.end());

    auto it = table_of(kind);
    std::string pk = (it.key_column.empty() ? "" : it.key_column + " = ? AND ") + "part = ?";
    const char* dir = q.descending ? "DESC" : "ASC";
    std::string order = " ORDER BY " + it.sort_column + " " + dir + ", id " + dir + " LIMIT ?";
    std::string select = "SELECT " + it.sort_column + ", id FROM " + it.table + " WHERE " + pk;

    list_page page;
    size_t scanned = 0;
    std::optional<index_entry> last;
    for (size_t pi = 0; pi < parts.size(); ++pi) {
      const std::string& part = parts[pi];
      if (resume && (q.descending ? part > resume->part : part < resume->part)) continue;
      if (by_created && q.descending && q.until_ms && part > bucket_part(*q.until_ms)) continue;
      if (by_created && !q.descending && q.since_ms && part < bucket_part(*q.since_ms)) continue;
      if (by_created && q.descending && q.since_ms && part < bucket_part(*q.since_ms)) break;
      if (by_created && !q.descending && q.until_ms && part > bucket_part(*q.until_ms)) break;
      // Bound within the partition: after the resume entry, else the window's start.
      std::optional<std::pair<value, std::string>> bound;  // (sort value, id), exclusive unless id empty
      if (resume && resume->part == part)
        bound = std::make_pair(timed ? value::timestamp(resume->t) : value::text(resume->title), resume->id);
      else if (by_created && q.descending && q.until_ms)
        bound = std::make_pair(value::timestamp(*q.until_ms), std::string());
      else if (by_created && !q.descending && q.since_ms)
        bound = std::make_pair(value::timestamp(*q.since_ms), std::string());
      for (;;) {
        std::vector<value> v;
        if (!it.key_column.empty()) v.push_back(kind == index_kind::tag ? value::text(key) : value::bigint(std::stoll(key)));
        v.push_back(value::text(part));
        std::string cql = select;
        if (bound) {
          // Descending: strictly before. Ascending: strictly after the resume
          // entry, or from the window start inclusive (id "" sorts first).
          const char* op = q.descending ? "<" : (bound->second.empty() ? ">=" : ">");
          cql += " AND (" + it.sort_column + ", id) " + op + " (?, ?)";
          v.push_back(bound->first);
          v.push_back(value::text(bound->second));
        }
        cql += order;
        const size_t want = std::min<size_t>(500, q.limit - page.items.size() + 1);
        v.push_back(value::int32(static_cast<int32_t>(want)));
        auto rows = co_await run(cql, std::move(v));
        if (!rows) co_return to_error(rows.err(), "list");
        std::vector<index_entry> entries;
        for (size_t r = 0; r < rows->row_count; ++r) {
          index_entry e{kind, key, part, 0, "", cell_text(*rows, r, 1).value_or("")};
          if (timed)
            e.t = cell_bigint(*rows, r, 0).value_or(0);
          else
            e.title = cell_text(*rows, r, 0).value_or("");
          entries.push_back(std::move(e));
        }
        std::vector<std::string> ids;
        for (const auto& e : entries) ids.push_back(e.id);
        auto leaves = co_await load(ids);
        if (!leaves) co_return leaves.err();
        for (size_t i = 0; i < entries.size(); ++i) {
          const auto& e = entries[i];
          if (by_created && q.descending && q.since_ms && e.t < *q.since_ms) co_return page;
          if (by_created && !q.descending && q.until_ms && e.t >= *q.until_ms) co_return page;
          if (page.items.size() == q.limit || scanned == kScanBudget) {
            page.next_page_token = token(*last);
            co_return page;
          }
          ++scanned;
          last = e;
          auto li = leaves->find(e.id);
          if (li == leaves->end() || !li->second.first) continue;
          const auto& l = *li->second.first;
          if (current(e, l) && matches(l, q)) page.items.push_back(l);
        }
        if (entries.size() < want) break;  // partition exhausted
        bound = std::make_pair(timed ? value::timestamp(entries.back().t) : value::text(entries.back().title), entries.back().id);
      }
    }
    co_return page;
  }

  static std::string token(const index_entry& e) {
    json::object o{{"i", index_name(e.kind)}, {"k", e.key}, {"p", e.part}, {"t", e.t}, {"s", e.title}, {"d", e.id}};
    return base64url_encode(json::serialize(o));
  }

  asio::awaitable<result<std::vector<tag_count>>> tags(size_t limit) {
    const std::string q = "SELECT tag, count FROM " + t("tag_counts");
    auto pages = co_await all_rows(q, "tags", 5000);
    if (!pages) co_return pages.err();
    std::map<std::string, int64_t> sum;
    for (const auto& r : *pages)
      for (size_t i = 0; i < r.row_count; ++i) sum[cell_text(r, i, 0).value_or("")] += cell_bigint(r, i, 1).value_or(0);
    std::vector<tag_count> out;
    for (auto& [tag, n] : sum)
      if (n > 0) out.push_back({tag, n});
    std::sort(out.begin(), out.end(), [](const tag_count& a, const tag_count& b) {
      return a.count != b.count ? a.count > b.count : a.tag < b.tag;
    });
    if (out.size() > limit) out.resize(limit);
    co_return out;
  }

  std::vector<std::string> tables() const {
    return {"leaves", "leaf_meta", "leaves_by_created", "leaves_by_updated", "leaves_by_title",
            "leaves_by_tag", "leaves_by_user", "index_parts", "tag_counts"};
  }

  asio::awaitable<status> clear() {
    metas.clear();
    for (const auto& tb : tables()) {
      auto r = co_await simple("TRUNCATE " + t(tb.c_str()));
      if (!r) co_return to_error(r.err(), "truncate");
    }
    co_return ok_status();
  }

  // Versioned, idempotent schema. Each migration's statements use IF NOT
  // EXISTS; the version row is written after they all succeed.
  asio::awaitable<status> migrate() {
    auto r = co_await simple("CREATE KEYSPACE IF NOT EXISTS " + o.keyspace + " WITH replication = " + o.replication);
    if (!r) co_return to_error(r.err(), "create keyspace");
    r = co_await simple("CREATE TABLE IF NOT EXISTS " + t("schema_migrations") +
                        " (version int PRIMARY KEY, description text, applied_at timestamp)");
    if (!r) co_return to_error(r.err(), "create schema_migrations");
    r = co_await simple("SELECT version FROM " + t("schema_migrations"));
    if (!r) co_return to_error(r.err(), "read schema_migrations");
    std::set<int> applied;
    for (size_t i = 0; i < r->row_count; ++i) applied.insert(cell_int(*r, i, 0).value_or(0));
    if (!applied.empty() && *applied.rbegin() > kSchemaVersion)
      co_return make_error(errc::internal, "keyspace " + o.keyspace + " has schema version " + std::to_string(*applied.rbegin()) +
                                               ", newer than this build's " + std::to_string(kSchemaVersion));
    const std::vector<std::pair<int, std::string>> migrations{
        {1, "leaves, leaf_meta, listing tables, tag counts"},
        {2, "users, teams, collections and marks: the directory model"}};
    for (const auto& m : migrations) {
      const int version = m.first;
      const std::string& description = m.second;
      if (applied.contains(version)) continue;
      const std::string what = "migration " + std::to_string(version);
      const std::vector<std::string> statements = version == 1 ? migration_1() : migration_2();
      for (const auto& stmt : statements) {
        r = co_await simple(stmt);
        if (!r) co_return to_error(r.err(), what.c_str());
      }
      // Every node must know the new tables before any coordinator is asked to use them.
      auto agreed = co_await s->wait_for_schema_agreement(kSchemaAgreementWait);
      if (!agreed) co_return to_error(agreed.err(), "schema agreement");
      if (!*agreed)
        log_warn("cassandra", "the nodes did not agree on the schema within " +
                                  std::to_string(kSchemaAgreementWait.count()) + " ms (is a node down?); continuing");
      r = co_await simple("INSERT INTO " + t("schema_migrations") + " (version, description, applied_at) VALUES (" +
                          std::to_string(version) + ", '" + description + "', toTimestamp(now()))");
      if (!r) co_return to_error(r.err(), ("record " + what).c_str());
    }
    co_return ok_status();
  }

  // The directory model (store/directory_store.h): a table per aggregate,
  // read by key, and each user's marks in a partition of its own (at most
  // domain::kMaxMarksPerUser live rows). Every write carries the aggregate's
  // version as its timestamp, and a position its offset, so the newest wins
  // whichever server writes last.
  std::vector<std::string> migration_2() const {
    return {
        "CREATE TABLE IF NOT EXISTS " + t("users_by_name") + " (name text PRIMARY KEY, version bigint, state text)",
        "CREATE TABLE IF NOT EXISTS " + t("teams_by_id") + " (id text PRIMARY KEY, version bigint, state text)",
        "CREATE TABLE IF NOT EXISTS " + t("collections_by_id") + " (id text PRIMARY KEY, version bigint, state text)",
        "CREATE TABLE IF NOT EXISTS " + t("marks_by_user") +
            " (user text, leaf text, version bigint, starred boolean, archived boolean, PRIMARY KEY ((user), leaf))",
        "CREATE TABLE IF NOT EXISTS " + t("directory_positions") + " (partition int PRIMARY KEY, next bigint)",
    };
  }
  static const char* aggregate_table(directory_kind k) {
    return k == directory_kind::user ? "users_by_name" : k == directory_kind::team ? "teams_by_id" : "collections_by_id";
  }

  // Every page of a SELECT.
  asio::awaitable<result<std::vector<cql::protocol::rows>>> all_rows(const std::string& cql,
                                                                      const char* what = "read the directory model",
                                                                      int32_t page_size = 1000) {
    auto p = co_await s->prepare(cql);
    if (!p) co_return to_error(p.err(), what);
    cql::statement st;
    st.prepared = *p;
    st.cl = cl;
    st.page_size = page_size;
    st.idempotent = true;
    auto pages = co_await s->execute_all_pages(std::move(st));
    if (!pages) co_return to_error(pages.err(), what);
    co_return std::move(*pages);
  }

  asio::awaitable<result<std::optional<directory_snapshot>>> dir_load() {
    directory_snapshot snap;
    const std::string positions_q = "SELECT partition, next FROM " + t("directory_positions");
    auto positions = co_await all_rows(positions_q);
    if (!positions) co_return positions.err();
    bool positioned = false;
    for (const auto& r : *positions)
      for (size_t i = 0; i < r.row_count; ++i) {
        const auto p = cell_int(r, i, 0);
        const auto next = cell_bigint(r, i, 1);
        if (!p || !next || *p < 0 || *p >= 1024) continue;
        if (snap.next.size() <= static_cast<size_t>(*p)) snap.next.resize(*p + 1, 0);
        snap.next[*p] = *next;
        positioned = true;
      }
    if (!positioned) co_return std::optional<directory_snapshot>{};
    const std::vector<directory_kind> kinds{directory_kind::user, directory_kind::team, directory_kind::collection};
    for (auto kind : kinds) {
      const std::string rows_q = std::string("SELECT ") + (kind == directory_kind::user ? "name" : "id") +
                                 ", version, state FROM " + t(aggregate_table(kind));
      auto rows = co_await all_rows(rows_q);
      if (!rows) co_return rows.err();
      for (const auto& r : *rows)
        for (size_t i = 0; i < r.row_count; ++i) {
          directory_row d;
          d.kind = kind;
          d.id = cell_text(r, i, 0).value_or("");
          d.version = cell_bigint(r, i, 1).value_or(0);
          d.state = cell_text(r, i, 2).value_or("");
          snap.rows.push_back(std::move(d));
        }
    }
    const std::string marks_q = "SELECT user, leaf, version, starred, archived FROM " + t("marks_by_user");
    auto marks = co_await all_rows(marks_q);
    if (!marks) co_return marks.err();
    for (const auto& r : *marks)
      for (size_t i = 0; i < r.row_count; ++i) {
        directory_row d;
        d.kind = directory_kind::mark;
        d.id = cell_text(r, i, 0).value_or("");
        d.leaf = cell_text(r, i, 1).value_or("");
        d.version = cell_bigint(r, i, 2).value_or(0);
        d.marks = static_cast<uint8_t>((cell_bool(r, i, 3) ? 1 : 0) | (cell_bool(r, i, 4) ? 2 : 0));
        if (d.marks) snap.rows.push_back(std::move(d));
      }
    co_return std::optional<directory_snapshot>(std::move(snap));
  }

  // Rows first, then (once they are all written) the positions.
  asio::awaitable<status> dir_save(std::vector<directory_row> rows, std::vector<int64_t> next) {
    std::vector<write> ws;
    ws.reserve(rows.size());
    for (auto& r : rows) {
      // Timestamps from versions start at 1: a version is never 0 in a row.
      const int64_t ts = std::max<int64_t>(r.version, 1);
      if (r.kind == directory_kind::mark) {
        if (r.marks == 0) {
          ws.push_back({"DELETE FROM " + t("marks_by_user") + " USING TIMESTAMP ? WHERE user = ? AND leaf = ?",
                        args(value::bigint(ts), value::text(r.id), value::text(r.leaf)), "m" + r.id});
        } else {
          ws.push_back({"INSERT INTO " + t("marks_by_user") +
                            " (user, leaf, version, starred, archived) VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?",
                        args(value::text(r.id), value::text(r.leaf), value::bigint(r.version),
                             value::boolean((r.marks & 1) != 0), value::boolean((r.marks & 2) != 0), value::bigint(ts)),
                        "m" + r.id});
        }
        continue;
      }
      const std::string key = r.kind == directory_kind::user ? "name" : "id";
      ws.push_back({"INSERT INTO " + t(aggregate_table(r.kind)) + " (" + key + ", version, state) VALUES (?, ?, ?) USING TIMESTAMP ?",
                    args(value::text(r.id), value::bigint(r.version), value::text(std::move(r.state)), value::bigint(ts))});
    }
    if (auto st = co_await run_all(std::move(ws)); !st) co_return st;
    std::vector<write> ps;
    for (size_t p = 0; p < next.size(); ++p) {
      ps.push_back({"INSERT INTO " + t("directory_positions") + " (partition, next) VALUES (?, ?) USING TIMESTAMP ?",
                    args(value::int32(static_cast<int32_t>(p)), value::bigint(next[p]), value::bigint(std::max<int64_t>(next[p], 1)))});
    }
    co_return co_await run_all(std::move(ps));
  }

  asio::awaitable<status> dir_clear() {
    const std::vector<std::string> tables{"users_by_name", "teams_by_id", "collections_by_id", "marks_by_user",
                                          "directory_positions"};
    for (const auto& tb : tables) {
      const std::string cql = "TRUNCATE " + t(tb.c_str());
      auto r = co_await simple(cql);
      if (!r) co_return to_error(r.err(), "truncate");
    }
    co_return ok_status();
  }

  std::vector<std::string> migration_1() const {
    return {
        // The workshop's reference table, exactly.
        "CREATE TABLE IF NOT EXISTS " + t("leaves") +
            " (id text PRIMARY KEY, all list<text>, content text, content_text text, created_at timestamp, "
            "domain_name text, http_status text, is_archived int, is_public boolean, is_starred int, language text, "
            "links list<text>, mimetype text, preview_picture text, reading_time int, slugs list<text>, tags list<text>, "
            "title text, updated_at timestamp, url text, user_email text, user_id int, user_name text)",
        "CREATE TABLE IF NOT EXISTS " + t("leaf_meta") +
            " (id text PRIMARY KEY, version bigint, deleted boolean, deleted_at timestamp, write_ts bigint, user_id bigint, "
            "published_at list<text>, published_by list<text>, empty_lists list<text>)",
        "CREATE TABLE IF NOT EXISTS " + t("leaves_by_created") +
            " (part text, created_at timestamp, id text, PRIMARY KEY ((part), created_at, id)) WITH CLUSTERING ORDER BY (created_at DESC, id DESC)",
        "CREATE TABLE IF NOT EXISTS " + t("leaves_by_updated") +
            " (part text, updated_at timestamp, id text, PRIMARY KEY ((part), updated_at, id)) WITH CLUSTERING ORDER BY (updated_at DESC, id DESC)",
        "CREATE TABLE IF NOT EXISTS " + t("leaves_by_title") +
            " (part text, title_key text, id text, PRIMARY KEY ((part), title_key, id))",
        "CREATE TABLE IF NOT EXISTS " + t("leaves_by_tag") +
            " (tag text, part text, created_at timestamp, id text, PRIMARY KEY ((tag, part), created_at, id)) WITH CLUSTERING ORDER BY (created_at DESC, id DESC)",
        "CREATE TABLE IF NOT EXISTS " + t("leaves_by_user") +
            " (user_id bigint, part text, created_at timestamp, id text, PRIMARY KEY ((user_id, part), created_at, id)) WITH CLUSTERING ORDER BY (created_at DESC, id DESC)",
        "CREATE TABLE IF NOT EXISTS " + t("index_parts") + " (listing text, lkey text, part text, PRIMARY KEY ((listing, lkey), part))",
        "CREATE TABLE IF NOT EXISTS " + t("tag_counts") + " (shard int, tag text, count bigint, through bigint, PRIMARY KEY ((shard), tag))",
    };
  }
};

namespace {
class cassandra_directory final : public directory_store {
 public:
  explicit cassandra_directory(cassandra_store::impl& i) : i_(i) {}
  result<std::optional<directory_snapshot>> load() override { return i_.block(i_.dir_load()); }
  status save(const std::vector<directory_row>& rows, const std::vector<int64_t>& next) override {
    return i_.block(i_.dir_save(rows, next));
  }
  status clear() override { return i_.block(i_.dir_clear()); }
  std::string where() const override { return "Cassandra keyspace " + i_.o.keyspace; }
  bool shared() const override { return true; }

 private:
  cassandra_store::impl& i_;
};
}  // namespace

cassandra_store::cassandra_store(std::unique_ptr<impl> i)
    : impl_(std::move(i)), directory_(std::make_unique<cassandra_directory>(*impl_)) {}

directory_store& cassandra_store::directory_model() { return *directory_; }

cassandra_store::~cassandra_store() {
  if (impl_->s) impl_->s->close();
  impl_->rt.stop();
}

result<std::unique_ptr<cassandra_store>> cassandra_store::open(const cassandra_options& o) {
  auto i = std::make_unique<impl>();
  i->o = o;
  if (o.keyspace.empty() || o.keyspace.size() > 48 ||
      !std::all_of(o.keyspace.begin(), o.keyspace.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }))
    return make_error(errc::invalid_argument, "keyspace must be 1-48 letters, digits or underscores: '" + o.keyspace + "'");
  auto cl = cql::parse_consistency(o.consistency);
  if (!cl) return make_error(errc::invalid_argument, "unknown consistency level '" + o.consistency + "'");
  i->cl = *cl;
  i->metas.set_capacity(o.meta_cache_entries);
  i->build_texts();
  if (o.username.empty() != o.password.empty())
    return make_error(errc::invalid_argument, "give both a Cassandra username and password, or neither");
  cql::session_options so;
  so.contact_points = o.contact_points;
  if (!o.username.empty()) so.auth = cql::credentials{o.username, o.password};
  so.tls.enabled = o.tls;
  so.tls.ca_file = o.tls_ca_file;
  so.tls.cert_file = o.tls_cert_file;
  so.tls.key_file = o.tls_key_file;
  so.tls.verify_hostname = o.tls_verify_hostname;
  so.default_consistency = *cl;
  so.request_timeout = std::chrono::milliseconds(o.request_timeout_ms);
  auto comp = cql::protocol::parse_compression(o.compression);
  if (!comp) return make_error(errc::invalid_argument, "unknown Cassandra compression '" + o.compression + "' (none or lz4)");
  so.compression = *comp;
  auto s = i->block(cql::session::connect(i->ex, so));
  if (!s) return to_error(s.err(), "connect");
  i->s = *s;
  if (auto st = i->block(i->migrate()); !st) return st.err();
  return std::unique_ptr<cassandra_store>(new cassandra_store(std::move(i)));
}

result<std::optional<domain::leaf>> cassandra_store::get(const std::string& id) { return impl_->block(impl_->get(id)); }

result<list_page> cassandra_store::list(const list_query& q) { return impl_->block(impl_->list(q)); }

asio::awaitable<result<std::optional<domain::leaf>>> cassandra_store::async_get(std::string id) {
  auto r = co_await asio::co_spawn(impl_->ex, wrapped(impl_->get(std::move(id))), asio::use_awaitable);
  co_return std::move(*r);
}

asio::awaitable<result<list_page>> cassandra_store::async_list(list_query q) {
  auto r = co_await asio::co_spawn(impl_->ex, wrapped(impl_->list(std::move(q))), asio::use_awaitable);
  co_return std::move(*r);
}

asio::awaitable<result<list_page>> cassandra_store::async_reference_page(std::string page_token, size_t limit) {
  auto r = co_await asio::co_spawn(impl_->ex, wrapped(impl_->reference_page(std::move(page_token), limit)),
                                   asio::use_awaitable);
  co_return std::move(*r);
}

result<std::vector<tag_count>> cassandra_store::tags(size_t limit) { return impl_->block(impl_->tags(limit)); }

asio::awaitable<result<std::vector<tag_count>>> cassandra_store::async_tags(size_t limit) {
  auto r = co_await asio::co_spawn(impl_->ex, wrapped(impl_->tags(limit)), asio::use_awaitable);
  co_return std::move(*r);
}

result<apply_stats> cassandra_store::apply(const std::vector<applied_event>& batch) {
  return impl_->block(impl_->apply(batch));
}

status cassandra_store::clear() { return impl_->block(impl_->clear()); }

uint64_t cassandra_store::rows_written() const { return impl_->rows_written.load(std::memory_order_relaxed); }

std::vector<metric_reading> cassandra_store::metric_readings() const {
  const auto st = impl_->s->stats();
  std::vector<metric_reading> out;
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    out.push_back({name, help, metric_kind::counter, static_cast<double>(v)});
  };
  counter("leaves_cassandra_requests_total", "CQL requests sent (statements and batches).", st.requests);
  counter("leaves_cassandra_errors_total", "CQL requests that failed after their retries.", st.errors);
  counter("leaves_cassandra_retries_total", "CQL requests retried (idempotent statements only).", st.retries);
  counter("leaves_cassandra_timeouts_total", "CQL requests that reached their deadline.", st.timeouts);
  counter("leaves_cassandra_reconnects_total", "Hosts reconnected after being down.", st.reconnects);
  counter("leaves_cassandra_rows_written_total", "Rows the projection wrote or deleted (statements, batched or not).",
          rows_written());
  counter("leaves_cassandra_new_creations_total",
          "Creations the projection found no earlier version of, reading only leaf_meta's key.",
          impl_->new_creations.load(std::memory_order_relaxed));
  counter("leaves_cassandra_meta_cache_hits_total", "Leaf reads that took leaf_meta from memory.",
          impl_->metas.hits.load(std::memory_order_relaxed));
  counter("leaves_cassandra_meta_cache_misses_total", "Leaf reads that read leaf_meta from Cassandra.",
          impl_->metas.misses.load(std::memory_order_relaxed));
  out.push_back({"leaves_cassandra_meta_cache_entries", "leaf_meta rows held in memory.", metric_kind::gauge,
                 static_cast<double>(impl_->metas.size())});
  return out;
}

}  // namespace leaves::store
