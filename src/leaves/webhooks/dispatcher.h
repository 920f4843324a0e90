// Webhook deliveries. The dispatcher subscribes to the realtime hub like a
// stream does and hands each applied leaf event to every enabled webhook
// whose user may see it (and whose tag it carries, when the webhook names
// one). Each webhook has its own bounded queue and one sender, so a slow or
// dead target holds back only itself. A delivery is a POST of the event
// (type, leaf id, version, position, changed fields, tags) signed with
// HMAC-SHA256, retried with exponential backoff; after `disable_after`
// deliveries in a row have failed the webhook is disabled by an event (its
// user turns it on again). The last 100 deliveries of each webhook are kept
// in memory for the API.
//
// What it does not do (docs/webhooks.md): events applied before the server
// started are not sent (a restart neither repeats nor catches up), and each
// server of a deployment delivers what it applies, so two servers on one
// Kafka topic deliver twice; the Leaves-Delivery id is the same both times.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "leaves/auth/directory.h"
#include "leaves/auth/user_service.h"
#include "leaves/base/async_signal.h"
#include "leaves/base/result.h"
#include "leaves/domain/leaf.h"
#include "leaves/log/event_log.h"
#include "leaves/realtime/hub.h"
#include "leaves/webhooks/post.h"

namespace leaves::webhooks {

struct options {
  // Reads a leaf's current state (the read store): a collection's own event
  // that names a leaf is sent only when that leaf reaches the webhook's user
  // through the collection, as the collection's listing decides. Unset:
  // such events are not sent.
  std::function<boost::asio::awaitable<result<std::optional<domain::leaf>>>(std::string)> read_leaf;
  bool allow_private = false;
  std::chrono::milliseconds timeout{10000};
  std::chrono::milliseconds retry_base{1000};  // then 2x, 4x, ... at most 5 minutes
  int attempts = 5;                            // per delivery
  int disable_after = 10;                      // failed deliveries in a row
  size_t queue_capacity = 1000;                // per webhook
};

struct delivery {
  std::string id;  // "<webhook>-<partition>-<offset>": the same on every try and server
  std::string event_type, leaf_id, position;
  int64_t time_ms = 0;  // when the last attempt ended
  int attempts = 0;
  int status = 0;  // the last answer's status, 0: none
  std::string error;
  bool ok = false;
};

struct stats {
  std::atomic<uint64_t> delivered{0}, failed{0}, attempts{0}, dropped{0}, disabled{0};
};

class dispatcher {
 public:
  dispatcher(boost::asio::io_context& io, realtime::hub& hub, log::event_log& log, auth::directory& users,
             auth::user_service& service, options o);
  ~dispatcher();
  dispatcher(const dispatcher&) = delete;
  dispatcher& operator=(const dispatcher&) = delete;

  void start();
  void stop();
  // The last deliveries of a webhook, newest first (empty for one unknown here).
  std::vector<delivery> deliveries(const std::string& webhook_id) const;
  const struct stats& counters() const { return stats_; }
  const options& opts() const { return o_; }

 private:
  struct hook;
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<void> run_loop();
  boost::asio::awaitable<void> send_all(std::shared_ptr<hook> h);
  boost::asio::awaitable<void> send_queue(std::shared_ptr<hook> h);
  void refresh();
  void route(const std::shared_ptr<const realtime::message>& m);
  void record(hook& h, delivery d);

  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  realtime::hub& hub_;
  log::event_log& log_;
  auth::directory& users_;
  auth::user_service& service_;
  options o_;
  std::shared_ptr<async_signal> signal_;
  std::shared_ptr<realtime::subscriber> sub_;
  std::vector<int64_t> start_ends_;  // the log's end when it started: older events are not sent
  uint64_t seen_version_ = ~uint64_t(0);
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;  // hooks_ and each hook's fields
  std::map<std::string, std::shared_ptr<hook>> hooks_;
  struct stats stats_;
};

}  // namespace leaves::webhooks
