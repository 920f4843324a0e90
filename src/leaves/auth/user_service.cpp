#include "leaves/auth/user_service.h"

#include "leaves/base/hash.h"

#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>

namespace leaves::auth {

namespace asio = boost::asio;
namespace json = boost::json;


asio::awaitable<void> user_service::lock() {
  std::shared_ptr<async_signal> me;
  {
    std::lock_guard lk(mu_);
    if (!held_) {
      held_ = true;
      co_return;
    }
    me = std::make_shared<async_signal>(co_await asio::this_coro::executor);
    waiting_.push_back(me);
  }
  while (!co_await me->wait(std::chrono::hours(1))) {
  }
}

void user_service::unlock() {
  std::shared_ptr<async_signal> next;
  {
    std::lock_guard lk(mu_);
    if (waiting_.empty()) {
      held_ = false;
      return;
    }
    next = std::move(waiting_.front());
    waiting_.pop_front();
  }
  next->notify();  // the lock passes to it, still held
}

asio::awaitable<result<user_write>> user_service::execute(domain::user_command cmd, std::string actor) {
  co_await lock();
  struct unlocker {
    user_service* s;
    ~unlocker() { s->unlock(); }
  } guard{this};

  auto state = dir_.find(cmd.name);
  // Nobody locks the deployment out: the last enabled admin stays one.
  // Checked under the lock that serialises commands here, so two requests
  // demoting the last two admins at once cannot both pass.
  if (cmd.kind == domain::user_command_kind::update && state && state->r == domain::role::admin &&
      !state->disabled && ((cmd.r && *cmd.r != domain::role::admin) || cmd.disabled.value_or(false))) {
    size_t admins = 0;
    for (const auto& other : dir_.list()) admins += other.r == domain::role::admin && !other.disabled;
    if (admins <= 1) {
      co_return make_error(errc::conflict, cmd.name + " is the last enabled admin: make another admin first",
                           "last_admin");
    }
  }
  auto events = domain::decide_user(state, cmd, clock_.now_ms(), actor);
  if (!events) co_return events.err();
  user_write w;
  if (events->empty()) {
    w.user = std::move(*state);
    co_return w;
  }
  std::vector<log::record> records;
  auto next = state;
  for (auto& ev : *events) {
    ev.event_id = new_event_id();
    if (auto st = domain::apply_user(next, ev); !st) co_return st.err();
    records.push_back({ev.aggregate_id, json::serialize(domain::user_event_to_json(ev)), -1});
  }
  const std::string last_event = events->back().event_id;
  auto pos = co_await log_.append(std::move(records));
  if (!pos) co_return pos.err();
  w.position = pos->back();
  w.changed = true;
  // Answer once the directory here holds the event: the caller's next
  // request (with the new token, or against the revoked one) sees it.
  if (!co_await dir_.progress().wait_for(*pos, std::chrono::seconds(10))) {
    co_return make_error(errc::unavailable, "the user directory did not apply the change within 10 s",
                         "unconfirmed");
  }
  // The first event of a version in log order wins: ours, unless another
  // server's event of the same version came before it.
  auto now = dir_.find(cmd.name);
  if (!now || now->version < next->version ||
      (now->version == next->version && now->last_event_id != last_event)) {
    co_return make_error(errc::unavailable,
                         "user " + cmd.name + " was changed by another server at the same time; read it and try again",
                         "user_write_contention");
  }
  w.user = std::move(*next);
  co_return w;
}

}  // namespace leaves::auth
