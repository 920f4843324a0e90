// The projector: consumes the event log as a consumer group, applies each batch
// to one projection (the read models, the search index, ...), flushes it as
// the projection asks (projection/projection.h), commits the group's positions
// only after the flush succeeded, then publishes progress (read-your-writes)
// and realtime messages. A server runs one projector per projection, each with
// its own group and progress.
// A store failure is retried with backoff; events are never skipped. Records
// that cannot be decoded are counted, logged and passed over (they are not
// events of this schema). Runs on its own thread; start() and stop() are
// called from one thread.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "leaves/log/event_log.h"
#include "leaves/projector/progress.h"
#include "leaves/realtime/hub.h"
#include "leaves/projection/projection.h"

namespace leaves::projector {

struct projector_stats {
  std::atomic<uint64_t> events_applied{0};
  std::atomic<uint64_t> events_skipped{0};
  std::atomic<uint64_t> records_undecodable{0};
  std::atomic<uint64_t> store_failures{0};
  std::atomic<uint64_t> batches{0};
};

// How the projector holds its consumer group: shared by the processes that
// project one store together (a Kafka group member, its share of the
// partitions), or this process's alone (every partition, no membership; see
// event_log::exclusive).
enum class membership { shared, exclusive };

// What start() does with a projection whose own position is ahead of the log
// (projection::stored_position): it was built from another log (a missing,
// replaced or salvaged one). The read models refuse, as they hold the only
// copy of nothing but may hide a lost log; a derived index rebuilds.
enum class when_ahead { refuse, rebuild };

class projector {
 public:
  using applied_callback = std::function<void(const std::vector<projection::applied_event>&)>;

  // `name` names the projection in logs, /readyz and /metrics.
  projector(log::event_log& log, projection::projection& target, progress& prog, realtime::hub* hub,
            std::string group, membership m = membership::shared, std::string name = "read_models");
  ~projector();

  void on_applied(applied_callback cb) { on_applied_ = std::move(cb); }
  void set_when_ahead(when_ahead w) { when_ahead_ = w; }
  // start() clears the projection and replays the whole log (serve
  // --salvage: a projection without a position of its own, like Cassandra,
  // cannot tell that it is ahead of a log that lost its tail).
  void rebuild_at_start() { rebuild_at_start_ = true; }
  // start() compares the projection's own position with its group's commit and the
  // log's end, and clears it for a rebuild when it lost data or (when_ahead::
  // rebuild) is ahead. Refuses (an error naming the partition) otherwise.
  status start();
  void stop();

  // True once the models caught up with the log end seen at start(), every
  // partition (in a shared group: applied here or committed by its owner).
  bool caught_up() const { return caught_up_.load(); }
  // False while the last write to the read store failed (it is being retried).
  bool store_ok() const { return store_ok_.load(); }
  // The last write failure (while !store_ok()): its detail code names the
  // cause (store_unavailable, store_corrupt, insufficient_storage).
  error last_failure() const {
    std::lock_guard lk(failure_mu_);
    return last_failure_;
  }
  const projector_stats& stats() const { return stats_; }
  const std::string& name() const { return name_; }
  const std::string& group() const { return group_; }
  progress& positions() { return progress_; }

  // Applies every record of the log from offset 0 into the store and commits
  // the group at the end (leaves replay). Blocking; not with start().
  result<uint64_t> replay_all(std::function<void(uint64_t done, uint64_t total)> progress_cb);

 private:
  void run();
  result<std::unique_ptr<log::consumer>> open_consumer();
  status check_own_position();
  void note_failure(const error& e);
  // Decodes and applies one polled batch; retries the store until it succeeds or stop.
  bool process(std::vector<log::stored_record>& recs);
  // Flushes the projection, commits what it made durable, publishes progress.
  bool flush();
  bool reached_start_end();

  log::event_log& log_;
  projection::projection& target_;
  progress& progress_;
  size_t applied_since_flush_ = 0;  // events applied since the last flush
  realtime::hub* hub_;  // null: nothing is published (the state mirror's projector)
  std::string group_;
  membership membership_;
  std::string name_;
  when_ahead when_ahead_ = when_ahead::refuse;
  bool rebuild_at_start_ = false;
  std::map<int32_t, int64_t> unflushed_;  // partition -> next offset, applied but not flushed
  std::chrono::steady_clock::time_point last_flush_;
  std::chrono::steady_clock::time_point last_group_read_{};
  applied_callback on_applied_;
  std::unique_ptr<log::consumer> consumer_;
  std::vector<int64_t> next_;
  std::vector<int64_t> start_end_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> caught_up_{false};
  std::atomic<bool> store_ok_{true};
  mutable std::mutex failure_mu_;
  error last_failure_{errc::unavailable, "", "store_unavailable"};
  projector_stats stats_;
  std::thread thread_;
};

}  // namespace leaves::projector
