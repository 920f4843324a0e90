// The write side: load the aggregate, decide, append, answer. Per-leaf commands
// are serialised (an async per-key lock), so decisions see the previous
// command's events even before the projector applied them: states with
// unprojected events live in a cache that the projector empties as it
// catches up. The cache holds at most max_pending leaves: while the read
// models are slow or down (a Cassandra outage) and it is full, a command on a
// leaf not in it answers 503 instead of growing memory. Thread-safe.
//
// An append that fails leaves the leaf "uncertain" (the events may have been
// written even though the append reported an error); the next command on it
// first waits until the read models caught up with its partition's log end.
//
// Several writer processes on one log (Kafka): the per-leaf lock serialises
// one process's commands only, so two processes can each decide version n+1
// of a leaf. The log then decides: every projection applies the first event
// of a version in partition order and skips the later ones. With
// confirmation on (set_confirmation), a command is acknowledged only once a
// local projection that reads every partition in log order (the verdict
// source: the embedded read store, or the state mirror beside Cassandra) has
// seen its event and no other event of the leaf at its version or later
// before it. A command that lost is decided again on the state the source
// now holds (an If-Match then answers 412), at most kMaxAttempts times.
// Decisions then read the source, not the cache of unprojected states. The
// source must show, in a read after start_watch(), every event whose
// observed() call came before (it applies, then calls back: RocksDB stores).
// A leaf only the shared store holds (a row another Cassandra client wrote)
// is never in the source: its commands take the cached, unconfirmed path.
#pragma once

#include <functional>

#include <boost/asio/awaitable.hpp>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "leaves/base/async_signal.h"
#include "leaves/base/time.h"
#include "leaves/domain/events.h"
#include "leaves/log/event_log.h"
#include "leaves/projector/progress.h"
#include "leaves/store/read_store.h"

namespace leaves::service {

struct write_result {
  std::optional<domain::leaf> leaf;       // state after the command
  bool created = false;
  bool changed = false;
  std::optional<log::position> position;  // of the last event appended
};

class leaf_service {
 public:
  leaf_service(log::event_log& log, store::read_store& store, projector::progress& progress, const clock& clk)
      : log_(log), store_(store), progress_(progress), clock_(clk) {}

  boost::asio::awaitable<result<write_result>> execute(domain::command cmd, std::string actor);

  // The aggregate as the write side sees it (cache, else the verdict source
  // when it has the leaf, else store). Not for queries.
  boost::asio::awaitable<result<std::optional<domain::leaf>>> state(std::string id);

  // Projector callback: forget cached states the store now has.
  void applied(const std::vector<projection::applied_event>& batch);
  size_t cached() const;

  // Rejects writes until the read models caught up with the log at start.
  void set_writable(bool w) { writable_ = w; }
  // Checked before every command: an error refuses it (e.g. the read store
  // cannot be written, so what is accepted could not be read back).
  void set_admission(std::function<status()> a) { admission_ = std::move(a); }
  bool writable() const { return writable_.load(); }
  // Most leaves with unprojected events kept at once (0: no limit).
  void set_max_pending(size_t n) { max_pending_ = n; }

  // Acknowledge a command only once the verdict source (`decisions`, fed by
  // the projector whose progress is `source`, which calls observed()) has
  // confirmed its event as the next version of its leaf. Call before serving.
  void set_confirmation(store::leaf_queries& decisions, projector::progress& source,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    decisions_ = &decisions;
    source_ = &source;
    confirm_timeout_ = timeout;
  }
  bool confirming() const { return decisions_ != nullptr; }
  // Shutdown (SIGTERM): commands waiting for their confirmation stop waiting
  // and answer 503 unconfirmed, so the drain is not held up to 10 s by them.
  void stop_waiting();
  // The verdict source's callback: every event it applied or skipped, in log order.
  void observed(const std::vector<projection::applied_event>& batch);

  static constexpr int kMaxAttempts = 10;
  struct confirmation_stats {
    std::atomic<uint64_t> confirmed{0};  // commands acknowledged after confirmation
    std::atomic<uint64_t> lost{0};       // events another writer's event of the same version preceded
    std::atomic<uint64_t> gave_up{0};    // commands that lost kMaxAttempts times (503 write_contention)
    std::atomic<uint64_t> timed_out{0};  // events not seen by the source in time (503 unconfirmed)
    std::atomic<uint64_t> foreign{0};    // commands on rows only the shared store holds: not confirmed
  };
  const confirmation_stats& confirmations() const { return confirm_stats_; }

 private:
  boost::asio::awaitable<void> lock(const std::string& id);
  void unlock(const std::string& id);

  // After a failed append whose outcome is unknown (Kafka: the acknowledgement
  // may be what was lost), the leaf's state is uncertain until the read models
  // caught up with the log end of its partition.
  boost::asio::awaitable<status> settle(const std::string& id);
  // Waits (bounded) until `p` applied the leaf's partition up to the log's end.
  boost::asio::awaitable<status> caught_up_with_log(const std::string& id, projector::progress& p, const char* why);
  boost::asio::awaitable<status> source_caught_up(const std::string& id);

  // One command's wait for its event's verdict (confirmation on).
  struct watch {
    std::shared_ptr<async_signal> seen;
    std::string event_id;        // set once decided
    int64_t version = 0;         // of the event
    int64_t others_max = 0;      // highest version of the leaf's other events seen since the watch began
    bool done = false, won = false;
  };
  boost::asio::awaitable<result<write_result>> execute_confirmed(domain::command cmd, std::string actor);
  boost::asio::awaitable<result<write_result>> execute_cached(domain::command cmd, std::string actor);
  boost::asio::awaitable<std::shared_ptr<watch>> start_watch(const std::string& id);
  void end_watch(const std::string& id);

  log::event_log& log_;
  store::read_store& store_;
  projector::progress& progress_;
  const clock& clock_;
  std::atomic<bool> writable_{false};
  std::function<status()> admission_;
  std::atomic<size_t> max_pending_{100000};
  store::leaf_queries* decisions_ = nullptr;
  projector::progress* source_ = nullptr;
  std::chrono::milliseconds confirm_timeout_{10000};
  confirmation_stats confirm_stats_;

  mutable std::mutex mu_;
  std::unordered_map<std::string, domain::leaf> pending_;  // states with unprojected events
  std::unordered_set<std::string> uncertain_;              // leaves whose last append failed
  std::unordered_map<std::string, std::deque<std::shared_ptr<async_signal>>> locks_;
  std::unordered_map<std::string, std::shared_ptr<watch>> watches_;
  bool stop_waiting_ = false;  // guarded by mu_  // one at a time per leaf (the lock)
};

}  // namespace leaves::service
