// The Xapian search index as a projection: apply, delete, tag changes, replay
// idempotence, restart, facets (against a brute-force count), paging.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <xapian.h>

#include "leaves/base/time.h"
#include "leaves/search/query.h"
#include "leaves/search/xapian/xapian_index.h"

namespace json = boost::json;
using namespace leaves;
using leaves::projection::applied_event;

namespace {

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / ("leaves-search-test-" + std::to_string(rd()));
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
};

// One page of ten, as the newest-first tests walk them: q in "all" mode ("" for none).
struct page_ask {
  std::string q;
  search::sort_by sort = search::sort_by::relevance;
  bool descending = true;
  size_t offset = 0;
  bool exact = false;
  bool facet_tags = false;
  std::optional<int64_t> since = std::nullopt, until = std::nullopt;
};

// The leaf ids of a result's page, in order.
std::vector<std::string> page_ids(const search::search_result& res) {
  std::vector<std::string> out;
  for (const auto& h : res.items) out.push_back(h.leaf.id);
  return out;
}

struct fixture {
  temp_dir dir;
  std::unique_ptr<search::xapian_index> ix;
  std::map<std::string, int64_t> versions;
  int64_t offset = 0;
  std::vector<applied_event> history;  // every event, for replays

  size_t exact_up_to = search::xapian_options{}.exact_up_to;

  fixture() { reopen(); }
  void reopen() {
    ix.reset();
    search::xapian_options o;
    o.dir = dir.path;
    o.exact_up_to = exact_up_to;
    auto r = search::xapian_index::open(o);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
    ix = std::move(r->index);
  }

  applied_event make(domain::event_type t, const std::string& id, json::object data) {
    applied_event ae;
    ae.partition = 0;
    ae.offset = offset++;
    ae.ev.type = t;
    ae.ev.aggregate_id = id;
    ae.ev.aggregate_version = ++versions[id];
    ae.ev.time_ms = 1700000000000 + ae.offset;
    ae.ev.actor = "test";
    ae.ev.data = std::move(data);
    return ae;
  }
  void apply(std::vector<applied_event> batch) {
    auto st = ix->apply(batch);
    ASSERT_TRUE(st.ok()) << st.err().message;
    auto f = ix->flush({offset});
    ASSERT_TRUE(f.ok()) << f.err().message;
    history.insert(history.end(), batch.begin(), batch.end());
  }
  void save(const std::string& id, const std::string& title, const std::string& text,
            std::vector<std::string> tags, const std::string& user = "ann", int64_t created = 1700000000000) {
    json::array t;
    for (auto& x : tags) t.push_back(json::string(x));
    json::object leaf{{"id", id},
                      {"url", "https://" + id + ".example.org/page"},
                      {"title", title},
                      {"content_text", text},
                      {"tags", t},
                      {"domain_name", "https://" + id + ".example.org"},
                      {"user_name", user},
                      {"created_at", "2023-11-14T22:13:20Z"},
                      {"updated_at", "2023-11-14T22:13:20Z"}};
    (void)created;
    apply({make(domain::event_type::created, id, json::object{{"leaf", leaf}})});
  }
  search::search_result find(const std::string& q, search::match_mode m = search::match_mode::all) {
    search::search_request r;
    auto tree = search::parse_query(q, m);
    EXPECT_TRUE(tree.ok()) << q << ": " << (tree.ok() ? "" : tree.err().message);
    if (tree.ok()) r.q = *tree;
    r.text = q;
    r.facet_tags = r.facet_users = r.facet_domains = true;
    r.limit = 100;
    auto res = ix->search(r);
    EXPECT_TRUE(res.ok()) << (res.ok() ? "" : res.err().message);
    return res.ok() ? *res : search::search_result{};
  }
  search::search_result page(const page_ask& a) {
    search::search_request r;
    if (!a.q.empty()) {
      auto tree = search::parse_query(a.q, search::match_mode::all);
      EXPECT_TRUE(tree.ok()) << a.q;
      if (tree.ok()) r.q = *tree;
    }
    r.sort = a.sort;
    r.descending = a.descending;
    r.offset = a.offset;
    r.limit = 10;
    r.exact = a.exact;
    r.facet_tags = a.facet_tags;
    r.since_ms = a.since;
    r.until_ms = a.until;
    auto res = ix->search(r);
    EXPECT_TRUE(res.ok()) << (res.ok() ? "" : res.err().message);
    return res.ok() ? *res : search::search_result{};
  }
  std::set<std::string> ids(const std::string& q, search::match_mode m = search::match_mode::all) {
    std::set<std::string> out;
    for (const auto& h : find(q, m).items) out.insert(h.leaf.id);
    return out;
  }
};

using ids_t = std::set<std::string>;

}  // namespace

TEST(SearchIndex, FindsWordsStemsPhrasesAndFields) {
  fixture f;
  f.save("a", "Kafka streams explained", "Partitions keep events in order.", {"kafka", "streams"});
  f.save("b", "Cassandra data modelling", "Tables are designed per query; partitions are bounded.", {"cassandra"});
  f.save("c", "Cooking with cast iron", "Season the pan.", {"food"}, "bob");
  EXPECT_EQ(f.ids("kafka"), (ids_t{"a"}));
  EXPECT_EQ(f.ids("partition"), (ids_t{"a", "b"})) << "the English stem of partitions";
  EXPECT_EQ(f.ids("\"events in order\""), (ids_t{"a"}));
  EXPECT_EQ(f.ids("\"order in events\""), (ids_t{}));
  EXPECT_EQ(f.ids("title:cassandra"), (ids_t{"b"}));
  EXPECT_EQ(f.ids("tag:food"), (ids_t{"c"}));
  EXPECT_EQ(f.ids("#kafka"), (ids_t{"a"}));
  EXPECT_EQ(f.ids("user:bob"), (ids_t{"c"}));
  EXPECT_EQ(f.ids("user:BOB"), (ids_t{"c"})) << "user names compare without case";
  EXPECT_EQ(f.ids("domain:b.example.org"), (ids_t{"b"}));
  EXPECT_EQ(f.ids("partitions -tag:kafka"), (ids_t{"b"}));
  EXPECT_EQ(f.ids("kafka OR cassandra"), (ids_t{"a", "b"}));
  EXPECT_EQ(f.ids("kafka cassandra"), (ids_t{}));
  EXPECT_EQ(f.ids("kafka cassandra", search::match_mode::any), (ids_t{"a", "b"}));
  EXPECT_EQ(f.ids("-tag:kafka"), (ids_t{"b", "c"}));
}

TEST(SearchIndex, DeletesTagChangesAndReplaysConverge) {
  fixture f;
  f.save("a", "Kafka", "log", {"kafka"});
  f.save("b", "Cassandra", "table", {"cassandra"});
  f.apply({f.make(domain::event_type::tags_added, "a", json::object{{"tags", json::array{"streams"}}})});
  EXPECT_EQ(f.ids("tag:streams"), (ids_t{"a"}));
  f.apply({f.make(domain::event_type::tags_removed, "a", json::object{{"tags", json::array{"kafka"}}})});
  EXPECT_EQ(f.ids("tag:kafka"), (ids_t{}));
  f.apply({f.make(domain::event_type::deleted, "b", json::object{})});
  EXPECT_EQ(f.ids("cassandra"), (ids_t{}));
  EXPECT_EQ(f.ix->documents(), 1u);

  // Every event again, twice, in one batch and one by one: nothing changes
  // (the delete's tombstone keeps the creation of b from coming back).
  auto st = f.ix->apply(f.history);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->applied, 0u);
  for (const auto& ae : f.history) ASSERT_TRUE(f.ix->apply({ae}).ok());
  ASSERT_TRUE(f.ix->flush({f.offset}).ok());
  EXPECT_EQ(f.ids("cassandra"), (ids_t{}));
  EXPECT_EQ(f.ids("tag:streams"), (ids_t{"a"}));
  EXPECT_EQ(f.ix->documents(), 1u);

  // A replay into an empty index gives the same answers.
  ASSERT_TRUE(f.ix->clear().ok());
  EXPECT_EQ(f.ix->documents(), 0u);
  ASSERT_TRUE(f.ix->apply(f.history).ok());
  ASSERT_TRUE(f.ix->flush({f.offset}).ok());
  EXPECT_EQ(f.ids("tag:streams"), (ids_t{"a"}));
  EXPECT_EQ(f.ids("cassandra"), (ids_t{}));
}

TEST(SearchIndex, KeepsDocumentsGroupAndPositionAcrossARestart) {
  fixture f;
  f.save("a", "Kafka", "log", {"kafka"});
  const std::string group = f.ix->group();
  f.reopen();
  EXPECT_EQ(f.ix->group(), group);
  EXPECT_EQ(f.ix->stored_position(), std::optional<std::vector<int64_t>>(std::vector<int64_t>{1}));
  EXPECT_EQ(f.ids("kafka"), (ids_t{"a"}));
}

TEST(SearchIndex, UnflushedDocumentsAreNotVisibleAndAnOlderSchemaIsRebuilt) {
  fixture f;
  auto ev = f.make(domain::event_type::created, "a",
                   json::object{{"leaf", json::object{{"id", "a"}, {"url", "https://a.org/"}, {"title", "Kafka"}}}});
  ASSERT_TRUE(f.ix->apply({ev}).ok());
  EXPECT_EQ(f.ids("kafka"), (ids_t{})) << "applied but not flushed";
  ASSERT_TRUE(f.ix->flush({1}).ok());
  EXPECT_EQ(f.ids("kafka"), (ids_t{"a"}));
}

TEST(SearchIndex, FacetsCountEveryTagOfEveryMatchNotThePage) {
  fixture f;
  std::mt19937 rng(7);
  const std::vector<std::string> pool = {"kafka", "cassandra", "akka", "spark", "java", "python"};
  std::map<std::string, int64_t> want_all, want_word;
  for (int i = 0; i < 120; ++i) {
    std::vector<std::string> tags;
    for (const auto& t : pool)
      if (rng() % 3 == 0) tags.push_back(t);
    const bool word = i % 4 == 0;
    for (const auto& t : tags) {
      ++want_all[t];
      if (word) ++want_word[t];
    }
    f.save("l" + std::to_string(i), word ? "Streaming notes" : "Other notes", "text", tags,
           i % 2 ? "ann" : "bob");
  }
  auto check = [](const std::vector<search::facet_value>& got, const std::map<std::string, int64_t>& want) {
    std::map<std::string, int64_t> g;
    for (const auto& v : got) g[v.value] = v.count;
    EXPECT_EQ(g, want);
  };
  search::search_request all;
  all.limit = 5;
  all.facet_tags = all.facet_users = true;
  auto r = f.ix->search(all);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->total, 120u);
  EXPECT_TRUE(r->total_exact);
  EXPECT_EQ(r->items.size(), 5u);
  check(r->tags, want_all);
  check(r->users, {{"ann", 60}, {"bob", 60}});
  auto w = f.find("streaming");
  EXPECT_EQ(w.total, 30u);
  check(w.tags, want_word);
}

// Facet values are kept as numbers in the index (named in its metadata): the
// names must survive a restart, new values after it must not reuse a number,
// a tag change must move its counts, and the top values at facet_limit must be
// chosen by count, then name.
TEST(SearchIndex, FacetNamesSurviveARestartAndTagChangesMoveTheCounts) {
  fixture f;
  f.save("a", "Note", "words", {"kafka", "akka"}, "ann");
  f.save("b", "Note", "words", {"kafka"}, "bob");
  f.reopen();
  f.save("c", "Note", "words", {"spark", "kafka"}, "cid");
  // b's tags change from kafka to akka and zeta.
  f.apply({f.make(domain::event_type::tags_added, "b", json::object{{"tags", json::array{"akka", "zeta"}}})});
  f.apply({f.make(domain::event_type::tags_removed, "b", json::object{{"tags", json::array{"kafka"}}})});
  auto r = f.find("words");
  ASSERT_EQ(r.total, 3u);
  auto as_map = [](const std::vector<search::facet_value>& v) {
    std::map<std::string, int64_t> m;
    for (const auto& x : v) m[x.value] = x.count;
    return m;
  };
  EXPECT_EQ(as_map(r.tags), (std::map<std::string, int64_t>{{"akka", 2}, {"kafka", 2}, {"spark", 1}, {"zeta", 1}}));
  EXPECT_EQ(as_map(r.users), (std::map<std::string, int64_t>{{"ann", 1}, {"bob", 1}, {"cid", 1}}));
  EXPECT_EQ(as_map(r.domains), (std::map<std::string, int64_t>{
                                   {"a.example.org", 1}, {"b.example.org", 1}, {"c.example.org", 1}}));
  search::search_request top;
  top.facet_tags = true;
  top.facet_limit = 3;
  auto t3 = f.ix->search(top);
  ASSERT_TRUE(t3.ok());
  ASSERT_EQ(t3->tags.size(), 3u);
  EXPECT_EQ(t3->tags[0], (search::facet_value{"akka", 2}));
  EXPECT_EQ(t3->tags[1], (search::facet_value{"kafka", 2}));
  EXPECT_EQ(t3->tags[2], (search::facet_value{"spark", 1})) << "ties at the cut go by name";
  f.reopen();
  EXPECT_EQ(as_map(f.find("words").tags), as_map(r.tags)) << "the same counts after a second restart";
}

// Searches run on several threads at once. Xapian's objects are not
// thread-safe, not even its static Query::MatchAll (copying it changes a
// shared, non-atomic reference count): queries that match everything (an
// empty query, a negation alone, a date range) once crashed the server under
// concurrent load.
TEST(SearchIndex, ConcurrentSearchesThatMatchEverythingDoNotShareXapianObjects) {
  fixture f;
  for (int i = 0; i < 20; ++i) f.save("m" + std::to_string(i), "Note", "words", {"x"});
  std::vector<search::search_request> kinds(3);
  kinds[1].q = *search::parse_query("-nothing", search::match_mode::all);
  kinds[2].q = *search::parse_query("after:2000-01-01", search::match_mode::all);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        auto r = f.ix->search(kinds[(t + i) % kinds.size()]);
        if (!r.ok() || r->total != 20u) ++wrong;
        auto m = search::leaf_matches(kinds[1].q, domain::leaf{});
        if (!m.ok()) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(SearchIndex, PagesAreCompleteAndStable) {
  fixture f;
  for (int i = 0; i < 57; ++i) f.save("p" + std::to_string(i), "Note " + std::to_string(i), "same words", {"x"});
  for (auto sort : {search::sort_by::relevance, search::sort_by::created, search::sort_by::title}) {
    std::set<std::string> seen;
    search::search_request r;
    auto tree = search::parse_query("words", search::match_mode::all);
    ASSERT_TRUE(tree.ok());
    r.q = *tree;
    r.sort = sort;
    r.limit = 10;
    size_t pages = 0;
    for (;;) {
      auto res = f.ix->search(r);
      ASSERT_TRUE(res.ok());
      EXPECT_EQ(res->total, 57u);
      for (const auto& h : res->items) EXPECT_TRUE(seen.insert(h.leaf.id).second) << "duplicate " << h.leaf.id;
      ++pages;
      if (!res->more) break;
      r.offset += r.limit;
    }
    EXPECT_EQ(seen.size(), 57u);
    EXPECT_EQ(pages, 6u);
  }
}

TEST(SearchIndex, SnippetsMarkMatchesAndEscapeHtml) {
  fixture f;
  f.save("a", "Kafka", "A <script>alert(1)</script> log of events in Kafka topics.", {"kafka"});
  auto r = f.find("topics");
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_NE(r.items[0].snippet.find("<mark>topics</mark>"), std::string::npos) << r.items[0].snippet;
  EXPECT_EQ(r.items[0].snippet.find("<script>"), std::string::npos) << r.items[0].snippet;
}

TEST(SearchIndex, TagPrefixAndSpellingSuggestion) {
  fixture f;
  f.save("a", "Cassandra compaction", "x", {"cassandra", "cass-tools"});
  f.save("b", "Cassandra repair", "x", {"cassandra"});
  f.save("c", "Kafka", "x", {"kafka"});
  auto t = f.ix->tag_prefix("cass", 10);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, (std::vector<search::facet_value>{{"cassandra", 2}, {"cass-tools", 1}}));
  auto r = f.find("casandra");
  EXPECT_EQ(r.total, 0u);
  EXPECT_EQ(r.suggestion, "cassandra");
}

// Spelling learns the title's words that have a letter: "2024" is never offered
// for "2025" (nothing matches either way), nor "x86" for "86", while
// "Réplication" still is learnt.
TEST(SearchIndex, SpellingLearnsWordsNotNumbers) {
  fixture f;
  f.save("a", "Release 2024 notes for python3", "x", {"release"});
  f.save("b", "Réplication 2024 ２０２４", "x", {});
  auto n = f.find("2025");
  EXPECT_EQ(n.total, 0u);
  EXPECT_EQ(n.suggestion, "") << "a number in a title was learnt as a word to suggest";
  auto w = f.find("relase");
  EXPECT_EQ(w.total, 0u);
  EXPECT_EQ(w.suggestion, "release");
  auto u = f.find("réplicatoin");
  EXPECT_EQ(u.suggestion, "réplication") << "a title word with letters past ASCII was not learnt";
  auto v = f.find("pyhton3");
  EXPECT_EQ(v.suggestion, "python3") << "a word with a letter and a digit is still a word";
  f.save("c", "x86 guide", "x", {});
  auto k = f.find("86 relase");
  EXPECT_EQ(k.suggestion, "86 release") << "a number was corrected into a word";
  auto full = f.find("２０２５");
  EXPECT_EQ(full.suggestion, "") << "fullwidth digits are a number too";
}

TEST(LiveSearch, OneLeafIsMatchedByTheIndexRules) {
  domain::leaf l;
  l.id = "x";
  l.url = "https://kafka.apache.org/docs";
  l.title = "Kafka partitions in depth";
  l.tags = domain::string_list{"streaming"};
  l.version = 1;
  auto q = [](const char* text, search::match_mode m = search::match_mode::all) {
    auto p = search::parse_query(text, m);
    EXPECT_TRUE(p.ok()) << text;
    return *p;
  };
  auto matches = [&](const std::optional<search::node>& n) {
    auto r = search::leaf_matches(n, l);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
    return r.ok() && *r;
  };
  EXPECT_TRUE(matches(std::nullopt));
  EXPECT_TRUE(matches(q("kafka")));
  EXPECT_TRUE(matches(q("kafka partition")));  // stems
  EXPECT_FALSE(matches(q("kafka cassandra")));
  EXPECT_TRUE(matches(q("kafka cassandra", search::match_mode::any)));
  EXPECT_TRUE(matches(q("#streaming")));
  EXPECT_FALSE(matches(q("-tag:streaming")));
  EXPECT_TRUE(matches(q("\"partitions in depth\"")));
  EXPECT_FALSE(matches(q("\"depth in partitions\"")));
}

// A repeated search is answered from the cache until the index commits: the
// second answer is the same and counted as cached, and a commit in between
// (a new leaf, a tag change) is never hidden by it. Visibility is part of the
// key: a search limited to one user's leaves does not get another's answer.
TEST(SearchIndex, RepeatedSearchesAreCachedUntilTheNextCommit) {
  fixture f;
  f.save("a", "Kafka notes", "streams", {"kafka"});
  search::search_request all;
  all.limit = 10;
  all.facet_tags = true;
  auto first = f.ix->search(all);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(f.ix->searches_cached(), 0u);
  auto again = f.ix->search(all);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(f.ix->searches_cached(), 1u);
  ASSERT_EQ(again->items.size(), 1u);
  EXPECT_EQ(again->items[0].leaf.id, "a");
  EXPECT_EQ(again->tags, first->tags);
  // A commit: the same search sees the new leaf and its tag at once.
  f.save("b", "Cassandra notes", "tables", {"cassandra"});
  auto after = f.ix->search(all);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(f.ix->searches_cached(), 1u) << "a search after a commit must not come from the cache";
  EXPECT_EQ(after->items.size(), 2u);
  EXPECT_EQ(after->tags.size(), 2u);
  // Another visibility, another entry.
  search::search_request mine = all;
  mine.visible_to = 42;
  auto limited = f.ix->search(mine);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->items.size(), 0u) << "neither leaf is public nor user 42's";
  EXPECT_EQ(f.ix->searches_cached(), 1u);
  // Another page, another entry.
  search::search_request page2 = all;
  page2.offset = 1;
  auto second_page = f.ix->search(page2);
  ASSERT_TRUE(second_page.ok());
  EXPECT_EQ(second_page->items.size(), 1u);
  EXPECT_EQ(f.ix->searches_cached(), 1u);
}

// A search of everything its caller may see (the home page) takes its facet
// counts from facet terms kept per visibility, not from every leaf. They must
// equal a brute-force count of what each caller may see, and the slot-reading
// count of the same set, through creates, changes of visibility, owner and
// tags, and deletes.
TEST(SearchIndex, FacetsOfEverythingAreCountedPerVisibility) {
  fixture f;
  std::mt19937 rng(11);
  const std::vector<std::string> pool = {"kafka", "cassandra", "akka", "spark", "java"};
  const std::vector<std::string> names = {"ann", "bob", "Cid"};
  struct state {
    std::set<std::string> tags;
    std::string user_name, host;
    std::optional<int64_t> owner;
    bool is_public = false;
  };
  std::map<std::string, state> live;
  auto leaf_json = [&](const std::string& id, const state& s) {
    json::array t;
    for (const auto& x : s.tags) t.push_back(json::string(x));
    json::object o{{"id", id},
                   {"url", "https://" + s.host + "/" + id},
                   {"title", "Note " + id},
                   {"tags", t},
                   {"domain_name", "https://" + s.host},
                   {"user_name", s.user_name},
                   {"is_public", s.is_public},
                   {"created_at", "2023-11-14T22:13:20Z"},
                   {"updated_at", "2023-11-14T22:13:20Z"}};
    if (s.owner) o["user_id"] = *s.owner;
    return o;
  };
  auto random_state = [&] {
    state s;
    for (const auto& t : pool)
      if (rng() % 3 == 0) s.tags.insert(t);
    s.user_name = names[rng() % names.size()];
    s.host = "h" + std::to_string(rng() % 4) + ".example.org";
    const auto o = rng() % 4;
    if (o > 0) s.owner = static_cast<int64_t>(o);  // users 1..3; 0: no owner
    s.is_public = rng() % 2 == 0;
    return s;
  };
  auto check = [&](const std::string& when) {
    // Callers: an admin (every leaf), users 1, 3 and 9, and anonymous (-1:
    // public leaves only, as the API asks with is_public=true).
    for (std::optional<int64_t> caller : {std::optional<int64_t>{}, std::optional<int64_t>{1},
                                          std::optional<int64_t>{3}, std::optional<int64_t>{9},
                                          std::optional<int64_t>{-1}}) {
      const bool anonymous = caller == -1;
      std::map<std::string, int64_t> want_tags, want_users, want_hosts;
      uint64_t want_total = 0;
      for (const auto& [id, s] : live) {
        if (caller && !s.is_public && (anonymous || s.owner != caller)) continue;
        ++want_total;
        for (const auto& t : s.tags) ++want_tags[t];
        ++want_users[s.user_name];
        ++want_hosts[s.host];
      }
      search::search_request r;
      if (anonymous) {
        r.is_public = true;
      } else {
        r.visible_to = caller;
      }
      r.limit = 3;
      r.facet_tags = r.facet_users = r.facet_domains = true;
      r.facet_limit = 100;
      auto from_terms = f.ix->search(r);
      ASSERT_TRUE(from_terms.ok());
      r.since_ms = 0;  // the same leaves, counted from their facet slots
      auto from_slots = f.ix->search(r);
      ASSERT_TRUE(from_slots.ok());
      auto as_map = [](const std::vector<search::facet_value>& v) {
        std::map<std::string, int64_t> m;
        for (const auto& x : v) m[x.value] = x.count;
        return m;
      };
      const std::string who =
          when + ", caller " + (anonymous ? std::string("anonymous") : caller ? std::to_string(*caller) : "admin");
      EXPECT_EQ(from_terms->total, want_total) << who;
      EXPECT_EQ(as_map(from_terms->tags), want_tags) << who;
      EXPECT_EQ(as_map(from_terms->users), want_users) << who;
      EXPECT_EQ(as_map(from_terms->domains), want_hosts) << who;
      EXPECT_EQ(from_terms->tags, from_slots->tags) << who << ": terms and slots disagree (or their order does)";
      EXPECT_EQ(from_terms->users, from_slots->users) << who;
      EXPECT_EQ(from_terms->domains, from_slots->domains) << who;
    }
  };
  for (int i = 0; i < 60; ++i) {
    const std::string id = "v" + std::to_string(i);
    live[id] = random_state();
    f.apply({f.make(domain::event_type::created, id, json::object{{"leaf", leaf_json(id, live[id])}})});
  }
  check("after creates");
  for (int i = 0; i < 60; i += 3) {
    const std::string id = "v" + std::to_string(i);
    auto next = random_state();
    json::object changes{{"is_public", next.is_public}, {"user_name", next.user_name}};
    changes["user_id"] = next.owner ? json::value(*next.owner) : json::value(nullptr);
    json::array t;
    for (const auto& x : next.tags) t.push_back(json::string(x));
    f.apply({f.make(domain::event_type::updated, id, json::object{{"changes", changes}}),
             f.make(domain::event_type::tags_replaced, id, json::object{{"tags", t}})});
    live[id].is_public = next.is_public;
    live[id].user_name = next.user_name;
    live[id].owner = next.owner;
    live[id].tags = next.tags;
  }
  check("after changes");
  for (int i = 1; i < 60; i += 5) {
    const std::string id = "v" + std::to_string(i);
    f.apply({f.make(domain::event_type::deleted, id, json::object{})});
    live.erase(id);
  }
  check("after deletes");
  f.reopen();
  check("after a restart");
}

// A term longer than Xapian allows (245 bytes) once stopped the projection
// at the leaf that held it, retrying forever. Long user names, hosts and
// languages are kept as a prefix and a hash; a filter on them still finds
// the leaf, and only it.
// is:starred and starred= as one user sees them: the flag on its own leaves
// and on leaves of nobody, its marks on the others'.
TEST(SearchIndex, StarredIsTheReadersOwnWithMarks) {
  fixture f;
  auto put = [&](const char* id, std::optional<int64_t> owner, bool starred) {
    json::object leaf{{"id", id},
                      {"url", std::string("https://e.org/") + id},
                      {"title", std::string("kafka note ") + id},
                      {"is_starred", starred},
                      {"created_at", "2023-11-14T22:13:20Z"},
                      {"updated_at", "2023-11-14T22:13:20Z"}};
    if (owner) leaf["user_id"] = *owner;
    f.apply({f.make(domain::event_type::created, id, json::object{{"leaf", leaf}})});
  };
  put("mine", 1, true);
  put("theirs", 2, true);
  put("marked", 2, false);
  put("nobodys", std::nullopt, true);
  put("plain", 1, false);
  auto run = [&](const std::string& q, std::optional<bool> starred, std::optional<domain::marks_view> marks) {
    search::search_request r;
    if (!q.empty()) r.q = *search::parse_query(q, search::match_mode::all);
    r.starred = starred;
    r.marks = std::move(marks);
    r.limit = 100;
    auto res = f.ix->search(r);
    EXPECT_TRUE(res.ok()) << (res.ok() ? "" : res.err().message);
    ids_t out;
    if (res.ok())
      for (const auto& h : res->items) out.insert(h.leaf.id);
    return out;
  };
  EXPECT_EQ(run("is:starred", std::nullopt, std::nullopt), (ids_t{"mine", "theirs", "nobodys"}));
  auto m = std::make_shared<domain::mark_map>();
  (*m)["marked"] = domain::mark_starred;
  (*m)["theirs"] = domain::mark_archived;  // archived, not starred
  const domain::marks_view ones{1, m};
  EXPECT_EQ(run("is:starred", std::nullopt, ones), (ids_t{"mine", "marked", "nobodys"}));
  EXPECT_EQ(run("kafka", true, ones), (ids_t{"mine", "marked", "nobodys"}));
  EXPECT_EQ(run("", false, ones), (ids_t{"theirs", "plain"}));
  EXPECT_EQ(run("kafka -is:starred", std::nullopt, ones), (ids_t{"theirs", "plain"}));
  EXPECT_EQ(run("is:starred", std::nullopt, domain::marks_view{2, nullptr}), (ids_t{"theirs", "nobodys"}))
      << "user 2 has no marks: its own star only, and the unowned leaf's";
}

TEST(SearchIndex, LongFieldValuesDoNotStopTheIndex) {
  fixture f;
  const std::string long_name(300, 'x');
  const std::string other_name = std::string(299, 'x') + "y";
  const std::string lang(256, 'q');
  json::object a{{"id", "a"},
                 {"url", "https://a.example/1"},
                 {"title", "long fields"},
                 {"user_name", long_name},
                 {"language", lang},
                 {"domain_name", "https://" + std::string(250, 'd') + ".example"},
                 {"created_at", "2023-11-14T22:13:20Z"},
                 {"updated_at", "2023-11-14T22:13:20Z"}};
  json::object b = a;
  b["id"] = "b";
  b["url"] = "https://b.example/1";
  b["user_name"] = other_name;
  f.apply({f.make(domain::event_type::created, "a", json::object{{"leaf", a}}),
           f.make(domain::event_type::created, "b", json::object{{"leaf", b}})});
  EXPECT_EQ(f.ids("long"), (ids_t{"a", "b"}));
  search::search_request r;
  r.user = long_name;
  auto by_user = f.ix->search(r);
  ASSERT_TRUE(by_user.ok()) << by_user.err().message;
  ASSERT_EQ(by_user->items.size(), 1u) << "names that share their first 200 bytes are different users";
  EXPECT_EQ(by_user->items[0].leaf.id, "a");
  EXPECT_EQ(f.ids("lang:" + lang), (ids_t{"a", "b"}));
}

// More matches than exact_up_to: the answer comes from a window of the
// newest (oldest) leaves, widened until it holds the page; a page by creation
// time is still exactly the newest (oldest), checked against the leaves' own
// order at every depth; exact=true, or exact_up_to 0, walks everything.
TEST(SearchIndex, ManyMatchesAreRankedAndCountedOnTheNewest) {
  fixture f;
  f.exact_up_to = 100;
  f.reopen();
  constexpr int kLeaves = 1000;
  const int64_t base = 1700000000000;
  const auto created = [&](int i) { return base + int64_t{i} * 1800 * 1000; };  // half an hour apart, 21 days
  const auto id = [](int i) { return "n" + std::to_string(i); };
  std::vector<applied_event> batch;
  for (int i = 0; i < kLeaves; ++i) {
    json::object leaf{{"id", id(i)},
                      {"url", "https://example.org/" + std::to_string(i)},
                      {"title", "Leaf " + std::to_string(i)},
                      {"content_text", std::string("common words ") + (i % 2 ? "odd" : "even")},
                      {"tags", json::array{json::string("t" + std::to_string(i % 5))}},
                      {"created_at", format_iso8601(created(i))},
                      {"updated_at", format_iso8601(created(i))}};
    batch.push_back(f.make(domain::event_type::created, id(i), json::object{{"leaf", leaf}}));
    if (batch.size() == 100) {
      f.apply(std::move(batch));
      batch.clear();
    }
  }
  auto ask = [&](const std::string& q, search::sort_by sort, bool descending, size_t offset, bool exact = false,
                 std::optional<int64_t> since = std::nullopt, std::optional<int64_t> until = std::nullopt) {
    return f.page({q, sort, descending, offset, exact, true, since, until});
  };
  const auto expected = [&](bool newest, size_t offset, int step = 1) {
    std::vector<std::string> out;
    for (int k = 0; k < 10; ++k) {
      const int rank = static_cast<int>(offset) + k;
      out.push_back(id(newest ? kLeaves - step * (rank + 1) + (step - 1) : step * rank));
    }
    return out;
  };

  // Everything, newest first: walked in a window, yet page, total and
  // facets are exact, so the answer names no sample.
  auto all = ask("", search::sort_by::relevance, true, 0);
  EXPECT_GT(all.window_matches, 0u);
  EXPECT_LT(all.window_matches, static_cast<uint64_t>(kLeaves));
  EXPECT_FALSE(all.sample.has_value());
  EXPECT_EQ(page_ids(all), expected(true, 0));
  EXPECT_EQ(all.total, static_cast<uint64_t>(kLeaves));
  EXPECT_TRUE(all.total_exact);
  EXPECT_TRUE(all.facets_exact);

  // A word every leaf has, newest and oldest first, at several depths.
  for (size_t offset : {size_t{0}, size_t{40}, size_t{300}, size_t{990}}) {
    for (bool newest : {true, false}) {
      auto res = ask("common", search::sort_by::created, newest, offset);
      EXPECT_EQ(page_ids(res), expected(newest, offset)) << "offset " << offset << (newest ? " newest" : " oldest");
      if (offset + 10 < kLeaves / 2) {
        ASSERT_TRUE(res.sample.has_value()) << "offset " << offset;
        EXPECT_EQ(res.sample->newest, newest);
        EXPECT_FALSE(res.total_exact);
        EXPECT_FALSE(res.facets_exact);
        EXPECT_GE(res.sample->matches, 50u);
        EXPECT_LT(res.sample->matches, static_cast<uint64_t>(kLeaves));
        // Estimated from the window's rate: every leaf matches, so near 1000.
        EXPECT_NEAR(static_cast<double>(res.total), kLeaves, kLeaves * 0.05);
        // Facets count the window's matches, each once.
        int64_t counted = 0;
        for (const auto& t : res.tags) counted += t.count;
        EXPECT_EQ(counted, static_cast<int64_t>(res.sample->matches));
        // The window is every leaf created since (before) its edge.
        uint64_t in_window = 0;
        for (int i = 0; i < kLeaves; ++i) in_window += newest == (created(i) >= res.sample->edge_ms);
        EXPECT_EQ(res.sample->matches, in_window);
      }
    }
  }
  // Within a created_at range: the window is the range's newest (oldest).
  {
    auto res = ask("common", search::sort_by::created, true, 0, false, std::nullopt, created(500));
    ASSERT_TRUE(res.sample.has_value());
    std::vector<std::string> want;
    for (int i = 499; i > 489; --i) want.push_back(id(i));
    EXPECT_EQ(page_ids(res), want);
    EXPECT_LT(res.sample->edge_ms, created(500));
    res = ask("common", search::sort_by::created, false, 0, false, created(300), std::nullopt);
    ASSERT_TRUE(res.sample.has_value());
    want.clear();
    for (int i = 300; i < 310; ++i) want.push_back(id(i));
    EXPECT_EQ(page_ids(res), want);
    EXPECT_GT(res.sample->edge_ms, created(300));
    res = ask("common", search::sort_by::relevance, true, 0, false, created(100), created(900));
    ASSERT_TRUE(res.sample.has_value());
    EXPECT_NEAR(static_cast<double>(res.total), 800, 60) << "the range's match rate times the leaves in the range";
    ASSERT_EQ(res.items.size(), 10u);
    for (const auto& h : res.items) {
      EXPECT_GE(h.leaf.created_at, created(100));
      EXPECT_LT(h.leaf.created_at, created(900));
    }
    // A range too small to narrow is walked whole, exactly.
    res = ask("common", search::sort_by::relevance, true, 0, false, created(100), created(150));
    EXPECT_FALSE(res.sample.has_value());
    EXPECT_EQ(res.total, 50u);
  }
  // Half of them: the odd ones, newest first.
  {
    auto res = ask("odd", search::sort_by::created, true, 0);
    EXPECT_EQ(page_ids(res), expected(true, 0, 2));
    ASSERT_TRUE(res.sample.has_value());
    EXPECT_NEAR(static_cast<double>(res.total), kLeaves / 2, kLeaves * 0.05);
  }
  // By relevance: the page is of odd leaves from the window.
  {
    auto res = ask("odd", search::sort_by::relevance, true, 0);
    ASSERT_TRUE(res.sample.has_value());
    ASSERT_EQ(res.items.size(), 10u);
    for (const auto& h : res.items) {
      EXPECT_EQ(std::stoi(h.leaf.id.substr(1)) % 2, 1) << h.leaf.id;
      EXPECT_GE(h.leaf.created_at, res.sample->edge_ms);
    }
  }
  // By relevance the window does not depend on the page: paging goes
  // through the window's matches, each once, and ends there.
  {
    std::set<std::string> seen;
    std::optional<int64_t> edge;
    size_t offset = 0;
    for (;; offset += 10) {
      auto res = ask("odd", search::sort_by::relevance, true, offset);
      ASSERT_TRUE(res.sample.has_value()) << "offset " << offset;
      if (edge) {
        EXPECT_EQ(res.sample->edge_ms, *edge) << "offset " << offset;
      }
      edge = res.sample->edge_ms;
      for (const auto& h : res.items) EXPECT_TRUE(seen.insert(h.leaf.id).second) << "repeated " << h.leaf.id;
      if (!res.more) {
        EXPECT_EQ(seen.size(), res.sample->matches);
        break;
      }
      ASSERT_LT(offset, 1000u);
    }
  }
  // Only a filter, by relevance: equal weights, newest first.
  {
    auto res = ask("tag:t1", search::sort_by::relevance, true, 0);
    std::vector<std::string> want;
    for (int i = 996; want.size() < 10; i -= 5) want.push_back(id(i));
    EXPECT_EQ(page_ids(res), want);
  }
  // Asked to be exact: every match walked.
  {
    auto res = ask("common", search::sort_by::relevance, true, 0, true);
    EXPECT_FALSE(res.sample.has_value());
    EXPECT_EQ(res.total, static_cast<uint64_t>(kLeaves));
    EXPECT_TRUE(res.total_exact);
    EXPECT_TRUE(res.facets_exact);
    ASSERT_EQ(res.tags.size(), 5u);
    for (const auto& t : res.tags) EXPECT_EQ(t.count, kLeaves / 5) << t.value;
  }
  // A title sort is never sampled.
  EXPECT_FALSE(ask("common", search::sort_by::title, false, 0).sample.has_value());
  // Nor anything with exact_up_to 0.
  f.exact_up_to = 0;
  f.reopen();
  auto res = ask("common", search::sort_by::created, true, 0);
  EXPECT_FALSE(res.sample.has_value());
  EXPECT_EQ(res.total, static_cast<uint64_t>(kLeaves));
  EXPECT_EQ(page_ids(res), expected(true, 0));
}

// A new leaf's document id is its created second (or the first free one
// after it), so a window of time is a run of ids; an updated leaf keeps its
// id and a deleted one frees it.
TEST(SearchIndex, DocumentIdsFollowCreationTime) {
  fixture f;
  const auto leaf = [&](const std::string& id, int64_t created_s) {
    json::object l{{"id", id},
                   {"url", "https://example.org/" + id},
                   {"title", "t " + id},
                   {"content_text", "words"},
                   {"created_at", format_iso8601(created_s * 1000 + 999)},
                   {"updated_at", format_iso8601(created_s * 1000 + 999)}};
    return f.make(domain::event_type::created, id, json::object{{"leaf", l}});
  };
  f.apply({leaf("a", 1000), leaf("b", 3000), leaf("c", 2000)});
  f.apply({leaf("d", 2000), leaf("e", 2001), leaf("g", 0)});  // 2000 is taken: 2001, then 2002; 0 -> 1
  f.apply({f.make(domain::event_type::deleted, "b", json::object{})});
  f.apply({leaf("h", 3000)});  // b's id is free again
  f.apply({f.make(domain::event_type::tags_added, "a", json::object{{"tags", json::array{"x"}}})});
  f.ix->stop();
  Xapian::Database db(f.dir.path.string());
  std::map<std::string, Xapian::docid> got;
  for (const char* id : {"a", "c", "d", "e", "g", "h"}) {
    auto it = db.postlist_begin(std::string("Q") + id);
    ASSERT_NE(it, db.postlist_end(std::string("Q") + id)) << id;
    got[id] = *it;
  }
  const std::map<std::string, Xapian::docid> want{{"a", 1000}, {"c", 2000}, {"d", 2001}, {"e", 2002}, {"g", 1}, {"h", 3000}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(db.get_doccount(), 6u);
  f.reopen();
  // Leaves of one batch take their ids in creation order, not in the order
  // of their own ids: z2 (.100), z3 (.500), z1 (.900) of one second.
  const auto at = [&](const std::string& id, int64_t ms) {
    json::object l{{"id", id},
                   {"url", "https://example.org/" + id},
                   {"title", "t " + id},
                   {"created_at", format_iso8601(ms)},
                   {"updated_at", format_iso8601(ms)}};
    return f.make(domain::event_type::created, id, json::object{{"leaf", l}});
  };
  f.apply({at("z1", 5000900), at("z2", 5000100), at("z3", 5000500)});
  f.ix->stop();
  {
    Xapian::Database z(f.dir.path.string());
    std::map<std::string, Xapian::docid> ids;
    for (const char* id : {"z1", "z2", "z3"}) {
      auto it = z.postlist_begin(std::string("Q") + id);
      ASSERT_NE(it, z.postlist_end(std::string("Q") + id)) << id;
      ids[id] = *it;
    }
    EXPECT_EQ(ids, (std::map<std::string, Xapian::docid>{{"z1", 5002}, {"z2", 5000}, {"z3", 5001}}));
  }
  // After a restart the ids in use are read back: the next leaf at 2000 takes 2003.
  f.reopen();
  f.apply({leaf("i", 2000)});
  f.ix->stop();
  Xapian::Database again(f.dir.path.string());
  auto i = again.postlist_begin("Qi");
  ASSERT_NE(i, again.postlist_end("Qi"));
  EXPECT_EQ(*i, 2003u);
}

// A burst of saves (hundreds in the same seconds) takes a run of ids; the
// newest part of it is a window, and a page by creation time is still
// exactly the newest: before and after a leaf arrives out of order into the
// run, and after one in its middle is deleted.
TEST(SearchIndex, ABurstOfSavesIsSplitByIdAndPagesStayExact) {
  fixture f;
  f.exact_up_to = 100;
  f.reopen();
  const int64_t base = 1700000000000;
  std::vector<std::pair<int64_t, std::string>> all;  // created, id
  const auto leaf = [&](const std::string& id, int64_t created, const std::string& words) {
    all.emplace_back(created, id);
    json::object l{{"id", id},
                   {"url", "https://example.org/" + id},
                   {"title", "t " + id},
                   {"content_text", "common " + words},
                   {"created_at", format_iso8601(created)},
                   {"updated_at", format_iso8601(created)}};
    return f.make(domain::event_type::created, id, json::object{{"leaf", l}});
  };
  std::vector<applied_event> batch;
  for (int i = 0; i < 300; ++i) batch.push_back(leaf("old" + std::to_string(i), base + int64_t{i} * 3600 * 1000, "old"));
  f.apply(std::move(batch));
  // 600 leaves 3 ms apart; in each batch their ids sort apart from their
  // times, and each batch's first five were created 20 ms earlier, before
  // the previous batch's last (as across the log's partitions).
  const int64_t burst = base + int64_t{400} * 3600 * 1000;
  for (int b = 0; b < 6; ++b) {
    batch.clear();
    for (int k = 0; k < 100; ++k) {
      const int i = b * 100 + k;
      batch.push_back(
          leaf("b" + std::to_string((i * 7919) % 1000 + 1000), burst + int64_t{i} * 3 - (k < 5 ? 20 : 0), "burst"));
    }
    f.apply(std::move(batch));
  }
  const auto newest_first = [&](size_t offset) {
    auto sorted = all;
    std::sort(sorted.begin(), sorted.end(), std::greater<>());
    std::vector<std::string> out;
    for (size_t k = offset; k < offset + 10 && k < sorted.size(); ++k) out.push_back(sorted[k].second);
    return out;
  };
  const auto ask = [&](const std::string& q, search::sort_by sort, size_t offset) {
    return f.page({q, sort, true, offset});
  };
  const auto check_pages = [&](const std::string& when) {
    for (size_t offset : {size_t{0}, size_t{30}, size_t{200}, size_t{590}}) {
      EXPECT_EQ(page_ids(ask("", search::sort_by::relevance, offset)), newest_first(offset))
          << when << ": everything, offset " << offset;
      EXPECT_EQ(page_ids(ask("common", search::sort_by::created, offset)), newest_first(offset))
          << when << ": common newest first, offset " << offset;
    }
    EXPECT_EQ(ask("", search::sort_by::relevance, 0).total, all.size()) << when;
  };

  check_pages("the burst in order");
  // The home page looked at part of the burst, not all 600 of it.
  const auto home = ask("", search::sort_by::relevance, 0);
  EXPECT_GT(home.window_matches, 0u);
  EXPECT_LT(home.window_matches, 300u) << "a window of the burst's newest ids";
  // A word only older leaves have: found past the burst, from a window.
  const auto old = ask("old", search::sort_by::relevance, 0);
  ASSERT_EQ(old.items.size(), 10u);
  for (const auto& h : old.items) EXPECT_EQ(h.leaf.id.substr(0, 3), "old");
  ASSERT_TRUE(old.sample.has_value());
  EXPECT_LT(old.sample->matches, 300u);
  EXPECT_NEAR(static_cast<double>(old.total), 300, 90);
  // After a restart the runs and their order are read back from the index.
  f.reopen();
  check_pages("reopened");
  EXPECT_LT(ask("", search::sort_by::relevance, 0).window_matches, 300u) << "reopened";
  // One in the middle of the burst is deleted: two runs.
  const std::string gone = "b" + std::to_string((300 * 7919) % 1000 + 1000);
  f.apply({f.make(domain::event_type::deleted, gone, json::object{})});
  all.erase(std::find_if(all.begin(), all.end(), [&](const auto& p) { return p.second == gone; }));
  check_pages("one deleted");
  EXPECT_LT(ask("", search::sort_by::relevance, 0).window_matches, 300u) << "one deleted: still a window by id";
  // A leaf newer than the whole burst takes the freed id (the first free
  // after its created second): an id below older leaves, out of order.
  f.apply({leaf("refill", burst + 1900, "burst")});
  EXPECT_EQ(page_ids(ask("", search::sort_by::relevance, 0)).front(), "refill");
  check_pages("the freed id taken");
  // One arrives late, created inside the burst: its id lands after the run.
  f.apply({leaf("late", burst + 901, "burst")});
  check_pages("a late leaf");
  f.reopen();
  check_pages("reopened again");
  // An old leaf's created_at moved to after the burst: it keeps its low id,
  // and is the newest of all.
  {
    const int64_t moved = burst + 5000;
    f.apply({f.make(domain::event_type::updated, "old5",
                    json::object{{"changes", json::object{{"created_at", format_iso8601(moved)}}}})});
    std::find_if(all.begin(), all.end(), [](const auto& p) { return p.second == "old5"; })->first = moved;
    EXPECT_EQ(page_ids(ask("", search::sort_by::relevance, 0)).front(), "old5");
    f.reopen();
    EXPECT_EQ(page_ids(ask("", search::sort_by::relevance, 0)).front(), "old5") << "reopened";
    check_pages("a created_at moved");
  }

}

// Saves in clusters (bursts), out of order, with deletes and ids freed and
// taken again, in random batches: the newest-first pages of everything and of
// a word are always exactly those of the leaves' own order.
TEST(SearchIndex, NewestPagesAreExactWhateverTheOrderOfSaves) {
  fixture f;
  f.exact_up_to = 60;
  f.reopen();
  std::mt19937 rng(20261208);
  const int64_t base = 1700000000000;
  std::map<std::string, int64_t> live;  // id -> created
  std::set<int64_t> used;
  int next = 0;
  int64_t clock = base;
  for (int round = 0; round < 4; ++round) {
    std::vector<applied_event> batch;
    const auto flush = [&] {
      if (!batch.empty()) f.apply(std::move(batch));
      batch.clear();
    };
    for (int n = 0; n < 250; ++n) {
      // Mostly live saves, a few ms apart and a little out of order; some
      // into the seconds the live ones took (their ids spill past them);
      // some into minutes before; a few far older.
      const int kind = static_cast<int>(rng() % 10);
      int64_t created;
      if (kind < 7) {
        clock += 1 + static_cast<int64_t>(rng() % 8);
        created = clock - static_cast<int64_t>(rng() % 30);
      } else if (kind == 7) {
        created = base + static_cast<int64_t>(rng() % static_cast<uint64_t>(clock - base + 1));
      } else if (kind == 8) {
        created = base - static_cast<int64_t>(rng() % (600 * 1000));
      } else {
        created = base - int64_t{86400} * 1000 * 30 - static_cast<int64_t>(rng() % 100000);
      }
      while (!used.insert(created).second) ++created;
      const std::string id = "r" + std::to_string(next++);
      live[id] = created;
      json::object l{{"id", id},
                     {"url", "https://example.org/" + id},
                     {"title", "t " + id},
                     {"content_text", std::string("common ") + (rng() % 3 ? "often" : "seldom")},
                     {"created_at", format_iso8601(created)},
                     {"updated_at", format_iso8601(created)}};
      batch.push_back(f.make(domain::event_type::created, id, json::object{{"leaf", l}}));
      if (rng() % 40 == 0) flush();
      if (rng() % 12 == 0 && live.size() > 10) {  // a delete, its id free again
        flush();
        auto it = std::next(live.begin(), static_cast<long>(rng() % live.size()));
        batch.push_back(f.make(domain::event_type::deleted, it->first, json::object{}));
        live.erase(it);
        flush();
      }
    }
    flush();
    if (round == 2) f.reopen();
    std::vector<std::pair<int64_t, std::string>> order;
    for (const auto& [id, created] : live) order.emplace_back(created, id);
    std::sort(order.begin(), order.end(), std::greater<>());
    for (size_t offset : {size_t{0}, size_t{17}, size_t{80}, size_t{300}}) {
      for (const char* q : {"", "common"}) {
        const auto got = page_ids(f.page({q, *q ? search::sort_by::created : search::sort_by::relevance, true, offset}));
        std::vector<std::string> want;
        for (size_t k = offset; k < offset + 10 && k < order.size(); ++k) want.push_back(order[k].second);
        EXPECT_EQ(got, want) << "round " << round << ", q '" << q << "', offset " << offset;
      }
    }
  }
}
