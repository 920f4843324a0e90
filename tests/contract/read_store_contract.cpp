// The ReadStore contract. Each adapter provides a factory; the Cassandra store
// (issue 4) adds its own to the type list.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <set>

#include <rocksdb/db.h>

#include "leaves/store/embedded/rocks_store.h"
#include "support/test_support.h"
#ifdef LEAVES_CONTRACT_CASSANDRA
#include <cstdlib>

#include "leaves/store/cassandra/cassandra_store.h"
#endif

namespace json = boost::json;

namespace leaves::domain {
// Readable failures: gtest prints leaves as their JSON.
void PrintTo(const leaf& l, std::ostream* os) { *os << json::serialize(leaf_to_json(l)); }
}  // namespace leaves::domain

namespace leaves::store {
namespace {

struct embedded_factory {
  testing::temp_dir dir;
  int n = 0;
  std::unique_ptr<read_store> open() {
    auto s = rocks_store::open(dir.path() / ("store" + std::to_string(n++)));
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.err().message);
    return s.ok() ? std::unique_ptr<read_store>(std::move(*s)) : nullptr;
  }
};

// Produces events the way the service does (decide + apply), with fake positions.
class history {
 public:
  void save(const std::string& body, int64_t now) {
    domain::command c;
    c.kind = domain::command_kind::save;
    auto p = domain::parse_patch(json::parse(body).as_object(), domain::limits{});
    ASSERT_TRUE(p.ok()) << p.err().message;
    c.patch = *p;
    c.leaf_id = domain::leaf_id_for_url(p->values.url);
    run(c, now);
  }
  void save_as(const std::string& id, const std::string& body, int64_t now) {
    domain::command c;
    c.kind = domain::command_kind::save;
    auto p = domain::parse_patch(json::parse(body).as_object(), domain::limits{});
    ASSERT_TRUE(p.ok()) << p.err().message;
    c.patch = *p;
    c.leaf_id = id;
    run(c, now);
  }
  void command(domain::command_kind k, const std::string& id, domain::string_list tags, int64_t now) {
    domain::command c;
    c.kind = k;
    c.leaf_id = id;
    c.tags = std::move(tags);
    run(c, now);
  }
  std::vector<applied_event> events;
  std::map<std::string, std::optional<domain::leaf>> state;

 private:
  void run(const domain::command& c, int64_t now) {
    auto& s = state[c.leaf_id];
    auto evs = domain::decide(s, c, {now, "t"});
    ASSERT_TRUE(evs.ok()) << evs.err().message;
    for (auto& e : *evs) {
      ASSERT_TRUE(domain::apply(s, e).ok());
      events.push_back({0, static_cast<int64_t>(events.size()), e});
    }
  }
};

std::string url(int i) { return "https://site" + std::to_string(i % 7) + ".example/p/" + std::to_string(i); }

template <class Factory>
class ReadStoreContract : public ::testing::Test {
 protected:
  Factory factory;

  // 40 leaves, some tagged, some starred, with user ids; then changes and deletes.
  history sample() {
    history h;
    for (int i = 0; i < 40; ++i) {
      std::string tags = i % 3 == 0 ? R"(["kafka","db"])" : i % 3 == 1 ? R"(["kafka"])" : "[]";
      h.save(R"({"url":")" + url(i) + R"(","title":"Title )" + std::to_string(100 - i) + R"(","tags":)" + tags +
                 R"(,"user_id":)" + std::to_string(i % 4) + R"(,"is_starred":)" + (i % 5 == 0 ? "true" : "false") +
                 "}",
             1000 + i * 10);
    }
    h.command(domain::command_kind::add_tags, domain::leaf_id_for_url(url(2)), {"kafka", "new"}, 5000);
    h.command(domain::command_kind::remove_tags, domain::leaf_id_for_url(url(3)), {"kafka"}, 5001);
    h.command(domain::command_kind::remove, domain::leaf_id_for_url(url(6)), {}, 5002);
    h.save(R"({"url":")" + url(9) + R"(","title":"renamed"})", 5003);
    return h;
  }

  std::vector<std::string> all_ids(read_store& s, list_query q) {
    std::vector<std::string> ids;
    for (int guard = 0; guard < 1000; ++guard) {
      auto page = s.list(q);
      EXPECT_TRUE(page.ok()) << (page.ok() ? "" : page.err().message);
      if (!page.ok()) break;
      for (const auto& l : page->items) ids.push_back(l.id);
      if (page->next_page_token.empty()) break;
      q.page_token = page->next_page_token;
    }
    return ids;
  }

  std::vector<std::string> expected_ids(const history& h, const std::function<bool(const domain::leaf&)>& pred) {
    std::vector<std::string> ids;
    for (const auto& [id, l] : h.state) {
      if (l && !l->deleted && pred(*l)) ids.push_back(id);
    }
    return ids;
  }
};

#ifdef LEAVES_CONTRACT_CASSANDRA
// A real node (LEAVES_TEST_CASSANDRA, started by scripts/cassandra). Each
// store the test opens gets its own keyspace, emptied first.
cassandra_options test_node(const std::string& keyspace) {
  cassandra_options o;
  const char* node = std::getenv("LEAVES_TEST_CASSANDRA");
  o.contact_points = {node && *node ? node : "127.0.0.1:9042"};
  o.keyspace = keyspace;
  o.consistency = "one";
  return o;
}

struct cassandra_factory {
  int n = 0;
  std::unique_ptr<read_store> open() {
    auto s = cassandra_store::open(test_node("leaves_contract_" + std::to_string(n++)));
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.err().message);
    if (!s.ok()) return nullptr;
    auto c = (*s)->clear();
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.err().message);
    return std::unique_ptr<read_store>(std::move(*s));
  }
};
using adapters = ::testing::Types<cassandra_factory>;
#else
using adapters = ::testing::Types<embedded_factory>;
#endif
TYPED_TEST_SUITE(ReadStoreContract, adapters);

TYPED_TEST(ReadStoreContract, GetReturnsLeavesAndTombstones) {
  auto s = this->factory.open();
  auto h = this->sample();
  ASSERT_TRUE(s->apply(h.events).ok());
  for (const auto& [id, want] : h.state) {
    auto got = s->get(id);
    ASSERT_TRUE(got.ok()) << got.err().message;
    ASSERT_TRUE(got->has_value()) << id;
    EXPECT_EQ(**got, *want) << "leaf " << id;
  }
  EXPECT_FALSE(s->get("no-such-leaf")->has_value());
  EXPECT_TRUE((*s->get(domain::leaf_id_for_url(url(6))))->deleted);
}

TYPED_TEST(ReadStoreContract, ApplyIsIdempotentUnderReplay) {
  auto once = this->factory.open();
  auto twice = this->factory.open();
  auto h = this->sample();
  ASSERT_TRUE(once->apply(h.events).ok());
  ASSERT_TRUE(twice->apply(h.events).ok());
  // Replay a suffix, then everything again, in odd batch sizes.
  std::vector<applied_event> suffix(h.events.begin() + 20, h.events.end());
  auto st = twice->apply(suffix);
  ASSERT_TRUE(st.ok()) << st.err().message;
  EXPECT_EQ(st->applied, 0u) << "every replayed event was already applied";
  for (size_t i = 0; i < h.events.size(); i += 7) {
    std::vector<applied_event> b(h.events.begin() + i, h.events.begin() + std::min(i + 7, h.events.size()));
    ASSERT_TRUE(twice->apply(b).ok());
  }
  EXPECT_EQ(*once->tags(100), *twice->tags(100));
  list_query q;
  q.limit = 100;
  EXPECT_EQ(this->all_ids(*once, q), this->all_ids(*twice, q));
  for (const auto& [id, l] : h.state) EXPECT_EQ(**once->get(id), **twice->get(id));
}

// Creations applied again after the leaves moved on (renamed, retagged,
// deleted), in one batch and one at a time, change nothing. (Written blind,
// without reading the leaf first, a creation applied twice on Cassandra
// doubled its lists: list<text> elements get new ids on every write.)
TYPED_TEST(ReadStoreContract, CreationsAppliedAgainAfterLaterEventsChangeNothing) {
  auto once = this->factory.open();
  auto again = this->factory.open();
  auto h = this->sample();
  ASSERT_TRUE(once->apply(h.events).ok());
  ASSERT_TRUE(again->apply(h.events).ok());
  std::vector<applied_event> creations;
  for (const auto& ae : h.events)
    if (ae.ev.type == domain::event_type::created) creations.push_back(ae);
  auto st = again->apply(creations);
  ASSERT_TRUE(st.ok()) << st.err().message;
  EXPECT_EQ(st->applied, 0u) << "every creation was applied before";
  for (const auto& ae : creations) ASSERT_TRUE(again->apply({ae}).ok());
  for (const auto& [id, l] : h.state) {
    auto got = again->get(id);
    ASSERT_TRUE(got.ok() && got->has_value()) << id;
    EXPECT_EQ(**got, *l) << "leaf " << id << " after its creation was applied again";
  }
  EXPECT_EQ(*once->tags(100), *again->tags(100));
  for (auto sort : {sort_key::created, sort_key::updated, sort_key::title}) {
    list_query q;
    q.limit = 100;
    q.sort = sort;
    EXPECT_EQ(this->all_ids(*once, q), this->all_ids(*again, q)) << "sort " << static_cast<int>(sort);
  }
  list_query by_tag;
  by_tag.limit = 100;
  by_tag.tag = "kafka";
  EXPECT_EQ(this->all_ids(*once, by_tag), this->all_ids(*again, by_tag));
  list_query by_user;
  by_user.limit = 100;
  by_user.user_id = 1;
  EXPECT_EQ(this->all_ids(*once, by_user), this->all_ids(*again, by_user));
}

TYPED_TEST(ReadStoreContract, TagCountsFollowTagChangesAndDeletes) {
  auto s = this->factory.open();
  auto h = this->sample();
  ASSERT_TRUE(s->apply(h.events).ok());
  std::map<std::string, int64_t> want;
  for (const auto& [id, l] : h.state) {
    if (l && !l->deleted && l->tags) {
      for (const auto& t : *l->tags) want[t]++;
    }
  }
  auto got = s->tags(100);
  ASSERT_TRUE(got.ok());
  std::map<std::string, int64_t> have;
  for (const auto& t : *got) have[t.tag] = t.count;
  EXPECT_EQ(have, want);
  for (size_t i = 1; i < got->size(); ++i) EXPECT_GE((*got)[i - 1].count, (*got)[i].count) << "sorted by count";
  EXPECT_EQ(s->tags(1)->size(), 1u);
}

TYPED_TEST(ReadStoreContract, PagingVisitsEachMatchingLeafOnce) {
  auto s = this->factory.open();
  auto h = this->sample();
  ASSERT_TRUE(s->apply(h.events).ok());
  struct named_query {
    const char* name;
    list_query q;
    std::function<bool(const domain::leaf&)> pred;
  };
  auto has_tag = [](const domain::leaf& l, const std::string& t) {
    return l.tags && std::find(l.tags->begin(), l.tags->end(), t) != l.tags->end();
  };
  std::vector<named_query> cases;
  cases.push_back({"all by created", {}, [](const domain::leaf&) { return true; }});
  list_query tag;
  tag.tag = "kafka";
  cases.push_back({"tag", tag, [&](const domain::leaf& l) { return has_tag(l, "kafka"); }});
  list_query user;
  user.user_id = 2;
  cases.push_back({"user", user, [](const domain::leaf& l) { return l.user_id == 2; }});
  list_query starred;
  starred.starred = true;
  starred.sort = sort_key::title;
  cases.push_back({"starred by title", starred, [](const domain::leaf& l) { return l.is_starred; }});
  list_query window;
  window.since_ms = 1100;
  window.until_ms = 1300;
  window.descending = false;
  cases.push_back({"since/until", window, [](const domain::leaf& l) {
                     return l.created_at >= 1100 && l.created_at < 1300;
                   }});
  list_query updated;
  updated.sort = sort_key::updated;
  updated.tag = "db";
  cases.push_back({"updated with tag", updated, [&](const domain::leaf& l) { return has_tag(l, "db"); }});
  for (auto& c : cases) {
    for (size_t limit : {1, 3, 100}) {
      c.q.limit = limit;
      auto ids = this->all_ids(*s, c.q);
      std::multiset<std::string> got(ids.begin(), ids.end());
      auto want_v = this->expected_ids(h, c.pred);
      std::multiset<std::string> want(want_v.begin(), want_v.end());
      EXPECT_EQ(got, want) << c.name << " limit " << limit;
    }
  }
}

// GET and list answers carry the JSON reads; they must say what the parsed
// reads say, leaf for leaf and page for page (the embedded store serves the
// bytes it keeps, filtering by its records' headers).
TYPED_TEST(ReadStoreContract, JsonReadsAgreeWithTheParsedReads) {
  auto s = this->factory.open();
  auto h = this->sample();
  ASSERT_TRUE(s->apply(h.events).ok());
  for (const auto& [id, want] : h.state) {
    auto got = leaves::testing::run(s->async_get_json(id));
    ASSERT_TRUE(got.ok()) << got.err().message;
    ASSERT_TRUE(got->has_value()) << id;
    EXPECT_EQ((*got)->version, want->version) << id;
    EXPECT_EQ((*got)->deleted, want->deleted) << id;
    if (!want->deleted) {
      EXPECT_EQ((*got)->json, json::serialize(domain::leaf_to_json(*want))) << id;
    }
  }
  EXPECT_FALSE(leaves::testing::run(s->async_get_json("no-such-leaf"))->has_value());
  std::vector<list_query> cases(8);
  cases[1].tag = "kafka";
  cases[2].tag = "db";
  cases[2].user_id = 0;
  cases[3].starred = false;
  cases[3].tag = "kafka";
  cases[4].sort = sort_key::updated;
  cases[4].tag = "db";
  cases[5].sort = sort_key::title;
  cases[5].descending = false;
  cases[5].starred = true;
  cases[6].user_id = 2;
  cases[6].since_ms = 1050;
  cases[7].since_ms = 1100;
  cases[7].until_ms = 1300;
  cases[7].descending = false;
  for (size_t c = 0; c < cases.size(); ++c) {
    auto q = cases[c];
    q.limit = 4;
    for (int guard = 0; guard < 100; ++guard) {
      auto parsed = s->list(q);
      auto raw = leaves::testing::run(s->async_list_json(q));
      ASSERT_TRUE(parsed.ok() && raw.ok()) << "case " << c;
      std::vector<std::string> want;
      for (const auto& l : parsed->items) want.push_back(json::serialize(domain::leaf_to_json(l)));
      EXPECT_EQ(raw->items, want) << "case " << c;
      EXPECT_EQ(raw->next_page_token, parsed->next_page_token) << "case " << c;
      if (parsed->next_page_token.empty()) break;
      q.page_token = parsed->next_page_token;
    }
  }
}

TYPED_TEST(ReadStoreContract, ListIsOrdered) {
  auto s = this->factory.open();
  auto h = this->sample();
  ASSERT_TRUE(s->apply(h.events).ok());
  list_query q;
  q.limit = 100;
  auto desc = s->list(q);
  for (size_t i = 1; i < desc->items.size(); ++i) {
    EXPECT_GE(desc->items[i - 1].created_at, desc->items[i].created_at);
  }
  q.sort = sort_key::title;
  q.descending = false;
  auto titles = s->list(q);
  auto lower = [](std::string t) {
    for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return t;
  };
  for (size_t i = 1; i < titles->items.size(); ++i) {
    EXPECT_LE(lower(titles->items[i - 1].title), lower(titles->items[i].title)) << "title order ignores case";
  }
  q.page_token = "not-a-token";
  auto bad = s->list(q);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().code, errc::invalid_argument);
}

TYPED_TEST(ReadStoreContract, ClearEmptiesEveryModel) {
  auto s = this->factory.open();
  auto h = this->sample();
  ASSERT_TRUE(s->apply(h.events).ok());
  ASSERT_TRUE(s->clear().ok());
  EXPECT_TRUE(s->tags(100)->empty());
  EXPECT_TRUE(s->list({})->items.empty());
  ASSERT_TRUE(s->apply(h.events).ok());
  EXPECT_EQ(s->list(list_query{})->items.size(), 30u);
}

#ifndef LEAVES_CONTRACT_CASSANDRA
// The time indexes sort newest first with ties by id, descending: pages
// walked either way, with and without a created_at window, come out in
// exactly (created_at, id) order, ids that are prefixes of others included.
TEST(EmbeddedStore, ListingsOrderTiesByIdBothWaysAndKeepTheWindow) {
  leaves::testing::temp_dir dir;
  auto s = rocks_store::open(dir.path() / "store");
  ASSERT_TRUE(s.ok());
  history h;
  const std::vector<std::pair<std::string, int64_t>> saved{
      {"abc", 1000}, {"z", 999}, {"a", 1000}, {"b", 1000}, {"y", 1001}, {"ab", 1000}, {"a-", 1000}};
  int i = 0;
  for (const auto& [id, at] : saved) {
    h.save_as(id, R"({"url":")" + url(i++) + R"(","tags":["kafka"],"user_id":7})", at);
  }
  ASSERT_TRUE((*s)->apply(h.events).ok());
  auto walk = [&](list_query q) {
    std::vector<std::string> ids;
    q.limit = 2;
    for (int guard = 0; guard < 20; ++guard) {
      auto page = (*s)->list(q);
      EXPECT_TRUE(page.ok());
      if (!page.ok()) break;
      for (const auto& l : page->items) ids.push_back(l.id);
      if (page->next_page_token.empty()) break;
      q.page_token = page->next_page_token;
    }
    return ids;
  };
  const std::vector<std::string> newest{"y", "b", "abc", "ab", "a-", "a", "z"};
  const std::vector<std::string> oldest(newest.rbegin(), newest.rend());
  for (int by = 0; by < 3; ++by) {  // c, t<tag>, w<user>
    list_query q;
    if (by == 1) q.tag = "kafka";
    if (by == 2) q.user_id = 7;
    EXPECT_EQ(walk(q), newest) << "index " << by;
    q.descending = false;
    EXPECT_EQ(walk(q), oldest) << "index " << by;
    q.since_ms = 1000;
    q.until_ms = 1001;
    EXPECT_EQ(walk(q), (std::vector<std::string>{"a", "a-", "ab", "abc", "b"})) << "index " << by;
    q.descending = true;
    EXPECT_EQ(walk(q), (std::vector<std::string>{"b", "abc", "ab", "a-", "a"})) << "index " << by;
    q.until_ms = 0;
    EXPECT_TRUE(walk(q).empty()) << "index " << by;
    q.until_ms.reset();
    q.since_ms = 1001;
    EXPECT_EQ(walk(q), (std::vector<std::string>{"y"})) << "index " << by;
    q.since_ms = 0;
    EXPECT_EQ(walk(q), newest) << "index " << by;
  }
}

// A store of the previous layout (format 1: records under l<id> beside the
// indexes, no format key) is not read as if it were this one: it opens empty
// and says why, so that the projector rebuilds it from the log; once cleared
// (the rebuild's first step) it is an ordinary empty store of this format.
TEST(EmbeddedStore, AStoreOfThePreviousFormatOpensEmptyForARebuild) {
  leaves::testing::temp_dir dir;
  const auto path = dir.path() / "store";
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, path.string(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "l" + std::string(32, 'a'), R"({"id":"x"})").ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), std::string("p\0\0\0\0", 5), std::string(7, '\0') + "\x05").ok());
  }
  auto s = rocks_store::open(path);
  ASSERT_TRUE(s.ok()) << s.err().message;
  EXPECT_NE((*s)->rebuild_reason().find("store format 1"), std::string::npos) << (*s)->rebuild_reason();
  EXPECT_FALSE((*(*s)->get(std::string(32, 'a'))).has_value());
  auto held = (*s)->stored_position();
  ASSERT_TRUE(held.has_value());
  EXPECT_TRUE(held->empty()) << "the old store's positions are gone with it";
  ASSERT_TRUE((*s)->clear().ok());
  EXPECT_EQ((*s)->rebuild_reason(), "");
  history h;
  for (int i = 0; i < 3; ++i) h.save(R"({"url":")" + url(i) + R"(","tags":["kafka"]})", 1000 + i);
  ASSERT_TRUE((*s)->apply(h.events).ok());
  s->reset();
  // Reopened, the store is of this format: nothing to rebuild, everything read.
  auto again = rocks_store::open(path);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->rebuild_reason(), "");
  EXPECT_EQ((*again)->list(list_query{})->items.size(), 3u);
}
#endif

#ifdef LEAVES_CONTRACT_CASSANDRA
// Two processes on one keyspace (scale-out): each keeps leaf_meta rows in
// memory, and neither may serve one the other has since replaced.
// A process with no leaf_meta cached (a restarted projector, or the new owner
// of a partition) applying creations again: each has a leaf_meta row, so it is
// read whole and skipped; a leaf still at its creation keeps single lists.
TEST(CassandraStore, CreationsAppliedAgainByAColdStoreAreSkipped) {
  const auto o = test_node("leaves_contract_recreate");
  auto a = cassandra_store::open(o);
  ASSERT_TRUE(a.ok()) << a.err().message;
  ASSERT_TRUE((*a)->clear().ok());
  history h;
  for (int i = 0; i < 3; ++i)
    h.save(R"({"url":")" + url(i) + R"(","title":"t","tags":["a","b"]})", 1000 + i);
  h.save(R"({"url":")" + url(1) + R"(","title":"renamed"})", 2000);
  h.command(domain::command_kind::remove, domain::leaf_id_for_url(url(2)), {}, 2001);
  ASSERT_TRUE((*a)->apply(h.events).ok());
  const auto tags_before = (*a)->tags(100);
  ASSERT_TRUE(tags_before.ok());
  auto b = cassandra_store::open(o);
  ASSERT_TRUE(b.ok()) << b.err().message;
  std::vector<applied_event> creations;
  for (const auto& ae : h.events)
    if (ae.ev.type == domain::event_type::created) creations.push_back(ae);
  auto st = (*b)->apply(creations);
  ASSERT_TRUE(st.ok()) << st.err().message;
  EXPECT_EQ(st->applied, 0u) << "a creation applied before is skipped";
  EXPECT_EQ(st->skipped, creations.size());
  for (auto* s : {a->get(), b->get()}) {
    for (const auto& [id, want] : h.state) {
      auto got = s->get(id);
      ASSERT_TRUE(got.ok() && got->has_value()) << id;
      EXPECT_EQ(**got, *want) << "leaf " << id;
    }
  }
  EXPECT_EQ(*(*b)->tags(100), *tags_before);
}

TEST(CassandraStore, StoresOnOneKeyspaceSeeEachOthersWrites) {
  const auto o = test_node("leaves_contract_shared");
  auto a = cassandra_store::open(o);
  auto b = cassandra_store::open(o);
  ASSERT_TRUE(a.ok() && b.ok()) << (a.ok() ? b.err().message : a.err().message);
  ASSERT_TRUE((*a)->clear().ok());
  history h;
  size_t sent = 0;
  auto apply_new = [&](read_store& s) {
    std::vector<applied_event> fresh(h.events.begin() + static_cast<std::ptrdiff_t>(sent), h.events.end());
    sent = h.events.size();
    auto st = s.apply(fresh);
    ASSERT_TRUE(st.ok()) << st.err().message;
  };
  const std::string id = domain::leaf_id_for_url(url(1));
  auto expect_both = [&](const char* step) {
    for (auto* s : {a->get(), b->get()}) {
      auto got = s->get(id);
      ASSERT_TRUE(got.ok()) << step << ": " << got.err().message;
      ASSERT_TRUE(got->has_value()) << step;
      EXPECT_EQ(**got, *h.state[id]) << step << ": expected version " << h.state[id]->version << ", got "
                                     << (*got)->version;
    }
  };
  h.save(R"({"url":")" + url(1) + R"(","title":"first","tags":["a"]})", 1000);
  apply_new(**a);
  expect_both("saved through a");
  h.save(R"({"url":")" + url(1) + R"(","title":"second"})", 2000);
  apply_new(**b);
  expect_both("changed through b");
  h.command(domain::command_kind::add_tags, id, {"b"}, 3000);
  apply_new(**a);
  expect_both("tagged through a");
  h.command(domain::command_kind::remove, id, {}, 4000);
  apply_new(**b);
  expect_both("deleted through b");
  EXPECT_TRUE((*(*a)->get(id))->deleted);
}
#endif

}  // namespace
}  // namespace leaves::store
