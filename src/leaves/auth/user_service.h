// The write side of users: decide on the directory's state, append to the
// event log (key "user:<name>"), and answer once this server's directory has
// applied the event, so a token created here works at once and a revoked one
// fails at once. Commands are serialised in this process (user administration
// is rare); two servers deciding the same version of one user are settled by
// the log: the first event of a version wins, and the loser is told
// (503 user_write_contention) rather than acknowledged. Thread-safe.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>

#include "leaves/auth/directory.h"
#include "leaves/base/async_mutex.h"
#include "leaves/base/time.h"
#include "leaves/domain/user.h"
#include "leaves/log/event_log.h"

namespace leaves::auth {

struct user_write {
  domain::user user;                      // the state after the command
  bool changed = false;
  std::optional<log::position> position;  // of the last event appended
};

struct team_write {
  domain::team team;
  bool changed = false;
  std::optional<log::position> position;
};
struct collection_write {
  domain::collection collection;
  bool changed = false;
  std::optional<log::position> position;
};

class user_service {
 public:
  user_service(log::event_log& log, directory& dir, const clock& clk) : log_(log), dir_(dir), clock_(clk) {}

  boost::asio::awaitable<result<user_write>> execute(domain::user_command cmd, std::string actor);
  // Teams and collections (docs/collections.md): the same path, keyed
  // "team:<id>" / "collection:<id>". The caller has checked the actor's
  // permission; this checks what needs every collection (a parent that
  // exists, no cycle, no deleting a collection with children).
  boost::asio::awaitable<result<team_write>> execute(domain::team_command cmd, std::string actor);
  boost::asio::awaitable<result<collection_write>> execute(domain::collection_command cmd, std::string actor);

 private:
  // Appends the events and waits until this server's directory applied
  // them; then whether the last one won its version (`won`).
  template <class Event, class Won>
  boost::asio::awaitable<result<log::position>> append(std::vector<Event>& events, Won won, const std::string& what,
                                                       const char* contention);

  log::event_log& log_;
  directory& dir_;
  const clock& clock_;
  async_mutex mu_;
};

}  // namespace leaves::auth
