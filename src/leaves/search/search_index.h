// The SearchIndex port: a projection of the event log (projection.h) that
// answers full-text searches with facets. One adapter: search/xapian.
//
// Contract:
// - As a projection: idempotent apply() by leaf version (deleted leaves keep
//   their version as tombstones); flush() makes applied documents searchable
//   and stores the log position in the same commit.
// - search() sees what the last flush() made visible. Facet counts are over the
//   whole result set, not the page; a leaf counts once for each of its tags.
// - Paging by offset is stable while nothing changes (ties broken by an
//   internal document order that does not change).
// Thread-safety: search() and tag_prefix() may be called from any thread at
// once; the async_ variants run on the index's own bounded pool, never on the
// caller's I/O thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "leaves/base/result.h"
#include "leaves/domain/leaf.h"
#include "leaves/domain/user.h"
#include "leaves/projection/projection.h"
#include "leaves/search/query.h"

namespace leaves::search {

enum class sort_by { relevance, created, updated, title };

struct search_request {
  std::optional<node> q;  // nullopt: every leaf
  // Filters (AND), from the query string's parameters.
  std::vector<std::string> tags;  // every one of them
  std::optional<std::string> user;  // a user name, or a user id in digits
  std::optional<std::string> domain;  // host, with or without scheme
  std::optional<bool> starred, archived, is_public;
  // starred and archived (also is:starred, is:archived in q) as this user
  // sees them (domain::marks_view); unset: the leaves' own flags.
  std::optional<domain::marks_view> marks;
  // Only what this user may see: public leaves and its own.
  std::optional<int64_t> visible_to;
  std::optional<int64_t> since_ms, until_ms;  // created_at in [since, until)
  sort_by sort = sort_by::relevance;
  bool descending = true;
  size_t offset = 0;
  size_t limit = 30;
  bool facet_tags = false, facet_users = false, facet_domains = false;
  size_t facet_limit = 20;
  std::string text;  // the query as typed (for the spelling suggestion)
  // Walk every match even when there are more than the index samples
  // (xapian_options::exact_up_to): exact totals, facets and ranking, slower.
  bool exact = false;
};

struct hit {
  domain::leaf leaf;  // without content and content_text (a result shows a summary)
  std::string snippet;  // HTML-escaped text with <mark>matched words</mark>
  double score = 0;
};

struct facet_value {
  std::string value;
  int64_t count = 0;
  bool operator==(const facet_value&) const = default;
};

struct search_result {
  std::vector<hit> items;
  uint64_t total = 0;
  bool total_exact = true;
  // When the query had more matches than the index ranks and counts exactly,
  // the window of leaves its answer came from: ranked, facets counted and the
  // total estimated from the `matches` among the leaves created at or after
  // `edge_ms` (newest first; before it for oldest first). A page sorted by
  // creation time is still exact.
  struct sample_info {
    uint64_t matches = 0;
    int64_t edge_ms = 0;
    bool newest = true;
  };
  std::optional<sample_info> sample;
  bool facets_exact = true;
  // The matches of the window walked (0: every match was), also when the
  // answer is exact (everything, newest first) and has no `sample`.
  uint64_t window_matches = 0;
  std::vector<facet_value> tags, users, domains;
  bool more = false;  // another page follows
  std::string suggestion;  // "did you mean", only when nothing was found
};

class search_index : public projection::projection {
 public:
  virtual result<search_result> search(const search_request& r) = 0;
  // Tags starting with `prefix`, by count of live leaves (autocompletion).
  virtual result<std::vector<facet_value>> tag_prefix(const std::string& prefix, size_t limit) = 0;
  virtual boost::asio::awaitable<result<search_result>> async_search(search_request r) = 0;
  virtual boost::asio::awaitable<result<std::vector<facet_value>>> async_tag_prefix(std::string prefix,
                                                                                   size_t limit) = 0;
  virtual uint64_t documents() const = 0;
};

}  // namespace leaves::search
