// The Projection port: something the projector feeds from the event log (the
// read models, the search index, later others). Each projection is run by its
// own projector with its own consumer group and progress, so one that is slow
// or rebuilding never holds back another.
//
// Contract:
// - apply() is idempotent: an event whose aggregate_version is not newer than
//   what the projection holds for its aggregate is skipped, so replaying any
//   suffix of the log, or the whole log into an empty projection, converges.
// - flush() makes everything applied so far durable and visible to queries.
//   The projector commits its group's positions only after flush() succeeded,
//   so a crash re-applies (and skips) events instead of losing them.
// - flush_interval(): how long applied events may wait for a flush. Zero (the
//   read stores, which write through) flushes after every batch; the search
//   index groups commits by time, so it follows writes closely under load
//   without a commit per event.
// Thread-safety: apply(), flush() and clear() are called by one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "leaves/base/result.h"
#include "leaves/domain/events.h"

namespace leaves::projection {

struct applied_event {
  int32_t partition = 0;
  int64_t offset = 0;
  domain::event ev;
};

struct apply_stats {
  size_t applied = 0;
  size_t skipped = 0;  // already applied (replay) or out of order
};

class projection {
 public:
  virtual ~projection() = default;
  virtual result<apply_stats> apply(const std::vector<applied_event>& batch) = 0;
  // `next`: the offset of the next record to apply, per partition, which a
  // projection that keeps its own position stores with what it flushes.
  virtual status flush(const std::vector<int64_t>& next) {
    (void)next;
    return ok_status();
  }
  virtual std::chrono::milliseconds flush_interval() const { return std::chrono::milliseconds(0); }
  // What the projection's own durable state says it has applied: the next
  // offset per partition, written atomically with what it flushed. nullopt
  // when it keeps no position of its own (Cassandra). The projector checks it
  // against its group's commit at start: a projection behind its group lost
  // data (a missing or restored directory) and is rebuilt; one ahead of the
  // log was built from another log.
  virtual std::optional<std::vector<int64_t>> stored_position() const { return std::nullopt; }
  // Non-empty when the projection found its durable state in a format this
  // build does not read and started empty (an upgrade): the projector then
  // rebuilds it from the log, saying why.
  virtual std::string rebuild_reason() const { return {}; }
  // Removes everything (replay into an empty projection).
  virtual status clear() = 0;
};

// The version rule every projection of leaves follows, written once: what an
// event does to the state a projection holds for its leaf. Pure.
struct leaf_step {
  bool skip = true;                 // already applied (replay) or not applicable
  std::optional<domain::leaf> next;  // the state after the event, when !skip
};
leaf_step fold_leaf(const std::optional<domain::leaf>& state, const domain::event& ev);

}  // namespace leaves::projection
