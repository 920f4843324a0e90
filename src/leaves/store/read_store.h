// The ReadStore port: the read models materialised from the event log.
// Adapters: store/embedded (RocksDB) and store/cassandra.
//
// Contract (tests/contract/read_store_contract.cpp runs it against every adapter):
// - apply() is idempotent: an event whose aggregate_version is not newer than
//   the stored leaf's version is skipped, so replaying any suffix of the log, or
//   the whole log into an empty store, converges to the same models.
// - get() returns deleted leaves as tombstones (deleted=true, their version).
// - list() pages with opaque tokens; each live leaf matching the query appears
//   exactly once across the pages if nothing changes in between.
// Thread-safety: all methods are thread-safe; apply() is called by one projector.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/serialize.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "leaves/base/metric.h"
#include "leaves/base/result.h"
#include "leaves/domain/events.h"
#include "leaves/domain/leaf.h"
#include "leaves/domain/user.h"
#include "leaves/projection/projection.h"

namespace leaves::store {

enum class sort_key { created, updated, title };

struct list_query {
  std::optional<std::string> tag;
  std::optional<int64_t> user_id;
  std::optional<bool> starred, archived, is_public;
  // starred and archived as this user sees them (domain::marks_view); unset:
  // the leaves' own flags.
  std::optional<domain::marks_view> marks;
  // Only what this user may see: public leaves and its own.
  std::optional<int64_t> visible_to;
  std::optional<int64_t> since_ms, until_ms;  // created_at in [since, until)
  sort_key sort = sort_key::created;
  bool descending = true;
  size_t limit = 30;
  std::string page_token;
};

struct list_page {
  std::vector<domain::leaf> items;
  std::string next_page_token;  // empty: no more pages
};

// A stored leaf as the API shows it: its JSON (domain::leaf_to_json's bytes)
// and what an answer needs without parsing it.
struct leaf_json {
  std::string json;
  int64_t version = 0;
  bool deleted = false;
  bool is_public = false;  // what a caller limited to public leaves may see,
  std::optional<int64_t> user_id;  // and a user its own
};

struct json_page {
  std::vector<std::string> items;  // each a live leaf's JSON
  std::string next_page_token;  // empty: no more pages
};

struct tag_count {
  std::string tag;
  int64_t count = 0;
  bool operator==(const tag_count&) const = default;
};

using projection::applied_event;
using projection::apply_stats;

// The query port of the read models. An HTTP handler calls only the async_
// reads; the synchronous ones serve the write side's own thread and tests.
class leaf_queries {
 public:
  virtual ~leaf_queries() = default;
  virtual result<std::optional<domain::leaf>> get(const std::string& id) = 0;
  virtual result<list_page> list(const list_query& q) = 0;
  // Tags with a positive count, by count descending then tag ascending.
  virtual result<std::vector<tag_count>> tags(size_t limit) = 0;

  // The reads for callers on an io_context (HTTP handlers, the write side).
  // The default runs the synchronous call in place (the embedded store is
  // local); adapters with their own I/O (Cassandra) override them so that the
  // caller's thread is not blocked while the answer travels.
  virtual boost::asio::awaitable<result<std::optional<domain::leaf>>> async_get(std::string id) { co_return get(id); }
  virtual boost::asio::awaitable<result<list_page>> async_list(list_query q) { co_return list(q); }
  virtual boost::asio::awaitable<result<std::vector<tag_count>>> async_tags(size_t limit) { co_return tags(limit); }
  // The same reads as the JSON an answer carries. The defaults serialise what
  // async_get and async_list return; the embedded store serves the bytes it
  // keeps, without parsing them.
  virtual boost::asio::awaitable<result<std::optional<leaf_json>>> async_get_json(std::string id) {
    auto l = co_await async_get(std::move(id));
    if (!l) co_return l.err();
    if (!*l) co_return std::optional<leaf_json>{};
    co_return std::optional<leaf_json>(leaf_json{boost::json::serialize(domain::leaf_to_json(**l)), (*l)->version,
                                                 (*l)->deleted, (*l)->is_public, (*l)->user_id});
  }
  virtual boost::asio::awaitable<result<json_page>> async_list_json(list_query q) {
    auto page = co_await async_list(std::move(q));
    if (!page) co_return page.err();
    json_page out;
    out.items.reserve(page->items.size());
    for (const auto& l : page->items) out.items.push_back(boost::json::serialize(domain::leaf_to_json(l)));
    out.next_page_token = std::move(page->next_page_token);
    co_return out;
  }
  // One page of GET /api/leaves, the reference API's listing (`page_token`
  // empty for the first, else a page's next_page_token). The default is the
  // created listing, newest first. The Cassandra store lists the `leaves`
  // table itself in its token order, as the reference answered it: rows that
  // other CQL clients inserted are listed too.
  virtual boost::asio::awaitable<result<list_page>> async_reference_page(std::string page_token, size_t limit) {
    list_query q;
    q.limit = limit;
    q.page_token = std::move(page_token);
    co_return co_await async_list(std::move(q));
  }
  // The adapter's own counters and gauges for /metrics (any thread).
  virtual std::vector<metric_reading> metric_readings() const { return {}; }
  // Why the store cannot serve now, when it knows (a damaged embedded store),
  // or ok: /readyz and write admission read it.
  virtual status health() const { return ok_status(); }
};

// A read store is both sides: the projection the projector writes (apply,
// clear; see projection/projection.h) and the queries.
class read_store : public leaf_queries, public projection::projection {};

}  // namespace leaves::store
