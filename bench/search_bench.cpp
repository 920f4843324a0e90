// The search benchmark's direct baselines (BENCHMARKS.md, bench/search.sh):
//   leaves_bench_search build FILE.jsonl DIR   the same documents as the index
//       builds, added straight to a new Xapian database (one commit per 10,000,
//       as a reindex groups them): the limit of `leaves reindex`; wall time
//       and CPU time (the documents' building, leaves' code, included).
//   leaves_bench_search query DIR N            each benchmark query, with facets,
//       N times straight on the index (xapian_index::search, no HTTP): p50/p99.
//   leaves_bench_search query DIR N nofacets   the same without facets (what
//       the facet counts cost).
//   leaves_bench_search query DIR N exact      with facets, every match walked
//       (exact=true: no sample of the newest matches, xapian_options::exact_up_to).
#include <boost/json.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "leaves/base/time.h"
#include "leaves/domain/leaf.h"
#include "leaves/search/query.h"
#include "leaves/search/xapian/document.h"
#include "leaves/search/xapian/xapian_index.h"

using namespace leaves;
using clk = std::chrono::steady_clock;

namespace {

// The process's CPU time (user + system, every thread), in seconds.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

int build(const char* file, const char* dir) {
  std::ifstream in(file);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", file);
    return 1;
  }
  std::vector<domain::leaf> leaves;
  std::string line;
  domain::limits lim;
  while (std::getline(in, line)) {
    boost::system::error_code ec;
    auto v = boost::json::parse(line, ec);
    if (ec || !v.is_object()) continue;
    auto o = v.as_object();
    std::optional<int64_t> created, updated;
    if (auto* c = o.if_contains("created_at"); c && c->is_string()) created = parse_iso8601(c->as_string());
    if (auto* u = o.if_contains("updated_at"); u && u->is_string()) updated = parse_iso8601(u->as_string());
    o.erase("created_at");
    o.erase("updated_at");
    auto p = domain::parse_patch(o, lim, true);
    if (!p) continue;
    domain::leaf l = p->values;
    l.id = domain::leaf_id_for_url(l.url);
    l.version = 1;
    l.created_at = created.value_or(0);
    l.updated_at = updated.value_or(l.created_at);
    if (!l.tags) l.tags = domain::string_list{};
    leaves.push_back(std::move(l));
  }
  const auto t0 = clk::now();
  const double cpu0 = cpu_seconds();
  Xapian::WritableDatabase db(dir, Xapian::DB_CREATE_OR_OVERWRITE);
  Xapian::TermGenerator tg;
  tg.set_database(db);
  size_t n = 0;
  for (const auto& l : leaves) {
    db.replace_document("Q" + l.id, search::leaf_document(l, tg, db));
    if (++n % 10000 == 0) db.commit();
  }
  db.commit();
  const double secs = std::chrono::duration<double>(clk::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  std::printf("raw xapian: %zu documents in %.2f s (%.0f documents/s); CPU %.2f s, %.1f us a document\n", n, secs,
              n / secs, cpu, cpu * 1e6 / static_cast<double>(n));
  return 0;
}

struct bench_query {
  const char* name;
  const char* q;
  search::match_mode mode;
  const char* tag;  // filter, or null
  search::sort_by sort = search::sort_by::relevance;
  const char* since = nullptr;  // created_at range, ISO 8601, or null
  const char* until = nullptr;
};

int query(const char* dir, int n, bool facets, bool exact) {
  search::xapian_options o;
  o.dir = dir;
  o.cached_results = 0;  // each query runs: the cache would answer every repeat
  if (const char* e = std::getenv("LEAVES_SEARCH_EXACT_UP_TO")) o.exact_up_to = std::strtoull(e, nullptr, 10);
  auto opened = search::xapian_index::open(o);
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.err().message.c_str());
    return 1;
  }
  auto& ix = *opened->index;
  const bench_query qs[] = {
      {"one word", "python", search::match_mode::all, nullptr},
      {"two words (all)", "python library", search::match_mode::all, nullptr},
      {"two words (any)", "python library", search::match_mode::any, nullptr},
      {"phrase", "\"command line\"", search::match_mode::all, nullptr},
      {"tag filter + word", "module", search::match_mode::all, "python"},
      {"empty query + filter", "", search::match_mode::all, "libs"},
      {"empty query (home page)", "", search::match_mode::all, nullptr},
      {"one word, newest first", "python", search::match_mode::all, nullptr, search::sort_by::created},
      {"one word, in one year", "python", search::match_mode::all, nullptr, search::sort_by::relevance,
       "2022-01-01T00:00:00Z", "2023-01-01T00:00:00Z"},
  };
  const char* only = std::getenv("LEAVES_BENCH_ONLY");  // run the queries whose name has this in it (profiling)
  for (const auto& bq : qs) {
    if (only && !std::strstr(bq.name, only)) continue;
    search::search_request r;
    auto parsed = search::parse_query(bq.q, bq.mode);
    if (!parsed) return 1;
    r.q = *parsed;
    r.text = bq.q;
    if (bq.tag) r.tags.push_back(bq.tag);
    r.facet_tags = r.facet_users = r.facet_domains = facets;
    r.sort = bq.sort;
    if (bq.since) r.since_ms = parse_iso8601(bq.since);
    if (bq.until) r.until_ms = parse_iso8601(bq.until);
    r.exact = exact;
    std::vector<double> ms;
    uint64_t total = 0, sampled = 0;
    for (int i = 0; i < n; ++i) {
      const auto t0 = clk::now();
      auto res = ix.search(r);
      ms.push_back(std::chrono::duration<double, std::milli>(clk::now() - t0).count());
      if (!res) {
        std::fprintf(stderr, "%s: %s\n", bq.name, res.err().message.c_str());
        return 1;
      }
      total = res->total;
      sampled = res->window_matches;
    }
    std::sort(ms.begin(), ms.end());
    const auto at = [&](double f) { return ms[std::min(ms.size() - 1, static_cast<size_t>(f * ms.size()))]; };
    std::printf("direct %-24s total %7llu  sampled %6llu  p50 %6.2f ms  p99 %6.2f ms  (%.0f/s on one thread)\n",
                bq.name, (unsigned long long)total, (unsigned long long)sampled, at(0.5), at(0.99), 1000.0 / at(0.5));
  }
  ix.stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "build") return build(argv[2], argv[3]);
  if (argc == 4 && std::string(argv[1]) == "query") return query(argv[2], std::atoi(argv[3]), true, false);
  if (argc == 5 && std::string(argv[1]) == "query" && std::string(argv[4]) == "nofacets")
    return query(argv[2], std::atoi(argv[3]), false, false);
  if (argc == 5 && std::string(argv[1]) == "query" && std::string(argv[4]) == "exact")
    return query(argv[2], std::atoi(argv[3]), true, true);
  std::fprintf(stderr, "usage: leaves_bench_search build FILE.jsonl DIR | query DIR N [nofacets|exact]\n");
  return 2;
}
