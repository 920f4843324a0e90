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
// Scope: one writer process per log. With several processes over one Kafka
// topic (issue 3) concurrent commands on the same leaf from two processes are
// not serialised; the projector's version check keeps the models consistent.
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

  // The aggregate as the write side sees it (cache, else store). Not for queries.
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

 private:
  boost::asio::awaitable<void> lock(const std::string& id);
  void unlock(const std::string& id);

  // After a failed append whose outcome is unknown (Kafka: the acknowledgement
  // may be what was lost), the leaf's state is uncertain until the read models
  // caught up with the log end of its partition.
  boost::asio::awaitable<status> settle(const std::string& id);

  log::event_log& log_;
  store::read_store& store_;
  projector::progress& progress_;
  const clock& clock_;
  std::atomic<bool> writable_{false};
  std::function<status()> admission_;
  std::atomic<size_t> max_pending_{100000};

  mutable std::mutex mu_;
  std::unordered_map<std::string, domain::leaf> pending_;  // states with unprojected events
  std::unordered_set<std::string> uncertain_;              // leaves whose last append failed
  std::unordered_map<std::string, std::deque<std::shared_ptr<async_signal>>> locks_;
};

}  // namespace leaves::service
