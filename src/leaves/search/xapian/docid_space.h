// The index's document ids (xapian_index): which are taken, handed out in
// creation order, and where the newest leaves' ids start.
#pragma once

#include <xapian.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace leaves::search {

// Document ids in creation order: a new leaf's id is its created second
// (Unix time, at least 1), or the first free one after it. The leaves of a
// time window (choose_window) then sit together in every table of the index
// (postings, values, lengths, data), whatever order they arrived in, so a
// search of the newest reads a few blocks, not one block a leaf (a 1,000,000
// leaf import in another order read ~4 blocks per leaf walked). Ids run out
// in 2106; after that a leaf takes the first free id after 2^32 - 2^25.
//
// So a leaf's id is never below its created second: the leaves below an id
// were all created before it. A burst of saves (thousands a second) takes a
// run of consecutive ids; for each block of kIdBlock ids of a run the index
// keeps the newest creation time among the run's leaves up to that block's
// end, which bounds the creation times below any block of the run and lets a
// search take the newest part of a run (newest_ids) where a time bucket
// would have to take all of it.
class docid_space {
 public:
  static constexpr Xapian::docid kIdBlock = 64;
  static constexpr int64_t kNone = std::numeric_limits<int64_t>::min();
  // A leaf whose creation time is not known (none given): no window is older
  // than it, so an edge whose older_ms is this bounds nothing.
  static constexpr int64_t kNotKnown = std::numeric_limits<int64_t>::max();
  // Where the newest `want` ids start (newest_ids).
  struct edge {
    Xapian::docid from = 0;       // the window: every id from here up
    Xapian::docid run_first = 0;  // the first id of the run `from` is in
    // Every leaf below `from` was created at or before this.
    int64_t older_ms = 0;
    // The newest leaf below `from` whose id is below its created second (its
    // created_at changed, or it came after 2104), part of older_ms; kNone: none.
    int64_t strays_ms = kNone;
    Xapian::doccount docs = 0;      // ids from `from` up
    Xapian::doccount with_run = 0;  // ids from run_first up
  };
  // The ids the database holds (the projector's thread, at open and after a
  // reopen), with their leaves' creation times from the created slot.
  void load(const Xapian::Database& db, Xapian::valueno created_slot) {
    std::map<Xapian::docid, run> runs;
    std::map<Xapian::docid, int64_t> strays;
    auto v = db.valuestream_begin(created_slot);
    const auto v_end = db.valuestream_end(created_slot);
    for (auto it = db.postlist_begin(""); it != db.postlist_end(""); ++it) {
      const Xapian::docid id = *it;
      int64_t created = kNotKnown;
      if (v != v_end) {
        v.skip_to(id);
        if (v != v_end && v.get_docid() == id) created = static_cast<int64_t>(Xapian::sortable_unserialise(*v));
      }
      if (below_its_second(id, created)) strays[id] = created;
      if (!runs.empty() && std::prev(runs.end())->second.last + 1 == id) {
        auto last = std::prev(runs.end());
        last->second.append(last->first, created);
      } else {
        runs.emplace(id, run(id, created));
      }
    }
    std::lock_guard lk(mu_);
    runs_ = std::move(runs);
    strays_ = std::move(strays);
    freed_.clear();
  }
  void clear() {
    std::lock_guard lk(mu_);
    runs_.clear();
    strays_.clear();
    freed_.clear();
  }
  static Xapian::docid preferred(int64_t created_ms) {
    const int64_t s = created_ms / 1000 - (created_ms % 1000 < 0);  // floor
    return static_cast<Xapian::docid>(std::clamp<int64_t>(s, 1, kLastPreferred));
  }
  // Ids from here up may be below their leaves' created seconds.
  static constexpr int64_t kLastPreferred = int64_t{0xFFFFFFFF} - (int64_t{1} << 25);
  // The first free id at or after preferred(created_ms), taken; 0 when none
  // is left.
  Xapian::docid take(int64_t created_ms) {
    std::lock_guard lk(mu_);
    const Xapian::docid want = preferred(created_ms);
    auto next = runs_.upper_bound(want);
    Xapian::docid id = want;
    if (next != runs_.begin()) {
      auto prev = std::prev(next);
      if (prev->second.last >= want) {
        if (prev->second.last == std::numeric_limits<Xapian::docid>::max()) return 0;
        id = prev->second.last + 1;  // runs are kept apart, so the one after a run is free
      }
    }
    auto after = runs_.upper_bound(id);
    auto before = after == runs_.begin() ? runs_.end() : std::prev(after);
    const bool joins_before = before != runs_.end() && before->second.last + 1 == id;
    const bool joins_after = after != runs_.end() && after->first == id + 1;
    if (joins_before) {
      before->second.append(before->first, created_ms);
      if (joins_after) {
        before->second.join(before->first, after->first, after->second);
        runs_.erase(after);
      }
    } else if (joins_after) {
      run r(id, created_ms);
      r.join(id, after->first, after->second);
      runs_.erase(after);
      runs_.emplace(id, std::move(r));
    } else {
      runs_.emplace(id, run(id, created_ms));
    }
    if (below_its_second(id, created_ms)) strays_[id] = created_ms;
    return id;
  }
  // A leaf keeping its id `id` is about to get the creation time
  // `created_ms` (an update): the bounds from its block on take it in. (Never
  // lowered: a search may read a revision with the old time.)
  void raise(Xapian::docid id, int64_t created_ms) {
    std::lock_guard lk(mu_);
    if (below_its_second(id, created_ms)) {
      auto [at, fresh] = strays_.emplace(id, created_ms);
      if (!fresh) at->second = std::max(at->second, created_ms);
    }
    auto it = runs_.upper_bound(id);
    if (it == runs_.begin()) return;
    --it;
    if (it->second.last < id) return;
    for (size_t k = (id - it->first) / kIdBlock; k < it->second.blocks(); ++k)
      it->second.block(k) = std::max(it->second.block(k), created_ms);
  }
  // A deleted leaf's id: free from the next commit (committed()) on. Until
  // then searches read a revision that still holds the leaf, so its id and
  // its time stay in the bounds.
  void give_back(Xapian::docid id) {
    std::lock_guard lk(mu_);
    freed_.push_back(id);
  }
  // The index committed: the ids given back before it are free.
  void committed() {
    std::lock_guard lk(mu_);
    for (const Xapian::docid id : freed_) free_locked(id);
    freed_.clear();
  }

 private:
  void free_locked(Xapian::docid id) {
    strays_.erase(id);
    auto it = runs_.upper_bound(id);
    if (it == runs_.begin()) return;
    --it;
    const Xapian::docid first = it->first;
    if (it->second.last < id) return;
    run whole = std::move(it->second);
    runs_.erase(it);
    // Each part keeps bounds from the whole (the freed leaf's time among
    // them): never below the truth.
    if (id < whole.last) {
      const Xapian::docid right_first = id + 1;
      run right(right_first, whole.newest_up_to(first, run::block_end(right_first, 0, whole.last)));
      right.last = run::block_end(right_first, 0, whole.last);
      while (right.last < whole.last) {
        const Xapian::docid to = run::block_end(right_first, right.blocks(), whole.last);
        right.push(whole.newest_up_to(first, to));
        right.last = to;
      }
      runs_.emplace(right_first, std::move(right));
    }
    if (first < id) {
      whole.truncate(first, id - 1);
      runs_.emplace(first, std::move(whole));
    }
  }

 public:
  // The newest `want` ids (every id there is, when fewer), looking at no
  // more than `max_runs` runs; nothing when that is not enough. Any thread.
  std::optional<edge> newest_ids(Xapian::doccount want, size_t max_runs) const {
    std::lock_guard lk(mu_);
    edge e;
    // Every stray below `from` counts (strays are few: a map walk).
    const auto with_strays = [&](edge& x) {
      for (auto s = strays_.begin(); s != strays_.end() && s->first < x.from; ++s)
        x.strays_ms = std::max(x.strays_ms, s->second);
      x.older_ms = std::max(x.older_ms, x.strays_ms);
      return x;
    };
    size_t looked = 0;
    for (auto it = runs_.rbegin(); it != runs_.rend(); ++it) {
      if (++looked > max_runs) return std::nullopt;
      const Xapian::docid first = it->first, last = it->second.last;
      const Xapian::doccount size = last - first + 1;
      e.run_first = first;
      e.from = first;
      e.with_run = e.docs + size;
      if (e.docs + size >= want) {
        // Part of the run, from a block's start.
        const Xapian::docid from = last - (want - e.docs) + 1;
        e.from = first + (from - first) / kIdBlock * kIdBlock;
        e.older_ms = below_run(std::next(it));
        if (e.from > first) e.older_ms = std::max(e.older_ms, it->second.newest_up_to(first, e.from - 1));
        e.docs += last - e.from + 1;
        return with_strays(e);
      }
      e.docs += size;
    }
    e.older_ms = kNone;  // every id: nothing below
    return with_strays(e);
  }

 private:
  // A run of taken ids, first (its key in runs_) to last, and for each block
  // of kIdBlock ids from first, the newest creation time up to the block's end.
  struct run {
    Xapian::docid last;
    int64_t head;                                // block 0
    std::unique_ptr<std::vector<int64_t>> more;  // blocks 1.., only for runs that long
    run(Xapian::docid id, int64_t created) : last(id), head(created) {}
    size_t blocks() const { return 1 + (more ? more->size() : 0); }
    int64_t& block(size_t k) { return k == 0 ? head : (*more)[k - 1]; }
    int64_t block(size_t k) const { return k == 0 ? head : (*more)[k - 1]; }
    // The newest creation time of the leaves from `first` to `id` (or a bit
    // past it, to its block's end).
    int64_t newest_up_to(Xapian::docid first, Xapian::docid id) const {
      return block(std::min<size_t>((id - first) / kIdBlock, blocks() - 1));
    }
    void append(Xapian::docid first, int64_t created) {  // a leaf at last + 1
      ++last;
      const size_t k = (last - first) / kIdBlock;
      if (k < blocks()) {
        block(k) = std::max(block(k), created);
        return;
      }
      push(std::max(block(k - 1), created));
    }
    // The run right after this one (at last + 1), behind it.
    void join(Xapian::docid first, Xapian::docid after_first, const run& after) {
      // (A block's bound covers every block before it: this run's too.)
      while (last < after.last) {
        const size_t k = (last + 1 - first) / kIdBlock;  // the next id's block
        const Xapian::docid to = block_end(first, k, after.last);
        const int64_t newest = after.newest_up_to(after_first, to);
        if (k < blocks()) block(k) = std::max(block(k), newest);
        else push(std::max(block(k - 1), newest));
        last = to;
      }
    }
    // The last id of block k of a run from `first`, at most `cap`.
    static Xapian::docid block_end(Xapian::docid first, size_t k, Xapian::docid cap) {
      return static_cast<Xapian::docid>(std::min<uint64_t>(cap, uint64_t{first} + (k + 1) * kIdBlock - 1));
    }
    void push(int64_t newest) {
      if (!more) more = std::make_unique<std::vector<int64_t>>();
      more->push_back(newest);
    }
    void truncate(Xapian::docid first, Xapian::docid to) {
      last = to;
      const size_t keep = (to - first) / kIdBlock + 1;
      if (more) more->resize(keep - 1);
    }
  };
  // The newest creation time of the runs from `below` down, strays aside:
  // each run's own bound until a run whose last id's second is older than
  // what was found (a leaf is never created after its id's second), so a run
  // of a burst whose ids ran far past its leaves' seconds bounds by its
  // leaves, not its ids. At most kRunsBelow runs, then by ids.
  int64_t below_run(std::map<Xapian::docid, run>::const_reverse_iterator below) const {
    constexpr int kRunsBelow = 64;
    int64_t newest = kNone;
    for (int n = 0; below != runs_.rend(); ++below, ++n) {
      const int64_t by_id = int64_t{below->second.last} * 1000 + 999;
      if (by_id <= newest) break;
      if (n == kRunsBelow) return std::max(newest, by_id);
      newest = std::max(newest, below->second.block(below->second.blocks() - 1));
    }
    return newest;
  }
  static bool below_its_second(Xapian::docid id, int64_t created_ms) {
    return created_ms != kNotKnown && int64_t{id} * 1000 + 999 < created_ms;
  }
  mutable std::mutex mu_;  // taken by the projector (writes) and searches (newest_ids)
  std::map<Xapian::docid, run> runs_;  // first id of each run of taken ids -> the run
  std::map<Xapian::docid, int64_t> strays_;  // id -> created, for ids below their created second
  std::vector<Xapian::docid> freed_;   // given back since the last commit
};

}  // namespace leaves::search
