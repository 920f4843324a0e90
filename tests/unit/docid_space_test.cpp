// docid_space against a plain model (every id and its leaf's creation time):
// random saves in bursts and out of order, deletes, restarts.
#include <gtest/gtest.h>

#include <filesystem>
#include <algorithm>
#include <map>
#include <random>
#include <unistd.h>

#include "leaves/search/xapian/docid_space.h"

namespace {

using leaves::search::docid_space;

struct model {
  std::map<Xapian::docid, int64_t> ids;  // id -> created ms
};

// What newest_ids promises, checked against the model.
void check(const docid_space& d, const model& m, Xapian::doccount want, const std::string& when) {
  auto e = d.newest_ids(want, 1u << 30);
  ASSERT_TRUE(e.has_value()) << when;
  Xapian::doccount from_up = 0;
  int64_t newest_below = std::numeric_limits<int64_t>::min();
  for (const auto& [id, created] : m.ids) {
    if (id >= e->from) ++from_up;
    else newest_below = std::max(newest_below, created);
  }
  EXPECT_EQ(e->docs, from_up) << when << ": ids counted from " << e->from;
  EXPECT_GE(e->docs, std::min<Xapian::doccount>(want, static_cast<Xapian::doccount>(m.ids.size()))) << when;
  EXPECT_GE(e->older_ms, newest_below) << when << ": a leaf below " << e->from << " is newer than the bound";
  EXPECT_TRUE(m.ids.count(e->from) || m.ids.empty()) << when << ": the window starts at a taken id";
  Xapian::doccount from_run = 0;
  for (const auto& [id, created] : m.ids) from_run += id >= e->run_first;
  EXPECT_EQ(e->with_run, from_run) << when << ": ids counted from the run's first, " << e->run_first;
  EXPECT_LE(e->run_first, e->from) << when;
  for (Xapian::docid id = e->run_first; id < e->from; ++id)
    ASSERT_TRUE(m.ids.count(id)) << when << ": the run from " << e->run_first << " has a gap at " << id;
  // At most a block more than asked, past the runs taken whole.
  if (e->from != e->run_first) {
    EXPECT_LT(e->docs, want + docid_space::kIdBlock) << when;
  }
}

TEST(DocidSpace, HandsOutIdsByCreationTimeAndBoundsWhatIsBelowAWindow) {
  for (uint32_t seed : {1u, 2u, 3u, 4u, 5u}) {
    std::mt19937 rng(seed);
    docid_space d;
    model m;  // searches read the last commit: a deleted leaf is there until the next one
    std::vector<Xapian::docid> deleted;  // since the last commit
    int64_t clock = int64_t{1700000000} * 1000;
    const auto pick = [&] { return std::next(m.ids.begin(), static_cast<long>(rng() % m.ids.size())); };
    for (int step = 0; step < 4000; ++step) {
      const int op = static_cast<int>(rng() % 24);
      if (op < 2 && !m.ids.empty()) {  // a delete
        auto it = pick();
        if (std::find(deleted.begin(), deleted.end(), it->first) == deleted.end()) {
          d.give_back(it->first);
          deleted.push_back(it->first);
        }
        continue;
      }
      if (op == 2) {  // a commit: the deleted leaves' ids are free
        d.committed();
        for (const auto id : deleted) m.ids.erase(id);
        deleted.clear();
        continue;
      }
      if (op == 3 && !m.ids.empty()) {  // a leaf's created_at changed within its id's second; it keeps its id
        auto it = pick();
        it->second = static_cast<int64_t>(it->first) * 1000 + static_cast<int64_t>(rng() % 1000);
        d.raise(it->first, it->second);
        continue;
      }
      int64_t created;
      if (op < 16) {  // live: a burst, a little out of order
        clock += static_cast<int64_t>(rng() % 5);
        created = clock - static_cast<int64_t>(rng() % 40);
      } else if (op < 21) {  // into seconds already taken
        created = clock - static_cast<int64_t>(rng() % 20000);
      } else {  // far older
        created = clock - static_cast<int64_t>(rng() % 100000000);
      }
      const Xapian::docid id = d.take(created);
      ASSERT_NE(id, 0u);
      ASSERT_FALSE(m.ids.count(id)) << "id " << id << " handed out twice";
      ASSERT_GE(static_cast<int64_t>(id) * 1000 + 999, created) << "an id below its leaf's created second";
      m.ids[id] = created;
      if (step % 97 == 0) {
        for (Xapian::doccount want : {1u, 30u, 64u, 65u, 200u, 1000u, 5000u})
          check(d, m, want, "seed " + std::to_string(seed) + " step " + std::to_string(step) + " want " +
                                std::to_string(want));
      }
    }
  }
}

// Leaves whose ids are below their created seconds (a created_at moved
// later, a leaf after 2104) bound every window above them, and only those;
// a stray deleted stops counting after the commit.
TEST(DocidSpace, StraysBoundTheWindowsAboveThem) {
  docid_space d;
  const int64_t t = int64_t{1700000000} * 1000;
  std::vector<Xapian::docid> ids;
  for (int i = 0; i < 200; ++i) ids.push_back(d.take(t + i * 1000));  // one a second: 200 runs
  auto e = d.newest_ids(10, 1000);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->strays_ms, docid_space::kNone);
  const int64_t later = t + int64_t{86400} * 1000;
  d.raise(ids[50], later);  // moved a day later, keeping its id
  e = d.newest_ids(10, 1000);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->strays_ms, later) << "a window above the stray";
  EXPECT_GE(e->older_ms, later);
  e = d.newest_ids(160, 1000);
  ASSERT_TRUE(e.has_value());
  EXPECT_LE(e->from, ids[50]);
  EXPECT_EQ(e->strays_ms, docid_space::kNone) << "the stray is inside the window";
  d.give_back(ids[50]);
  EXPECT_EQ(d.newest_ids(10, 1000)->strays_ms, later) << "until the commit";
  d.committed();
  EXPECT_EQ(d.newest_ids(10, 1000)->strays_ms, docid_space::kNone);
  // After 2104 ids may fall below their seconds: strays too.
  const int64_t far = (docid_space::kLastPreferred + 5000) * 1000;
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(d.take(far + i), static_cast<Xapian::docid>(docid_space::kLastPreferred + i));
  }
  e = d.newest_ids(10, 1000);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->from, static_cast<Xapian::docid>(docid_space::kLastPreferred + 64)) << "a block's start";
  EXPECT_EQ(e->strays_ms, far + 63) << "the newest of the 64 below the window";
}

// After a restart the ids and their bounds are read back from the index.
TEST(DocidSpace, LoadsWhatTheIndexHolds) {
  const auto dir = std::filesystem::temp_directory_path() / ("docid_space_test_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  model m;
  {
    Xapian::WritableDatabase db(dir.string(), Xapian::DB_CREATE_OR_OPEN);
    docid_space d;
    std::mt19937 rng(7);
    int64_t clock = int64_t{1700000000} * 1000;
    for (int i = 0; i < 3000; ++i) {
      clock += static_cast<int64_t>(rng() % 3);
      const int64_t created = clock - static_cast<int64_t>(rng() % (i % 10 == 0 ? 50000 : 20));
      const Xapian::docid id = d.take(created);
      Xapian::Document doc;
      doc.add_value(0, Xapian::sortable_serialise(static_cast<double>(created)));
      db.replace_document(id, doc);
      m.ids[id] = created;
    }
    for (int i = 0; i < 50; ++i) {
      auto it = std::next(m.ids.begin(), static_cast<long>(rng() % m.ids.size()));
      db.delete_document(it->first);
      m.ids.erase(it);
    }
    // One leaf whose id is below its second: a stray, found again by load().
    Xapian::Document stray;
    stray.add_value(0, Xapian::sortable_serialise(static_cast<double>(clock + int64_t{86400} * 1000)));
    const Xapian::docid low = m.ids.begin()->first - 10;
    db.replace_document(low, stray);
    m.ids[low] = clock + int64_t{86400} * 1000;
    db.commit();
  }
  Xapian::Database db(dir.string());
  docid_space d;
  d.load(db, 0);
  for (Xapian::doccount want : {1u, 10u, 100u, 640u, 2999u}) check(d, m, want, "loaded, want " + std::to_string(want));
  EXPECT_EQ(d.newest_ids(10, 1u << 30)->strays_ms, m.ids.begin()->second) << "the stray read back";
  std::filesystem::remove_all(dir);
}

}  // namespace
