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

// The state after a command, whether it changed, and the position of its
// last event (none when nothing changed).
template <class State>
struct aggregate_write {
  State state;
  bool changed = false;
  std::optional<log::position> position;
};
using user_write = aggregate_write<domain::user>;
using team_write = aggregate_write<domain::team>;
using collection_write = aggregate_write<domain::collection>;

class user_service {
 public:
  user_service(log::event_log& log, directory& dir, const clock& clk) : log_(log), dir_(dir), clock_(clk) {}

  boost::asio::awaitable<result<user_write>> execute(domain::user_command cmd, std::string actor);
  // Teams and collections (docs/collections.md): the same path, keyed
  // "team:<id>" / "collection:<id>". The caller has checked the actor's
  // permission; this checks what needs every collection (a parent that
  // exists, no cycle, no deeper than kMaxCollectionDepth, no deleting a
  // collection with children `who` may see).
  boost::asio::awaitable<result<team_write>> execute(domain::team_command cmd, std::string actor);
  boost::asio::awaitable<result<collection_write>> execute(domain::collection_command cmd, principal who);

 private:
  // Decides on `state`, appends the events, waits until this server's
  // directory applied them and checks they won their version (`find`
  // reads the aggregate back). Under mu_.
  template <class State, class Events, class Apply, class Find>
  boost::asio::awaitable<result<aggregate_write<State>>> commit(std::optional<State> state, result<Events> events,
                                                                Apply apply, Find find, std::string what,
                                                                const char* contention);

  log::event_log& log_;
  directory& dir_;
  const clock& clock_;
  async_mutex mu_;
};

}  // namespace leaves::auth
