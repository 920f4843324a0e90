// The search index in a Xapian database under DATA_DIR/search (see
// search_index.h for the contract and docs/search.md for what is indexed).
//
// Every server keeps its own full index, fed by its own consumer group: the
// group's name is kept in the database (metadata "leaves:group"), so a new or
// rebuilt index reads the log from the start and a restarted one resumes after
// what it last committed. The log position is written in the same Xapian
// commit as the documents it covers; the projector commits the group only
// after that, so a crash never loses a document, and events applied again are
// skipped by version (deleted leaves keep theirs as tombstones in metadata).
//
// Threads: the projector's thread writes (apply, flush); searches run on a
// pool of `search_threads` threads, each query on a reader of its own.
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "leaves/search/search_index.h"

namespace leaves::search {

struct xapian_options {
  std::filesystem::path dir;
  size_t search_threads = 2;
  size_t max_queued_searches = 64;  // beyond: 503 search_busy
  std::chrono::milliseconds flush_interval{200};  // longest wait before applied leaves are searchable
  uint64_t min_free_bytes = 0;  // a commit that would leave less free is refused (base/disk.h)
  // Answers kept for repeated searches, each valid for the index revision it
  // was computed on (a commit makes it stale): 0 keeps none.
  size_t cached_results = 64;
  // A search that would match more leaves than this (by the index's
  // estimate) is ranked and counted on a window of about this many matches,
  // the newest (search_result::sample); 0: every search walks all its
  // matches. Sorts by title or update time always walk all of them.
  size_t exact_up_to = 1000;
};

// Whether one leaf matches a query (nullopt: every leaf), by the index's own
// rules (the same terms, stems and fields): the leaf is indexed alone into an
// in-memory database and the query run on it. For the live-search stream.
result<bool> leaf_matches(const std::optional<node>& q, const domain::leaf& l);

class xapian_index final : public search_index {
 public:
  // The index schema this build writes; an index of another version is
  // rebuilt (a new database and group), which open() reports in `rebuilt`.
  static constexpr int kSchemaVersion = 5;  // 2: facets interned in one value slot; 3: facet terms, bounded terms; 4: time buckets; 5: ids never below created seconds

  struct opened {
    std::unique_ptr<xapian_index> index;
    bool created = false;  // a new, empty index: it reads the log from the start
    std::string reason;    // why it was created, when it replaced an older one
  };
  static result<opened> open(const xapian_options& o);
  // Whether the database under `dir` opens read-only with this build's schema,
  // without changing it (open() replaces one that does not: leaves check
  // must report that instead).
  static status probe(const std::filesystem::path& dir);
  // Removes the database (leaves reindex): the next open() creates a new one.
  static status destroy(const std::filesystem::path& dir);
  ~xapian_index() override;
  // Waits for the searches in flight and takes no more (idempotent).
  void stop();

  // The consumer group that feeds this database.
  const std::string& group() const;
  // Positions stored with the last commit (next offset per partition).
  std::optional<std::vector<int64_t>> stored_position() const override;

  result<leaves::projection::apply_stats> apply(const std::vector<leaves::projection::applied_event>& batch) override;
  status flush(const std::vector<int64_t>& next) override;
  std::chrono::milliseconds flush_interval() const override;
  status clear() override;

  result<search_result> search(const search_request& r) override;
  result<std::vector<facet_value>> tag_prefix(const std::string& prefix, size_t limit) override;
  boost::asio::awaitable<result<search_result>> async_search(search_request r) override;
  boost::asio::awaitable<result<std::vector<facet_value>>> async_tag_prefix(std::string prefix,
                                                                           size_t limit) override;
  uint64_t documents() const override;
  // Every document's leaf id and version, from the last commit (leaves check).
  result<std::map<std::string, int64_t>> versions() const;
  // Size of the database's files on disk, in bytes.
  uint64_t disk_bytes() const;
  uint64_t searches_total() const;
  uint64_t searches_refused() const;
  uint64_t searches_cached() const;  // answered from the result cache

  struct impl;

 private:
  explicit xapian_index(std::unique_ptr<impl> i);
  result<leaves::projection::apply_stats> apply_events(const std::vector<leaves::projection::applied_event>& batch);
  status recover();
  std::unique_ptr<impl> impl_;
};

}  // namespace leaves::search
