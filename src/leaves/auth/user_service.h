// The write side of users: decide on the directory's state, append to the
// event log (key "user:<name>"), and answer once this server's directory has
// applied the event, so a token created here works at once and a revoked one
// fails at once. Commands are serialised in this process (user administration
// is rare); two servers deciding the same version of one user are settled by
// the log: the first event of a version wins, and the loser is told
// (503 user_write_contention) rather than acknowledged. Thread-safe.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>

#include "leaves/auth/directory.h"
#include "leaves/base/async_signal.h"
#include "leaves/base/time.h"
#include "leaves/domain/user.h"
#include "leaves/log/event_log.h"

namespace leaves::auth {

struct user_write {
  domain::user user;                      // the state after the command
  bool changed = false;
  std::optional<log::position> position;  // of the last event appended
};

class user_service {
 public:
  user_service(log::event_log& log, directory& dir, const clock& clk) : log_(log), dir_(dir), clock_(clk) {}

  boost::asio::awaitable<result<user_write>> execute(domain::user_command cmd, std::string actor);

 private:
  boost::asio::awaitable<void> lock();
  void unlock();

  log::event_log& log_;
  directory& dir_;
  const clock& clock_;
  std::mutex mu_;
  bool held_ = false;
  std::deque<std::shared_ptr<async_signal>> waiting_;
};

}  // namespace leaves::auth
