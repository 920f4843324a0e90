// The DirectoryStore contract (store/directory_store.h), against the embedded
// model and, built with LEAVES_CONTRACT_CASSANDRA, the Cassandra tables.
#include <gtest/gtest.h>

#include <algorithm>
#include <tuple>

#include "leaves/store/embedded/rocks_directory_store.h"
#include "support/test_support.h"
#ifdef LEAVES_CONTRACT_CASSANDRA
#include <cstdlib>

#include "leaves/store/cassandra/cassandra_store.h"
#endif

namespace leaves::store {

void PrintTo(const directory_row& r, std::ostream* os) {
  *os << "{kind " << int(r.kind) << ", " << r.id << (r.leaf.empty() ? "" : "/" + r.leaf) << " v" << r.version
      << ", marks " << int(r.marks) << ", " << r.state << "}";
}

namespace {

struct embedded_directory {
  testing::temp_dir dir;
  std::vector<std::unique_ptr<rocks_directory_store>> held;
  int n = 0;
  directory_store* open() {
    auto s = rocks_directory_store::open(dir.path() / ("directory" + std::to_string(n++)));
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.err().message);
    if (!s.ok()) return nullptr;
    held.push_back(std::move(*s));
    return held.back().get();
  }
};

#ifdef LEAVES_CONTRACT_CASSANDRA
struct cassandra_directory {
  std::vector<std::unique_ptr<cassandra_store>> held;
  int n = 0;
  directory_store* open() {
    cassandra_options o;
    const char* node = std::getenv("LEAVES_TEST_CASSANDRA");
    o.contact_points = {node && *node ? node : "127.0.0.1:9042"};
    o.keyspace = "leaves_dircontract_" + std::to_string(n++);
    o.consistency = "one";
    auto s = cassandra_store::open(o);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.err().message);
    if (!s.ok()) return nullptr;
    auto c = (*s)->directory_model().clear();
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.err().message);
    held.push_back(std::move(*s));
    return &held.back()->directory_model();
  }
};
using adapters = ::testing::Types<cassandra_directory>;
#else
using adapters = ::testing::Types<embedded_directory>;
#endif

template <class F>
class DirectoryStoreContract : public ::testing::Test {
 protected:
  F factory;
};
TYPED_TEST_SUITE(DirectoryStoreContract, adapters);

directory_row agg(directory_kind k, std::string id, int64_t v, std::string state) {
  return {k, std::move(id), {}, v, std::move(state), 0};
}
directory_row mark(std::string user, std::string leaf, int64_t v, uint8_t bits) {
  return {directory_kind::mark, std::move(user), std::move(leaf), v, {}, bits};
}

std::vector<directory_row> sorted(std::vector<directory_row> rows) {
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return std::tie(a.kind, a.id, a.leaf) < std::tie(b.kind, b.id, b.leaf);
  });
  return rows;
}

directory_snapshot loaded(directory_store* s) {
  auto snap = s->load();
  EXPECT_TRUE(snap.ok()) << (snap.ok() ? "" : snap.err().message);
  EXPECT_TRUE(snap.ok() && snap->has_value()) << "nothing loaded";
  if (!snap.ok() || !snap->has_value()) return {};
  auto out = std::move(**snap);
  out.rows = sorted(std::move(out.rows));
  return out;
}

TYPED_TEST(DirectoryStoreContract, ANewModelHoldsNothing) {
  auto* s = this->factory.open();
  ASSERT_NE(s, nullptr);
  auto snap = s->load();
  ASSERT_TRUE(snap.ok()) << snap.err().message;
  EXPECT_FALSE(snap->has_value());
}

TYPED_TEST(DirectoryStoreContract, SavedRowsAndPositionsLoadBack) {
  auto* s = this->factory.open();
  ASSERT_NE(s, nullptr);
  std::vector<directory_row> rows{agg(directory_kind::user, "ann", 3, R"({"name":"ann"})"),
                                  agg(directory_kind::team, "00112233445566aa", 1, R"({"id":"t"})"),
                                  agg(directory_kind::collection, "aa00112233445566", 9, R"({"id":"c","leaves":["x"]})"),
                                  mark("ann", "leaf-1", 3, 1), mark("ann", "leaf-2", 3, 3)};
  ASSERT_TRUE(s->save(rows, {4, 0, 7}).ok());
  auto snap = loaded(s);
  EXPECT_EQ(snap.next, (std::vector<int64_t>{4, 0, 7}));
  EXPECT_EQ(snap.rows, sorted(rows));
}

TYPED_TEST(DirectoryStoreContract, RowsAndPositionsOnlyMoveForward) {
  auto* s = this->factory.open();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->save({agg(directory_kind::user, "ann", 5, "five"), mark("ann", "x", 5, 2)}, {10, 3}).ok());
  // Another server, behind this one, saves what it has.
  ASSERT_TRUE(s->save({agg(directory_kind::user, "ann", 4, "four"), mark("ann", "x", 4, 1)}, {6, 3}).ok());
  auto snap = loaded(s);
  EXPECT_EQ(snap.next, (std::vector<int64_t>{10, 3}));
  EXPECT_EQ(snap.rows, sorted({agg(directory_kind::user, "ann", 5, "five"), mark("ann", "x", 5, 2)}));
  ASSERT_TRUE(s->save({agg(directory_kind::user, "ann", 6, "six")}, {11, 4}).ok());
  snap = loaded(s);
  EXPECT_EQ(snap.next, (std::vector<int64_t>{11, 4}));
  EXPECT_EQ(snap.rows.at(0).state, "six");
}

TYPED_TEST(DirectoryStoreContract, AMarkOfNothingRemovesItUntilMarkedAgain) {
  auto* s = this->factory.open();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->save({mark("bob", "a", 2, 1), mark("bob", "b", 2, 2)}, {1}).ok());
  ASSERT_TRUE(s->save({mark("bob", "a", 3, 0)}, {2}).ok());
  // An older save of the mark (another server behind) does not bring it back.
  ASSERT_TRUE(s->save({mark("bob", "a", 2, 1)}, {2}).ok());
  EXPECT_EQ(loaded(s).rows, (std::vector<directory_row>{mark("bob", "b", 2, 2)}));
  ASSERT_TRUE(s->save({mark("bob", "a", 4, 3)}, {3}).ok());
  EXPECT_EQ(loaded(s).rows, sorted({mark("bob", "a", 4, 3), mark("bob", "b", 2, 2)}));
}

TYPED_TEST(DirectoryStoreContract, ClearForgetsEverything) {
  auto* s = this->factory.open();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->save({agg(directory_kind::team, "00112233445566aa", 1, "{}"), mark("bob", "a", 2, 1)}, {5}).ok());
  ASSERT_TRUE(s->clear().ok());
  auto snap = s->load();
  ASSERT_TRUE(snap.ok()) << snap.err().message;
  EXPECT_FALSE(snap->has_value());
  // And takes saves again from nothing.
  ASSERT_TRUE(s->save({agg(directory_kind::team, "00112233445566aa", 1, "{}")}, {1}).ok());
  EXPECT_EQ(loaded(s).rows.size(), 1u);
}

}  // namespace
}  // namespace leaves::store
