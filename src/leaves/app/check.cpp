// leaves check: reads the whole log, folds it with the projections' own rule
// (projection::fold_leaf) up to the position each projection says it holds,
// and compares the result with the read models and the search index. The
// server must be stopped (the embedded databases take a lock). Exit 0: all
// consistent; 1: damage or a difference, each listed; 2: usage.
#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "leaves/app/commands.h"
#include "leaves/app/setup.h"
#include "leaves/domain/event_avro.h"
#include "leaves/domain/events.h"
#include "leaves/domain/collection.h"
#include "leaves/domain/user.h"
#include "leaves/log/embedded/rocks_log.h"

namespace json = boost::json;

namespace leaves::app {
namespace {

constexpr size_t kShownProblems = 20;
constexpr size_t kReadBatch = 2000;

// What a projection should hold for one leaf, reduced to what check compares.
struct expected_leaf {
  int64_t version = 0;
  bool deleted = false;
  std::string title;
  std::vector<std::string> tags;
};

struct report {
  std::vector<std::string> problems;
  size_t total = 0;
  void add(std::string p) {
    ++total;
    if (problems.size() < kShownProblems) problems.push_back(std::move(p));
  }
  void print(const char* what) const {
    for (const auto& p : problems) std::printf("  %s: %s\n", what, p.c_str());
    if (total > problems.size()) std::printf("  %s: ... and %zu more\n", what, total - problems.size());
  }
};

// The fold of one projection's prefix of the log.
struct fold {
  std::vector<int64_t> upto;  // next offset per partition it covers
  std::map<std::string, std::optional<domain::leaf>> state;

  void apply(int32_t p, int64_t off, const domain::event& ev) {
    if (off >= upto[p]) return;
    auto& s = state[ev.aggregate_id];
    auto step = projection::fold_leaf(s, ev);
    if (step.skip) return;
    s = std::move(step.next);
    if (s) {  // check compares no content: keep the fold small
      s->content.reset();
      s->content_text.reset();
      s->all.clear();
    }
  }
  std::map<std::string, expected_leaf> live() const {
    std::map<std::string, expected_leaf> out;
    for (const auto& [id, l] : state) {
      if (!l || l->deleted) continue;
      out[id] = {l->version, false, l->title, l->tags.value_or(domain::string_list{})};
    }
    return out;
  }
};

std::string describe_leaf(const expected_leaf& e) {
  std::string s = "version " + std::to_string(e.version) + ", title \"" + e.title.substr(0, 60) + "\", tags [";
  for (size_t i = 0; i < e.tags.size(); ++i) s += (i ? "," : "") + e.tags[i];
  return s + "]";
}

std::string positions_text(const std::vector<int64_t>& upto, const std::vector<int64_t>& end) {
  int64_t at = 0, total = 0;
  for (size_t p = 0; p < end.size(); ++p) {
    at += std::min(upto[p], end[p]);
    total += end[p];
  }
  return "at " + std::to_string(at) + " of " + std::to_string(total) + " events" +
         (at < total ? " (behind the log: it catches up when the server starts)" : "");
}

// Positions past the log's end mean the projection was built from another log.
void check_ahead(const std::vector<int64_t>& upto, const std::vector<int64_t>& end, report& r) {
  for (size_t p = 0; p < end.size(); ++p) {
    if (upto[p] > end[p]) {
      r.add("partition " + std::to_string(p) + ": applied up to offset " + std::to_string(upto[p]) +
            " but the log ends at " + std::to_string(end[p]) + " (built from another log)");
    }
  }
}

void check_store(store::read_store& st, const fold& f, report& r) {
  const auto want = f.live();
  std::set<std::string> seen;
  std::map<std::string, int64_t> tag_counts;
  store::list_query q;
  q.limit = 1000;
  for (;;) {
    auto page = st.list(q);
    if (!page) {
      r.add("cannot list the leaves: " + page.err().message);
      return;
    }
    for (const auto& l : page->items) {
      seen.insert(l.id);
      expected_leaf got{l.version, l.deleted, l.title, l.tags.value_or(domain::string_list{})};
      for (const auto& t : got.tags) ++tag_counts[t];
      auto it = want.find(l.id);
      if (it == want.end()) {
        auto s = f.state.find(l.id);
        r.add("leaf " + l.id + " is listed (" + describe_leaf(got) + ") but the log " +
              (s == f.state.end() ? "never had it" : "deleted it"));
      } else if (got.version != it->second.version || got.title != it->second.title ||
                 got.tags != it->second.tags) {
        r.add("leaf " + l.id + ": the store holds " + describe_leaf(got) + ", the log says " +
              describe_leaf(it->second));
      }
    }
    if (page->next_page_token.empty()) break;
    q.page_token = page->next_page_token;
  }
  std::map<std::string, int64_t> want_tags;
  for (const auto& [id, e] : want) {
    if (!seen.contains(id)) r.add("leaf " + id + " (" + describe_leaf(e) + ") is missing from the store");
    for (const auto& t : e.tags) ++want_tags[t];
  }
  auto tags = st.tags(1000000);
  if (!tags) {
    r.add("cannot read the tag counts: " + tags.err().message);
    return;
  }
  std::map<std::string, int64_t> got_tags;
  for (const auto& tc : *tags) got_tags[tc.tag] = tc.count;
  for (const auto& [t, n] : want_tags) {
    if (got_tags[t] != n) {
      r.add("tag \"" + t + "\": counted " + std::to_string(got_tags[t]) + ", the log says " + std::to_string(n));
    }
  }
  for (const auto& [t, n] : got_tags) {
    if (!want_tags.contains(t) && n != 0) r.add("tag \"" + t + "\": counted " + std::to_string(n) + ", the log has none");
  }
}

void check_index(search::xapian_index& ix, const fold& f, report& r) {
  auto got = ix.versions();
  if (!got) {
    r.add(got.err().message);
    return;
  }
  const auto want = f.live();
  for (const auto& [id, e] : want) {
    auto it = got->find(id);
    if (it == got->end()) {
      r.add("leaf " + id + " (version " + std::to_string(e.version) + ") has no document");
    } else if (it->second != e.version) {
      r.add("leaf " + id + ": the document is version " + std::to_string(it->second) + ", the log says " +
            std::to_string(e.version));
    }
  }
  for (const auto& [id, v] : *got) {
    if (!want.contains(id)) r.add("leaf " + id + " has a document (version " + std::to_string(v) + ") the log has not");
  }
}

}  // namespace

int check_main(const std::vector<std::string>& args) {
  serve_config c;
  if (auto code = parse_command("check", args, c)) return *code;
  const std::filesystem::path dir(c.data_dir);
  if (!std::filesystem::is_directory(dir)) {
    std::fprintf(stderr, "leaves check: no data dir at %s\n", c.data_dir.c_str());
    return 2;
  }
  std::printf("leaves check: %s\n", c.data_dir.c_str());
  bool bad = false;
  if (c.kafka.empty() && !std::filesystem::exists(dir / "log")) {
    std::printf("log: MISSING (%s)\n", (dir / "log").c_str());
    return 1;
  }
  auto log = open_log(c, dir);
  if (!log) {
    std::printf("log: CANNOT OPEN: %s%s\n", log.err().message.c_str(),
                c.kafka.empty() ? " (is a server running on this data dir?)" : "");
    return 1;
  }
  auto& lg = **log;
  if (auto* embedded = dynamic_cast<log::rocks_log*>(&lg)) {
    if (auto st = embedded->verify(); !st) {
      std::printf("log: DAMAGED: %s\n", st.err().message.c_str());
      return 1;
    }
  }
  const auto end = lg.end_offsets();
  const auto parts = static_cast<size_t>(lg.partitions());

  // What each projection says it holds.
  std::unique_ptr<store::read_store> st;
  fold store_fold, index_fold;
  const bool store_local = c.cassandra.empty();
  if (store_local && !std::filesystem::exists(dir / "store")) {
    std::printf("read models: MISSING (%s; the server rebuilds them from the log when it starts)\n",
                (dir / "store").c_str());
    bad = true;
  } else {
    auto s = open_store(c, dir);
    if (!s) {
      std::printf("read models: CANNOT OPEN: %s\n", s.err().message.c_str());
      bad = true;
    } else {
      st = std::move(*s);
      auto held = st->stored_position();
      if (!held) {  // Cassandra: what the group committed
        auto committed = lg.committed(projector_group(c, dir));
        held = committed ? *committed : std::vector<int64_t>{};
      }
      held->resize(parts, 0);
      store_fold.upto = *held;
    }
  }
  std::unique_ptr<search::xapian_index> ix;
  if (std::filesystem::exists(dir / "search")) {
    // Probe read-only first: open() would replace a damaged or older index.
    auto probed = search::xapian_index::probe(dir / "search");
    auto opened = probed ? open_search(c, dir) : result<std::unique_ptr<search::xapian_index>>(probed.err());
    if (!opened) {
      std::printf("search index: CANNOT OPEN: %s\n", opened.err().message.c_str());
      bad = true;
    } else {
      ix = std::move(*opened);
      auto held = ix->stored_position().value_or(std::vector<int64_t>{});
      held.resize(parts, 0);
      index_fold.upto = held;
    }
  }
  if (store_fold.upto.empty()) store_fold.upto.assign(parts, 0);
  if (index_fold.upto.empty()) index_fold.upto.assign(parts, 0);

  // The log, read once, folded into both.
  uint64_t events = 0, undecodable = 0;
  report log_report;
  for (size_t p = 0; p < parts; ++p) {
    auto from = lg.start_offset(static_cast<int32_t>(p));
    int64_t off = from ? *from : 0;
    if (off > 0) log_report.add("partition " + std::to_string(p) + " starts at offset " + std::to_string(off) +
                                " (older records deleted): the models cannot be checked against them");
    while (off < end[p]) {
      auto recs = lg.read(static_cast<int32_t>(p), off, kReadBatch);
      if (!recs) {
        log_report.add("partition " + std::to_string(p) + " at offset " + std::to_string(off) +
                       ": unreadable: " + recs.err().message);
        break;
      }
      if (recs->empty()) {
        log_report.add("partition " + std::to_string(p) + ": no record at offset " + std::to_string(off) +
                       " although the log ends at " + std::to_string(end[p]));
        break;
      }
      for (const auto& rec : *recs) {
        ++events;
        off = rec.offset + 1;
        if (!domain::is_leaf_key(rec.key)) continue;  // users, teams, collections: not in the read models or the index
        auto j = domain::decode_event_value(rec.value);
        auto ev = !j ? result<domain::event>(j.err()) : domain::event_from_json(*j);
        if (!ev) {
          ++undecodable;
          continue;
        }
        store_fold.apply(static_cast<int32_t>(p), rec.offset, *ev);
        index_fold.apply(static_cast<int32_t>(p), rec.offset, *ev);
      }
    }
  }
  int64_t total = 0;
  for (auto e : end) total += e;
  std::printf("log: %zu partitions, %lld events read of %lld, %llu undecodable (skipped by the projections)%s\n",
              parts, (long long)events, (long long)total, (unsigned long long)undecodable,
              log_report.total ? "" : ", readable");
  log_report.print("log");
  bad = bad || log_report.total != 0;

  if (st) {
    report r;
    check_ahead(store_fold.upto, end, r);
    if (!r.total) check_store(*st, store_fold, r);
    std::printf("read models: %s; %zu leaves; %s\n", positions_text(store_fold.upto, end).c_str(),
                store_fold.live().size(), r.total ? "DIFFERENT" : "consistent with the log");
    r.print("read models");
    bad = bad || r.total != 0;
  }
  if (ix) {
    report r;
    check_ahead(index_fold.upto, end, r);
    if (!r.total) check_index(*ix, index_fold, r);
    std::printf("search index: %s; %llu documents; %s\n", positions_text(index_fold.upto, end).c_str(),
                (unsigned long long)ix->documents(), r.total ? "DIFFERENT" : "consistent with the log");
    r.print("search index");
    bad = bad || r.total != 0;
    ix->stop();
  } else if (c.search) {
    std::printf("search index: none (the server builds it from the log when it starts)\n");
  }
  std::printf("%s\n", bad ? "check: problems found" : "check: ok");
  return bad ? 1 : 0;
}

}  // namespace leaves::app
