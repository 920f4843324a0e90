// Fan-out of applied events to realtime subscribers (SSE, WebSocket).
//
// publish() is called by the projector thread after the read models applied a
// batch; it never blocks: each subscriber has a bounded queue, and one whose
// queue is full is marked dropped (its session then tells the client why and
// disconnects), so a slow client never slows the projector or the others.
// Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "leaves/base/async_signal.h"
#include "leaves/domain/collection.h"
#include "leaves/domain/events.h"

namespace leaves::realtime {

struct message {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string type;                    // "leaf.created", ...
  std::string leaf_id;
  std::optional<domain::string_list> tags;
  std::optional<int64_t> user_id;
  std::optional<bool> is_public;       // after the event (a delete: before it)
  // A collection's own event (collection.leaf_added, ...): the collection's
  // id, and leaf_id the leaf it names, if any. Only a filter's `allow` (a
  // collection's stream or webhook) lets one through.
  std::string collection_id;
  std::string json_body;               // JSON object without its closing '}'
};

// The message for an event at a log position (same for live and catch-up).
message make_message(int32_t partition, int64_t offset, const domain::event& ev);
// The message for a collection's event: type, collection_id, leaf_id (when
// it names one), version, position, time, actor and the event's data.
message make_collection_message(int32_t partition, int64_t offset, const domain::group_event& ev);

struct filter {
  std::optional<std::string> tag;
  std::optional<int64_t> user_id;
  // Only events of leaves the subscriber may see: public ones (an event that
  // does not say counts as private) and, when visible_owner > 0, that user's.
  bool limited = false;
  int64_t visible_owner = 0;
  // When set, decides instead of `limited` (a collection's stream: the
  // collection's leaves that reach the subscriber through it). Called on the
  // publishing thread: it must be quick and must not block.
  std::function<bool(const message&)> allow;
  bool matches(const message& m) const;
};

class subscriber {
 public:
  subscriber(filter f, std::shared_ptr<async_signal> signal, size_t capacity)
      : filter_(std::move(f)), signal_(std::move(signal)), capacity_(capacity) {}

  // Takes up to `max` queued messages, oldest first; sets `dropped_reason`
  // if the subscriber was dropped and nothing queued before that is left.
  std::vector<std::shared_ptr<const message>> take(std::string& dropped_reason, size_t max = SIZE_MAX);
  // While catching up from the log a subscriber is never dropped: overflow
  // just means "read more from the log". Returns whether it overflowed since the last call.
  bool end_catch_up_round();
  void set_catching_up(bool v);
  async_signal& signal() { return *signal_; }
  const filter& flt() const { return filter_; }

 private:
  friend class hub;
  void offer(const std::shared_ptr<const message>& m);
  void drop(std::string reason);

  filter filter_;
  std::shared_ptr<async_signal> signal_;
  size_t capacity_;
  std::mutex mu_;
  std::deque<std::shared_ptr<const message>> queue_;
  bool catching_up_ = false;
  bool overflowed_ = false;
  std::string dropped_;
};

class hub {
 public:
  // The projector publishes a batch of up to 2000 events at once (more while
  // it catches up a backlog), so a queue holds two such batches: a subscriber
  // is dropped for falling behind, never for one large batch.
  static constexpr size_t kDefaultQueueCapacity = 4096;
  explicit hub(size_t queue_capacity = kDefaultQueueCapacity) : capacity_(queue_capacity) {}
  // `client`: a stream's subscriber, counted by subscribers() (and against
  // the server's limit); the server's own (webhooks) are not.
  std::shared_ptr<subscriber> subscribe(filter f, std::shared_ptr<async_signal> signal, bool client = true);
  void unsubscribe(const std::shared_ptr<subscriber>& s);
  void publish(const std::vector<std::shared_ptr<const message>>& batch);
  // Ends every subscription (shutdown): each gets `reason`.
  void close_all(const std::string& reason);
  size_t subscribers() const;
  uint64_t dropped_total() const;

 private:
  size_t capacity_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<subscriber>> subs_;
  std::vector<std::shared_ptr<subscriber>> internal_;  // the subset not counted
  uint64_t dropped_total_ = 0;
};

}  // namespace leaves::realtime
